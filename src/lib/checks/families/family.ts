// A check family as `qdoctor doctor` runs it: the key patterns it needs from the shared keyspace
// pass, its settings (the same names and defaults as its topic command's flags), and a run that
// reads and judges, writing into an output as it goes so an interrupted run keeps what it saw.
// The topic commands run the same code.
import type {z} from 'zod'

import type {Connection} from '../../redis/connect.js'
import type {KeyPattern, KeySource} from '../../redis/keyspace-index.js'
import type {Figure} from '../../report/doctor.js'
import type {Finding, Severity} from '../../report/types.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'

/** A check id a family can report, with the severities it uses. */
export interface CheckInfo {
  id: string
  severities: readonly Severity[]
  /** One line: what it means. */
  title: string
  /**
   * A check id of another family that reports the same fact (e.g. both read one INFO counter): when
   * both families run, doctor reports it once, under this id.
   */
  supersedes?: string
}

/** Where a family's run writes (a ReportBuilder fits). */
export interface FamilyOutput<S> {
  summary: S
  add(...findings: Finding[]): void
  warn(message: string): void
}

export interface FamilyContext<O> {
  conn: Connection
  keys: SidekiqKeys
  /** Keys by pattern: the shared keyspace pass (doctor) or the family's own SCAN (topic commands). */
  source: KeySource
  scanCount: number
  settings: O
  progress: (text: string) => void
}

export interface CheckFamily<O = object, S extends object = object> {
  name: string
  /** One line for tables and help. */
  title: string
  /** The topic command that shows this family in full. */
  command: string
  checks: readonly CheckInfo[]
  /** The family's settings (config file section `<name>:`), with defaults; parsed values are O. */
  settings: z.ZodType<O, unknown>
  /** Patterns read through `ctx.source` (registered with the shared pass before it runs). */
  patterns(keys: SidekiqKeys, settings: O): KeyPattern[]
  emptySummary(): S
  run(ctx: FamilyContext<O>, out: FamilyOutput<S>): Promise<void>
  /** Key numbers for dashboards (prometheus), from a summary (possibly partial). */
  figures(summary: S): Figure[]
}

/**
 * A family with its types erased, for lists of families. Its settings are only ever the output of its
 * own `settings` schema (the config loader parses each section with it), so erasing is safe.
 */
export type AnyFamily = CheckFamily<any, any>
