// Findings about individual things (connections, processes, jobs) can number in the thousands: list
// the first `max` of each check and count the rest, so a report stays readable and bounded.
import type {Finding} from '../report/types.js'

export class CappedFindings {
  readonly findings: Finding[] = []
  /** Findings not listed, per check. */
  readonly unlisted: Record<string, number> = {}
  private readonly listed = new Map<string, number>()

  constructor(readonly max: number) {}

  add(f: Finding): void {
    const n = (this.listed.get(f.check) ?? 0) + 1
    this.listed.set(f.check, n)
    if (n <= this.max) this.findings.push(f)
    else this.unlisted[f.check] = (this.unlisted[f.check] ?? 0) + 1
  }

  /** `{unlisted}` when anything was left out, else nothing (for spreading into a summary). */
  get unlistedSummary(): {unlisted?: Record<string, number>} {
    return Object.keys(this.unlisted).length ? {unlisted: {...this.unlisted}} : {}
  }
}
