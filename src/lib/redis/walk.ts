// Walks that see every element of a LIVE collection at least once, for "is X anywhere?" questions.
// - Lists are read from the head (index 0) towards the tail until a page comes back short. Pushes at
//   the head shift unread elements further out (read twice at worst, never skipped) and pops at the
//   tail only remove elements; so a queue fed by LPUSH and drained by (B)RPOP is never under-read.
// - Sorted sets are read with ZSCAN, which returns every member present for the whole walk even
//   while lower-ranked members are removed (ranks would shift and skip members).
// Elements are not deduplicated: callers only mark what they find.
import type {Connection} from './connect.js'
import {resilient} from './resilient.js'

export const WALK_PAGE = 1000

/** Pages of list elements, head → tail. */
export async function* listFromHead(conn: Connection, key: string, pageSize = WALK_PAGE): AsyncGenerator<string[]> {
  for (let start = 0; ; start += pageSize) {
    await conn.budget.take(1)
    const values = await resilient(conn, `reading ${key}`, (redis) => redis.lrange(key, start, start + pageSize - 1))
    if (values.length) yield values
    if (values.length < pageSize) return
  }
}

/** Pages of sorted-set members (scores left out), by ZSCAN. */
export async function* zsetMembers(conn: Connection, key: string, count = WALK_PAGE): AsyncGenerator<string[]> {
  let cursor = '0'
  do {
    await conn.budget.take(1)
    const [next, flat] = await resilient(conn, `reading ${key}`, (redis) => redis.zscan(key, cursor, 'COUNT', count))
    cursor = next
    const members: string[] = []
    for (let i = 0; i < flat.length; i += 2) members.push(flat[i]!)
    if (members.length) yield members
  } while (cursor !== '0')
}
