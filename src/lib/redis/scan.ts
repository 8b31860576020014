// The one SCAN iterator: MATCH/TYPE/COUNT, deduplicated, throttled by the run's budget, resilient to
// dropped connections (the same cursor is retried). Never KEYS.
import type {Connection} from './connect.js'
import {resilient} from './resilient.js'
import {pipelinedReads} from './pipeline.js'

export interface ScanKeysOptions {
  match?: string
  /** Redis TYPE filter (`list`, `hash`, …). Falls back to client-side TYPE checks before Redis 6.0. */
  type?: string
  count?: number
  /**
   * Client-side filter applied before de-duplication: only kept keys are remembered and yielded, so
   * a broad MATCH (one pass serving several patterns) holds memory for the kept keys only.
   */
  keep?: (key: string) => boolean
  /** Called after every SCAN call with the running totals. */
  onProgress?: (progress: ScanProgress) => void
}

export interface ScanProgress {
  calls: number
  keys: number
}

export const DEFAULT_SCAN_COUNT = 1000

/**
 * Yields batches of distinct keys. SCAN may return a key twice while the table rehashes; the
 * de-duplication set only holds matched keys, so memory follows the match count, not the keyspace.
 */
export async function* scanKeys(conn: Connection, options: ScanKeysOptions = {}): AsyncGenerator<string[]> {
  const seen = new Set<string>()
  const count = options.count ?? DEFAULT_SCAN_COUNT
  const progress: ScanProgress = {calls: 0, keys: 0}
  let serverTypeFilter = Boolean(options.type)
  let cursor = '0'
  do {
    await conn.budget.take(1)
    const args: Array<string | number> = ['MATCH', options.match ?? '*', 'COUNT', count]
    let reply: [string, string[]]
    try {
      reply = await resilient(conn, 'scanning keys', (redis) =>
        redis.scan(cursor, ...(args as ['MATCH', string, 'COUNT', number]), ...((serverTypeFilter ? ['TYPE', options.type] : []) as [])),
      )
    } catch (err) {
      // Redis < 6.0 has no SCAN … TYPE: filter on our side instead.
      if (serverTypeFilter && /syntax error/i.test(String((err as Error).message))) {
        serverTypeFilter = false
        continue
      }
      throw err
    }
    cursor = reply[0]
    progress.calls++
    const keep = options.keep
    let keys = reply[1].filter((key) => (!keep || keep(key)) && !seen.has(key) && Boolean(seen.add(key)))
    if (options.type && !serverTypeFilter && keys.length) keys = await keepType(conn, keys, options.type)
    progress.keys += keys.length
    options.onProgress?.(progress)
    if (keys.length) yield keys
  } while (cursor !== '0')
}

/** The keys of `keys` whose TYPE is `type` (pipelined; keys that vanished are dropped). */
export async function keepType(conn: Connection, keys: string[], type: string): Promise<string[]> {
  const types = await pipelinedReads(conn, keys, (key) => [['type', key]])
  return keys.filter((_, i) => types[i]?.[0]?.value === type)
}

/** Collect every key of a (selective) scan. Only for patterns whose matches are known to be few. */
export async function collectKeys(conn: Connection, options: ScanKeysOptions): Promise<string[]> {
  const all: string[] = []
  for await (const batch of scanKeys(conn, options)) all.push(...batch)
  return all
}
