// `qdoctor doctor` for people: per target, a table of check families with their status, then the
// findings grouped by severity, each with its fix command.
import {type DoctorFinding, type DoctorReport, type FamilySection, type TargetSection} from '../doctor.js'
import {FINDINGS_SHOWN_PER_CHECK, table} from '../render.js'
import {humanSeconds, paintSeverity, type Style} from '../style.js'
import type {Severity} from '../types.js'

const SEVERITIES: Severity[] = ['error', 'warn', 'info']
const HEADING: Record<Severity, string> = {error: 'Errors', warn: 'Warnings', info: 'Info'}

function paintStatus(style: Style, status: FamilySection['status']): string {
  if (status === 'ok') return style.color.green('ok')
  if (status === 'incomplete') return style.color.red.bold('INCOMPLETE')
  if (status === 'not-run') return style.color.dim('not run')
  return paintSeverity(style, status)
}

function familyTable(style: Style, t: TargetSection): string {
  const rows = t.families.map((f) => [
    f.name,
    paintStatus(style, f.status),
    f.counts.error || '',
    f.counts.warn || '',
    f.counts.info || '',
    f.counts.known || '',
    f.status === 'not-run' ? '' : humanSeconds(f.durationMs / 1000),
    f.command,
  ])
  return table(style, ['family', 'status', 'errors', 'warnings', 'info', 'known', 'time', 'details'], rows)
}

/** Findings of one severity, at most FINDINGS_SHOWN_PER_CHECK per check id. */
function severityBlock(style: Style, severity: Severity, findings: readonly DoctorFinding[]): string[] {
  if (findings.length === 0) return []
  const lines = [paintSeverity(style, severity, `${HEADING[severity]} (${findings.length})`)]
  const shown = new Map<string, number>()
  for (const f of findings) {
    const n = (shown.get(f.check) ?? 0) + 1
    shown.set(f.check, n)
    if (n > FINDINGS_SHOWN_PER_CHECK) continue
    lines.push(`  ${style.color.bold(f.check)}  ${f.message}`)
    if (f.fix) lines.push(`      fix: ${f.fix}`)
  }
  for (const [check, n] of shown)
    if (n > FINDINGS_SHOWN_PER_CHECK) lines.push(style.color.dim(`      … and ${n - FINDINGS_SHOWN_PER_CHECK} more ${check} findings (see --format json)`))
  return lines
}

export function renderTargetSection(style: Style, t: TargetSection, findings: readonly DoctorFinding[], titled: boolean, quiet = false): string {
  const parts: string[] = []
  if (titled) parts.push(style.color.bold.underline(`Target ${t.target}`))
  if (t.families.length && !quiet) parts.push(familyTable(style, t))
  const fresh = findings.filter((f) => !f.known)
  for (const severity of SEVERITIES) parts.push(...severityBlock(style, severity, fresh.filter((f) => f.severity === severity)))
  if (fresh.length === 0 && t.complete) parts.push(style.color.green('No findings.'))
  const known = findings.length - fresh.length
  if (known) parts.push(style.color.dim(`${known} known findings (in the baseline) not listed.`))
  for (const w of t.warnings ?? []) parts.push(style.color.yellow(`warning: ${w}`))
  if (!t.complete)
    parts.push(style.color.red.bold(`INCOMPLETE: ${(t.incomplete ?? []).join('; ')}. These results are partial; do not read them as healthy.`))
  return parts.join('\n')
}

/** With `quiet`, only the findings (no table of families). */
export function renderDoctorTable(style: Style, report: DoctorReport, quiet = false): string {
  const s = report.summary
  const many = s.targets.length > 1
  const blocks = s.targets.map((t) =>
    renderTargetSection(
      style,
      t,
      report.findings.filter((f) => f.target === t.target),
      true,
      quiet,
    ),
  )
  if (s.baseline) blocks.push(`baseline ${s.baseline.file}: ${s.baseline.known} known, ${s.baseline.new} new findings`)
  if (many) {
    const worst = s.targets.map((t) => `${t.target}: ${t.complete ? `exit ${t.exitCode}` : style.color.red('could not check')}`)
    blocks.push(`${s.targets.length} targets — ${worst.join(', ')}`)
  }
  return blocks.join('\n\n')
}
