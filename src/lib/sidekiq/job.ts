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

/**
 * Set top-level fields of a payload by splicing their JSON text into the original: every other byte
 * (big integers, float spellings, escapes, key order, spacing) stays exactly as written. `changes`
 * maps a key to its new value as JSON text; a missing key is appended. Returns undefined when the
 * text is not one plain JSON object this scanner reads with certainty (duplicate keys, trailing
 * data, malformed input): fall back to rewriteJob then. Much faster than a full re-serialisation.
 */
export function spliceTopLevel(raw: string, changes: Readonly<Record<string, string>>, parsed?: Readonly<Record<string, unknown>>): string | undefined {
  const quick = parsed ? spliceNumbers(raw, changes, parsed) : undefined
  if (quick !== undefined) return quick
  const spans = topLevelSpans(raw)
  if (!spans) return undefined
  const edits: Edit[] = []
  const appended: string[] = []
  for (const [key, text] of Object.entries(changes)) {
    const span = spans.fields.get(key)
    if (span) edits.push([span[0], span[1], text])
    else appended.push(`${JSON.stringify(key)}:${text}`)
  }
  if (appended.length) edits.push([spans.close, spans.close, (spans.fields.size ? ',' : '') + appended.join(',')])
  return applyEdits(raw, edits)
}

type Edit = [start: number, end: number, text: string]

function applyEdits(raw: string, edits: Edit[]): string {
  edits.sort((a, b) => b[0] - a[0])
  let out = raw
  for (const [start, end, text] of edits) out = out.slice(0, start) + text + out.slice(end)
  return out
}

const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45

/**
 * The fast path of spliceTopLevel, for a payload JSON.parse has read (`parsed`, its top-level object)
 * whose changed fields are numbers or absent (enqueued_at, retry_count): no scan of the whole text.
 * A key present at the top level is spelled literally there when the text has no \u escape, so when
 * `"key"` occurs exactly once in the text, that occurrence is the top-level key and a number follows
 * its colon. Anything else (the key also nested or in a string, a non-number value): undefined, and
 * the full scan decides.
 */
function spliceNumbers(raw: string, changes: Readonly<Record<string, string>>, parsed: Readonly<Record<string, unknown>>): string | undefined {
  if (raw.includes('\\u')) return undefined
  const edits: Edit[] = []
  const appended: string[] = []
  for (const [key, text] of Object.entries(changes)) {
    if (!Object.hasOwn(parsed, key)) {
      appended.push(`${JSON.stringify(key)}:${text}`)
      continue
    }
    if (typeof parsed[key] !== 'number') return undefined
    const token = JSON.stringify(key)
    const at = raw.indexOf(token)
    if (at < 0 || raw.indexOf(token, at + 1) >= 0) return undefined
    let i = skipWs(raw, at + token.length)
    if (raw.charCodeAt(i) !== 0x3a) return undefined
    const start = skipWs(raw, i + 1)
    for (i = start; i < raw.length && isNumberChar(raw.charCodeAt(i)); i++);
    if (i === start) return undefined
    edits.push([start, i, text])
  }
  if (appended.length) {
    const close = raw.lastIndexOf('}')
    if (close < 0) return undefined
    edits.push([close, close, (Object.keys(parsed).length ? ',' : '') + appended.join(',')])
  }
  return applyEdits(raw, edits)
}

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

function skipWs(raw: string, i: number): number {
  while (i < raw.length && isWs(raw.charCodeAt(i))) i++
  return i
}

/** `raw[i]` opens a string: the index after its closing quote, or -1. */
function skipString(raw: string, i: number): number {
  for (let q = raw.indexOf('"', i + 1); q !== -1; q = raw.indexOf('"', q + 1)) {
    let backslashes = 0
    while (raw.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return q + 1
  }
  return -1
}

/** `raw[i]` starts a value: the index after it, or -1. */
function skipValue(raw: string, i: number): number {
  const c = raw.charCodeAt(i)
  if (c === 0x22) return skipString(raw, i)
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    while (i < raw.length) {
      const d = raw.charCodeAt(i)
      if (d === 0x22) {
        i = skipString(raw, i)
        if (i < 0) return -1
        continue
      }
      if (d === 0x7b || d === 0x5b) depth++
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return i + 1
      i++
    }
    return -1
  }
  const start = i
  while (i < raw.length) {
    const d = raw.charCodeAt(i)
    if (isWs(d) || d === 0x2c || d === 0x7d) break
    i++
  }
  return i > start ? i : -1
}

/** Value spans of the top-level keys, and where the closing brace is; undefined if unsure. */
function topLevelSpans(raw: string): {fields: Map<string, [number, number]>; close: number} | undefined {
  const n = raw.length
  let i = skipWs(raw, 0)
  if (raw.charCodeAt(i) !== 0x7b) return undefined
  const fields = new Map<string, [number, number]>()
  i = skipWs(raw, i + 1)
  if (raw.charCodeAt(i) === 0x7d) return skipWs(raw, i + 1) === n ? {fields, close: i} : undefined
  for (;;) {
    i = skipWs(raw, i)
    if (raw.charCodeAt(i) !== 0x22) return undefined
    const keyStart = i
    i = skipString(raw, i)
    if (i < 0) return undefined
    let key = raw.slice(keyStart + 1, i - 1)
    if (key.includes('\\')) {
      try {
        key = JSON.parse(raw.slice(keyStart, i)) as string
      } catch {
        return undefined
      }
    }
    if (fields.has(key)) return undefined
    i = skipWs(raw, i)
    if (raw.charCodeAt(i) !== 0x3a) return undefined
    const valueStart = skipWs(raw, i + 1)
    i = skipValue(raw, valueStart)
    if (i < 0) return undefined
    fields.set(key, [valueStart, i])
    i = skipWs(raw, i)
    if (raw.charCodeAt(i) === 0x2c) {
      i++
      continue
    }
    if (raw.charCodeAt(i) !== 0x7d) return undefined
    return skipWs(raw, i + 1) === n ? {fields, close: i} : undefined
  }
}

/** The age in seconds of a job at `nowSeconds`, from `enqueued_at` (or `created_at`). */
export function jobAgeSeconds(job: Job, nowSeconds: number): number | undefined {
  const at = job.enqueuedAt ?? job.createdAt
  return at === undefined ? undefined : Math.max(0, nowSeconds - at)
}
