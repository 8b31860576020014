// Finds where jobs are: given a set of candidate jids (the pending jids of batches), streams every
// place a Sidekiq job can live exactly once and notes each candidate it sees. Memory follows the
// number of candidates, not the number of jobs: members are parsed one page at a time and dropped.
//
// Containers, in reading order (a job moving forward along Sidekiq's usual path — schedule/retry →
// queue → fetch → work → retry/dead — is read at its source before its destination, so a single
// move during the walk is not missed; moves the other way are what the settle pass is for):
//   schedule, retry, every `queue:*` list (registered or not), Pro super_fetch private queues
//   `queue:sq|<identity>|<queue>`, GitLab `working:queue:<queue>:<identity>` lists, every
//   `<identity>:work` / `:workers` hash, dead, GitLab `interrupted`.
// The top-level jid of each payload is read by parsing the whole object: a jid nested in `args`
// (ordinary in batch workflows) never counts as the job being present.
import type {Connection} from '../redis/connect.js'
import {allMembers, hashEntries} from '../redis/paged.js'
import {pipelinedReads} from '../redis/pipeline.js'
import type {KeyPattern, KeySource} from '../redis/keyspace-index.js'
import {listFromHead, zsetMembers} from '../redis/walk.js'
import {jobFromValue, type ParsedJob, parseJob} from './job.js'
import {isPrivateQueueName, type SidekiqKeys} from './keys.js'
import {fetchListPattern, type PrivateQueue, readPrivateQueues} from './private-queues.js'
import {timestampUnit} from './time.js'
import {parseWork} from './work.js'

export type ContainerKind = 'schedule' | 'retry' | 'queue' | 'private-queue' | 'working-queue' | 'work' | 'dead' | 'interrupted'

export interface Container {
  kind: ContainerKind
  key: string
  /** The owning process identity (private/working queues, work hashes). */
  owner?: string
  /** The key whose existence says the owner is alive. */
  heartbeatKey?: string
  ownerAlive?: boolean
  /** The public queue a private/working queue belongs to. */
  queue?: string
}

export interface Sighting {
  container: Container
  /** The exact element (private/working queues only: a rescue moves this exact value). */
  raw?: string
}

/**
 * What the walk looks for: `wants` is asked for the top-level jid of every member, `found` told of each
 * sighting of a wanted jid (once per container). Callers keep the sightings with their own records,
 * so memory holds one entry per candidate, never one per job.
 */
export interface LocateTarget {
  wants(jid: string): boolean
  found(jid: string, sighting: Sighting): void
}

export interface CorruptMembers {
  key: string
  kind: ContainerKind
  count: number
  examples: Array<{reason: string; preview: string}>
}

export interface LocateStats {
  containers: Partial<Record<ContainerKind, number>>
  /** Members parsed per kind. */
  members: Partial<Record<ContainerKind, number>>
  corrupt: CorruptMembers[]
  /** Encodings of `created_at` in the payloads sampled (8.x writes ms, ≤ 7.x float seconds). */
  timestampUnits: {seconds: number; milliseconds: number}
}

export interface LocateHooks {
  /** After a container has been read (tests use it to move a job behind the walk's back). */
  afterContainer?: (container: Container) => Promise<void> | void
  onProgress?: (text: string) => void
}


/** Payloads whose `created_at` encoding is sampled (enough to tell 8.x from older). */
const UNIT_SAMPLE = 2000
const CORRUPT_EXAMPLES = 3

/** The SCAN patterns container discovery reads (for a shared keyspace pass). */
export function containerKeyPatterns(keys: SidekiqKeys): KeyPattern[] {
  return [fetchListPattern(keys), workHashPattern(keys)]
}

/** `<identity>:work` / `:workers` hashes, including those of identities missing from `processes`. */
function workHashPattern(keys: SidekiqKeys): KeyPattern {
  return {match: keys.workPattern, type: 'hash'}
}

/**
 * Every container that can hold a job, in reading order, with owner liveness for private/working
 * queues and work hashes. Keys come from `source`; registered queues and the work of every
 * `processes` member are added from those sets as they are now (the shared pass may be minutes old).
 */
export async function discoverContainers(conn: Connection, keys: SidekiqKeys, options: {source: KeySource; scanCount?: number}): Promise<Container[]> {
  const registered = new Set(await membersIfSet(conn, keys.queues))
  const queues = new Map<string, Container>()
  const fetchLists = await readPrivateQueues(conn, keys, {
    ...options,
    onOtherList: (key) => {
      const name = keys.queueName(key)
      if (name !== undefined && !isPrivateQueueName(name)) queues.set(name, {kind: 'queue', key, queue: name})
    },
  })
  const fetched = (q: PrivateQueue): Container => ({
    kind: q.kind === 'super_fetch' ? 'private-queue' : 'working-queue',
    key: q.key,
    owner: q.identity,
    heartbeatKey: q.heartbeatKey,
    ownerAlive: q.ownerAlive,
    queue: q.queue,
  })
  const privates = fetchLists.filter((q) => q.kind === 'super_fetch').map(fetched)
  const working = fetchLists.filter((q) => q.kind === 'reliable_fetch').map(fetched)
  // A registered queue that was empty during the SCAN may have been filled since: read it too (its
  // type is checked when it is read).
  for (const name of registered) if (!isPrivateQueueName(name) && !queues.has(name)) queues.set(name, {kind: 'queue', key: keys.queue(name), queue: name})

  const workKeys = new Map<string, Container>()
  const identities = await membersIfSet(conn, keys.processes)
  for (const id of identities)
    for (const key of [keys.work(id), keys.workers(id)]) workKeys.set(key, {kind: 'work', key, owner: id, heartbeatKey: keys.process(id)})
  for await (const batch of options.source({...workHashPattern(keys), count: options.scanCount})) {
    for (const key of batch) {
      const owner = keys.workOwner(key)
      if (owner !== undefined && !workKeys.has(key)) workKeys.set(key, {kind: 'work', key, owner, heartbeatKey: keys.process(owner)})
    }
  }

  const owned = [...workKeys.values()]
  const alive = await pipelinedReads(conn, owned, (c) => [['exists', c.heartbeatKey!]])
  owned.forEach((c, i) => (c.ownerAlive = Number(alive[i]![0]?.value) === 1))

  const byKey = (a: Container, b: Container) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  return [
    {kind: 'schedule', key: keys.schedule},
    {kind: 'retry', key: keys.retry},
    ...[...queues.values()].sort(byKey),
    ...privates,
    ...working,
    ...[...workKeys.values()].sort(byKey),
    {kind: 'dead', key: keys.dead},
    {kind: 'interrupted', key: keys.interrupted},
  ]
}

/** Members of a SET key (empty when it is absent or of another type). */
export async function membersIfSet(conn: Connection, key: string): Promise<string[]> {
  const [[type]] = (await pipelinedReads(conn, [key], (k) => [['type', k]])) as [[{value?: unknown}]]
  return type?.value === 'set' ? allMembers(conn, key) : []
}

/**
 * Read every container once and report each wanted jid seen (with the container). Containers that
 * vanished or changed type since discovery are skipped; unreadable members are counted per key.
 */
export async function locateJobs(conn: Connection, containers: readonly Container[], target: LocateTarget, hooks: LocateHooks = {}): Promise<LocateStats> {
  const stats: LocateStats = {containers: {}, members: {}, corrupt: [], timestampUnits: {seconds: 0, milliseconds: 0}}
  let sampled = 0
  let read = 0
  const types = await pipelinedReads(conn, containers, (c) => [['type', c.key]])
  for (const [i, container] of containers.entries()) {
    const type = String(types[i]![0]?.value ?? 'none')
    const expected = container.kind === 'work' ? 'hash' : container.kind === 'schedule' || container.kind === 'retry' || container.kind === 'dead' || container.kind === 'interrupted' ? 'zset' : 'list'
    if (type !== expected) {
      await hooks.afterContainer?.(container)
      continue
    }
    stats.containers[container.kind] = (stats.containers[container.kind] ?? 0) + 1
    let corrupt: CorruptMembers | undefined
    // One sighting object per container, shared by every jid found in it (raw elements aside).
    const shared: Sighting = {container}
    const keepRaw = container.kind === 'private-queue' || container.kind === 'working-queue'
    let last: string | undefined
    const note = (raw: string, parsedOk: boolean, reason: string | undefined) => {
      if (parsedOk) return
      corrupt ??= {key: container.key, kind: container.kind, count: 0, examples: []}
      corrupt.count++
      if (corrupt.examples.length < CORRUPT_EXAMPLES) corrupt.examples.push({reason: reason ?? 'unreadable', preview: raw.slice(0, 120)})
    }
    const visit = (raw: string, payload: Identity) => {
      read++
      stats.members[container.kind] = (stats.members[container.kind] ?? 0) + 1
      if ('reason' in payload) return note(raw, false, payload.reason)
      const job = payload
      if (sampled < UNIT_SAMPLE && job.createdAt !== undefined) {
        sampled++
        const unit = timestampUnit(job.createdAt)
        if (unit === 'seconds') stats.timestampUnits.seconds++
        else if (unit === 'milliseconds') stats.timestampUnits.milliseconds++
      }
      if (job.jid === last || !target.wants(job.jid)) return
      last = job.jid
      target.found(job.jid, keepRaw ? {container, raw} : shared)
    }
    if (expected === 'zset') {
      for await (const page of zsetMembers(conn, container.key)) for (const raw of page) visit(raw, identify(raw))
    } else if (expected === 'list') {
      for await (const page of listFromHead(conn, container.key)) for (const raw of page) visit(raw, identify(raw))
    } else {
      for await (const page of hashEntries(conn, container.key)) {
        for (const [tid, raw] of page) visit(raw, fromParsed(parseWork(tid, raw).payload))
      }
    }
    if (corrupt) stats.corrupt.push(corrupt)
    hooks.onProgress?.(`Read ${read.toLocaleString('en-US')} jobs (${container.key})`)
    await hooks.afterContainer?.(container)
  }
  return stats
}

type Identity = {jid: string; createdAt: unknown} | {reason: string}

/**
 * The top-level jid (and created_at) of a payload, by parseJob's rules (a JSON object with a "jid" and a
 * "class" string) but without building a Job: a million of these are parsed per run.
 */
function identify(raw: string): Identity {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return fromParsed(parseJob(raw))
  }
  const v = value as Record<string, unknown> | null
  if (v !== null && typeof v === 'object' && typeof v.jid === 'string' && v.jid !== '' && typeof v.class === 'string' && v.class !== '' && !Array.isArray(v))
    return {jid: v.jid, createdAt: v.created_at}
  return fromParsed(jobFromValue(value))
}

function fromParsed(p: ParsedJob): Identity {
  return p.ok ? {jid: p.job.jid, createdAt: p.job.fields.created_at} : {reason: p.reason}
}
