// The bounded walk of `dead --retry/--purge` on a real Redis: it pages past what it skips, never
// loops, never takes a new death, moves each job exactly once next to concurrent removals, and the
// engine pieces it uses (pipelined batches, journal numbering, the zmerge action) undo cleanly.
import {describe, expect, it} from 'vitest'

import type {Connection} from '../../src/lib/redis/connect.js'
import type {ZmergeAction} from '../../src/lib/repairs/actions.js'
import {applyActions, applyPipelined} from '../../src/lib/repairs/apply.js'
import {readJournal} from '../../src/lib/repairs/journal.js'
import {boundedWalk, type PlannedMove, type Planner, purgePlanner, retryPlanner, type WalkOptions} from '../../src/lib/repairs/plans/dead-walk.js'
import {compileJobFilter} from '../../src/lib/sidekiq/job-filter.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {useTestDb} from '../helpers/db.js'
import {openJournal, undoJournal} from '../helpers/repairs.js'

const t = useTestDb()
const keys = new SidekiqKeys()
const NOW = Math.floor(Date.now() / 1000)
const BIG = '123456789012345678901234567890'

function job(i: number, extra: Record<string, unknown> = {}): string {
  const base = {retry: 0, queue: 'default', class: i % 3 === 0 ? 'Pick' : 'Other', args: ['@BIG@', i], jid: i.toString(16).padStart(24, '0'), created_at: NOW - 100 + 0.25, enqueued_at: NOW - 99 + 0.5, error_class: 'E', error_message: `m${i}`, failed_at: NOW - 98, retry_count: 0, ...extra}
  return JSON.stringify(base).replace('"@BIG@"', BIG)
}

/** n entries, entry i at score NOW - 1000 + i (ascending with i). */
async function seed(n: number, member = job): Promise<string[]> {
  const members = Array.from({length: n}, (_, i) => member(i))
  const args = members.flatMap((m, i) => [String(NOW - 1000 + i), m])
  if (n) await t.db.redis.zadd('dead', ...args)
  return members
}

async function bound(): Promise<{bound: string; count: number}> {
  const [, score] = await t.db.redis.zrange('dead', -1, -1, 'WITHSCORES')
  return {bound: score!, count: await t.db.redis.zcard('dead')}
}

/** Walk with the real engine; `during` runs before each applied batch (concurrent writers). */
async function walk(conn: Connection, plan: Planner, opts: Partial<WalkOptions> = {}, during?: (batch: number, moves: readonly PlannedMove[]) => Promise<void>) {
  const b = await bound()
  let batch = 0
  let seq = 1
  let reads = 0
  const tally = await boundedWalk(conn, {key: 'dead', bound: b.bound, maxMoves: b.count, pageSize: 4, dryRun: false, onPage: () => reads++, ...opts}, plan, async (moves) => {
    await during?.(batch++, moves)
    const r = await applyPipelined(conn, moves.map((m) => m.action), {firstSeq: seq})
    seq += moves.length
    return r
  })
  return {tally, reads}
}

const retryAll = (filter = {}) => retryPlanner(keys, compileJobFilter(filter, NOW), () => NOW * 1000 + 123)

describe('bounded walk: --retry', () => {
  it('moves exactly the selected jobs, rewritten as Sidekiq would, every other byte intact', async () => {
    const members = await seed(30)
    const {tally} = await walk(t.conn(), retryAll({classes: ['Pick']}))
    const picked = members.filter((_, i) => i % 3 === 0)
    expect(tally).toMatchObject({moved: 10, end: 'exhausted'})
    expect(tally.skipped.filtered).toBe(20)
    const queued = await t.db.redis.lrange('queue:default', 0, -1)
    expect(queued).toHaveLength(10)
    // LPUSH in walk order: the head holds the last one moved.
    expect(queued.reverse()).toEqual(picked.map((m) => m.replace(/"enqueued_at":[\d.]+/, `"enqueued_at":${NOW}.123`).replace('"retry_count":0', '"retry_count":-1')))
    expect(queued[0]).toContain(`[${BIG},0]`)
    expect(await t.db.redis.smembers('queues')).toEqual(['default'])
    expect(await t.db.redis.zcard('dead')).toBe(20)
  })

  it('pages past a long run of skipped members (offset grows by skips only) and ends', async () => {
    // 25 members that never match, then 3 that do: a walk that re-read its first page would never end.
    await seed(28, (i) => job(i, {class: i < 25 ? 'Other' : 'Pick'}))
    const {tally, reads} = await walk(t.conn(), retryAll({classes: ['Pick']}), {pageSize: 10})
    expect(tally.moved).toBe(3)
    expect(tally.skipped.filtered).toBe(25)
    expect(reads).toBeLessThanOrEqual(4)
    expect(await t.db.redis.llen('queue:default')).toBe(3)
  })

  it('leaves unreadable members in place and counts them', async () => {
    await seed(6, (i) => (i % 2 ? `not json ${i}` : job(i)))
    const {tally} = await walk(t.conn(), retryAll())
    expect(tally.moved).toBe(3)
    expect(tally.skipped.unreadable).toBe(3)
    expect((await t.db.redis.zrange('dead', 0, -1)).every((m) => m.startsWith('not json'))).toBe(true)
  })

  it('never takes a death newer than the snapshot, and never moves the same jid twice', async () => {
    await seed(12)
    const redis = t.db.redis
    const {tally} = await walk(t.conn(), retryAll(), {}, async (batch, moves) => {
      if (batch !== 1) return
      // New deaths above the bound (jobs dying again while the walk runs)…
      await redis.zadd('dead', String(NOW + 5), job(100), String(NOW + 6), job(0, {error_message: 'died again'}))
      // …and a host with a lagging clock re-killing an already moved job below the bound.
      await redis.zadd('dead', String(NOW - 1000 + 8.5), job(1, {error_message: 'lagging clock'}))
      expect(moves.length).toBeGreaterThan(0)
    })
    expect(tally.moved).toBe(12)
    expect(tally.skipped['already-moved']).toBe(1)
    const left = await redis.zrange('dead', 0, -1)
    expect(left).toHaveLength(3)
    expect(left.some((m) => m.includes('lagging clock'))).toBe(true)
    const jids = (await redis.lrange('queue:default', 0, -1)).map((m) => JSON.parse(m).jid as string)
    expect(new Set(jids).size).toBe(12)
  })

  it('concurrent removal: a job taken by someone else is skipped as gone, never pushed twice', async () => {
    const members = await seed(10)
    const redis = t.db.redis
    const {tally} = await walk(t.conn(), retryAll(), {}, async (batch) => {
      if (batch === 0) await redis.zrem('dead', members[2]!, members[7]!) // a Web UI retry of two jobs
    })
    expect(tally.moved).toBe(8)
    expect(tally.skipped.gone).toBe(1) // members[2] was in the first page; members[7] was never read
    const jids = (await redis.lrange('queue:default', 0, -1)).map((m) => JSON.parse(m).jid as string)
    expect(jids.sort()).toEqual(members.filter((_, i) => i !== 2 && i !== 7).map((m) => JSON.parse(m).jid as string).sort())
  })

  it('a job the script refuses (queue key of the wrong type) stays put and is passed over: no endless loop', async () => {
    await seed(5, (i) => job(i, {queue: i === 1 ? 'broken' : 'default'}))
    await t.db.redis.set('queue:broken', 'a string')
    const {tally} = await walk(t.conn(), retryAll())
    expect(tally).toMatchObject({moved: 4, end: 'exhausted'})
    expect(tally.skipped.refused).toBe(1)
    expect(await t.db.redis.zcard('dead')).toBe(1)
  })

  it('stops after maxMoves (--limit)', async () => {
    await seed(10)
    const {tally} = await walk(t.conn(), retryAll(), {maxMoves: 3})
    expect(tally).toMatchObject({moved: 3, end: 'count'})
    expect(await t.db.redis.zcard('dead')).toBe(7)
  })

  it('dry run: plans the same jobs and changes nothing', async () => {
    await seed(9)
    const b = await bound()
    const planned: string[] = []
    const tally = await boundedWalk(t.conn(), {key: 'dead', bound: b.bound, maxMoves: b.count, pageSize: 2, dryRun: true}, retryAll({classes: ['Pick']}), async (moves) => {
      planned.push(...moves.map((m) => m.jid!))
      return undefined
    })
    expect(tally.moved).toBe(3)
    expect(planned).toEqual([0, 3, 6].map((i) => i.toString(16).padStart(24, '0')))
    expect(await t.db.redis.zcard('dead')).toBe(9)
  })

  it('--rate paces the moves', async () => {
    await seed(6)
    const started = Date.now()
    const {tally} = await walk(t.conn(), retryAll(), {rate: 10})
    expect(tally.moved).toBe(6)
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
  })
})

describe('bounded walk: --purge', () => {
  it('removes the selected entries, unreadable ones included when selected', async () => {
    await seed(6, (i) => (i === 4 ? 'garbage' : job(i)))
    const {tally} = await walk(t.conn(), purgePlanner(keys, compileJobFilter({corrupt: true}, NOW)))
    expect(tally.moved).toBe(1)
    expect(await t.db.redis.zcard('dead')).toBe(5)
    const all = await walk(t.conn(), purgePlanner(keys, compileJobFilter({}, NOW)))
    expect(all.tally.moved).toBe(5)
    expect(await t.db.redis.exists('dead')).toBe(0)
  })
})

describe('engine pieces used by dead', () => {
  it('pipelined batches journal every intent before sending, continue the numbering, and undo restores every move', async () => {
    const members = await seed(7)
    const b = await bound()
    const path = t.journals.path('pipelined')
    const journal = openJournal(path)
    const conn = t.conn()
    let seq = 1
    await boundedWalk(conn, {key: 'dead', bound: b.bound, maxMoves: b.count, pageSize: 3, dryRun: false}, retryAll(), async (moves) => {
      const r = await applyPipelined(conn, moves.map((m) => m.action), {journal, firstSeq: seq, batch: 2})
      seq += moves.length
      return r
    })
    journal.end({})
    journal.close()
    const j = readJournal(path)
    expect(j.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(j.entries.every((e) => e.outcome?.status === 'applied')).toBe(true)
    const undo = await undoJournal(t.conn(), path)
    expect(undo.outcomes.every((o) => o === 'restored')).toBe(true)
    expect(await t.db.redis.zrange('dead', 0, -1)).toEqual(members)
    expect(await t.db.redis.exists('queue:default')).toBe(0)
  })

  it('zmerge: RENAME into an absent key, ZUNIONSTORE … AGGREGATE MAX into an existing one; undo per purpose', async () => {
    const r = t.db.redis
    await r.zadd('dead', '1', 'a', '5', 'b')
    await r.zadd('q', '9', 'b', '2', 'c')
    const conn = t.conn()
    const stash: ZmergeAction = {kind: 'zmerge', from: 'dead', to: 'q', purpose: 'stash'}
    const res = await applyActions(conn, [stash, {...stash}])
    expect(res.records.map((x) => x.status)).toEqual(['applied', 'skipped'])
    expect(res.records[1]!.detail).toMatch(/does not exist: nothing to move/)
    expect(await r.exists('dead')).toBe(0)
    // MAX, not SUM: b keeps 9.
    expect(await r.zrange('q', 0, -1, 'WITHSCORES')).toEqual(['a', '1', 'c', '2', 'b', '9'])
    const path = t.journals.path('zmerge')
    const journal = openJournal(path)
    await applyActions(conn, [{kind: 'zmerge', from: 'q', to: 'dead', purpose: 'unstash'}], {journal})
    journal.close()
    expect(await r.exists('q')).toBe(0)
    expect(await r.zcard('dead')).toBe(3)
    // Undoing an unstash has nothing to put back.
    const u1 = await undoJournal(t.conn(), path)
    expect(u1.outcomes).toEqual(['already-back'])
    expect(await r.zcard('dead')).toBe(3)
    // Undoing a stash merges what is left back (a crash mid-hold leaves it there).
    const path2 = t.journals.path('zmerge-stash')
    const j2 = openJournal(path2)
    await applyActions(conn, [{kind: 'zmerge', from: 'dead', to: 'q', purpose: 'stash'}], {journal: j2})
    j2.close()
    await r.zadd('dead', '7', 'new-death')
    const check = await undoJournal(t.conn(), path2, {mode: 'check'})
    expect(check.records[0]!.detail).toMatch(/would merge the 3 members of q back into dead/)
    const u2 = await undoJournal(t.conn(), path2)
    expect(u2.outcomes).toEqual(['restored'])
    expect(await r.exists('q')).toBe(0)
    expect(await r.zrange('dead', 0, -1)).toEqual(['a', 'c', 'new-death', 'b'])
  })
})
