// `--format markdown`: for a CI job summary ($GITHUB_STEP_SUMMARY) or a ticket. GitHub-flavoured:
// a table of families per target, then findings by severity with their fix commands.
import type {DoctorFinding, DoctorReport, FamilySection, TargetSection} from '../doctor.js'
import type {Severity} from '../types.js'

const HEADING: Record<Severity, string> = {error: 'Errors', warn: 'Warnings', info: 'Info'}
/** Findings listed per check id; the rest are counted (JSON has them all). */
export const MARKDOWN_FINDINGS_PER_CHECK = 20

/** Text safe inside a table cell or list item: no pipes, no newlines, no HTML. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ')
}

function code(text: string): string {
  const clean = text.replace(/\r?\n/g, ' ')
  const fence = clean.includes('`') ? '``' : '`'
  return `${fence}${fence.length > 1 ? ' ' : ''}${clean}${fence.length > 1 ? ' ' : ''}${fence}`
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function status(f: FamilySection): string {
  if (f.status === 'ok') return '✅ ok'
  if (f.status === 'error') return '❌ error'
  if (f.status === 'warn') return '⚠️ warn'
  if (f.status === 'info') return 'ℹ️ info'
  if (f.status === 'incomplete') return '⛔ incomplete'
  return '— not run'
}

function targetMarkdown(t: TargetSection, findings: readonly DoctorFinding[]): string[] {
  const lines = [`### ${cell(t.target)}`, '']
  if (!t.complete) lines.push(`> **Incomplete** — ${cell((t.incomplete ?? []).join('; '))}. These results are partial.`, '')
  if (t.families.length) {
    lines.push('| family | status | errors | warnings | info | known | details |', '| --- | --- | ---: | ---: | ---: | ---: | --- |')
    for (const f of t.families) lines.push(`| ${f.name} | ${status(f)} | ${f.counts.error} | ${f.counts.warn} | ${f.counts.info} | ${f.counts.known} | ${code(f.command)} |`)
    lines.push('')
  }
  const fresh = findings.filter((f) => !f.known)
  for (const severity of ['error', 'warn', 'info'] as const) {
    const group = fresh.filter((f) => f.severity === severity)
    if (group.length === 0) continue
    lines.push(`#### ${HEADING[severity]} (${group.length})`, '')
    const shown = new Map<string, number>()
    for (const f of group) {
      const n = (shown.get(f.check) ?? 0) + 1
      shown.set(f.check, n)
      if (n > MARKDOWN_FINDINGS_PER_CHECK) continue
      lines.push(`- **${f.check}** — ${cell(f.message)}${f.fix ? `<br>fix: ${code(f.fix)}` : ''}`)
    }
    for (const [check, n] of shown) if (n > MARKDOWN_FINDINGS_PER_CHECK) lines.push(`- … and ${n - MARKDOWN_FINDINGS_PER_CHECK} more **${check}** findings`)
    lines.push('')
  }
  if (fresh.length === 0 && t.complete) lines.push('No findings.', '')
  const known = findings.length - fresh.length
  if (known) lines.push(`_${known} known findings (in the baseline) not listed._`, '')
  return lines
}

export function renderDoctorMarkdown(report: DoctorReport): string {
  const s = report.summary
  const total = s.counts
  const verdict = report.complete ? (total.error || total.warn || total.info ? 'findings' : 'healthy') : 'incomplete'
  const lines = [
    `## qdoctor doctor: ${verdict}`,
    '',
    `${plural(s.targets.length, 'target')}, ${plural(total.error, 'error')}, ${plural(total.warn, 'warning')}, ${total.info} info${total.known ? `, ${total.known} known` : ''} · fail-on ${s.failOn} · qdoctor ${report.qdoctor} · ${report.startedAt}`,
    '',
  ]
  for (const t of s.targets) lines.push(...targetMarkdown(t, report.findings.filter((f) => f.target === t.target)))
  return lines.join('\n').trimEnd() + '\n'
}
