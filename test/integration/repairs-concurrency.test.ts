// Live workers race the repair: 1,000 jobs are moved from a sorted set to a queue while a second
// client moves, deletes and re-scores some of the same jobs with its own script. Every job must end
// up exactly once, a re-run of the plan must be a no-op, and undo must not duplicate either.
import type {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Connection} from '../../src/lib/redis/connect.js'
import type {Action} from '../../src/lib/repairs/actions.js'
import {testDb, type TestDb} from '../helpers/db.js'
import {applyJournaled, dumps, journalDir, newConnection, statuses, undoJournal} from '../helpers/repairs.js'

let db: TestDb
let rival: Redis
const conns: Connection[] = []
const jd = journalDir()

beforeAll(async () => {
  db = await testDb()
  rival = db.redis.duplicate()
})
afterAll(async () => {
  for (const c of conns) await c.quit()
  rival.disconnect()
  await db.close()
  jd.cleanup()
})

const N = 1000
const member = (i: number) => `{"jid":"j${i}","class":"HardJob","args":[${i},18446744073709551615]}`
const score = (i: number) => `1700000000.${String(i).padStart(4, '0')}5`
const pushed = (i: number) => member(i).replace('}', ',"retry_count":0}')
const jidOf = (payload: string) => /"jid":"(j\d+)"/.exec(payload)![1]!

/** The rival's own atomic move (another qdoctor, or Sidekiq's retry_all): ZREM then LPUSH elsewhere. */
const RIVAL_MOVE = `if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('LPUSH', KEYS[2], ARGV[1]) return 1 end return 0`

async function census(r: Redis): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>()
  const add = (jid: string, place: string) => where.set(jid, [...(where.get(jid) ?? []), place])
  for (const m of await r.zrange('dead', 0, -1)) add(jidOf(m), 'dead')
  for (const m of await r.lrange('queue:default', 0, -1)) add(jidOf(m), 'queue:default')
  for (const m of await r.lrange('queue:rival', 0, -1)) add(jidOf(m), 'queue:rival')
  return where
}

describe('concurrent apply', () => {
  it('moves 1,000 jobs while another client moves, deletes and re-scores some of them: every job exactly once', async () => {
    const r = db.redis
    const pipe = r.pipeline()
    for (let i = 0; i < N; i++) pipe.zadd('dead', score(i), member(i))
    await pipe.exec()
    const plan: Action[] = Array.from({length: N}, (_, i) => ({
      kind: 'zmove',
      from: 'dead',
      to: 'queue:default',
      member: member(i),
      expectScore: score(i),
      pushValue: pushed(i),
      registerSet: 'queues',
      registerMember: 'default',
    }))

    // The rival walks the jobs from the other end, so the two meet in the middle and race there.
    const deleted = new Set<string>()
    const rescored = new Set<string>()
    let rivalMoved = 0
    const rivalWork = async () => {
      for (let i = N - 1; i >= 0; i -= 2) {
        const m = member(i)
        if (i % 6 === 1) {
          if ((await rival.zrem('dead', m)) === 1) deleted.add(`j${i}`)
        } else if (i % 6 === 3) {
          // Died again: same member, newer score (the plan's score no longer holds).
          if ((await rival.zadd('dead', 'XX', 'CH', String(1800000000 + i), m)) === 1) rescored.add(`j${i}`)
        } else rivalMoved += Number(await rival.eval(RIVAL_MOVE, 2, 'dead', 'queue:rival', m))
      }
    }
    const c = newConnection(db.url)
    conns.push(c)
    const path = jd.path('race')
    const [result] = await Promise.all([applyJournaled(c, plan, path), rivalWork()])

    const where = await census(r)
    for (let i = 0; i < N; i++) {
      const jid = `j${i}`
      if (deleted.has(jid)) expect(where.get(jid), jid).toBeUndefined()
      else expect(where.get(jid)?.length, `${jid} in ${where.get(jid)?.join(',')}`).toBe(1)
    }
    const applied = result.counts.applied
    expect(applied + result.counts.skipped).toBe(N)
    expect(await r.llen('queue:default')).toBe(applied)
    expect(await r.llen('queue:rival')).toBe(rivalMoved)
    // The race really happened: both sides won some, and re-scored jobs were left where they were.
    expect(applied).toBeGreaterThan(N / 2)
    expect(result.counts.skipped).toBeGreaterThan(0)
    expect(rivalMoved + deleted.size + rescored.size).toBeGreaterThan(0)
    for (const jid of rescored) expect(where.get(jid)).toEqual(['dead'])
    for (const x of result.records.filter((rec) => rec.status === 'skipped')) expect(x.detail).toMatch(/: (no longer in dead|its score changed from \S+ to \d+)$/)

    // Re-running the same plan changes nothing.
    const keys = ['dead', 'queue:default', 'queue:rival', 'queues']
    const before = await dumps(r, keys)
    const c2 = newConnection(db.url)
    conns.push(c2)
    const again = await applyJournaled(c2, plan, jd.path('race-again'))
    expect(statuses(again).every((s) => s === 'skipped')).toBe(true)
    expect(await dumps(r, keys)).toEqual(before)

    // Undo moves back exactly what this run moved, and still nothing is duplicated.
    const undo = await undoJournal(c2, path)
    expect(undo.outcomes.filter((o) => o === 'restored')).toHaveLength(applied)
    expect(await r.llen('queue:default')).toBe(0)
    const after = await census(r)
    for (let i = 0; i < N; i++) if (!deleted.has(`j${i}`)) expect(after.get(`j${i}`)?.length).toBe(1)
  })
})
