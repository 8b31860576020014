// Table rendering shared by every command: a titled table, then findings, warnings and the
// incomplete notice. Commands add their own summary tables with `table()`.
import Table from 'cli-table3'

import {paintSeverity, type Style} from './style.js'
import {type Finding, type Report, SEVERITY_RANK} from './types.js'

export function table(style: Style, head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({
    head: head.map((h) => style.color.bold(h)),
    style: {head: [], border: []},
    wordWrap: true,
  })
  for (const row of rows) t.push(row.map(String))
  return t.toString()
}

/** A two-column key/value table without row separators. */
export function kvTable(style: Style, title: string, rows: Array<[string, string]>): string {
  const t = new Table({
    head: [style.color.bold(title), ''],
    style: {head: [], border: [], compact: true},
    wordWrap: true,
  })
  for (const row of rows) t.push(row)
  return t.toString()
}

/** Per check, findings listed in tables before the rest are summarised (JSON always has them all). */
export const FINDINGS_SHOWN_PER_CHECK = 5

export function renderFindings(style: Style, findings: readonly Finding[]): string {
  if (findings.length === 0) return style.color.green('No findings.')
  const sorted = [...findings].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity])
  const lines = [style.color.bold(`Findings (${findings.length})`)]
  const shown = new Map<string, number>()
  for (const f of sorted) {
    const n = (shown.get(f.check) ?? 0) + 1
    shown.set(f.check, n)
    if (n > FINDINGS_SHOWN_PER_CHECK) continue
    lines.push(`${paintSeverity(style, f.severity, f.severity.toUpperCase().padEnd(5))} ${style.color.bold(f.check)}  ${f.message}`)
    if (f.fix) lines.push(`      fix: ${f.fix}`)
  }
  for (const [check, n] of shown)
    if (n > FINDINGS_SHOWN_PER_CHECK) lines.push(style.color.dim(`      … and ${n - FINDINGS_SHOWN_PER_CHECK} more ${check} findings not shown here (see --json)`))
  return lines.join('\n')
}

/** Everything after the command's own summary: findings, warnings, incompleteness. */
export function renderFooter(style: Style, report: Report<object>): string {
  const parts = [renderFindings(style, report.findings)]
  for (const w of report.warnings ?? []) parts.push(style.color.yellow(`warning: ${w}`))
  if (!report.complete)
    parts.push(style.color.red.bold(`INCOMPLETE: ${(report.incomplete ?? []).join('; ')}. These results are partial; do not read them as healthy.`))
  if (report.journal) parts.push(`journal: ${report.journal}`)
  return parts.join('\n')
}
