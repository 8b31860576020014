// Paged readers for collections of unknown size: never LRANGE 0 -1, SMEMBERS or HGETALL on a key
// that could hold millions of entries.
import type {Connection} from './connect.js'
import {resilient} from './resilient.js'

export const DEFAULT_PAGE_SIZE = 500

export interface ListEntry {
  /** Index from the head (LPUSH end) at the time the page was read. */
  index: number
  value: string
}

/**
 * Walk a list from the tail (index -1, where Sidekiq's oldest job sits) towards the head, one page at
 * a time. `index` is the positive index at read time. Concurrent pushes/pops shift positions, so a
 * live list may show an element twice or skip one: fine for diagnosis, never used to decide a write.
 */
export async function* listPages(conn: Connection, key: string, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<ListEntry[]> {
  const length = await resilient(conn, `reading ${key}`, (redis) => redis.llen(key))
  for (let end = length - 1; end >= 0; end -= pageSize) {
    const start = Math.max(0, end - pageSize + 1)
    await conn.budget.take(1)
    const values = await resilient(conn, `reading ${key}`, (redis) => redis.lrange(key, start, end))
    const page: ListEntry[] = []
    // LRANGE returns head→tail; emit tail first (oldest first).
    for (let i = values.length - 1; i >= 0; i--) page.push({index: start + i, value: values[i]!})
    if (page.length) yield page
    if (values.length === 0) return
  }
}

export interface ZsetEntry {
  member: string
  score: number
}

/** Walk a sorted set by rank in ascending score order, one page at a time. */
export async function* zsetPages(conn: Connection, key: string, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<ZsetEntry[]> {
  for (let start = 0; ; start += pageSize) {
    await conn.budget.take(1)
    const flat = await resilient(conn, `reading ${key}`, (redis) => redis.zrange(key, start, start + pageSize - 1, 'WITHSCORES'))
    const page: ZsetEntry[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) page.push({member: flat[i]!, score: Number(flat[i + 1])})
    if (page.length) yield page
    if (page.length < pageSize) return
  }
}

/** SSCAN a set; yields distinct members in batches. */
export async function* setMembers(conn: Connection, key: string, count = DEFAULT_PAGE_SIZE): AsyncGenerator<string[]> {
  const seen = new Set<string>()
  let cursor = '0'
  do {
    await conn.budget.take(1)
    const [next, members] = await resilient(conn, `reading ${key}`, (redis) => redis.sscan(key, cursor, 'COUNT', count))
    cursor = next
    const fresh = members.filter((m) => !seen.has(m) && Boolean(seen.add(m)))
    if (fresh.length) yield fresh
  } while (cursor !== '0')
}

/** HSCAN a hash; yields distinct [field, value] pairs in batches. */
export async function* hashEntries(conn: Connection, key: string, count = DEFAULT_PAGE_SIZE): AsyncGenerator<Array<[string, string]>> {
  const seen = new Set<string>()
  let cursor = '0'
  do {
    await conn.budget.take(1)
    const [next, flat] = await resilient(conn, `reading ${key}`, (redis) => redis.hscan(key, cursor, 'COUNT', count))
    cursor = next
    const batch: Array<[string, string]> = []
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!
      if (seen.has(field)) continue
      seen.add(field)
      batch.push([field, flat[i + 1]!])
    }
    if (batch.length) yield batch
  } while (cursor !== '0')
}

/** Collect a whole set; only for sets known to be small (e.g. `queues`, `processes`). */
export async function allMembers(conn: Connection, key: string): Promise<string[]> {
  const out: string[] = []
  for await (const batch of setMembers(conn, key)) out.push(...batch)
  return out
}
