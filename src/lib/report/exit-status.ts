// Which exit code a finished report earns (design.md §5). Codes 2 (usage) and 4 (repair) are set
// by the command layer.
import {type Report, SEVERITY_RANK, type Severity} from './types.js'

export type FailOn = Severity | 'never'

export const EXIT = {ok: 0, findings: 1, usage: 2, unavailable: 3, repair: 4} as const

export function exitCodeFor(report: Pick<Report, 'complete' | 'findings'>, failOn: FailOn): number {
  if (!report.complete) return EXIT.unavailable
  if (failOn === 'never') return EXIT.ok
  const threshold = SEVERITY_RANK[failOn]
  return report.findings.some((f) => SEVERITY_RANK[f.severity] >= threshold) ? EXIT.findings : EXIT.ok
}
