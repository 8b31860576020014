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

export function renderFindings(style: Style, findings: readonly Finding[]): string {
  if (findings.length === 0) return style.color.green('No findings.')
  const sorted = [...findings].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity])
  const lines = [style.color.bold(`Findings (${findings.length})`)]
  for (const f of sorted) {
    lines.push(`${paintSeverity(style, f.severity, f.severity.toUpperCase().padEnd(5))} ${style.color.bold(f.check)}  ${f.message}`)
    if (f.fix) lines.push(`      fix: ${f.fix}`)
  }
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
