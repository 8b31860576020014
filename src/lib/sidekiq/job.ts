// A tolerant reader of Sidekiq job payloads. Non-JSON or malformed members become a "corrupt"
// result, never an exception. The whole top-level object is parsed: a regex for "jid" would match
// jids nested inside args.
import {parse as parseLossless, stringify as stringifyLossless} from 'lossless-json'

import {toEpochSeconds} from './time.js'

export interface Job {
  jid: string
  class: string
  /** The Active Job class when `class` is the wrapper, else `class`. */
  displayClass: string
  queue?: string
  bid?: string
  retry?: boolean | number
  retryCount?: number
  /** Epoch seconds, whatever the payload's encoding. */
  enqueuedAt?: number
  createdAt?: number
  failedAt?: number
  retriedAt?: number
  errorClass?: string
  errorMessage?: string
  /** The parsed top-level object (numbers beyond 2^53 are lossy here: never re-serialise it). */
  fields: Record<string, unknown>
}

export type ParsedJob = {ok: true; job: Job} | {ok: false; reason: string}

export function parseJob(raw: string): ParsedJob {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch (err) {
    return {ok: false, reason: `not JSON (${(err as Error).message})`}
  }
  return jobFromValue(value)
}

/** Build a Job from an already-decoded value (work entries nest the payload as an object in 6.0.0–6.0.1). */
export function jobFromValue(value: unknown): ParsedJob {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return {ok: false, reason: `not a JSON object (${Array.isArray(value) ? 'array' : typeof value})`}
  const fields = value as Record<string, unknown>
  if (typeof fields.jid !== 'string' || fields.jid === '') return {ok: false, reason: 'no "jid" string'}
  if (typeof fields.class !== 'string' || fields.class === '') return {ok: false, reason: 'no "class" string'}
  const wrapped = typeof fields.wrapped === 'string' ? fields.wrapped : undefined
  return {
    ok: true,
    job: {
      jid: fields.jid,
      class: fields.class,
      displayClass: wrapped ?? fields.class,
      queue: str(fields.queue),
      bid: str(fields.bid),
      retry: typeof fields.retry === 'boolean' || typeof fields.retry === 'number' ? fields.retry : undefined,
      retryCount: typeof fields.retry_count === 'number' ? fields.retry_count : undefined,
      enqueuedAt: toEpochSeconds(fields.enqueued_at),
      createdAt: toEpochSeconds(fields.created_at),
      failedAt: toEpochSeconds(fields.failed_at),
      retriedAt: toEpochSeconds(fields.retried_at),
      errorClass: str(fields.error_class),
      errorMessage: str(fields.error_message),
      fields,
    },
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/**
 * Re-serialise a payload with some top-level fields changed, keeping every other number exactly as
 * written (big integers in args, `1713484819.0` floats). `undefined` removes a field.
 */
export function rewriteJob(raw: string, changes: Record<string, unknown>): string {
  const value = parseLossless(raw) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('payload is not a JSON object')
  for (const [key, v] of Object.entries(changes)) {
    if (v === undefined) delete value[key]
    else value[key] = v
  }
  const out = stringifyLossless(value)
  if (out === undefined) throw new Error('payload could not be serialised')
  return out
}

/** The age in seconds of a job at `nowSeconds`, from `enqueued_at` (or `created_at`). */
export function jobAgeSeconds(job: Job, nowSeconds: number): number | undefined {
  const at = job.enqueuedAt ?? job.createdAt
  return at === undefined ? undefined : Math.max(0, nowSeconds - at)
}
