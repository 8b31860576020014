// What a set of keys are, in one short read-only round trip per chunk: type, PTTL, size, and the
// contents of small hashes and short strings. A bounded Lua script does it (one O(1) step per key,
// plus HGETALL of a hash already known to be small); where scripts are refused, two pipelines do.
import type {Connection} from './connect.js'
import {pipelinedReads} from './pipeline.js'
import {resilient} from './resilient.js'

export interface KeyDescription {
  key: string
  /** `none` when the key does not exist. */
  type: string
  /** Milliseconds; -1 = no TTL, -2 = gone. */
  pttl: number
  /** Elements (LLEN/SCARD/ZCARD/HLEN/XLEN) or bytes (STRLEN). */
  size: number
  /** Every field of a hash with at most `maxFields` fields. */
  fields?: Record<string, string>
  /** The value of a string of at most `maxStringBytes` bytes. */
  value?: string
}

export interface DescribeOptions {
  /** HGETALL only hashes this small (default 64). */
  maxFields?: number
  /** Which keys' fields are worth reading at all (default: every small hash). */
  wantFields?: (key: string) => boolean
  /** GET only strings this short (default 64). */
  maxStringBytes?: number
}

/** Keys per script call: a few hundred O(1) steps, well under a millisecond of server time. */
export const DESCRIBE_BATCH = 200

const DESCRIBE_SCRIPT = `
local maxf, maxs, want = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local sizeof = {list = 'LLEN', set = 'SCARD', zset = 'ZCARD', hash = 'HLEN', string = 'STRLEN', stream = 'XLEN'}
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)['ok']
  local row = {t, -2, 0, false}
  if t ~= 'none' then
    row[2] = redis.call('PTTL', k)
    if sizeof[t] then row[3] = redis.call(sizeof[t], k) end
    if t == 'hash' and row[3] <= maxf and string.sub(want, i, i) == '1' then row[4] = redis.call('HGETALL', k)
    elseif t == 'string' and row[3] <= maxs then row[4] = redis.call('GET', k) end
  end
  out[i] = row
end
return out
`

const SIZE_COMMAND: Record<string, string> = {list: 'llen', set: 'scard', zset: 'zcard', hash: 'hlen', string: 'strlen', stream: 'xlen'}

/** Describe `keys` (any number; read in chunks). Result i is about keys[i]. */
export async function describeKeys(conn: Connection, keys: readonly string[], options: DescribeOptions = {}): Promise<KeyDescription[]> {
  const maxFields = options.maxFields ?? 64
  const maxString = options.maxStringBytes ?? 64
  const out: KeyDescription[] = []
  for (let i = 0; i < keys.length; i += DESCRIBE_BATCH) {
    const chunk = keys.slice(i, i + DESCRIBE_BATCH)
    const want = chunk.map((k) => (options.wantFields?.(k) ?? true ? '1' : '0')).join('')
    let rows: unknown[][] | undefined
    if (!scriptsRefused.has(conn)) {
      try {
        await conn.budget.take(chunk.length)
        rows = await resilient(conn, 'describing keys', async (redis) => (await redis.eval(DESCRIBE_SCRIPT, chunk.length, ...chunk, maxFields, maxString, want)) as unknown[][])
      } catch (err) {
        if (!isScriptUnavailable(err)) throw err
        scriptsRefused.add(conn)
      }
    }
    rows ??= await describeWithPipeline(conn, chunk, maxFields, maxString, want)
    chunk.forEach((key, j) => out.push(toDescription(key, rows![j] ?? [])))
  }
  return out
}

/** Connections whose server refused EVAL once: the pipeline is used from then on. */
const scriptsRefused = new WeakSet<Connection>()

async function describeWithPipeline(conn: Connection, keys: string[], maxFields: number, maxString: number, want: string): Promise<unknown[][]> {
  const heads = await pipelinedReads(conn, keys, (key) => [
    ['type', key],
    ['pttl', key],
  ])
  const types = heads.map(([t]) => String(t?.value ?? 'none'))
  const indexes = keys.map((_, j) => j)
  const sizes = await pipelinedReads(conn, indexes, (j) => [SIZE_COMMAND[types[j]!] ? [SIZE_COMMAND[types[j]!]!, keys[j]!] : ['exists', keys[j]!]])
  const rows: unknown[][] = keys.map((_, j) => {
    const type = types[j]!
    const size = SIZE_COMMAND[type] ? Number(sizes[j]![0]?.value ?? 0) : 0
    return [type, Number(heads[j]![1]?.value ?? -2), size, false]
  })
  const small = keys.map((key, j) => ({key, j})).filter(({j}) => (types[j] === 'hash' && Number(rows[j]![2]) <= maxFields && want[j] === '1') || (types[j] === 'string' && Number(rows[j]![2]) <= maxString))
  const contents = await pipelinedReads(conn, small, ({key, j}) => [[types[j] === 'hash' ? 'hgetall' : 'get', key]])
  small.forEach(({j}, n) => {
    const v = contents[n]![0]?.value
    // ioredis turns a pipelined HGETALL into an object; the script returns a flat array.
    rows[j]![3] = v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v as Record<string, string>).flat() : (v ?? false)
  })
  return rows
}

function toDescription(key: string, row: unknown[]): KeyDescription {
  const [type, pttl, size, content] = row
  const d: KeyDescription = {key, type: String(type ?? 'none'), pttl: Number(pttl ?? -2), size: Number(size ?? 0) || 0}
  if (d.type === 'hash' && Array.isArray(content)) {
    const fields: Record<string, string> = {}
    for (let i = 0; i + 1 < content.length; i += 2) fields[String(content[i])] = String(content[i + 1])
    d.fields = fields
  } else if (d.type === 'string' && typeof content === 'string') d.value = content
  return d
}

export function isScriptUnavailable(err: unknown): boolean {
  return /NOPERM|unknown command|ERR.*script|not allowed|NOSCRIPT|disabled/i.test(String((err as Error)?.message))
}
