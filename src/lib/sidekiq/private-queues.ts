// Per-process working lists of the reliable fetchers: Sidekiq Pro super_fetch private queues
// `queue:sq|<identity>|<queue>` (alive while the `<identity>` heartbeat hash exists) and GitLab's
// `working:queue:<queue>:<identity>` (alive while `reliable-fetcher-heartbeat-<identity>` exists).
import type {Connection} from '../redis/connect.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {scanKeys} from '../redis/scan.js'
import type {SidekiqKeys} from './keys.js'

export type PrivateQueueKind = 'super_fetch' | 'reliable_fetch'

export interface PrivateQueue {
  key: string
  kind: PrivateQueueKind
  /** The owning process identity (GitLab's fetcher has its own identity, with its own nonce). */
  identity: string
  /** The public queue its jobs came from. */
  queue: string
  /** `queue:<queue>` (namespaced), where recovered jobs go back to. */
  publicKey: string
  jobs: number
  /** The key whose existence says the owner is alive. */
  heartbeatKey: string
  ownerAlive: boolean
}

export async function readPrivateQueues(conn: Connection, keys: SidekiqKeys, options: {scanCount?: number} = {}): Promise<PrivateQueue[]> {
  const found: Array<Omit<PrivateQueue, 'jobs' | 'ownerAlive'>> = []
  // One SCAN pass covers both layouts (`queue:sq|…` and `working:queue:…`).
  for await (const batch of scanKeys(conn, {match: keys.pattern('*queue:*'), type: 'list', count: options.scanCount})) {
    for (const key of batch) {
      const priv = keys.privateQueue(key)
      const work = priv ? undefined : keys.workingQueue(key)
      if (priv) found.push({key, kind: 'super_fetch', ...priv, publicKey: keys.queue(priv.queue), heartbeatKey: keys.process(priv.identity)})
      else if (work) found.push({key, kind: 'reliable_fetch', ...work, publicKey: keys.queue(work.queue), heartbeatKey: keys.workingHeartbeat(work.identity)})
    }
  }
  const replies = await pipelinedReads(conn, found, (q) => [
    ['exists', q.heartbeatKey],
    ['llen', q.key],
  ])
  return found
    .map((q, i) => ({...q, ownerAlive: Number(replies[i]![0]?.value) === 1, jobs: Number(replies[i]![1]?.value ?? 0) || 0}))
    .filter((q) => q.jobs > 0)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}
