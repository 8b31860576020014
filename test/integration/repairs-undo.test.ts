// Undo against a real Redis: every action kind round-trips (DUMP before == DUMP after undo), undo is
// idempotent, never overwrites newer data without --force, restores TTLs, and its dry run is read-only.
import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import type {RepairAction} from '../../src/lib/repairs/actions.js'
import {readJournal} from '../../src/lib/repairs/journal.js'
import {useTestDb} from '../helpers/db.js'
import {applyJournaled, dumps, expectedAfterUndo, statuses, undoJournal} from '../helpers/repairs.js'

const ctx = useTestDb()
const conn = () => ctx.conn()
const jd = ctx.journals

const KEYS = ['str', 'list', 'zset', 'hash', 'set', 'dead', 'queue:default', 'queues', 'procs', 'batch', 'private', 'queue:low', 'failinfo', 'counter']

/**
 * Layouts where each restored element goes back where it was (a restored hash field is appended,
 * so the one removed is the last; a member pushed back goes to the head, where it was).
 */
async function seed(r: Redis): Promise<void> {
  await r.set('str', 'v'.repeat(100))
  await r.pexpire('str', 3_600_000)
  await r.rpush('list', 'a', 'b', 'c')
  await r.zadd('zset', '1', 'x', '2.5', 'y')
  await r.hset('hash', 'f', 'v', 'g', 'w')
  // Strings: a hash table (Redis < 7.2), which dumps its members in another order after a RESTORE.
  await r.sadd('set', ...Array.from({length: 20}, (_, i) => `member-${i}`))
  await r.zadd('dead', '1700000000.1234567', '{"jid":"a","args":[12345678901234567890]}', '1700000001.5', '{"jid":"b"}', '1700000002', '{"jid":"c"}')
  await r.rpush('queue:default', 'older-job')
  await r.sadd('queues', 'default')
  await r.sadd('procs', '1', '2', '3')
  await r.hset('batch', 'pending', '5', 'total', '10', 'label', 'old', 'stale', 'x')
  await r.rpush('private', 'job-1', 'job-2')
  await r.rpush('queue:low', 'low-1')
  await r.hset('failinfo', 'jid1', '{"e":1}')
  await r.set('counter', '1')
}

function everyKind(): RepairAction[] {
  return [
    {kind: 'unlink', key: 'str', expectType: 'string'},
    {kind: 'unlink', key: 'list', expectType: 'list'},
    {kind: 'unlink', key: 'zset', expectType: 'zset'},
    {kind: 'unlink', key: 'hash', expectType: 'hash'},
    {kind: 'unlink', key: 'set', expectType: 'set'},
    {kind: 'zmove', from: 'dead', to: 'queue:default', member: '{"jid":"a","args":[12345678901234567890]}', expectScore: '1700000000.1234567', pushValue: '{"jid":"a","args":[12345678901234567890],"retry_count":1}', registerSet: 'queues', registerMember: 'default'},
    {kind: 'zrem', key: 'dead', member: '{"jid":"b"}', expectScore: '1700000001.5'},
    {kind: 'srem', key: 'procs', member: '3'},
    {kind: 'hdel', key: 'batch', field: 'stale', expectValue: 'x'},
    {kind: 'hset', key: 'batch', field: 'label', value: 'new', expectOld: 'old'},
    {kind: 'hset', key: 'batch', field: 'added', value: 'n', expectOld: null},
    {kind: 'hincrby', key: 'batch', field: 'pending', by: -2, expectValue: '5'},
    {kind: 'lpush', key: 'queue:low', value: 'recreated-job'},
    {kind: 'lmove', from: 'private', to: 'queue:default', value: 'job-1'},
    {kind: 'expire', key: 'failinfo', ttlMs: 30_000, expectType: 'hash'},
  ]
}

describe('undo', () => {
  it('round-trips every action kind: every touched key DUMPs byte for byte as before (as Redis serialises a RESTORE of it); TTLs come back', async () => {
    const r = ctx.db.redis
    await seed(r)
    const before = await dumps(r, KEYS)
    const c = conn()
    const path = jd.path('every-kind')
    const applied = await applyJournaled(c, everyKind(), path)
    expect(statuses(applied)).toEqual(everyKind().map(() => 'applied'))
    const changed = await dumps(r, KEYS)
    for (const k of KEYS.filter((k) => !['queues', 'counter', 'failinfo'].includes(k))) expect(changed[k], k).not.toEqual(before[k])

    const undone = await undoJournal(c, path)
    expect(undone.outcomes).toEqual(everyKind().map(() => 'restored'))
    // newest first
    expect(undone.records.map((x) => x.step)).toEqual(everyKind().reverse().map((a) => `undo ${a.kind}`))
    const expected = await expectedAfterUndo(r, before, ['str', 'list', 'zset', 'hash', 'set'])
    expect(await dumps(r, KEYS)).toEqual(expected)
    const strTtl = await r.pttl('str')
    expect(strTtl).toBeGreaterThan(3_500_000)
    expect(strTtl).toBeLessThanOrEqual(3_600_000)
    expect(await r.pttl('failinfo')).toBe(-1)
    // The big integer in the payload went through untouched (no JSON decoding anywhere).
    expect(await r.zscore('dead', '{"jid":"a","args":[12345678901234567890]}')).toBe('1700000000.1234567')

    // Idempotent: a second undo finds everything already back and changes nothing.
    const again = await undoJournal(c, path)
    expect(again.outcomes).toEqual(everyKind().map(() => 'already-back'))
    expect(statuses(again)).toEqual(everyKind().map(() => 'skipped'))
    expect(await dumps(r, KEYS)).toEqual(expected)
  })

  it('--dry-run (check mode) says what it would do and changes nothing', async () => {
    const r = ctx.db.redis
    await seed(r)
    const c = conn()
    const path = jd.path('dry')
    await applyJournaled(c, everyKind(), path)
    const after = await dumps(r, KEYS)
    const ttl = await r.pttl('failinfo')
    const check = await undoJournal(c, path, {mode: 'check'})
    expect(statuses(check)).toEqual(everyKind().map(() => 'planned'))
    expect(check.outcomes).toEqual(everyKind().map(() => 'restored'))
    expect(check.records.find((x) => x.step === 'undo unlink')!.detail).toMatch(/would RESTORE/)
    expect(await dumps(r, KEYS)).toEqual(after)
    expect(await r.pttl('failinfo')).toBeLessThanOrEqual(ttl)
    await undoJournal(c, path)
    const recheck = await undoJournal(c, path, {mode: 'check'})
    expect(recheck.outcomes).toEqual(everyKind().map(() => 'already-back'))
  })

  it('never overwrites newer data without --force, and --force puts the journaled state back', async () => {
    const r = ctx.db.redis
    await r.hset('gone', 'a', '1')
    await r.zadd('dead', '10', 'job-a', '20', 'job-b')
    await r.hset('batch', 'label', 'old', 'pending', '5')
    await r.rpush('private', 'job-p')
    await r.hset('short', 'f', 'v')
    const victim = ctx.db.redis.duplicate()
    victim.on('error', () => {})
    const id = String(await victim.client('ID'))
    const line = String(await r.client('LIST', 'ID', id))
    const addr = /addr=(\S+)/.exec(line)![1]!
    const actions: RepairAction[] = [
      {kind: 'unlink', key: 'gone', expectType: 'hash'},
      {kind: 'zrem', key: 'dead', member: 'job-a', expectScore: '10'},
      {kind: 'zmove', from: 'dead', to: 'queue:default', member: 'job-b', expectScore: '20'},
      {kind: 'hset', key: 'batch', field: 'label', value: 'new', expectOld: 'old'},
      {kind: 'hincrby', key: 'batch', field: 'pending', by: -1, expectValue: '5'},
      {kind: 'lmove', from: 'private', to: 'queue:default', value: 'job-p'},
      {kind: 'expire', key: 'short', ttlMs: 60_000, expectType: 'hash'},
      {kind: 'client-kill', id, expectAddr: addr, clientLine: line},
    ]
    const c = conn()
    const path = jd.path('conflicts')
    expect(statuses(await applyJournaled(c, actions, path))).toEqual(actions.map(() => 'applied'))
    victim.disconnect()
    // Newer data since the repair: a live system moved on.
    await r.hset('gone', 'b', '2') // re-created
    await r.zadd('dead', '11', 'job-a') // died again, new score
    await r.lrem('queue:default', 1, 'job-b') // a worker took the moved job
    await r.hset('batch', 'label', 'newer')
    await r.hincrby('batch', 'pending', -1) // 4 → 3
    await r.lrem('queue:default', 1, 'job-p') // taken by a worker
    await r.del('short') // expired

    const kept = await dumps(r, ['gone', 'dead', 'batch', 'queue:default', 'private', 'short'])
    const undo = await undoJournal(c, path)
    expect(undo.outcomes).toEqual(['not-restorable', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict'])
    expect(undo.records.map((x) => x.detail)).toEqual([
      expect.stringMatching(/cannot be restored/),
      expect.stringMatching(/conflict: the key no longer exists/),
      expect.stringMatching(/conflict: it is no longer in queue:default .*--force pushes it back/),
      expect.stringMatching(/conflict: the field changed since the repair/),
      expect.stringMatching(/conflict: the field changed since the repair/),
      expect.stringMatching(/conflict: it is no longer in queue:default .*--force re-adds it/),
      expect.stringMatching(/conflict: the member is back with another score \(11\)/),
      expect.stringMatching(/conflict: the key was re-created since .*--force replaces it/),
    ])
    expect(await dumps(r, ['gone', 'dead', 'batch', 'queue:default', 'private', 'short'])).toEqual(kept)

    const forced = await undoJournal(c, path, {force: true})
    expect(forced.outcomes).toEqual(['not-restorable', 'conflict', 'restored', 'restored', 'restored', 'restored', 'restored', 'restored'])
    expect(await r.hgetall('gone')).toEqual({a: '1'})
    expect(await r.zrange('dead', 0, -1, 'WITHSCORES')).toEqual(['job-a', '10', 'job-b', '20'])
    // The old label is put back; the counter gets the inverse increment, keeping the later change.
    expect(await r.hgetall('batch')).toEqual({label: 'old', pending: '4'})
    expect(await r.lrange('private', 0, -1)).toEqual(['job-p'])
  })

  it('restores a key with the TTL it had left, and not at all once that TTL has passed', async () => {
    const r = ctx.db.redis
    await r.set('long', 'x', 'PX', 100_000)
    await r.set('brief', 'y', 'PX', 300)
    const c = conn()
    const path = jd.path('ttl')
    await applyJournaled(
      c,
      [
        {kind: 'unlink', key: 'long', expectType: 'string'},
        {kind: 'unlink', key: 'brief', expectType: 'string'},
      ],
      path,
    )
    await new Promise((resolve) => setTimeout(resolve, 400))
    const undo = await undoJournal(c, path)
    expect(undo.outcomes).toEqual(['expired', 'restored'])
    expect(undo.records[0]!.detail).toMatch(/would have expired on its own/)
    expect(await r.exists('brief')).toBe(0)
    const ttl = await r.pttl('long')
    expect(ttl).toBeGreaterThan(98_000)
    expect(ttl).toBeLessThan(99_700)
  })

  it('puts back a big hash-table key (whose DUMP order changes on RESTORE) and recognises it as already back', async () => {
    const r = ctx.db.redis
    const pipe = r.pipeline()
    for (let i = 0; i < 2000; i++) pipe.hset('b-big-failinfo', `jid${i}`, `{"error_class":"E","n":${i}}`)
    await pipe.exec()
    expect(await r.object('ENCODING', 'b-big-failinfo')).toBe('hashtable')
    const content = await r.hgetall('b-big-failinfo')
    const c = conn()
    const path = jd.path('big')
    await applyJournaled(c, [{kind: 'unlink', key: 'b-big-failinfo', expectType: 'hash'}], path)
    expect(await r.exists('b-big-failinfo')).toBe(0)
    expect((await undoJournal(c, path)).outcomes).toEqual(['restored'])
    expect(await r.hgetall('b-big-failinfo')).toEqual(content)
    // Byte for byte as Redis itself serialises a RESTORE of the journaled payload.
    const j = readJournal(path)
    await r.restore('scratch', 0, j.loadDump(j.entries[0]!))
    expect((await r.dumpBuffer('b-big-failinfo')).equals(await r.dumpBuffer('scratch'))).toBe(true)
    await r.del('scratch')
    const again = await undoJournal(c, path)
    expect(again.outcomes).toEqual(['already-back'])
    expect(await r.exists('{b-big-failinfo}:qdoctor-undo-scratch')).toBe(0)
    // A changed key of the same size is not mistaken for the journaled one.
    await r.hset('b-big-failinfo', 'jid0', '{"error_class":"F","n":0}')
    expect((await undoJournal(c, path)).outcomes).toEqual(['conflict'])
    // Nor, even in a dry run, a compact key re-created with a same-size value.
    await r.set('word', 'aaaa')
    const p2 = jd.path('word')
    await applyJournaled(c, [{kind: 'unlink', key: 'word', expectType: 'string'}], p2)
    await r.set('word', 'bbbb')
    expect((await undoJournal(c, p2, {mode: 'check'})).outcomes).toEqual(['conflict'])
  })

  it('keeps content but not internal order when a restored field or member was not the last one', async () => {
    const r = ctx.db.redis
    await r.hset('batch', 'first', '1', 'second', '2')
    await r.rpush('private', 'a', 'b', 'c')
    const c = conn()
    const path = jd.path('order')
    await applyJournaled(
      c,
      [
        {kind: 'hdel', key: 'batch', field: 'first', expectValue: '1'},
        {kind: 'lmove', from: 'private', to: 'queue:x', value: 'c'},
      ],
      path,
    )
    await undoJournal(c, path)
    expect(await r.hgetall('batch')).toEqual({first: '1', second: '2'})
    expect((await r.lrange('private', 0, -1)).sort()).toEqual(['a', 'b', 'c'])
    expect(await r.exists('queue:x')).toBe(0)
  })

  it('leaves a queue registration (SADD) in place: it is harmless and other jobs may use it', async () => {
    const r = ctx.db.redis
    await r.zadd('dead', '1', 'job')
    const c = conn()
    const path = jd.path('register')
    await applyJournaled(c, [{kind: 'zmove', from: 'dead', to: 'queue:new', member: 'job', expectScore: '1', registerSet: 'queues', registerMember: 'new'}], path)
    expect(await r.smembers('queues')).toEqual(['new'])
    await undoJournal(c, path)
    expect(await r.zrange('dead', 0, -1)).toEqual(['job'])
    expect(await r.exists('queue:new')).toBe(0)
    expect(await r.smembers('queues')).toEqual(['new'])
  })
})
