// The --prune plan through the real apply engine: SREM of a stale member and UNLINK of its leftovers
// happen only while the heartbeat hash is absent (re-checked atomically at apply time), and undo
// puts back what went. Also the srem `unlessExists` guard next to the `thenHincrby` counter.
import {describe, expect, it} from 'vitest'

import {applyActions} from '../../src/lib/repairs/apply.js'
import {planPrune} from '../../src/lib/repairs/plans/processes-prune.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {readLeftovers, readProcesses} from '../../src/lib/sidekiq/processes.js'
import {repairBed} from '../helpers/repair-bed.js'
import {applyJournaled, statuses, undoJournal} from '../helpers/repairs.js'

const bed = repairBed()

/** Three members: `live` beats, `gone` and `back` have no heartbeat hash; `gone` left a work hash and a signal list. */
async function seed(keys: SidekiqKeys): Promise<void> {
  const r = bed.db.redis
  await r.sadd(keys.processes, 'live:1:aa', 'gone:2:bb', 'back:3:cc')
  await r.hset(keys.process('live:1:aa'), 'info', '{"hostname":"live","pid":1}', 'beat', String(Date.now() / 1000), 'busy', '0', 'quiet', 'false')
  await r.expire(keys.process('live:1:aa'), 60)
  await r.hset(keys.workers('gone:2:bb'), 'tid1', '{"queue":"default","payload":"{}","run_at":1}')
  await r.expire(keys.workers('gone:2:bb'), 30)
  await r.rpush(keys.signals('gone:2:bb'), 'TSTP')
  await r.hset(keys.work('live:1:aa'), 'tid9', '{"queue":"default","payload":"{}","run_at":1}')
}

describe('processes --prune plan, applied by the engine', () => {
  for (const namespace of [undefined, 'myapp']) {
    it(`removes only stale members and their leftovers${namespace ? ' (namespaced)' : ''}, and undo restores them`, async () => {
      const keys = new SidekiqKeys(namespace)
      await seed(keys)
      const processes = await readProcesses(bed.conn, keys)
      const stale = processes.filter((p) => !p.alive).map((p) => p.identity)
      expect(stale).toEqual(['back:3:cc', 'gone:2:bb'])
      const plan = planPrune(keys, processes, await readLeftovers(bed.conn, keys, stale))
      expect(plan.actions.map((a) => [a.kind, a.kind === 'srem' ? a.member : a.key])).toEqual([
        ['srem', 'back:3:cc'],
        ['srem', 'gone:2:bb'],
        ['unlink', keys.workers('gone:2:bb')],
        ['unlink', keys.signals('gone:2:bb')],
      ])
      expect(plan).toMatchObject({members: 2, leftovers: 2, leftAlone: []})

      // `back` beats again after the plan was made: nothing of it may go.
      await bed.db.redis.hset(keys.process('back:3:cc'), 'info', '{}')
      const path = bed.journals.path('prune')
      const result = await applyJournaled(bed.conn, plan.actions, path)
      expect(statuses(result)).toEqual(['skipped', 'applied', 'applied', 'applied'])
      expect(result.records[0]!.detail).toMatch(new RegExp(`${keys.process('back:3:cc')} exists`))
      expect(result.records[0]!.subject).toEqual({identity: 'back:3:cc'})
      expect((await bed.db.redis.smembers(keys.processes)).sort()).toEqual(['back:3:cc', 'live:1:aa'])
      expect(await bed.db.redis.exists(keys.workers('gone:2:bb'), keys.signals('gone:2:bb'))).toBe(0)
      expect(await bed.db.redis.exists(keys.work('live:1:aa'))).toBe(1)

      const undo = await undoJournal(bed.conn, path)
      expect(undo.counts.applied).toBe(3)
      expect((await bed.db.redis.smembers(keys.processes)).sort()).toEqual(['back:3:cc', 'gone:2:bb', 'live:1:aa'])
      expect(await bed.db.redis.lrange(keys.signals('gone:2:bb'), 0, -1)).toEqual(['TSTP'])
      expect(await bed.db.redis.hkeys(keys.workers('gone:2:bb'))).toEqual(['tid1'])
      const ttl = await bed.db.redis.ttl(keys.workers('gone:2:bb'))
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(30)
    })
  }

  it('a leftover whose owner beats again is not unlinked', async () => {
    const keys = new SidekiqKeys()
    await seed(keys)
    const processes = await readProcesses(bed.conn, keys)
    const plan = planPrune(keys, processes, await readLeftovers(bed.conn, keys, ['gone:2:bb']))
    await bed.db.redis.hset(keys.process('gone:2:bb'), 'info', '{}')
    const result = await applyActions(bed.conn, plan.actions)
    expect(statuses(result)).toEqual(['applied', 'skipped', 'skipped', 'skipped'])
    expect(await bed.db.redis.exists(keys.workers('gone:2:bb'), keys.signals('gone:2:bb'))).toBe(2)
  })

  it('srem unlessExists works next to the thenHincrby counter: one guard blocks both writes', async () => {
    await bed.db.redis.sadd('jids', 'j1')
    await bed.db.redis.hset('batch', 'pending', '5')
    await bed.db.redis.set('guard', '1')
    const action = {kind: 'srem' as const, key: 'jids', member: 'j1', thenHincrby: {key: 'batch', field: 'pending', by: -1}, unlessExists: ['guard', 'other']}
    expect(statuses(await applyActions(bed.conn, [action]))).toEqual(['skipped'])
    expect(await bed.db.redis.sismember('jids', 'j1')).toBe(1)
    expect(await bed.db.redis.hget('batch', 'pending')).toBe('5')
    await bed.db.redis.del('guard')
    expect(statuses(await applyActions(bed.conn, [action]))).toEqual(['applied'])
    expect(await bed.db.redis.sismember('jids', 'j1')).toBe(0)
    expect(await bed.db.redis.hget('batch', 'pending')).toBe('4')
  })
})
