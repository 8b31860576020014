// Which Sidekiq writes to this Redis, as far as the data tells: heartbeats carry `info.version` from
// 7.0.2; `<identity>:workers` means 6.0–6.4; a redis-namespace means ≤ 6; payload timestamps in
// integer milliseconds mean 8.x. It decides the heartbeat interval (5 s in 6.x, 10 s from 7.0) and the
// timestamp unit of a job qdoctor writes.
import type {Connection} from '../redis/connect.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {membersIfSet} from './job-locator.js'
import type {SidekiqKeys} from './keys.js'

export interface SidekiqFlavour {
  /** Distinct `info.version` values of live heartbeats. */
  versions: string[]
  /** The major version, when the data says it. */
  major?: number
  /** What `major` rests on. */
  source: 'heartbeat' | 'workers-key' | 'namespace' | 'payloads' | 'unknown'
  /** Heartbeat interval in seconds, when known. */
  beatSeconds?: number
}

/** Heartbeats (and their work keys), then the namespace. Payload units refine it later (withPayloadUnits). */
export async function detectSidekiq(conn: Connection, keys: SidekiqKeys): Promise<SidekiqFlavour> {
  const identities = await membersIfSet(conn, keys.processes)
  const replies = await pipelinedReads(conn, identities, (id) => [
    ['hget', keys.process(id), 'info'],
    ['exists', keys.workers(id)],
  ])
  const versions = new Set<string>()
  let workersKey = false
  for (const [info, workers] of replies) {
    if (Number(workers?.value) === 1) workersKey = true
    if (typeof info?.value !== 'string') continue
    try {
      const v = (JSON.parse(info.value) as {version?: unknown}).version
      if (typeof v === 'string' && /^\d+\./.test(v)) versions.add(v)
    } catch {
      // an unreadable heartbeat says nothing about the version
    }
  }
  const sorted = [...versions].sort()
  if (sorted.length) {
    const major = Math.max(...sorted.map((v) => Number(v.split('.')[0])))
    return {versions: sorted, major, source: 'heartbeat', beatSeconds: major >= 7 ? 10 : 5}
  }
  if (workersKey) return {versions: [], major: 6, source: 'workers-key', beatSeconds: 5}
  if (keys.namespace) return {versions: [], major: 6, source: 'namespace', beatSeconds: 5}
  return {versions: [], source: 'unknown'}
}

/** Payloads with integer-millisecond `created_at` are Sidekiq 8; float seconds only say "≤ 7". */
export function withPayloadUnits(flavour: SidekiqFlavour, units: {seconds: number; milliseconds: number}): SidekiqFlavour {
  if (flavour.major !== undefined) return flavour
  if (units.milliseconds > 0 && units.milliseconds >= units.seconds) return {...flavour, major: 8, source: 'payloads', beatSeconds: 10}
  return flavour
}

/** Two heartbeats, or 20 s when the interval is unknown (7+ beats every 10 s). */
export function defaultSettleMs(flavour: SidekiqFlavour): number {
  return 2 * (flavour.beatSeconds ?? 10) * 1000
}

/**
 * DeadSet#retry_all (and the Web UI "Retry All") loops up to 7.3.4 when retried jobs die again before
 * the set empties; 7.3.5 bounds it. Without a version, a major of 7 or less (or none known) may loop.
 */
export function retryAllMayLoop(flavour: Pick<SidekiqFlavour, 'versions' | 'major'>): boolean {
  if (flavour.versions.length === 0) return (flavour.major ?? 0) <= 7
  return flavour.versions.some((v) => versionAtMost(v, [7, 3, 4]))
}

function versionAtMost(version: string, max: [number, number, number]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10) || 0)
  for (let i = 0; i < 3; i++) if ((parts[i] ?? 0) !== max[i]) return (parts[i] ?? 0) < max[i]!
  return true
}
