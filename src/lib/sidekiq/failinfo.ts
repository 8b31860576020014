// Reads Sidekiq Pro's `b-<bid>-failinfo` hashes (field = jid, value = failure JSON; ~30-day TTL)
// with their parent batch `b-<bid>` and Pro 7.3.6+ `b-<bid>-failed` companion. Streams in batches:
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
    total?: number
    pending?: number
  }
  /** Whether b-<bid>-failed exists; always false when read with `failedKeys: false`. */
  failedExists: boolean
}

/**
 * Keys per Lua call. Each key costs Redis three lookups (key, parent, -failed) and a MEMORY USAGE,
 * about 10 µs on a busy 2-vCPU VM, so 64 keys keep one call well under a millisecond. Throughput
 * does not depend on it: the calls are pipelined.
 */
export const MEASURE_BATCH = 64

/** Values per key in a measurement reply: type, hlen, pttl, bytes, parentType, created_at, total, pending, failedExists. */
const ROW = 9

// KEYS come in triples: failinfo key, parent b-<bid> (or ''), b-<bid>-failed. ARGV: MEMORY USAGE
// samples, '1' to look up -failed. Returns ROW values per triple, flat: type, hlen, pttl, bytes,
// parentType, created_at, total, pending, failedExists. Read-only, bounded by #KEYS.
// Each redis.call costs Redis about as much as the work it does (and each cold key a few cache misses),
// so the common case makes four or five: PTTL (-2: gone), HLEN (a WRONGTYPE error: not a hash, ask
// TYPE), MEMORY USAGE, HMGET on the parent (an error: not a hash, ask TYPE; three nils: EXISTS tells a
// parent without those fields from no parent) and, when asked, EXISTS on -failed.
const MEASURE_SCRIPT = `
local out = {}
local samples, withFailed = ARGV[1], ARGV[2] == '1'
local n = 0
for i = 1, #KEYS, 3 do
  local k = KEYS[i]
  local t, hlen, bytes, pt, c, total, pending, failed = 'none', 0, 0, 'none', false, false, false, 0
  local pttl = redis.call('PTTL', k)
  if pttl ~= -2 then
    hlen = redis.pcall('HLEN', k)
    if type(hlen) == 'table' then
      t = redis.call('TYPE', k)['ok']
      hlen = 0
    else
      t = 'hash'
    end
    bytes = redis.call('MEMORY', 'USAGE', k, 'SAMPLES', samples) or 0
    local p = KEYS[i + 1]
    if p ~= '' then
      local f = redis.pcall('HMGET', p, 'created_at', 'total', 'pending')
      if f['err'] then
        pt = redis.call('TYPE', p)['ok']
      else
        c, total, pending = f[1], f[2], f[3]
        if c or total or pending or redis.call('EXISTS', p) == 1 then pt = 'hash' end
      end
      if withFailed then failed = redis.call('EXISTS', KEYS[i + 2]) end
    end
  end
  out[n + 1] = t; out[n + 2] = hlen; out[n + 3] = pttl; out[n + 4] = bytes; out[n + 5] = pt
  out[n + 6] = c; out[n + 7] = total; out[n + 8] = pending; out[n + 9] = failed
  n = n + 9
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
   * failedExists is false throughout: look up the few keys that need it with failedKeysExist().
   */
  failedKeys?: boolean
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
  const measurer = new Measurer(conn, keys, options.exact, options.failedKeys ?? true)
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

  constructor(
    readonly conn: Connection,
    readonly keys: SidekiqKeys,
    readonly exact: boolean | undefined,
    readonly failedKeys: boolean,
  ) {}

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
    rows ??= await measureWithPipeline(this.conn, this.keys, sent.batch, this.exact, this.failedKeys)
    const out: FailinfoKey[] = []
    for (let j = 0; j < sent.batch.length; j++) {
      const measured = toFailinfo(this.keys, sent.batch[j]!, rows, j * ROW)
      if (measured) out.push(measured)
    }
    return out
  }

  private async script(batch: string[]): Promise<unknown[]> {
    const args: string[] = []
    for (const key of batch) args.push(key, ...companions(this.keys, key))
    const numKeys = args.length
    args.push(this.exact ? '0' : '5', this.failedKeys ? '1' : '0')
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

async function measureWithPipeline(conn: Connection, keys: SidekiqKeys, batch: string[], exact: boolean | undefined, failedKeys: boolean): Promise<unknown[]> {
  const replies = await pipelinedReads(conn, batch, (key): Command[] => {
    const [parent, failed] = companions(keys, key)
    return [
      ['type', key],
      ['hlen', key],
      ['pttl', key],
      ['memory', 'usage', key, 'SAMPLES', exact ? 0 : 5],
      ['type', parent || key],
      ['hmget', parent || key, 'created_at', 'total', 'pending'],
      ...(failedKeys ? [['exists', failed || key] as Command] : []),
    ]
  })
  return replies.flatMap(([type, hlen, pttl, mem, ptype, fields, failed]) => {
    const parentType = String(ptype?.value ?? 'none')
    const f = parentType === 'hash' && Array.isArray(fields?.value) ? (fields.value as Array<string | null>) : [null, null, null]
    return [type?.value, hlen?.value ?? 0, pttl?.value ?? -2, mem?.value ?? 0, parentType, f[0], f[1], f[2], failed?.value ?? 0]
  })
}

/** The key measured at rows[at … at+ROW-1]; undefined when it vanished since SCAN. */
function toFailinfo(keys: SidekiqKeys, key: string, rows: unknown[], at: number): FailinfoKey | undefined {
  const [type, hlen, pttl, bytes, parentType, createdAt, total, pending, failed] = rows.slice(at, at + ROW)
  if (type === 'none' || type === undefined) return undefined
  const bid = keys.failinfoBid(key)
  const pttlMs = Number(pttl)
  const createdAtRaw = typeof createdAt === 'string' ? createdAt : undefined
  return {
    key,
    bid,
    type: String(type),
    entries: Number(hlen) || 0,
    ttlSeconds: pttlMs >= 0 ? Math.ceil(pttlMs / 1000) : -1,
    bytes: Number(bytes) || 0,
    parent: {
      exists: parentType !== 'none' && parentType !== undefined && bid !== undefined,
      type: bid !== undefined ? String(parentType) : undefined,
      createdAt: toEpochSeconds(createdAtRaw),
      createdAtRaw,
      total: numOrUndefined(total),
      pending: numOrUndefined(pending),
    },
    failedExists: Number(failed) === 1 && bid !== undefined,
  }
}

function numOrUndefined(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** Does b-<bid>-failed exist, for each bid (pipelined EXISTS)? For the few keys a report shows. */
export async function failedKeysExist(conn: Connection, keys: SidekiqKeys, bids: readonly string[]): Promise<boolean[]> {
  const replies = await pipelinedReads(conn, bids, (bid) => [['exists', keys.batchPart(bid, 'failed')]])
  return replies.map(([exists]) => {
    if (exists?.error) throw exists.error
    return Number(exists?.value) === 1
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
