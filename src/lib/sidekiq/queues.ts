// Reads Sidekiq's queues: the `queues` registry, every `queue:*` list (registered or not), the
// `paused` set, sizes and the oldest job of each (LINDEX -1: LPUSH in, BRPOP out).
import type {Connection} from '../redis/connect.js'
import {isWrongType} from '../redis/errors.js'
import {allMembers, listPages} from '../redis/paged.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {resilient} from '../redis/resilient.js'
import {type KeyPattern, type KeySource, ownScan} from '../redis/keyspace-index.js'
import type {ScanProgress} from '../redis/scan.js'
import {type ParsedJob, parseJob} from './job.js'
import {isPrivateQueueName, type SidekiqKeys} from './keys.js'

export interface QueueState {
  name: string
  key: string
  size: number
  /** Listed in the `queues` set. */
  registered: boolean
  /** A `queue:<name>` list exists (an empty queue has none). */
  listExists: boolean
  paused: boolean
  /** Type of `queue:<name>` when it is not a list. */
  wrongType?: string
  oldest?: ParsedJob
  /** Now − enqueued_at of the oldest job; undefined for an empty queue or an unreadable timestamp. */
  latencySeconds?: number
}

export interface QueuesRead {
  queues: QueueState[]
  /** Redis TIME, epoch seconds. */
  nowSeconds: number
  /** Structures that were not what Sidekiq writes (reported, never fatal). */
  anomalies: Array<{key: string; problem: string}>
}

/** What readQueues scans for (a shared keyspace pass registers the same). */
export function queueListPattern(keys: SidekiqKeys): KeyPattern {
  return {match: keys.queuePattern, type: 'list'}
}

export async function readQueues(
  conn: Connection,
  keys: SidekiqKeys,
  options: {scanCount?: number; onProgress?: (p: ScanProgress) => void; source?: KeySource} = {},
): Promise<QueuesRead> {
  const anomalies: QueuesRead['anomalies'] = []
  const registered = new Set(await membersOrAnomaly(conn, keys.queues, anomalies))
  const paused = new Set(await membersOrAnomaly(conn, keys.paused, anomalies))
  const listed = new Set<string>()
  const scan = options.source ?? ownScan(conn)
  for await (const batch of scan({...queueListPattern(keys), count: options.scanCount, onProgress: options.onProgress})) {
    for (const key of batch) {
      const name = keys.queueName(key)
      if (name !== undefined && !isPrivateQueueName(name)) listed.add(name)
    }
  }
  const names = [...new Set([...registered, ...listed])].sort()
  const replies = await pipelinedReads(conn, names, (name) => [
    ['type', keys.queue(name)],
    ['llen', keys.queue(name)],
    ['lindex', keys.queue(name), -1],
  ])
  const nowSeconds = await redisNow(conn)
  const queues = names.map((name, i): QueueState => {
    const [type, len, oldestRaw] = replies[i]!
    const keyType = String(type?.value ?? 'none')
    const state: QueueState = {
      name,
      key: keys.queue(name),
      size: typeof len?.value === 'number' ? len.value : 0,
      registered: registered.has(name),
      listExists: keyType === 'list',
      paused: paused.has(name),
    }
    if (keyType !== 'list' && keyType !== 'none') {
      state.wrongType = keyType
      anomalies.push({key: state.key, problem: `is a ${keyType}, not a list`})
      return state
    }
    if (typeof oldestRaw?.value === 'string') {
      state.oldest = parseJob(oldestRaw.value)
      if (state.oldest.ok && state.oldest.job.enqueuedAt !== undefined)
        state.latencySeconds = Math.max(0, nowSeconds - state.oldest.job.enqueuedAt)
    }
    return state
  })
  return {queues, nowSeconds, anomalies}
}

export interface CorruptJob {
  key: string
  queue: string
  index: number
  reason: string
  preview: string
}

/** Parse every job of a queue page by page; calls `onCorrupt` for each unreadable one. Returns the count parsed. */
export async function scanQueueJobs(
  conn: Connection,
  queue: QueueState,
  onCorrupt: (c: CorruptJob) => void,
  pageSize?: number,
): Promise<number> {
  let parsed = 0
  for await (const page of listPages(conn, queue.key, pageSize)) {
    for (const entry of page) {
      parsed++
      const result = parseJob(entry.value)
      if (!result.ok) onCorrupt({key: queue.key, queue: queue.name, index: entry.index, reason: result.reason, preview: entry.value.slice(0, 120)})
    }
  }
  return parsed
}

/** Redis TIME as epoch seconds: ages are measured on the server's clock, not this machine's. */
export async function redisNow(conn: Connection): Promise<number> {
  const [s, us] = await resilient(conn, 'reading the server time', (redis) => redis.time())
  return Number(s) + Number(us) / 1e6
}

async function membersOrAnomaly(conn: Connection, key: string, anomalies: QueuesRead['anomalies']): Promise<string[]> {
  try {
    return await allMembers(conn, key)
  } catch (err) {
    if (!isWrongType(err)) throw err
    const type = await resilient(conn, `reading ${key}`, (redis) => redis.type(key))
    anomalies.push({key, problem: `is a ${type}, not a set`})
    return []
  }
}
