// A job payload written from scratch, shaped like Sidekiq::Client's own (`retry`, `queue`, `class`,
// `args`, `jid`, `created_at`, `enqueued_at`, plus extra top-level fields such as `bid`). Timestamps
// follow the cluster's Sidekiq: float seconds up to 7.x, integer milliseconds from 8.0
// (sidekiq-data-model.md §1.2). Float seconds are always written with a decimal point: a Sidekiq 8
// reader takes an integer as milliseconds.
import {LosslessNumber, stringify} from 'lossless-json'

export type TimestampUnit = 'float-seconds' | 'integer-milliseconds'

export interface NewJob {
  class: string
  queue: string
  jid: string
  args?: unknown[]
  retry?: boolean | number
  /** Extra top-level fields (e.g. `bid`). */
  extra?: Record<string, string>
  /** Epoch milliseconds (the Redis clock). */
  nowMs: number
  unit: TimestampUnit
}

/** A Ruby constant path such as `BatchNoopJob` or `Ops::NoopJob`. */
export const JOB_CLASS_PATTERN = /^[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)*$/

export function timestampFor(nowMs: number, unit: TimestampUnit): LosslessNumber {
  const ms = Math.floor(nowMs)
  return new LosslessNumber(unit === 'integer-milliseconds' ? String(ms) : (ms / 1000).toFixed(3))
}

/** The payload JSON, field order as Sidekiq::Client writes it. */
export function buildJobPayload(job: NewJob): string {
  const at = timestampFor(job.nowMs, job.unit)
  const payload: Record<string, unknown> = {
    retry: job.retry ?? true,
    queue: job.queue,
    class: job.class,
    args: job.args ?? [],
    jid: job.jid,
    created_at: at,
    enqueued_at: at,
    ...job.extra,
  }
  const out = stringify(payload)
  if (out === undefined) throw new Error('payload could not be serialised')
  return out
}
