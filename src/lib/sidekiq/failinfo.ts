// Reads Sidekiq Pro's `b-<bid>-failinfo` hashes (field = jid, value = failure JSON; ~30-day TTL)
// with their parent batch `b-<bid>` and Pro 7.3.6+ `b-<bid>-failed` companion. Streams in batches:
// one short read-only Lua call measures a few hundred keys at once (well under a millisecond of
// server time); where scripts are forbidden it falls back to pipelined commands.
import type {Connection} from '../redis/connect.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {resilient} from '../redis/resilient.js'
import {scanKeys, type ScanProgress} from '../redis/scan.js'
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
  failedExists: boolean
}

export const MEASURE_BATCH = 200

// KEYS come in triples: failinfo key, parent b-<bid>, b-<bid>-failed. Returns one row per triple:
// {type, hlen, pttl, bytes, parentType, created_at, total, pending, failedExists}. Read-only, bounded by #KEYS.
const MEASURE_SCRIPT = `
local out = {}
local samples = ARGV[1]
for i = 1, #KEYS, 3 do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)['ok']
  local row = {t, 0, -2, 0, 'none', false, false, false, 0}
  if t ~= 'none' then
    row[3] = redis.call('PTTL', k)
    row[4] = redis.call('MEMORY', 'USAGE', k, 'SAMPLES', samples) or 0
    if t == 'hash' then row[2] = redis.call('HLEN', k) end
    if KEYS[i + 1] ~= '' then
      local pt = redis.call('TYPE', KEYS[i + 1])['ok']
      row[5] = pt
      if pt == 'hash' then
        local f = redis.call('HMGET', KEYS[i + 1], 'created_at', 'total', 'pending')
        row[6] = f[1]; row[7] = f[2]; row[8] = f[3]
      end
      row[9] = redis.call('EXISTS', KEYS[i + 2])
    end
  end
  out[#out + 1] = row
end
return out
`

export interface ReadFailinfoOptions {
  /** MEMORY USAGE … SAMPLES 0 (exact, slower on big hashes) instead of the default sample of 5. */
  exact?: boolean
  scanCount?: number
  onProgress?: (p: ScanProgress) => void
}

/** Yields measured failinfo keys batch by batch; keys that vanished since SCAN are skipped. */
export async function* readFailinfo(conn: Connection, keys: SidekiqKeys, options: ReadFailinfoOptions = {}): AsyncGenerator<FailinfoKey[]> {
  let useScript = true
  for await (const batch of scanKeys(conn, {match: keys.failinfoPattern, count: options.scanCount, onProgress: options.onProgress})) {
    for (let i = 0; i < batch.length; i += MEASURE_BATCH) {
      const slice = batch.slice(i, i + MEASURE_BATCH)
      let rows: unknown[][] | undefined
      if (useScript) {
        try {
          rows = await measureWithScript(conn, keys, slice, options.exact)
        } catch (err) {
          if (!isScriptUnavailable(err)) throw err
          useScript = false
        }
      }
      rows ??= await measureWithPipeline(conn, keys, slice, options.exact)
      const measured = slice.map((key, j) => toFailinfo(keys, key, rows![j]!)).filter((f): f is FailinfoKey => f !== undefined)
      if (measured.length) yield measured
    }
  }
}

function companions(keys: SidekiqKeys, key: string): [string, string] {
  const bid = keys.failinfoBid(key)
  return bid === undefined ? ['', ''] : [keys.batch(bid), keys.batchPart(bid, 'failed')]
}

async function measureWithScript(conn: Connection, keys: SidekiqKeys, batch: string[], exact?: boolean): Promise<unknown[][]> {
  const scriptKeys = batch.flatMap((key) => [key, ...companions(keys, key)])
  await conn.budget.take(batch.length)
  return resilient(conn, 'measuring failinfo keys', async (redis) => {
    return (await redis.eval(MEASURE_SCRIPT, scriptKeys.length, ...scriptKeys, exact ? '0' : '5')) as unknown[][]
  })
}

async function measureWithPipeline(conn: Connection, keys: SidekiqKeys, batch: string[], exact?: boolean): Promise<unknown[][]> {
  const replies = await pipelinedReads(conn, batch, (key) => {
    const [parent, failed] = companions(keys, key)
    return [
      ['type', key],
      ['hlen', key],
      ['pttl', key],
      ['memory', 'usage', key, 'SAMPLES', exact ? 0 : 5],
      ['type', parent || key],
      ['hmget', parent || key, 'created_at', 'total', 'pending'],
      ['exists', failed || key],
    ]
  })
  return replies.map(([type, hlen, pttl, mem, ptype, fields, failed]) => {
    const parentType = String(ptype?.value ?? 'none')
    const f = parentType === 'hash' && Array.isArray(fields?.value) ? (fields.value as Array<string | null>) : [null, null, null]
    return [type?.value, hlen?.value ?? 0, pttl?.value ?? -2, mem?.value ?? 0, parentType, f[0], f[1], f[2], failed?.value ?? 0]
  })
}

function toFailinfo(keys: SidekiqKeys, key: string, row: unknown[]): FailinfoKey | undefined {
  const [type, hlen, pttl, bytes, parentType, createdAt, total, pending, failed] = row
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
