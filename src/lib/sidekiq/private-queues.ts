// Per-process working lists of the reliable fetchers: Sidekiq Pro super_fetch private queues
// `queue:sq|<identity>|<queue>` (alive while the `<identity>` heartbeat hash exists) and GitLab's
// `working:queue:<queue>:<identity>` (alive while `reliable-fetcher-heartbeat-<identity>` exists).
// The one discovery of them: `qdoctor processes` judges them, the ghost hunt reads jobs from them.
import type {Connection} from '../redis/connect.js'
import type {KeyPattern, KeySource} from '../redis/keyspace-index.js'
import {pipelinedReads} from '../redis/pipeline.js'
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

/**
 * What the discovery scans for: every list named `*queue:*`. One pattern covers both layouts and the
 * public `queue:<name>` lists, so a caller that needs those too (the ghost hunt) scans once.
 */
export function fetchListPattern(keys: SidekiqKeys): KeyPattern {
  return {match: keys.pattern('*queue:*'), type: 'list'}
}

export interface ReadPrivateQueuesOptions {
  /** Where the keys come from: the caller's own SCAN (ownScan) or the shared keyspace pass. */
  source: KeySource
  scanCount?: number
  /** Every other list the pattern meets (public `queue:<name>` lists and lookalikes). */
  onOtherList?: (key: string) => void
}

/**
 * Every super_fetch private queue and GitLab working list, sorted by key, with its length and whether
 * its owner's heartbeat exists. A list emptied since the scan is kept with `jobs: 0` (a fetcher
 * refills it at any moment); callers that judge leftovers drop those.
 */
export async function readPrivateQueues(conn: Connection, keys: SidekiqKeys, options: ReadPrivateQueuesOptions): Promise<PrivateQueue[]> {
  const found: Array<Omit<PrivateQueue, 'jobs' | 'ownerAlive'>> = []
  for await (const batch of options.source({...fetchListPattern(keys), count: options.scanCount})) {
    for (const key of batch) {
      const priv = keys.privateQueue(key)
      const work = priv ? undefined : keys.workingQueue(key)
      if (priv) found.push({key, kind: 'super_fetch', ...priv, publicKey: keys.queue(priv.queue), heartbeatKey: keys.process(priv.identity)})
      else if (work) found.push({key, kind: 'reliable_fetch', ...work, publicKey: keys.queue(work.queue), heartbeatKey: keys.workingHeartbeat(work.identity)})
      else options.onOtherList?.(key)
    }
  }
  const replies = await pipelinedReads(conn, found, (q) => [
    ['exists', q.heartbeatKey],
    ['llen', q.key],
  ])
  return found
    .map((q, i) => ({...q, ownerAlive: Number(replies[i]![0]?.value) === 1, jobs: Number(replies[i]![1]?.value ?? 0) || 0}))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}
