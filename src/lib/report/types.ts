// The JSON contract (design.md §4). Check ids and field names here are stable API.

export type Severity = 'error' | 'warn' | 'info'

export const SEVERITY_RANK: Record<Severity, number> = {info: 1, warn: 2, error: 3}

export interface Finding {
  /** `area/name` in kebab case, e.g. `queue/corrupt-payload`. */
  check: string
  severity: Severity
  message: string
  subject?: Record<string, unknown>
  evidence?: Record<string, unknown>
  /** A command that fixes or investigates it. */
  fix?: string
}

export type ActionStatus = 'planned' | 'applied' | 'skipped' | 'failed' | 'not-reached'

export interface ActionRecord {
  step: string
  key?: string
  status: ActionStatus
  detail?: string
  bytes?: number
  /** What the action is about (e.g. `{id}` of a killed connection, `{identity}` of a pruned process). */
  subject?: Record<string, unknown>
}

export interface Report<S extends object = Record<string, unknown>> {
  qdoctor: string
  command: string
  target: string
  startedAt: string
  durationMs: number
  /** False when a scan was interrupted or limited; `incomplete` says why. */
  complete: boolean
  incomplete?: string[]
  summary: S
  findings: Finding[]
  actions?: ActionRecord[]
  journal?: string
  warnings?: string[]
}
