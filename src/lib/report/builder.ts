// Accumulates one run's report so a scan interrupted half-way still returns what it saw,
// marked incomplete.
import type {ActionRecord, Finding, Report} from './types.js'

export class ReportBuilder<S extends object> {
  readonly findings: Finding[] = []
  readonly warnings: string[] = []
  readonly incomplete: string[] = []
  actions?: ActionRecord[]
  journal?: string
  private readonly started = new Date()

  constructor(
    readonly meta: {qdoctor: string; command: string; target: string},
    public summary: S,
  ) {}

  add(...findings: Finding[]): void {
    this.findings.push(...findings)
  }

  warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message)
  }

  markIncomplete(reason: string): void {
    if (!this.incomplete.includes(reason)) this.incomplete.push(reason)
  }

  build(): Report<S> {
    return {
      qdoctor: this.meta.qdoctor,
      command: this.meta.command,
      target: this.meta.target,
      startedAt: this.started.toISOString(),
      durationMs: Date.now() - this.started.getTime(),
      complete: this.incomplete.length === 0,
      ...(this.incomplete.length ? {incomplete: [...this.incomplete]} : {}),
      summary: this.summary,
      findings: [...this.findings],
      ...(this.actions ? {actions: this.actions} : {}),
      ...(this.journal ? {journal: this.journal} : {}),
      ...(this.warnings.length ? {warnings: [...this.warnings]} : {}),
    }
  }
}
