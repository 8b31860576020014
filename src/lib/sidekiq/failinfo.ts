// Reads Sidekiq Pro's `b-<bid>-failinfo` hashes (field = jid, value = failure JSON; ~30-day TTL)
// with their parent batch `b-<bid>` and Pro 7.3.6+ `b-<bid>-failed` companion (or, for a report,
// only what every key needs: size, entries, TTL, the parent's existence and created_at). Streams in batches:
// one short read-only Lua call (EVALSHA) measures MEASURE_BATCH keys at once, about half a millisecond
// of server time; where scripts are forbidden it falls back to pipelined commands. The calls are
// pipelined with the SCAN, so Redis does not wait while the client reads replies.
import {createHash} from 'node:crypto'

import type {Connection} from '../redis/connect.js'
import {isConnectionFailure} from '../redis/errors.js'
import {type Command, pipelinedReads} from '../redis/pipeline.js'
import {resilient} from '../redis/resilient.js'
import {type KeyPattern, type KeySource, ownScan} from '../redis/keyspace-index.js'
import type {ScanProgress} from '../redis/scan.js'
import type {SidekiqKeys} from './keys.js'
import {toEpochSeconds} from './time.js'

export interface FailinfoKey {
  key: string
  /** Undefined when the name does not hold a valid bid. */
  bid?: string
  type: string
  entries: number
  /** Seconds; -1 = no TTL. */
  ttlSeconds: number
  bytes: number
  parent: {
    exists: boolean
    type?: string
    /** Epoch seconds (Pro ≤ 7 float seconds, Pro 8 integer ms, or a numeric string). */
    createdAt?: number
    createdAtRaw?: string
    /** Undefined when read with `batchCounts: false` (see batchStates). */
    total?: number
    pending?: number
  }
  /** Whether b-<bid>-failed exists; always false when read with `failedKeys: false`. */
  failedExists: boolean
}

/**
 * Keys per Lua call. Each key costs Redis two cold lookups (the key, its parent) and four or five
 * commands, about 6–7 µs on a busy 2-vCPU VM, so 64 keys keep one call around half a millisecond.
 * Throughput hardly depends on it: the calls are pipelined.
 */
export const MEASURE_BATCH = 64

/**
 * What one measurement call reads per key. `counts`: the parent's `total` and `pending` (HMGET of
 * three fields instead of HGET of `created_at`); `failed`: EXISTS b-<bid>-failed. A report needs
 * both for the few keys it shows only (see batchStates); the defaults read them for every key.
 */
interface Shape {
  counts: boolean
  failed: boolean
}

/** Values per key in a measurement reply: hlen-or-type, pttl, bytes, parent, [total, pending], [failed]. */
function rowWidth(shape: Shape): number {
  return 4 + (shape.counts ? 2 : 0) + (shape.failed ? 1 : 0)
}

// KEYS per key: the failinfo key, its parent b-<bid> (or ''), and with ARGV[3] = '1' b-<bid>-failed.
// ARGV: MEMORY USAGE samples ('' = the server's default of 5), '1' to read the parent's total and
// pending, '1' to look up -failed. Returns per key, flat:
//   1. HLEN (> 0: a hash), or the TYPE of a key that is not a hash ('none': gone since SCAN; the rest
//      of the row is then 0);
//   2. PTTL; 3. MEMORY USAGE;
//   4. the parent: its created_at (a string), 1 (a hash without created_at), 0 (none, or no bid), or
//      {type} (a one-element array) when it is not a hash;
//   5–6. with counts: the parent's total and pending (or false); 7. with -failed: 1 or 0.
// Read-only, bounded by #KEYS. Each redis.call costs Redis about as much as its work (and the first
// touch of a key a few cache misses), so the common case makes four: HLEN (a WRONGTYPE error: not a
// hash, ask TYPE; 0: gone), PTTL, MEMORY USAGE, and HGET/HMGET on the parent (an error: not a hash;
// nothing found: EXISTS tells a parent without those fields from no parent).
const MEASURE_SCRIPT = `
local out, n = {}, 0
local samples, counts, withFailed = ARGV[1], ARGV[2] == '1', ARGV[3] == '1'
local stride = withFailed and 3 or 2
for i = 1, #KEYS, stride do
  local k = KEYS[i]
  local h = redis.pcall('HLEN', k)
  local pttl, bytes, pv, total, pending, failed = 0, 0, 0, false, false, 0
  if type(h) == 'table' then h = redis.call('TYPE', k)['ok'] elseif h == 0 then h = 'none' end
  if h ~= 'none' then
    pttl = redis.call('PTTL', k)
    if samples == '' then bytes = redis.call('MEMORY', 'USAGE', k) else bytes = redis.call('MEMORY', 'USAGE', k, 'SAMPLES', samples) end
    bytes = bytes or 0
    local p = KEYS[i + 1]
    if p ~= '' then
      local f
      if counts then f = redis.pcall('HMGET', p, 'created_at', 'total', 'pending') else f = redis.pcall('HGET', p, 'created_at') end
      if type(f) == 'table' and f['err'] then
        pv = {redis.call('TYPE', p)['ok']}
      else
        if counts then pv, total, pending = f[1], f[2], f[3] else pv = f end
        if not pv then
          if total or pending or redis.call('EXISTS', p) == 1 then pv = 1 else pv = 0 end
        end
      end
      if withFailed then failed = redis.call('EXISTS', KEYS[i + 2]) end
    end
  end
  out[n + 1] = h; out[n + 2] = pttl; out[n + 3] = bytes; out[n + 4] = pv
  n = n + 4
  if counts then out[n + 1] = total; out[n + 2] = pending; n = n + 2 end
  if withFailed then out[n + 1] = failed; n = n + 1 end
end
return out
`

const MEASURE_SCRIPT_SHA = createHash('sha1').update(MEASURE_SCRIPT).digest('hex')

export interface ReadFailinfoOptions {
  /** MEMORY USAGE … SAMPLES 0 (exact, slower on big hashes) instead of the default sample of 5. */
  exact?: boolean
  scanCount?: number
  onProgress?: (p: ScanProgress) => void
  /** Where the keys come from: this reader's own SCAN (default) or a shared keyspace pass. */
  source?: KeySource
  /**
   * Look up b-<bid>-failed for every key (default true). Off, Redis does a fifth less work and
   * failedExists is false throughout: look up the few keys that need it with batchStates().
   */
  failedKeys?: boolean
  /**
   * Read the parent's `total` and `pending` for every key (default true). Off, the parent lookup is
   * an HGET of `created_at` and those two are undefined: read them for the few keys shown with
   * batchStates().
   */
  batchCounts?: boolean
}

/** What readFailinfo scans for (a shared keyspace pass registers the same). */
export function failinfoKeyPattern(keys: SidekiqKeys): KeyPattern {
  return {match: keys.failinfoPattern}
}

interface Sent {
  batch: string[]
  /** The flat measurement reply; rejects with the script's or the transport's error. */
  rows: Promise<unknown[]>
}

type Settled<T> = {ok: true; value: T} | {ok: false; error: unknown}

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ok: true, value}),
    (error: unknown) => ({ok: false, error}),
  )
}

/**
 * Yields measured failinfo keys batch by batch, in SCAN order; keys that vanished since SCAN are skipped.
 * Pipelined: the SCAN for page n+1 and the measurements of page n are sent together, and page n-1 is
 * handed on meanwhile (at most two pages of measurements in flight). A dropped connection is retried
 * one batch at a time (resilient), after the SCAN in flight has settled, so reconnects never race.
 */
export async function* readFailinfo(conn: Connection, keys: SidekiqKeys, options: ReadFailinfoOptions = {}): AsyncGenerator<FailinfoKey[]> {
  const measurer = new Measurer(conn, keys, options.exact, {counts: options.batchCounts ?? true, failed: options.failedKeys ?? true})
  const pages = (options.source ?? ownScan(conn))({...failinfoKeyPattern(keys), count: options.scanCount, onProgress: options.onProgress})
  let next = settle(pages.next())
  /** Measurements sent and not yet handed on, oldest first. */
  const inFlight: Sent[] = []
  // Before a batch is retried, the SCAN in flight (which may be reconnecting) must have settled.
  const finish = (sent: Sent): Promise<FailinfoKey[]> => measurer.finish(sent, () => next)
  try {
    for (;;) {
      const page = await next
      if (!page.ok || page.value.done) {
        while (inFlight.length) {
          const measured = await finish(inFlight.shift()!)
          if (measured.length) yield measured
        }
        if (!page.ok) throw page.error
        return
      }
      // The next SCAN goes out before this page's measurements: its keys are back while Redis still
      // measures this page, so the next page's batches queue up behind them and Redis never waits for us.
      next = settle(pages.next())
      const earlier = inFlight.length
      const batch = page.value.value
      for (let i = 0; i < batch.length; i += MEASURE_BATCH) inFlight.push(await measurer.send(batch.slice(i, i + MEASURE_BATCH)))
      for (let n = 0; n < earlier; n++) {
        const measured = await finish(inFlight.shift()!)
        if (measured.length) yield measured
      }
    }
  } finally {
    // Stopped early (or failed): nothing may be left reading, and the scan generator must close.
    await Promise.all(inFlight.map((sent) => settle(sent.rows)))
    await next
    await pages.return(undefined)
  }
}

class Measurer {
  private useScript = true
  private useSha = true
  private readonly width: number

  constructor(
    readonly conn: Connection,
    readonly keys: SidekiqKeys,
    readonly exact: boolean | undefined,
    readonly shape: Shape,
  ) {
    this.width = rowWidth(shape)
  }

  /** Send the measurement of `batch` without waiting for it (after the --max-ops budget allows it). */
  async send(batch: string[]): Promise<Sent> {
    await this.conn.budget.take(batch.length)
    const rows = this.useScript ? this.script(batch) : Promise.reject(new ScriptsUnavailable())
    rows.catch(() => {}) // awaited in finish(); until then a rejection is not "unhandled"
    return {batch, rows}
  }

  /**
   * The measured keys of a sent batch. A dropped connection or a refused script is retried here, one
   * batch at a time, once `quiet()` says no other read is in flight.
   */
  async finish(sent: Sent, quiet: () => Promise<unknown>): Promise<FailinfoKey[]> {
    let rows: unknown[] | undefined
    try {
      rows = await sent.rows
    } catch (err) {
      if (err instanceof ScriptsUnavailable || isScriptUnavailable(err)) this.useScript = false
      else if (!isConnectionFailure(err)) throw err
      await quiet()
    }
    if (!rows && this.useScript) rows = await resilient(this.conn, 'measuring failinfo keys', () => this.script(sent.batch))
    rows ??= await measureWithPipeline(this.conn, this.keys, sent.batch, this.exact, this.shape)
    const out: FailinfoKey[] = []
    for (let j = 0; j < sent.batch.length; j++) {
      const measured = toFailinfo(this.keys, sent.batch[j]!, rows, j * this.width, this.shape)
      if (measured) out.push(measured)
    }
    return out
  }

  private async script(batch: string[]): Promise<unknown[]> {
    const args: string[] = []
    const failed = this.shape.failed
    for (const key of batch) {
      const bid = this.keys.failinfoBid(key)
      if (bid === undefined) args.push(key, '', ...(failed ? [''] : []))
      else args.push(key, this.keys.batch(bid), ...(failed ? [this.keys.batchPart(bid, 'failed')] : []))
    }
    const numKeys = args.length
    args.push(this.exact ? '0' : '', this.shape.counts ? '1' : '0', failed ? '1' : '0')
    const redis = await this.conn.redis()
    // EVALSHA: the script body is not sent (and hashed by Redis) thousands of times. Not cached yet
    // (NOSCRIPT) or EVALSHA refused on its own: EVAL, which caches it.
    if (this.useSha) {
      try {
        return (await redis.evalsha(MEASURE_SCRIPT_SHA, numKeys, ...args)) as unknown[]
      } catch (err) {
        if (isConnectionFailure(err)) throw err
        if (!/^NOSCRIPT/.test(String((err as Error)?.message))) this.useSha = false
      }
    }
    return (await redis.eval(MEASURE_SCRIPT, numKeys, ...args)) as unknown[]
  }
}

class ScriptsUnavailable extends Error {}

function companions(keys: SidekiqKeys, key: string): [string, string] {
  const bid = keys.failinfoBid(key)
  return bid === undefined ? ['', ''] : [keys.batch(bid), keys.batchPart(bid, 'failed')]
}

async function measureWithPipeline(conn: Connection, keys: SidekiqKeys, batch: string[], exact: boolean | undefined, shape: Shape): Promise<unknown[]> {
  const replies = await pipelinedReads(conn, batch, (key): Command[] => {
    const [parent, failed] = companions(keys, key)
    return [
      ['type', key],
      ['hlen', key],
      ['pttl', key],
      ['memory', 'usage', key, 'SAMPLES', exact ? 0 : 5],
      ['type', parent || key],
      ['hmget', parent || key, 'created_at', 'total', 'pending'],
      ...(shape.failed ? [['exists', failed || key] as Command] : []),
    ]
  })
  // The script's row format (see MEASURE_SCRIPT).
  return replies.flatMap(([type, hlen, pttl, mem, ptype, fields, failed]) => {
    const t = String(type?.value ?? 'none')
    const n = Number(hlen?.value ?? 0)
    const parentType = String(ptype?.value ?? 'none')
    const f = parentType === 'hash' && Array.isArray(fields?.value) ? (fields.value as Array<string | null>) : [null, null, null]
    const parent = parentType === 'none' ? 0 : parentType !== 'hash' ? [parentType] : (f[0] ?? 1)
    const row: unknown[] = [t === 'hash' && n > 0 ? n : t === 'hash' ? 'none' : t, pttl?.value ?? -2, mem?.value ?? 0, t === 'none' ? 0 : parent]
    if (shape.counts) row.push(f[1], f[2])
    if (shape.failed) row.push(failed?.value ?? 0)
    return row
  })
}

/** The key measured at rows[at …] (one row of the shape's width); undefined when it vanished since SCAN. */
function toFailinfo(keys: SidekiqKeys, key: string, rows: unknown[], at: number, shape: Shape): FailinfoKey | undefined {
  const h = rows[at]
  if (h === 'none' || h === undefined || h === null) return undefined
  const pttlMs = Number(rows[at + 1])
  const p = rows[at + 3]
  const bid = keys.failinfoBid(key)
  const isHash = typeof h === 'number'
  const parentType = Array.isArray(p) ? String(p[0]) : p === 0 ? 'none' : 'hash'
  const createdAtRaw = typeof p === 'string' ? p : undefined
  const failed = shape.failed ? rows[at + 4 + (shape.counts ? 2 : 0)] : 0
  return {
    key,
    bid,
    type: isHash ? 'hash' : String(h),
    entries: isHash ? h : 0,
    ttlSeconds: pttlMs >= 0 ? Math.ceil(pttlMs / 1000) : -1,
    bytes: Number(rows[at + 2]) || 0,
    parent: {
      exists: parentType !== 'none' && bid !== undefined,
      type: bid !== undefined ? parentType : undefined,
      createdAt: toEpochSeconds(createdAtRaw),
      createdAtRaw,
      total: shape.counts ? numOrUndefined(rows[at + 4]) : undefined,
      pending: shape.counts ? numOrUndefined(rows[at + 5]) : undefined,
    },
    failedExists: Number(failed) === 1 && bid !== undefined,
  }
}

function numOrUndefined(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

export interface BatchState {
  /** The parent b-<bid> exists and is a hash. */
  exists: boolean
  total?: number
  pending?: number
  /** Epoch seconds (any of the encodings toEpochSeconds reads). */
  createdAt?: number
  /** b-<bid>-failed exists. */
  failedExists: boolean
}

/**
 * The batch state of a few bids (the keys a report shows): the parent's created_at, total and
 * pending, and whether b-<bid>-failed exists. Pipelined reads; a parent that is not a hash reads as gone.
 */
export async function batchStates(conn: Connection, keys: SidekiqKeys, bids: readonly string[]): Promise<BatchState[]> {
  const replies = await pipelinedReads(conn, bids, (bid) => [
    ['hmget', keys.batch(bid), 'created_at', 'total', 'pending'],
    ['exists', keys.batch(bid)],
    ['exists', keys.batchPart(bid, 'failed')],
  ])
  return replies.map(([fields, exists, failed]) => {
    if (exists?.error) throw exists.error
    if (failed?.error) throw failed.error
    const f = !fields?.error && Array.isArray(fields?.value) ? (fields.value as Array<string | null>) : [null, null, null]
    return {
      exists: Number(exists?.value) === 1 && !fields?.error,
      createdAt: toEpochSeconds(f[0] ?? undefined),
      total: numOrUndefined(f[1]),
      pending: numOrUndefined(f[2]),
      failedExists: Number(failed?.value) === 1,
    }
  })
}

function isScriptUnavailable(err: unknown): boolean {
  return /NOPERM|unknown command|ERR.*script|not allowed|NOSCRIPT|disabled/i.test(String((err as Error)?.message))
}

export interface FailureSample {
  errorClass?: string
  message?: string
  /** Field names of a value whose format is not recognised (Pro's format is not public). */
  unknownFields?: string[]
}

/**
 * A few failure values of one hash, without HGETALL: HRANDFIELD (Redis 6.2+), else one HSCAN page.
 * The value format is Pro's and undocumented: error class / message fields are looked for by name.
 */
export async function sampleFailures(conn: Connection, key: string, count = 20): Promise<FailureSample[]> {
  await conn.budget.take(1)
  let flat: string[]
  try {
    flat = (await resilient(conn, `sampling ${key}`, (redis) => redis.call('HRANDFIELD', key, count, 'WITHVALUES'))) as string[]
  } catch (err) {
    if (!/unknown command|ERR/i.test(String((err as Error).message))) throw err
    const [, page] = await resilient(conn, `sampling ${key}`, (redis) => redis.hscan(key, '0', 'COUNT', count))
    flat = page
  }
  const out: FailureSample[] = []
  for (let i = 1; i < flat.length; i += 2) out.push(parseFailure(flat[i]!))
  return out
}

export function parseFailure(raw: string): FailureSample {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return {message: raw.slice(0, 200)}
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {unknownFields: [Array.isArray(value) ? 'array' : typeof value]}
  const fields = value as Record<string, unknown>
  const pick = (re: RegExp) => {
    const name = Object.keys(fields).find((k) => re.test(k) && typeof fields[k] === 'string')
    return name ? (fields[name] as string) : undefined
  }
  const errorClass = pick(/^(errtype|error_class|class|type|exception)$/i) ?? pick(/class|type/i)
  const message = pick(/^(errmsg|error_message|message|msg)$/i) ?? pick(/message|msg/i)
  return errorClass || message ? {errorClass, message: message?.slice(0, 200)} : {unknownFields: Object.keys(fields).slice(0, 10)}
}
