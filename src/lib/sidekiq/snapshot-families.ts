// What a snapshot holds, family by family, and how each family is read from a live Redis. Key
// names are stored bare (without the redis-namespace prefix), so a snapshot can be imported under
// another namespace. Job payloads are kept byte for byte (base64 when they are not UTF-8 text).
//
// Export order follows a job's path through Sidekiq (schedule/retry → queue → in progress → dead),
// so a job that moves while the export runs is seen in at least one place (at worst in two).
import {isUtf8} from 'node:buffer'
import {parse as parseLossless, stringify as stringifyLossless} from 'lossless-json'

import type {Connection} from '../redis/connect.js'
import {isWrongType} from '../redis/errors.js'
import {allMembers, hashEntries} from '../redis/paged.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {scanKeys} from '../redis/scan.js'
import {dumpKeys, keyType, listValuesFromHead, serverTimeMs, zsetByScore} from '../redis/snapshot-reads.js'
import type {SnapshotRecord} from '../snapshot/format.js'
import {parseJob} from './job.js'
import {BATCH_LAYOUTS, isBid, isPrivateQueueName, type SidekiqKeys} from './keys.js'

export const SNAPSHOT_FAMILIES = ['schedule', 'retry', 'queues', 'work', 'dead', 'batches', 'stats', 'processes'] as const
export type SnapshotFamily = (typeof SNAPSHOT_FAMILIES)[number]

/**
 * Families an import restores unless --only says otherwise. `work` (in-progress jobs) is imported
 * only when named: it re-enqueues jobs that may have finished. `processes` is never imported.
 */
export const DEFAULT_IMPORT_FAMILIES: readonly SnapshotFamily[] = ['batches', 'stats', 'schedule', 'retry', 'dead', 'queues']
export const NEVER_IMPORTED: readonly SnapshotFamily[] = ['processes']
/** Keys before jobs: a restored job's batch must exist before a worker can take the job. */
export const IMPORT_ORDER: readonly SnapshotFamily[] = ['batches', 'stats', 'schedule', 'retry', 'dead', 'queues', 'work']

export type JobSetFamily = 'schedule' | 'retry' | 'dead'
export const JOB_SETS: readonly JobSetFamily[] = ['schedule', 'retry', 'dead']

/** A job payload: `payload` when it is UTF-8 text (always, for Sidekiq), else `payloadBase64`. */
export interface PayloadFields {
  payload?: string
  payloadBase64?: string
}

/** A queue (one before its jobs, also for a registered queue without a list). */
export interface QueueRecord extends SnapshotRecord {
  type: 'queue'
  family: 'queues'
  queue: string
  registered: boolean
  /** LLEN when the queue was read. */
  length: number
}

/** A job in a queue (file order = list order, head first) or in schedule/retry/dead (with its score). */
export interface JobRecord extends SnapshotRecord, PayloadFields {
  type: 'job'
  family: 'queues' | JobSetFamily
  queue?: string
  /** Sorted-set score exactly as Redis printed it. */
  score?: string
}

/** A job in progress: a `<identity>:work(ers)` entry, or an element of a reliable fetcher's private list. */
export interface WorkRecord extends SnapshotRecord, PayloadFields {
  type: 'work'
  family: 'work'
  source: 'work' | 'super_fetch' | 'reliable_fetch'
  /** The bare key it was read from. */
  key: string
  identity: string
  queue?: string
  /** Thread id (work hashes). */
  tid?: string
  /** Epoch seconds the job started (work hashes). */
  runAt?: number
}

/** A whole key as DUMP + expiry (batch keys, `batch-died`). */
export interface KeyRecord extends SnapshotRecord {
  type: 'key'
  family: 'batches'
  key: string
  redisType: string
  /** Epoch ms on the source's clock; absent = no TTL. */
  expireAt?: number
  /** DUMP payload, base64. */
  dump: string
}

/** A member of Pro's `batches` index (a ZSET merged member by member). */
export interface MemberRecord extends SnapshotRecord {
  type: 'member'
  family: 'batches'
  key: string
  member: string
  score: string
}

export interface CounterRecord extends SnapshotRecord {
  type: 'counter'
  family: 'stats'
  key: string
  value: string
  expireAt?: number
}

export interface ProcessRecord extends SnapshotRecord {
  type: 'process'
  family: 'processes'
  identity: string
  /** The heartbeat hash (empty when it had expired: a stale member). */
  fields: Record<string, string>
  expireAt?: number
}

export type FamilyRecord = QueueRecord | JobRecord | WorkRecord | KeyRecord | MemberRecord | CounterRecord | ProcessRecord

const RECORD_FAMILY: Record<FamilyRecord['type'], readonly SnapshotFamily[]> = {
  queue: ['queues'],
  job: ['queues', 'schedule', 'retry', 'dead'],
  work: ['work'],
  key: ['batches'],
  member: ['batches'],
  counter: ['stats'],
  process: ['processes'],
}

/** Why a record is unusable (unknown type, a required field missing), or undefined. */
export function checkRecord(r: SnapshotRecord): string | undefined {
  const families = RECORD_FAMILY[r.type as FamilyRecord['type']]
  if (!families) return `unknown record type ${JSON.stringify(r.type)}`
  if (!families.includes(r.family as SnapshotFamily)) return `a ${r.type} record in family ${JSON.stringify(r.family)}`
  const str = (f: string) => typeof r[f] === 'string'
  const need = (...fields: string[]) => fields.find((f) => !str(f))
  const payload = () => (str('payload') || str('payloadBase64') ? undefined : 'payload')
  let missing: string | undefined
  switch (r.type) {
    case 'queue':
      missing = need('queue')
      break
    case 'job':
      missing = payload() ?? (r.family === 'queues' ? need('queue') : need('score'))
      break
    case 'work':
      missing = payload() ?? need('source', 'key', 'identity')
      break
    case 'key':
      missing = need('key', 'redisType', 'dump')
      break
    case 'member':
      missing = need('key', 'member', 'score')
      break
    case 'counter':
      missing = need('key', 'value')
      break
    case 'process':
      missing = need('identity')
      break
  }
  if (missing) return `a ${r.type} record without "${missing}"`
  if ('expireAt' in r && r.expireAt !== undefined && !Number.isFinite(r.expireAt)) return `a ${r.type} record with a bad "expireAt"`
  return undefined
}

function payloadFields(value: Buffer): PayloadFields {
  return isUtf8(value) ? {payload: value.toString('utf8')} : {payloadBase64: value.toString('base64')}
}

export interface ExportContext {
  conn: Connection
  keys: SidekiqKeys
  scanCount?: number
  /** Something unexpected that was left out (a key of the wrong type…). */
  warn: (message: string) => void
}

/** Pages of records of one family, read from the live Redis. */
export function exportFamily(ctx: ExportContext, family: SnapshotFamily): AsyncGenerator<FamilyRecord[]> {
  switch (family) {
    case 'schedule':
    case 'retry':
    case 'dead':
      return exportJobSet(ctx, family)
    case 'queues':
      return exportQueues(ctx)
    case 'work':
      return exportWork(ctx)
    case 'batches':
      return exportBatches(ctx)
    case 'stats':
      return exportStats(ctx)
    case 'processes':
      return exportProcesses(ctx)
  }
}

async function* exportJobSet(ctx: ExportContext, family: JobSetFamily): AsyncGenerator<JobRecord[]> {
  const key = ctx.keys[family]
  const type = await keyType(ctx.conn, key)
  if (type === 'none') return
  if (type !== 'zset') {
    ctx.warn(`${key} is a ${type}, not a sorted set: not exported.`)
    return
  }
  for await (const page of zsetByScore(ctx.conn, key)) yield page.map(({member, score}) => ({type: 'job', family, score, ...payloadFields(member)}))
}

async function* exportQueues(ctx: ExportContext): AsyncGenerator<Array<QueueRecord | JobRecord>> {
  const {conn, keys} = ctx
  const registered = new Set(await membersOrWarn(ctx, keys.queues))
  const names = new Set([...registered].filter((n) => !isPrivateQueueName(n)))
  for await (const batch of scanKeys(conn, {match: keys.queuePattern, type: 'list', count: ctx.scanCount})) {
    for (const key of batch) {
      const name = keys.queueName(key)
      if (name !== undefined && !isPrivateQueueName(name)) names.add(name)
    }
  }
  const sorted = [...names].sort()
  const heads = await pipelinedReads(conn, sorted, (name) => [
    ['type', keys.queue(name)],
    ['llen', keys.queue(name)],
  ])
  for (const [i, name] of sorted.entries()) {
    const type = String(heads[i]![0]?.value ?? 'none')
    if (type !== 'list' && type !== 'none') {
      ctx.warn(`${keys.queue(name)} is a ${type}, not a list: its jobs were not exported.`)
      continue
    }
    yield [{type: 'queue', family: 'queues', queue: name, registered: registered.has(name), length: Number(heads[i]![1]?.value ?? 0)}]
    if (type === 'none') continue
    for await (const page of listValuesFromHead(conn, keys.queue(name))) yield page.map((v) => ({type: 'job', family: 'queues', queue: name, ...payloadFields(v)}))
  }
}

async function* exportWork(ctx: ExportContext): AsyncGenerator<WorkRecord[]> {
  const {conn, keys} = ctx
  for await (const batch of scanKeys(conn, {match: keys.workPattern, type: 'hash', count: ctx.scanCount})) {
    for (const key of batch) {
      const identity = keys.workOwner(key)
      if (identity === undefined) continue
      for await (const entries of hashEntries(conn, key)) yield entries.map(([tid, raw]) => workEntryRecord(keys.strip(key), identity, tid, raw))
    }
  }
  const fetchLists: Array<{match: string; source: WorkRecord['source']; owner: (key: string) => {identity: string; queue: string} | undefined}> = [
    {match: keys.queuePattern, source: 'super_fetch', owner: (k) => keys.privateQueue(k)},
    {match: keys.workingQueuePattern, source: 'reliable_fetch', owner: (k) => keys.workingQueue(k)},
  ]
  for (const {match, source, owner} of fetchLists) {
    for await (const batch of scanKeys(conn, {match, type: 'list', count: ctx.scanCount})) {
      for (const key of batch) {
        const who = owner(key)
        if (!who) continue
        for await (const page of listValuesFromHead(conn, key))
          yield page.map((v) => ({type: 'work', family: 'work', source, key: keys.strip(key), identity: who.identity, queue: who.queue, ...payloadFields(v)}))
      }
    }
  }
}

/** A work entry `{"queue", "payload", "run_at"}`: payload is a JSON string (6.0.2+) or an object (6.0.0–6.0.1). */
function workEntryRecord(key: string, identity: string, tid: string, raw: string): WorkRecord {
  const base = {type: 'work' as const, family: 'work' as const, source: 'work' as const, key, identity, tid}
  let entry: Record<string, unknown>
  try {
    entry = parseLossless(raw) as Record<string, unknown>
  } catch {
    return {...base, payload: raw}
  }
  const payload = typeof entry?.payload === 'string' ? entry.payload : entry?.payload !== undefined ? stringifyLossless(entry.payload) : undefined
  const runAt = Number(String(entry?.run_at ?? ''))
  return {
    ...base,
    ...(typeof entry?.queue === 'string' ? {queue: entry.queue} : {}),
    ...(Number.isFinite(runAt) && runAt > 0 ? {runAt} : {}),
    // An entry without a payload is kept whole, for forensics.
    payload: payload ?? raw,
  }
}

async function* exportBatches(ctx: ExportContext): AsyncGenerator<Array<KeyRecord | MemberRecord>> {
  const {conn, keys} = ctx
  for (const layout of BATCH_LAYOUTS) {
    for await (const batch of scanKeys(conn, {match: keys.batchKeysPattern(layout), count: ctx.scanCount})) {
      const mine = batch.filter((key) => {
        const tail = keys.batchKeyTail(key)
        return tail !== undefined && isBid(tail.tail)
      })
      yield (await dumpKeys(conn, mine)).map((d) => keyRecord(ctx, d))
    }
  }
  yield (await dumpKeys(conn, [keys.batchDied])).map((d) => keyRecord(ctx, d))
  const index = keys.batchesIndex
  const type = await keyType(conn, index)
  if (type === 'zset') {
    for await (const page of zsetByScore(conn, index))
      yield page.map(({member, score}) => ({type: 'member', family: 'batches', key: keys.strip(index), member: member.toString('utf8'), score}))
  } else if (type !== 'none') ctx.warn(`${index} is a ${type}, not a sorted set: not exported.`)
}

function keyRecord(ctx: ExportContext, d: {key: string; type: string; dump: Buffer; expireAt?: number}): KeyRecord {
  return {
    type: 'key',
    family: 'batches',
    key: ctx.keys.strip(d.key),
    redisType: d.type,
    ...(d.expireAt !== undefined ? {expireAt: d.expireAt} : {}),
    dump: d.dump.toString('base64'),
  }
}

async function* exportStats(ctx: ExportContext): AsyncGenerator<CounterRecord[]> {
  const {conn, keys} = ctx
  for await (const batch of scanKeys(conn, {match: keys.statsPattern, type: 'string', count: ctx.scanCount})) {
    const counters = batch.filter((k) => keys.isStatCounter(k))
    if (counters.length === 0) continue
    const now = await serverTimeMs(conn)
    const replies = await pipelinedReads(conn, counters, (key) => [
      ['get', key],
      ['pttl', key],
    ])
    const out: CounterRecord[] = []
    counters.forEach((key, i) => {
      const [value, pttl] = replies[i]!
      if (typeof value?.value !== 'string') return
      const ttl = Number(pttl?.value ?? -1)
      out.push({type: 'counter', family: 'stats', key: keys.strip(key), value: value.value, ...(ttl >= 0 ? {expireAt: now + ttl} : {})})
    })
    yield out
  }
}

async function* exportProcesses(ctx: ExportContext): AsyncGenerator<ProcessRecord[]> {
  const {conn, keys} = ctx
  const identities = (await membersOrWarn(ctx, keys.processes)).sort()
  if (identities.length === 0) return
  const now = await serverTimeMs(conn)
  const replies = await pipelinedReads(conn, identities, (id) => [
    ['hgetall', keys.process(id)],
    ['pttl', keys.process(id)],
  ])
  yield identities.map((identity, i) => {
    const [hash, pttl] = replies[i]!
    const fields = hash?.value && typeof hash.value === 'object' ? (hash.value as Record<string, string>) : {}
    const ttl = Number(pttl?.value ?? -1)
    return {type: 'process', family: 'processes', identity, fields, ...(ttl >= 0 ? {expireAt: now + ttl} : {})}
  })
}

async function membersOrWarn(ctx: ExportContext, key: string): Promise<string[]> {
  try {
    return await allMembers(ctx.conn, key)
  } catch (err) {
    if (!isWrongType(err)) throw err
    ctx.warn(`${key} is not a set: not read.`)
    return []
  }
}

// ---------------------------------------------------------------- reading a target for an import

/** The jids already in a queue list or a job sorted set (read page by page; only the jids are kept). */
export async function jidsIn(conn: Connection, key: string): Promise<Set<string>> {
  const jids = new Set<string>()
  const type = await keyType(conn, key)
  const add = (value: Buffer) => {
    const parsed = parseJob(value.toString('utf8'))
    if (parsed.ok) jids.add(parsed.job.jid)
  }
  if (type === 'list') for await (const page of listValuesFromHead(conn, key)) page.forEach(add)
  else if (type === 'zset') for await (const page of zsetByScore(conn, key)) for (const {member} of page) add(member)
  return jids
}

/** What an import asks the target: its clock, the jids of a container, which keys and members exist. */
export async function readImportTarget(conn: Connection): Promise<{
  nowMs: number
  jids: (key: string) => Promise<Set<string>>
  keysExist: (keys: readonly string[]) => Promise<boolean[]>
  zsetHas: (key: string, members: readonly string[]) => Promise<boolean[]>
}> {
  return {
    nowMs: await serverTimeMs(conn),
    jids: (key) => jidsIn(conn, key),
    keysExist: async (keys) => (await pipelinedReads(conn, keys, (k) => [['exists', k]])).map(([r]) => Number(r?.value) === 1),
    zsetHas: async (key, members) => (await pipelinedReads(conn, members, (m) => [['zscore', key, m]])).map(([r]) => typeof r?.value === 'string'),
  }
}

/** The queue and raw payload a work record would be re-enqueued with. */
export function workJob(r: WorkRecord): {queue: string; payload: string} | undefined {
  if (r.payload === undefined) return undefined
  const parsed = parseJob(r.payload)
  const queue = r.queue ?? (parsed.ok ? parsed.job.queue : undefined)
  return parsed.ok && queue ? {queue, payload: r.payload} : undefined
}

// ---------------------------------------------------------------- counting (preflight)

export interface FamilyCount {
  /** Keys of the family. */
  keys: number
  /** Elements: jobs for queues/sets/work, members for processes, keys for batches and stats. */
  items: number
}

/** Keys and elements per family, from cheap reads (SCAN, LLEN, ZCARD, SCARD, HLEN). */
export async function countFamilies(conn: Connection, keys: SidekiqKeys, scanCount?: number): Promise<Record<SnapshotFamily, FamilyCount>> {
  const counts = Object.fromEntries(SNAPSHOT_FAMILIES.map((f) => [f, {keys: 0, items: 0}])) as Record<SnapshotFamily, FamilyCount>
  const sized = async (family: SnapshotFamily, found: string[], sizeCommand: string) => {
    if (found.length === 0) return
    const sizes = await pipelinedReads(conn, found, (k) => [[sizeCommand, k]])
    counts[family].keys += found.length
    counts[family].items += sizes.reduce((sum, [r]) => sum + (typeof r?.value === 'number' ? r.value : 0), 0)
  }
  const singles: Array<[SnapshotFamily, string, string]> = [
    ['schedule', keys.schedule, 'zcard'],
    ['retry', keys.retry, 'zcard'],
    ['dead', keys.dead, 'zcard'],
    ['processes', keys.processes, 'scard'],
  ]
  const types = await pipelinedReads(conn, singles, ([, key]) => [['type', key]])
  for (const [i, [family, key, cmd]] of singles.entries()) if (types[i]![0]?.value !== 'none') await sized(family, [key], cmd)
  for await (const batch of scanKeys(conn, {match: keys.queuePattern, type: 'list', count: scanCount})) {
    await sized('queues', batch.filter((k) => !isPrivateQueueName(keys.queueName(k) ?? '')), 'llen')
    await sized('work', batch.filter((k) => keys.privateQueue(k) !== undefined), 'llen')
  }
  for await (const batch of scanKeys(conn, {match: keys.workPattern, type: 'hash', count: scanCount})) await sized('work', batch.filter((k) => keys.workOwner(k) !== undefined), 'hlen')
  for await (const batch of scanKeys(conn, {match: keys.workingQueuePattern, type: 'list', count: scanCount})) await sized('work', batch.filter((k) => keys.workingQueue(k) !== undefined), 'llen')
  for (const layout of BATCH_LAYOUTS)
    for await (const batch of scanKeys(conn, {match: keys.batchKeysPattern(layout), count: scanCount})) {
      const n = batch.filter((k) => isBid(keys.batchKeyTail(k)?.tail ?? '')).length
      counts.batches.keys += n
      counts.batches.items += n
    }
  for await (const batch of scanKeys(conn, {match: keys.statsPattern, type: 'string', count: scanCount})) {
    const n = batch.filter((k) => keys.isStatCounter(k)).length
    counts.stats.keys += n
    counts.stats.items += n
  }
  return counts
}
