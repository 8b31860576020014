// The pieces snapshot export/import stand on, against a real Redis: the "if absent" actions and
// their undo, RPUSH order, and the live-safe readers (list pages under pushes, zset pages by score
// under removals and ties).
import {describe, expect, it} from 'vitest'

import type {RepairAction} from '../../src/lib/repairs/actions.js'
import {applyActions} from '../../src/lib/repairs/apply.js'
import {listValuesFromHead, zsetByScore} from '../../src/lib/redis/snapshot-reads.js'
import {SnapshotImportPlanner} from '../../src/lib/repairs/plans/snapshot-import.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {exportFamily, type FamilyRecord, readImportTarget, type SnapshotFamily} from '../../src/lib/sidekiq/snapshot-families.js'
import {useTestDb} from '../helpers/db.js'
import {applyJournaled, asRestored, statuses, undoJournal} from '../helpers/repairs.js'

const t = useTestDb()

describe('if-absent actions', () => {
  it('zadd-if-absent adds with the exact score once; undo takes it back only while the score holds', async () => {
    const {redis} = t.db
    await redis.zadd('retry', '5', 'already')
    const actions: RepairAction[] = [
      {kind: 'zadd-if-absent', key: 'retry', member: 'new', score: '1713484819.1234567'},
      {kind: 'zadd-if-absent', key: 'retry', member: 'already', score: '9'},
      {kind: 'zadd-if-absent', key: 'retry', member: 'inf', score: 'inf'},
    ]
    const journal = t.journals.path('zadd')
    expect(statuses(await applyJournaled(t.conn(), actions, journal))).toEqual(['applied', 'skipped', 'applied'])
    expect(await redis.zrange('retry', 0, -1, 'WITHSCORES')).toEqual(['already', '5', 'new', '1713484819.1234567', 'inf', 'inf'])
    expect(statuses(await applyActions(t.conn(), actions))).toEqual(['skipped', 'skipped', 'skipped'])
    await redis.zadd('retry', '7', 'inf')
    const undo = await undoJournal(t.conn(), journal)
    expect(undo.outcomes).toEqual(['conflict', 'restored'])
    expect(await redis.zrange('retry', 0, -1, 'WITHSCORES')).toEqual(['already', '5', 'inf', '7'])
  })

  it('restore-if-absent restores a key with its TTL, never overwrites, and a refused payload fails without stopping the run', async () => {
    const {redis} = t.db
    const members = Array.from({length: 200}, (_, i) => `jid-${i}`)
    await redis.sadd('src-set', ...members)
    await redis.hset('src-hash', {total: '3', pending: '2'})
    const setDump = (await redis.dumpBuffer('src-set')).toString('base64')
    const hashDump = (await redis.dumpBuffer('src-hash')).toString('base64')
    await redis.set('b-exists', 'keep me')
    const bad = Buffer.from('not a dump payload').toString('base64')
    const actions: RepairAction[] = [
      {kind: 'restore-if-absent', key: 'b-set', dump: setDump, ttlMs: 0},
      {kind: 'restore-if-absent', key: 'b-bad', dump: bad, ttlMs: 0},
      {kind: 'restore-if-absent', key: 'b-exists', dump: hashDump, ttlMs: 0},
      {kind: 'restore-if-absent', key: 'b-hash', dump: hashDump, ttlMs: 60_000},
    ]
    const journal = t.journals.path('restore')
    const result = await applyJournaled(t.conn(), actions, journal)
    expect(statuses(result)).toEqual(['applied', 'failed', 'skipped', 'applied'])
    expect(result.stopped).toBeUndefined()
    expect(result.records[1]!.detail).toMatch(/RESTORE refused: .*DUMP payload/)
    expect((await redis.dumpBuffer('b-set')).toString('hex')).toBe(await asRestored(redis, Buffer.from(setDump, 'base64').toString('hex')))
    expect(await redis.hgetall('b-hash')).toEqual({total: '3', pending: '2'})
    expect(await redis.pttl('b-hash')).toBeGreaterThan(50_000)
    expect(await redis.pttl('b-set')).toBe(-1)
    expect(await redis.get('b-exists')).toBe('keep me')
    // Undo: the big (hash-table) set comes out as restored; the changed hash is a conflict.
    await redis.hincrby('b-hash', 'pending', -1)
    const undo = await undoJournal(t.conn(), journal)
    expect(undo.outcomes).toEqual(['conflict', 'restored'])
    expect(await redis.exists('b-set', 'b-hash', 'b-exists')).toBe(2)
    expect(await redis.exists('b-set')).toBe(0)
  })

  it('set-if-absent sets a counter with its TTL once; undo removes it while unchanged', async () => {
    const {redis} = t.db
    await redis.set('stat:failed', '7')
    const actions: RepairAction[] = [
      {kind: 'set-if-absent', key: 'stat:processed', value: '42', ttlMs: 0},
      {kind: 'set-if-absent', key: 'stat:failed', value: '1', ttlMs: 0},
      {kind: 'set-if-absent', key: 'stat:processed:2026-01-01', value: '3', ttlMs: 3_600_000},
    ]
    const journal = t.journals.path('set')
    expect(statuses(await applyJournaled(t.conn(), actions, journal))).toEqual(['applied', 'skipped', 'applied'])
    expect(await redis.mget('stat:processed', 'stat:failed', 'stat:processed:2026-01-01')).toEqual(['42', '7', '3'])
    expect(await redis.pttl('stat:processed:2026-01-01')).toBeGreaterThan(3_500_000)
    await redis.incr('stat:processed')
    expect((await undoJournal(t.conn(), journal)).outcomes).toEqual(['restored', 'conflict'])
    expect(await redis.mget('stat:processed', 'stat:failed', 'stat:processed:2026-01-01')).toEqual(['43', '7', null])
  })

  it('an RPUSH lands at the end workers take from, in order, and not twice', async () => {
    const {redis} = t.db
    await redis.lpush('queue:default', 'live-1')
    const push = (value: string): RepairAction => ({kind: 'lpush', toEnd: 'right', key: 'queue:default', value, registerSet: 'queues', registerMember: 'default'})
    expect(statuses(await applyActions(t.conn(), [push('newer'), push('older'), push('newer')]))).toEqual(['applied', 'applied', 'skipped'])
    expect(await redis.lrange('queue:default', 0, -1)).toEqual(['live-1', 'newer', 'older'])
    expect(await redis.rpop('queue:default')).toBe('older')
    expect(await redis.smembers('queues')).toEqual(['default'])
  })
})

describe('live-safe readers', () => {
  it('reads a list from the head without skipping or repeating elements while jobs are pushed', async () => {
    const {redis} = t.db
    await redis.rpush('queue:live', ...Array.from({length: 25}, (_, i) => `job-${i}`))
    const seen: string[] = []
    let pushed = 0
    for await (const page of listValuesFromHead(t.conn(), 'queue:live', 10)) {
      seen.push(...page.map(String))
      // Between pages Sidekiq clients LPUSH new jobs and a worker takes the oldest one.
      await redis.lpush('queue:live', `new-${pushed++}`, `new-${pushed++}`)
      await redis.rpop('queue:live')
    }
    // job-24 and job-23 were popped before the walk reached them (job-22 only after it was read);
    // every other job is seen exactly once, in list order, although pushes shifted it between pages.
    expect(seen.filter((v) => v.startsWith('job-'))).toEqual(Array.from({length: 23}, (_, i) => `job-${i}`))
    // Jobs pushed at the head after the walk passed it belong to a later snapshot: none is read, none twice.
    expect(seen).toHaveLength(23)
  })

  it('reads a sorted set by score: exact scores, ties larger than a page, and removals below the cursor', async () => {
    const {redis} = t.db
    const ties = Array.from({length: 23}, (_, i) => `tie-${String(i).padStart(2, '0')}`)
    await redis.zadd('schedule', ...ties.flatMap((m) => ['100.5', m]), '1', 'first', '0.1', 'tiny', '200', 'late', 'inf', 'never')
    const seen: Array<[string, string]> = []
    let removed = false
    for await (const page of zsetByScore(t.conn(), 'schedule', 5)) {
      seen.push(...page.map((e): [string, string] => [e.member.toString(), e.score]))
      // The poller takes due jobs (the lowest scores) while the walk goes on.
      if (!removed) {
        await redis.zrem('schedule', 'tiny', 'first', 'tie-00', 'tie-01')
        removed = true
      }
    }
    const expected: Array<[string, string]> = [['tiny', '0.10000000000000001'], ['first', '1'], ...ties.map((m): [string, string] => [m, '100.5']), ['late', '200'], ['never', 'inf']]
    // tie-00/tie-01 were removed after the first page: seen at most once, everything else exactly once.
    expect(seen.filter(([m]) => m !== 'tie-00' && m !== 'tie-01')).toEqual(expected.filter(([m]) => m !== 'tie-00' && m !== 'tie-01'))
    expect(new Set(seen.map(([m]) => m)).size).toBe(seen.length)
  })

  it('goes on from the right place when the last member read is itself removed (within a large tie)', async () => {
    const {redis} = t.db
    const ties = Array.from({length: 23}, (_, i) => `tie-${String(i).padStart(2, '0')}`)
    await redis.zadd('retry', ...ties.flatMap((m) => ['100.5', m]), '300', 'after')
    const seen: string[] = []
    for await (const page of zsetByScore(t.conn(), 'retry', 5)) {
      seen.push(...page.map((e) => e.member.toString()))
      await redis.zrem('retry', page.at(-1)!.member)
    }
    expect(seen).toEqual([...ties, 'after'])
  })
})

describe('import planning against a live target', () => {
  it('leaves out what is there (same jid, existing keys and members), what expired, and binary payloads', async () => {
    const {redis} = t.db
    const job = (jid: string, extra = '') => JSON.stringify({class: 'OkJob', jid, args: [extra]})
    await redis.rpush('queue:default', job('a'.repeat(24), 'rewritten on the target'))
    await redis.zadd('batches', '5', 'present-bid')
    await redis.set('stat:failed', '3')
    const conn = t.conn()
    const target = await readImportTarget(conn)
    const dump = (await redis.dumpBuffer('stat:failed')).toString('base64')
    const records: FamilyRecord[] = [
      {type: 'queue', family: 'queues', queue: 'default', registered: true, length: 3},
      {type: 'job', family: 'queues', queue: 'default', payload: job('a'.repeat(24))},
      {type: 'job', family: 'queues', queue: 'default', payload: job('b'.repeat(24))},
      {type: 'job', family: 'queues', queue: 'default', payload: job('b'.repeat(24))},
      {type: 'job', family: 'queues', queue: 'default', payloadBase64: Buffer.from([0xff, 0xfe]).toString('base64')},
      {type: 'job', family: 'dead', score: '1.5', payload: job('c'.repeat(24))},
      {type: 'key', family: 'batches', key: 'b-gone', redisType: 'string', expireAt: target.nowMs - 1000, dump},
      {type: 'key', family: 'batches', key: 'b-alive', redisType: 'string', expireAt: target.nowMs + 60_000, dump},
      {type: 'member', family: 'batches', key: 'batches', member: 'present-bid', score: '5'},
      {type: 'member', family: 'batches', key: 'batches', member: 'new-bid', score: '6'},
      {type: 'counter', family: 'stats', key: 'stat:failed', value: '9'},
      {type: 'process', family: 'processes', identity: 'host:1:abc', fields: {}},
    ]
    const planner = new SnapshotImportPlanner(new SidekiqKeys(), new Set(['queues', 'dead', 'batches', 'stats'] as const), target)
    for (const r of records) await planner.add(r)
    const plan = await planner.finish()
    expect(plan.tally).toEqual({
      queues: {items: 4, present: 2, expired: 0, notImported: 1, planned: 1},
      dead: {items: 1, present: 0, expired: 0, notImported: 0, planned: 1},
      batches: {items: 4, present: 1, expired: 1, notImported: 0, planned: 2},
      stats: {items: 1, present: 1, expired: 0, notImported: 0, planned: 0},
    })
    // Keys first, then jobs; the restored key keeps the TTL it had left.
    expect(plan.actions.map((a) => `${a.kind} ${'key' in a ? a.key : ''}`)).toEqual(['restore-if-absent b-alive', 'zadd-if-absent batches', 'zadd-if-absent dead', 'lpush queue:default'])
    const restore = plan.actions[0] as Extract<RepairAction, {kind: 'restore-if-absent'}>
    expect(restore.ttlMs).toBeGreaterThan(55_000)
    expect(restore.ttlMs).toBeLessThanOrEqual(60_000)
    expect(plan.leftOut).toEqual(['1 jobs with a binary (non-UTF-8) payload (the repair engine writes text only) were not imported.'])
  })
})

describe('export under a redis-namespace', () => {
  it('reads only the namespace and writes bare key names', async () => {
    const {redis} = t.db
    await redis.sadd('ns:queues', 'default')
    await redis.rpush('ns:queue:default', '{"class":"A","jid":"aaaaaaaaaaaaaaaaaaaaaaaa"}')
    await redis.rpush('queue:other-app', '{"class":"B","jid":"bbbbbbbbbbbbbbbbbbbbbbbb"}')
    await redis.sadd('ns:b-Bid0000000001-jids', 'aaaaaaaaaaaaaaaaaaaaaaaa')
    await redis.set('ns:stat:processed', '5')
    await redis.set('stat:processed', '99')
    const warnings: string[] = []
    const ctx = {conn: t.conn(), keys: new SidekiqKeys('ns'), warn: (w: string) => warnings.push(w)}
    const all: FamilyRecord[] = []
    for (const family of ['queues', 'batches', 'stats'] as SnapshotFamily[]) for await (const page of exportFamily(ctx, family)) all.push(...page)
    expect(all.map((r) => [r.type, 'queue' in r ? r.queue : 'key' in r ? r.key : ''])).toEqual([
      ['queue', 'default'],
      ['job', 'default'],
      ['key', 'b-Bid0000000001-jids'],
      ['counter', 'stat:processed'],
    ])
    expect(all.find((r) => r.type === 'counter')).toMatchObject({value: '5'})
    expect(warnings).toEqual([])
  })
})
