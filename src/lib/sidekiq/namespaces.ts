// Notices redis-namespace'd Sidekiq data (Sidekiq <= 6) when no --namespace was given: a `<ns>:queues`
// or `<ns>:processes` set next to an absent bare one.
import type {Connection} from '../redis/connect.js'
import {type KeyPattern, type KeySource, ownScan} from '../redis/keyspace-index.js'
import {resilient} from '../redis/resilient.js'
import type {SidekiqKeys} from './keys.js'

const MARKERS = [':queues', ':processes']

/** What detectNamespaces scans for: sets named `<ns>:queues` or `<ns>:processes` (only those are remembered). */
export const NAMESPACE_MARKER_PATTERN: KeyPattern = {
  match: '*:*',
  type: 'set',
  keep: (key) => MARKERS.some((m) => key.endsWith(m)),
}

/** Namespaces that hold Sidekiq data; empty when bare Sidekiq keys exist or a namespace was given. */
export async function detectNamespaces(conn: Connection, keys: SidekiqKeys, scanCount?: number, source: KeySource = ownScan(conn)): Promise<string[]> {
  if (keys.namespace) return []
  const bare = await resilient(conn, 'checking for Sidekiq keys', (redis) => redis.exists(keys.queues, keys.processes))
  if (bare > 0) return []
  const found = new Set<string>()
  for await (const batch of source({...NAMESPACE_MARKER_PATTERN, count: scanCount})) {
    for (const key of batch) {
      const marker = MARKERS.find((m) => key.endsWith(m))
      if (marker) found.add(key.slice(0, -marker.length))
    }
  }
  return [...found].sort()
}
