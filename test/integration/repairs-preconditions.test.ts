// The engine preconditions the batch repairs rely on, each applied, refused and undone on a real Redis:
// lmove `unlessExists` (the owner's heartbeat), srem `thenHincrby` (SREM + HINCRBY as one step),
// lpush `onlyIfMember` (the jid still pending) and unlink `unlessExists` (the parent hash still gone).
import {describe, expect, it} from 'vitest'

import type {RepairAction} from '../../src/lib/repairs/actions.js'
import {repairBed} from '../helpers/repair-bed.js'
import {applyJournaled, dumps, expectedAfterUndo, statuses, undoJournal} from '../helpers/repairs.js'

const bed = repairBed()

async function apply(action: RepairAction) {
  const path = bed.journals.path(action.kind)
  const result = await applyJournaled(bed.conn, [action], path)
  return {result, path, record: result.records[0]!}
}

describe('lmove unlessExists', () => {
  const move: RepairAction = {kind: 'lmove', from: 'queue:sq|h:1:a|q', to: 'queue:q', value: '{"jid":"1"}', unlessExists: ['h:1:a']}

  it('skips while the guard key exists and changes nothing', async () => {
    await bed.db.redis.rpush('queue:sq|h:1:a|q', '{"jid":"1"}')
    await bed.db.redis.hset('h:1:a', 'beat', '1')
    const before = await dumps(bed.db.redis, ['queue:sq|h:1:a|q', 'queue:q'])
    const {record} = await apply(move)
    expect(record.status).toBe('skipped')
    expect(record.detail).toMatch(/h:1:a exists/)
    expect(await dumps(bed.db.redis, ['queue:sq|h:1:a|q', 'queue:q'])).toEqual(before)
  })

  it('moves once the guard is gone; undo moves it back', async () => {
    await bed.db.redis.rpush('queue:sq|h:1:a|q', '{"jid":"0"}', '{"jid":"1"}')
    await bed.db.redis.rpush('queue:q', '{"jid":"x"}')
    const before = await dumps(bed.db.redis, ['queue:sq|h:1:a|q', 'queue:q'])
    const {record, path} = await apply(move)
    expect(record.status).toBe('applied')
    expect(await bed.db.redis.lrange('queue:q', 0, -1)).toEqual(['{"jid":"1"}', '{"jid":"x"}'])
    expect(await bed.db.redis.lrange('queue:sq|h:1:a|q', 0, -1)).toEqual(['{"jid":"0"}'])
    expect(statuses(await undoJournal(bed.conn, path))).toEqual(['applied'])
    expect(await bed.db.redis.lrange('queue:sq|h:1:a|q', 0, -1)).toEqual(['{"jid":"1"}', '{"jid":"0"}'])
    expect(await bed.db.redis.lrange('queue:q', 0, -1)).toEqual(['{"jid":"x"}'])
    expect((await dumps(bed.db.redis, ['queue:q']))['queue:q']).toBe(before['queue:q'])
  })
})

describe('srem thenHincrby', () => {
  const forget: RepairAction = {kind: 'srem', key: 'b-x-jids', member: 'j1', thenHincrby: {key: 'b-x', field: 'pending', by: -1}}

  it('removes the member and lowers the counter in one step; undo restores both', async () => {
    await bed.db.redis.sadd('b-x-jids', 'j1', 'j2')
    await bed.db.redis.hset('b-x', 'pending', '2', 'total', '2')
    const before = await dumps(bed.db.redis, ['b-x'])
    const {record, path} = await apply(forget)
    expect(record.status).toBe('applied')
    expect(await bed.db.redis.smembers('b-x-jids')).toEqual(['j2'])
    expect(await bed.db.redis.hget('b-x', 'pending')).toBe('1')
    expect(statuses(await undoJournal(bed.conn, path))).toEqual(['applied'])
    expect((await bed.db.redis.smembers('b-x-jids')).sort()).toEqual(['j1', 'j2'])
    expect(await dumps(bed.db.redis, ['b-x'])).toEqual(before)
  })

  it.each([
    ['the member is gone', async () => (await bed.db.redis.sadd('b-x-jids', 'j2'), bed.db.redis.hset('b-x', 'pending', '2')), /no longer a member of b-x-jids/],
    ['the set is gone', async () => bed.db.redis.hset('b-x', 'pending', '2'), /b-x-jids no longer exists/],
    ['the hash is gone', async () => bed.db.redis.sadd('b-x-jids', 'j1'), /b-x no longer exists/],
    ['the counter is not an integer', async () => (await bed.db.redis.sadd('b-x-jids', 'j1'), bed.db.redis.hset('b-x', 'pending', 'many')), /not an integer/],
    ['the counter field is absent', async () => (await bed.db.redis.sadd('b-x-jids', 'j1'), bed.db.redis.hset('b-x', 'total', '1')), /pending of b-x no longer exists/],
  ])('skips when %s, changing neither key', async (_, seed, reason) => {
    await seed()
    const before = await dumps(bed.db.redis, ['b-x', 'b-x-jids'])
    const {record} = await apply(forget)
    expect(record.status).toBe('skipped')
    expect(record.detail).toMatch(reason)
    expect(await dumps(bed.db.redis, ['b-x', 'b-x-jids'])).toEqual(before)
  })

  it('undo refuses to touch a batch that is gone since; --force puts the member back alone', async () => {
    await bed.db.redis.sadd('b-x-jids', 'j1')
    await bed.db.redis.hset('b-x', 'pending', '1')
    const {path} = await apply(forget)
    await bed.db.redis.del('b-x')
    const refused = await undoJournal(bed.conn, path)
    expect(refused.outcomes).toEqual(['conflict'])
    expect(await bed.db.redis.exists('b-x-jids', 'b-x')).toBe(0)
    const forced = await undoJournal(bed.conn, path, {force: true})
    expect(forced.outcomes).toEqual(['restored'])
    expect(await bed.db.redis.smembers('b-x-jids')).toEqual(['j1'])
    expect(await bed.db.redis.exists('b-x')).toBe(0)
  })
})

describe('lpush onlyIfMember', () => {
  const push: RepairAction = {kind: 'lpush', key: 'queue:q', value: '{"jid":"j1"}', registerSet: 'queues', registerMember: 'q', onlyIfMember: {key: 'b-x-jids', member: 'j1'}}

  it('pushes and registers the queue while the member is there; undo takes the job back', async () => {
    await bed.db.redis.sadd('b-x-jids', 'j1')
    const {record, path} = await apply(push)
    expect(record.status).toBe('applied')
    expect(await bed.db.redis.lrange('queue:q', 0, -1)).toEqual(['{"jid":"j1"}'])
    expect(await bed.db.redis.smembers('queues')).toEqual(['q'])
    await undoJournal(bed.conn, path)
    expect(await bed.db.redis.exists('queue:q')).toBe(0)
  })

  it('skips once the member left the set (or the set is gone)', async () => {
    await bed.db.redis.sadd('b-x-jids', 'other')
    expect((await apply(push)).record.detail).toMatch(/j1 is no longer a member of b-x-jids/)
    await bed.db.redis.del('b-x-jids')
    expect((await apply(push)).record.detail).toMatch(/b-x-jids no longer exists/)
    expect(await bed.db.redis.exists('queue:q', 'queues')).toBe(0)
  })
})

describe('unlink unlessExists', () => {
  const purge: RepairAction = {kind: 'unlink', key: 'b-gone-jids', expectType: 'set', unlessExists: ['b-gone']}

  it('skips while the parent exists', async () => {
    await bed.db.redis.sadd('b-gone-jids', 'j1')
    await bed.db.redis.hset('b-gone', 'pending', '1')
    const {record} = await apply(purge)
    expect(record.status).toBe('skipped')
    expect(record.detail).toMatch(/b-gone exists/)
    expect(await bed.db.redis.exists('b-gone-jids')).toBe(1)
  })

  it('unlinks while the parent is gone; undo restores the key (DUMP compared)', async () => {
    await bed.db.redis.sadd('b-gone-jids', 'j1', 'j2')
    await bed.db.redis.expire('b-gone-jids', 3600)
    const before = await dumps(bed.db.redis, ['b-gone-jids'])
    const {record, path} = await apply(purge)
    expect(record.status).toBe('applied')
    expect(await bed.db.redis.exists('b-gone-jids')).toBe(0)
    await undoJournal(bed.conn, path)
    expect(await dumps(bed.db.redis, ['b-gone-jids'])).toEqual(await expectedAfterUndo(bed.db.redis, before, ['b-gone-jids']))
    expect(await bed.db.redis.ttl('b-gone-jids')).toBeGreaterThan(3500)
  })
})
