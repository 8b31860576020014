// Readers for Sidekiq's `dead` sorted set (the morgue; score = death time, epoch float seconds): a
// consistent snapshot of its size and score range, pages by rank (the report), pages by score under
// a bound (the bounded repairs), and the newest entries (live loop detection). Read-only, and never
// the whole set at once.
import type {Connection} from '../redis/connect.js'
import {resilient} from '../redis/resilient.js'
import {pipelinedReads} from '../redis/pipeline.js'
import {type ParsedJob, parseJob} from './job.js'

export interface ScoredMember {
  member: string
  score: number
  /** The score as Redis printed it: repairs compare it exactly. */
  scoreText: string
}

export interface DeadEntry extends ScoredMember {
  parsed: ParsedJob
}

export interface DeadSnapshot {
  /** TYPE of the key (`none` when it does not exist). */
  type: string
  size: number
  /** Lowest and highest entry (undefined when the set is empty or not a zset). */
  min?: ScoredMember
  max?: ScoredMember
}

/** Size and both ends, read in one MULTI so they belong together. */
export async function deadSnapshot(conn: Connection, key: string): Promise<DeadSnapshot> {
  await conn.budget.take(4)
  const replies = await resilient(conn, `reading ${key}`, (redis) =>
    redis.multi().type(key).zcard(key).zrange(key, 0, 0, 'WITHSCORES').zrange(key, -1, -1, 'WITHSCORES').exec(),
  )
  const type = String(replies?.[0]?.[1] ?? 'none')
  if (type !== 'zset') return {type, size: 0}
  const [min] = toScored(replies?.[2]?.[1] as string[] | undefined)
  const [max] = toScored(replies?.[3]?.[1] as string[] | undefined)
  return {type, size: Number(replies?.[1]?.[1] ?? 0), ...(min ? {min} : {}), ...(max ? {max} : {})}
}

/**
 * Every entry in ascending score order, one page at a time, parsed. The next page is requested
 * while the current one is handed out. Ranks shift when the live set changes, so an entry may be
 * read twice or missed: fine for a report, never used to decide a write (the repairs page by score).
 */
export async function* deadPages(conn: Connection, key: string, pageSize: number): AsyncGenerator<DeadEntry[]> {
  const fetch = async (start: number): Promise<ScoredMember[]> => {
    await conn.budget.take(1)
    return toScored(await resilient(conn, `reading ${key}`, (redis) => redis.zrange(key, start, start + pageSize - 1, 'WITHSCORES')))
  }
  let next = fetch(0)
  for (let start = 0; ; start += pageSize) {
    const page = await next
    if (page.length === pageSize) {
      next = fetch(start + pageSize)
      // A consumer that stops early leaves this read behind: its failure must not go unhandled.
      next.catch(() => undefined)
    }
    if (page.length) yield page.map(withParsed)
    if (page.length < pageSize) return
  }
}

/** Up to `count` entries with score ≤ `maxScore`, ascending, skipping the first `offset` of them. */
export async function deadPageByScore(conn: Connection, key: string, maxScore: string, offset: number, count: number): Promise<DeadEntry[]> {
  await conn.budget.take(1)
  const flat = await resilient(conn, `reading ${key}`, (redis) => redis.zrangebyscore(key, '-inf', maxScore, 'WITHSCORES', 'LIMIT', offset, count))
  return toScored(flat).map(withParsed)
}

/**
 * The size and the `count` newest entries (highest scores first), in one MULTI; unparsed, so a
 * watcher parses only what it has not seen before.
 */
export async function newestEntries(conn: Connection, key: string, count: number): Promise<{size: number; entries: ScoredMember[]}> {
  await conn.budget.take(2)
  const replies = await resilient(conn, `reading ${key}`, (redis) => redis.multi().zcard(key).zrevrange(key, 0, count - 1, 'WITHSCORES').exec())
  for (const [err] of replies ?? []) if (err) throw err
  return {size: Number(replies?.[0]?.[1] ?? 0), entries: toScored(replies?.[1]?.[1] as string[] | undefined)}
}

/**
 * The `count` most recently pushed jobs of each queue list (its head: where a retry lands), parsed,
 * in one pipeline. A key that is not a list (WRONGTYPE) is skipped; a lost connection is not.
 */
export async function queueHeads(conn: Connection, keys: readonly string[], count: number): Promise<ParsedJob[]> {
  const replies = await pipelinedReads(conn, keys, (key) => [['lrange', key, 0, count - 1]])
  return replies.flatMap(([head]) => (Array.isArray(head?.value) ? (head.value as string[]).map(parseJob) : []))
}

/** An integer counter such as `stat:failed` (undefined when absent or not a number). */
export async function readCounter(conn: Connection, key: string): Promise<number | undefined> {
  await conn.budget.take(1)
  const value = await resilient(conn, `reading ${key}`, (redis) => redis.get(key)).catch((err: Error) => {
    if (/WRONGTYPE/.test(err.message)) return null
    throw err
  })
  const n = value === null ? Number.NaN : Number(value)
  return Number.isFinite(n) ? n : undefined
}

function withParsed(entry: ScoredMember): DeadEntry {
  return {member: entry.member, score: entry.score, scoreText: entry.scoreText, parsed: parseJob(entry.member)}
}

function toScored(flat: string[] | undefined): ScoredMember[] {
  const out: ScoredMember[] = []
  if (!flat) return out
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({member: flat[i]!, score: Number(flat[i + 1]), scoreText: flat[i + 1]!})
  return out
}
