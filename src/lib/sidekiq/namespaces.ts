// Notices redis-namespace'd Sidekiq data (Sidekiq <= 6) when no --namespace was given: a `<ns>:queues`
// or `<ns>:processes` set next to an absent bare one.
import type {Connection} from '../redis/connect.js'
import {resilient} from '../redis/resilient.js'
import {scanKeys} from '../redis/scan.js'
import type {SidekiqKeys} from './keys.js'

const MARKERS = [':queues', ':processes']

/** Namespaces that hold Sidekiq data; empty when bare Sidekiq keys exist or a namespace was given. */
export async function detectNamespaces(conn: Connection, keys: SidekiqKeys, scanCount?: number): Promise<string[]> {
  if (keys.namespace) return []
  const bare = await resilient(conn, 'checking for Sidekiq keys', (redis) => redis.exists(keys.queues, keys.processes))
  if (bare > 0) return []
  const found = new Set<string>()
  for await (const batch of scanKeys(conn, {match: '*:*', type: 'set', count: scanCount})) {
    for (const key of batch) {
      const marker = MARKERS.find((m) => key.endsWith(m))
      if (marker) found.add(key.slice(0, -marker.length))
    }
  }
  return [...found].sort()
}
