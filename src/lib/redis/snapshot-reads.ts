// Reads for a faithful copy of LIVE collections: binary-safe (Buffers, so values are kept byte for
// byte), in the collection's own order, in pages, and safe against concurrent writers:
// - lists are read from the head (index 0): pushes at the head shift unread elements further out, so
//   nothing present for the whole walk is skipped; the elements a push shifts back into the page just
//   read are recognised at the seam and not repeated;
// - sorted sets are read page after page from the last member read (its rank at that moment, or its
//   score when it is gone): members removed below the cursor (a poller taking due jobs) never make a
//   page skip one.
import type {Connection} from './connect.js'
import {pipelinedReads} from './pipeline.js'
import {resilient} from './resilient.js'

export const SNAPSHOT_PAGE = 1000

/**
 * Pages of list elements, head → tail. Elements seen twice because of pushes during the walk are
 * dropped when they repeat the end of the previous page (a shift larger than a page can still repeat
 * a few: readers that must not duplicate check identities too).
 */
export async function* listValuesFromHead(conn: Connection, key: string, pageSize = SNAPSHOT_PAGE): AsyncGenerator<Buffer[]> {
  let previous: Buffer[] = []
  let start = 0
  for (;;) {
    await conn.budget.take(1)
    const page = await resilient(conn, `reading ${key}`, (redis) => redis.lrangeBuffer(key, start, start + pageSize - 1))
    start += page.length
    const fresh = page.slice(seamOverlap(previous, page))
    if (fresh.length) yield fresh
    if (page.length < pageSize) return
    previous = page
  }
}

/** The longest k such that the first k elements of `page` are the last k of `previous`. */
export function seamOverlap(previous: readonly Buffer[], page: readonly Buffer[]): number {
  const first = page[0]
  if (!first) return 0
  for (let i = Math.max(0, previous.length - page.length); i < previous.length; i++) {
    if (!previous[i]!.equals(first)) continue
    const k = previous.length - i
    let same = true
    for (let j = 1; j < k && same; j++) same = previous[i + j]!.equals(page[j]!)
    if (same) return k
  }
  return 0
}

export interface ScoredMember {
  member: Buffer
  /** The score exactly as Redis printed it ("1713484819.1234567", "inf"): ZADD of it is exact. */
  score: string
}

/**
 * Pages of a sorted set in (score, member) order. Each page starts right after the last member read,
 * found by its rank at that moment (ZRANK, then ZRANGE from that rank, accepted only when the range
 * still starts with that member); if that member was removed meanwhile, the page starts at its score
 * instead and members not after it are dropped. So removals below the cursor never skip a member,
 * whatever the number of ties.
 */
export async function* zsetByScore(conn: Connection, key: string, pageSize = SNAPSHOT_PAGE): AsyncGenerator<ScoredMember[]> {
  let last: ScoredMember | undefined
  for (;;) {
    const {entries, more} = last ? await pageAfter(conn, key, last, pageSize) : {entries: await zrangeScored(conn, key, 0, pageSize - 1), more: true}
    if (entries.length) yield entries
    if (!more || entries.length < (last ? 1 : pageSize)) return
    last = entries.at(-1)
    if (!last) return
  }
}

const ANCHOR_ATTEMPTS = 3

async function pageAfter(conn: Connection, key: string, last: ScoredMember, pageSize: number): Promise<{entries: ScoredMember[]; more: boolean}> {
  let anchor = last
  for (;;) {
    for (let attempt = 0; attempt < ANCHOR_ATTEMPTS; attempt++) {
      await conn.budget.take(1)
      const rank = await resilient(conn, `reading ${key}`, (redis) => redis.zrank(key, anchor.member))
      if (rank === null) break
      const window = await zrangeScored(conn, key, rank, rank + pageSize)
      if (window[0]?.member.equals(anchor.member)) return {entries: window.slice(1).filter((e) => after(e, last)), more: window.length === pageSize + 1}
    }
    // The anchor is gone (or the set keeps changing under us): start at its score.
    await conn.budget.take(1)
    const flat = await resilient(conn, `reading ${key}`, (redis) => redis.zrangebyscoreBuffer(key, anchor.score, '+inf', 'WITHSCORES', 'LIMIT', 0, pageSize))
    const raw = pairs(flat)
    const entries = raw.filter((e) => after(e, last))
    if (entries.length || raw.length < pageSize) return {entries, more: raw.length === pageSize}
    // A full page of members already read (ties at that score): step over them from the last one.
    anchor = raw.at(-1)!
  }
}

async function zrangeScored(conn: Connection, key: string, start: number, stop: number): Promise<ScoredMember[]> {
  await conn.budget.take(1)
  return pairs(await resilient(conn, `reading ${key}`, (redis) => redis.zrangeBuffer(key, start, stop, 'WITHSCORES')))
}

function pairs(flat: Buffer[]): ScoredMember[] {
  const out: ScoredMember[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({member: flat[i]!, score: flat[i + 1]!.toString()})
  return out
}

function scoreValue(score: string): number {
  if (/^\+?inf$/i.test(score)) return Infinity
  if (/^-inf$/i.test(score)) return -Infinity
  return Number(score)
}

/** Is `a` after `b` in sorted-set order (score, then member bytes)? */
function after(a: ScoredMember, b: ScoredMember): boolean {
  const sa = scoreValue(a.score)
  const sb = scoreValue(b.score)
  if (sa !== sb) return sa > sb
  return Buffer.compare(a.member, b.member) > 0
}

export interface KeyDump {
  key: string
  type: string
  /** DUMP payload (RDB serialisation, with its version and checksum). */
  dump: Buffer
  /** Absolute expiry, epoch ms on the server's clock; undefined when the key has no TTL. */
  expireAt?: number
}

/** DUMP + TYPE + PTTL of keys, a few at a time (DUMPs can be large). Keys that vanished are left out. */
export async function dumpKeys(conn: Connection, keys: readonly string[], batch = 50): Promise<KeyDump[]> {
  const out: KeyDump[] = []
  for (let i = 0; i < keys.length; i += batch) {
    const chunk = keys.slice(i, i + batch)
    const now = await serverTimeMs(conn)
    const replies = await pipelinedReads(conn, chunk, (key) => [
      ['type', key],
      ['pttl', key],
      ['dumpBuffer', key],
    ])
    chunk.forEach((key, j) => {
      const [type, pttl, dump] = replies[j]!
      if (!(dump?.value instanceof Buffer)) return
      const ttl = Number(pttl?.value ?? -1)
      out.push({key, type: String(type?.value ?? 'none'), dump: dump.value, ...(ttl >= 0 ? {expireAt: now + ttl} : {})})
    })
  }
  return out
}

/** Redis TIME, epoch ms. */
export async function serverTimeMs(conn: Connection): Promise<number> {
  await conn.budget.take(1)
  const [s, us] = await resilient(conn, 'reading the server time', (redis) => redis.time())
  return Number(s) * 1000 + Math.floor(Number(us) / 1000)
}

/** TYPE of one key. */
export async function keyType(conn: Connection, key: string): Promise<string> {
  await conn.budget.take(1)
  return resilient(conn, `reading ${key}`, (redis) => redis.type(key))
}
