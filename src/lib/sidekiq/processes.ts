// Reads `processes`, each identity's heartbeat hash and its in-progress work
// (`<identity>:work` from 6.5, `<identity>:workers` in 6.0–6.4; both are looked at).
import type {Connection} from '../redis/connect.js'
import {describeKeys} from '../redis/describe.js'
import {hashEntries, allMembers} from '../redis/paged.js'
import {pipelinedReads} from '../redis/pipeline.js'
import type {SidekiqKeys} from './keys.js'
import {toEpochSeconds} from './time.js'
import {parseWork, type WorkEntry} from './work.js'

export interface ProcessState {
  identity: string
  /** The heartbeat hash exists (a member without one is stale). */
  alive: boolean
  ttlMs?: number
  hostname?: string
  pid?: number
  tag?: string
  version?: string
  concurrency?: number
  busy?: number
  /** Epoch seconds of the last beat, on the process's own clock. */
  beat?: number
  quiet?: boolean
  startedAt?: number
  rssKb?: number
  rttUs?: number
  queues?: string[]
  /** Problems reading this process (unparseable info, wrong types): reported, not fatal. */
  problems: string[]
  work: WorkEntry[]
  /** Which work key held entries. */
  workKey?: string
}

export async function readProcesses(conn: Connection, keys: SidekiqKeys): Promise<ProcessState[]> {
  const identities = (await allMembers(conn, keys.processes)).sort()
  const replies = await pipelinedReads(conn, identities, (id) => [
    ['hgetall', keys.process(id)],
    ['pttl', keys.process(id)],
  ])
  const out: ProcessState[] = []
  for (const [i, identity] of identities.entries()) {
    const [hash, pttl] = replies[i]!
    const state: ProcessState = {identity, alive: false, problems: [], work: []}
    if (hash?.error) state.problems.push(`${keys.process(identity)}: ${hash.error.message}`)
    const fields = (hash?.value ?? {}) as Record<string, string>
    state.alive = Object.keys(fields).length > 0
    if (typeof pttl?.value === 'number' && pttl.value >= 0) state.ttlMs = pttl.value
    if (state.alive) fillHeartbeat(state, fields)
    for (const key of [keys.work(identity), keys.workers(identity)]) {
      const entries = await readWork(conn, key, state)
      if (entries.length) {
        state.work.push(...entries)
        state.workKey = key
      }
    }
    out.push(state)
  }
  return out
}

async function readWork(conn: Connection, key: string, state: ProcessState): Promise<WorkEntry[]> {
  const entries: WorkEntry[] = []
  try {
    for await (const batch of hashEntries(conn, key)) for (const [tid, raw] of batch) entries.push(parseWork(tid, raw))
  } catch (err) {
    state.problems.push(`${key}: ${(err as Error).message}`)
  }
  return entries
}

function fillHeartbeat(state: ProcessState, fields: Record<string, string>): void {
  state.busy = num(fields.busy)
  state.beat = toEpochSeconds(fields.beat)
  state.quiet = fields.quiet === 'true'
  state.rssKb = num(fields.rss)
  state.rttUs = num(fields.rtt_us)
  state.concurrency = num(fields.concurrency)
  if (fields.info === undefined) return
  let info: Record<string, unknown>
  try {
    info = JSON.parse(fields.info) as Record<string, unknown>
  } catch {
    state.problems.push('heartbeat "info" is not JSON')
    return
  }
  state.hostname = typeof info.hostname === 'string' ? info.hostname : undefined
  state.pid = typeof info.pid === 'number' ? info.pid : undefined
  state.tag = typeof info.tag === 'string' ? info.tag : undefined
  state.version = typeof info.version === 'string' ? info.version : undefined
  state.startedAt = toEpochSeconds(info.started_at)
  state.queues = Array.isArray(info.queues) ? info.queues.filter((q): q is string => typeof q === 'string') : undefined
  // 8.1.2 moved concurrency out of info into a hash field; older versions only have it in info.
  state.concurrency ??= typeof info.concurrency === 'number' ? info.concurrency : undefined
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** A key a process leaves besides its heartbeat hash: `:work`, `:workers` (6.0–6.4) or `-signals`. */
export interface LeftoverKey {
  identity: string
  key: string
  type: string
  /** Milliseconds; -1 = no TTL. Sidekiq writes all three with a 60 s TTL, so one without a TTL was leaked. */
  pttl: number
}

/** The keys other than `<identity>` that belong to a process identity. */
export function companionKeys(keys: SidekiqKeys, identity: string): string[] {
  return [keys.work(identity), keys.workers(identity), keys.signals(identity)]
}

/** Which companion keys of these identities exist, with type and TTL. */
export async function readLeftovers(conn: Connection, keys: SidekiqKeys, identities: readonly string[]): Promise<LeftoverKey[]> {
  const wanted = identities.flatMap((identity) => companionKeys(keys, identity).map((key) => ({identity, key})))
  const described = await describeKeys(
    conn,
    wanted.map((w) => w.key),
    {maxFields: 0, maxStringBytes: 0},
  )
  return wanted.map((w, i) => ({...w, type: described[i]!.type, pttl: described[i]!.pttl})).filter((l) => l.type !== 'none')
}
