// Samples the connection counters of INFO clients/stats over time, so a reconnect storm shows as a
// rate (new connections per second) rather than as one number since the server started.
import type {Connection} from './connect.js'
import {resilient} from './resilient.js'
import {parseInfo} from './server-info.js'

export interface ConnectionSample {
  /** Milliseconds since the first sample (local monotonic clock). */
  atMs: number
  connectedClients: number
  /** `total_connections_received`: every connection accepted since the server started. */
  totalConnectionsReceived: number
  /** `rejected_connections`: refused because of maxclients. */
  rejectedConnections: number
  blockedClients: number
}

export interface WatchOptions {
  durationMs: number
  /** Time between samples (default 1 s, never more than the duration). */
  intervalMs?: number
  onSample?: (sample: ConnectionSample, index: number) => void
}

/** One reading of the counters. */
export async function readConnectionCounters(conn: Connection): Promise<Omit<ConnectionSample, 'atMs'>> {
  const info = await resilient(conn, 'sampling INFO clients and stats', async (redis) => {
    await conn.budget.take(2)
    const [clients, stats] = await Promise.all([redis.info('clients'), redis.info('stats')])
    return parseInfo(`${clients}\n${stats}`)
  })
  const n = (field: string) => Number(info[field] ?? 0) || 0
  return {
    connectedClients: n('connected_clients'),
    totalConnectionsReceived: n('total_connections_received'),
    rejectedConnections: n('rejected_connections'),
    blockedClients: n('blocked_clients'),
  }
}

/** Sample at the start, every interval and at the end of the duration (at least two samples). */
export async function watchConnections(conn: Connection, options: WatchOptions): Promise<ConnectionSample[]> {
  const interval = Math.max(100, Math.min(options.intervalMs ?? 1000, options.durationMs || 1000))
  const start = performance.now()
  const samples: ConnectionSample[] = []
  for (;;) {
    const counters = await readConnectionCounters(conn)
    const sample = {atMs: Math.round(performance.now() - start), ...counters}
    samples.push(sample)
    options.onSample?.(sample, samples.length - 1)
    const elapsed = performance.now() - start
    if (samples.length >= 2 && elapsed >= options.durationMs) return samples
    const wait = Math.min(interval, Math.max(0, options.durationMs - elapsed))
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
}
