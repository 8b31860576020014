// The apply engine against a real Redis: every action kind applies atomically, is journaled before
// it writes, skips when the state its plan saw changed, and a re-run of the same plan is a no-op.
import {readFileSync} from 'node:fs'
import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import type {Action, RepairAction} from '../../src/lib/repairs/actions.js'
import {applyActions} from '../../src/lib/repairs/apply.js'
import {readJournal} from '../../src/lib/repairs/journal.js'
import {planUndo} from '../../src/lib/repairs/undo.js'
import {useTestDb} from '../helpers/db.js'
import {startRedis} from '../helpers/redis-server.js'
import {applyJournaled, dumps, statuses, undoJournal} from '../helpers/repairs.js'

const ctx = useTestDb()
const conn = ctx.conn
const jd = ctx.journals

/** A second client whose connection a client-kill action can target. */
async function victimClient(): Promise<{client: Redis; id: string; addr: string; line: string}> {
  const client = ctx.db.redis.duplicate()
  client.on('error', () => {})
  const id = String(await client.client('ID'))
  const line = (await ctx.db.redis.client('LIST', 'ID', id)) as string
  const addr = /addr=(\S+)/.exec(line)![1]!
  return {client, id, addr, line: line.trim()}
}

async function seed(r: Redis): Promise<void> {
  await r.set('str', 'some value', 'PX', 600_000)
  await r.zadd('dead', '1700000000.1234567', '{"jid":"a"}', '1700000001.5', '{"jid":"b"}', '1700000002', '{"jid":"c"}')
  await r.sadd('procs', 'host-1', 'host-2')
  await r.hset('batch', 'pending', '5', 'total', '10', 'stale', 'x', 'label', 'old')
  await r.rpush('private', 'job-1', 'job-2')
  await r.hset('failinfo', 'jid1', '{"e":1}')
  await r.sadd('queues', 'default')
}

function everyKind(victim: {id: string; addr: string; line: string}): RepairAction[] {
  return [
    {kind: 'unlink', key: 'str', expectType: 'string', bytes: 64},
    {kind: 'zmove', from: 'dead', to: 'queue:default', member: '{"jid":"a"}', expectScore: '1700000000.1234567', pushValue: '{"jid":"a","retry_count":1}', registerSet: 'queues', registerMember: 'default'},
    {kind: 'zrem', key: 'dead', member: '{"jid":"b"}', expectScore: '1700000001.5'},
    {kind: 'srem', key: 'procs', member: 'host-2'},
    {kind: 'hdel', key: 'batch', field: 'stale', expectValue: 'x'},
    {kind: 'hset', key: 'batch', field: 'label', value: 'new', expectOld: 'old'},
    {kind: 'hincrby', key: 'batch', field: 'pending', by: -1, expectValue: '5'},
    {kind: 'lpush', key: 'queue:low', value: 'job-x', unlessPresentIn: ['dead', 'private']},
    {kind: 'lmove', from: 'private', to: 'queue:default', value: 'job-1'},
    {kind: 'expire', key: 'failinfo', ttlMs: 60_000, expectType: 'hash'},
    {kind: 'client-kill', id: victim.id, expectAddr: victim.addr, clientLine: victim.line},
  ]
}

describe('apply', () => {
  it('applies every kind, journaling each one (flushed) before it writes; a re-run is a no-op', async () => {
    const r = ctx.db.redis
    await seed(r)
    const victim = await victimClient()
    const actions = everyKind(victim)
    const path = jd.path('every-kind')
    const c = conn()
    const seenAtWrite: string[] = []
    const result = await applyJournaled(c, actions, path, {
      hooks: {
        beforeWrite: async (i) => {
          // The intent of this action is on disk (last line), and the write has not happened yet.
          const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
          const last = JSON.parse(lines.at(-1)!)
          expect([last.type, last.seq, last.action.kind]).toEqual(['intent', i + 1, actions[i]!.kind])
          seenAtWrite.push(actions[i]!.kind)
          if (i === 0) expect(await r.exists('str')).toBe(1)
          if (i === 1) expect(await r.zscore('dead', '{"jid":"a"}')).toBe('1700000000.1234567')
        },
      },
    })
    expect(statuses(result)).toEqual(actions.map(() => 'applied'))
    expect(seenAtWrite).toEqual(actions.map((a) => a.kind))
    expect(result.records[0]).toMatchObject({step: 'unlink', key: 'str', status: 'applied', bytes: 64})

    expect(await r.exists('str')).toBe(0)
    expect(await r.zrange('dead', 0, -1)).toEqual(['{"jid":"c"}'])
    expect(await r.lrange('queue:default', 0, -1)).toEqual(['job-1', '{"jid":"a","retry_count":1}'])
    expect(await r.smembers('procs')).toEqual(['host-1'])
    expect(await r.hgetall('batch')).toEqual({pending: '4', total: '10', label: 'new'})
    expect(await r.lrange('queue:low', 0, -1)).toEqual(['job-x'])
    expect(await r.lrange('private', 0, -1)).toEqual(['job-2'])
    const ttl = await r.pttl('failinfo')
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect((await ctx.db.redis.client('LIST', 'ID', victim.id)) as string).toBe('')
    victim.client.disconnect()

    // The journal holds what each change removed or overwrote.
    const j = readJournal(path)
    expect(j.ended).toBe(true)
    expect(j.entries.map((e) => e.outcome?.status)).toEqual(actions.map(() => 'applied'))
    expect(j.entries[0]!.before).toMatchObject({type: 'string'})
    expect(j.entries[0]!.before!.pttl).toBeGreaterThan(590_000)
    expect(j.loadDump(j.entries[0]!).length).toBeGreaterThan(10)
    expect(j.entries[9]!.before).toMatchObject({type: 'hash', pttl: -1})
    expect(j.entries[10]!.action).toMatchObject({kind: 'client-kill', clientLine: victim.line})

    // Same plan again: everything is skipped, nothing changes.
    const keys = ['str', 'dead', 'queue:default', 'queue:low', 'procs', 'batch', 'private', 'failinfo', 'queues']
    const before = await dumps(r, keys)
    const again = await applyJournaled(conn(), actions, jd.path('again'))
    expect(statuses(again)).toEqual(actions.map(() => 'skipped'))
    expect(await dumps(r, keys)).toEqual(before)
    expect(again.records.map((x) => x.detail?.split(': ').slice(1).join(': ').replace(/PTTL \d+/, 'PTTL n'))).toEqual([
      'the key no longer exists',
      'no longer in dead',
      'no longer in dead',
      'no longer a member of procs',
      'field stale no longer exists',
      'field label changed since it was read',
      'field pending changed since it was read',
      'already in queue:low',
      'no longer in private',
      'it already expires within 60000ms (PTTL n)',
      `no client with id ${victim.id} at ${victim.addr} any more`,
    ])
  })

  it('skips each kind when the state its plan saw changed before the write', async () => {
    const r = ctx.db.redis
    await seed(r)
    const victim = await victimClient()
    // [action, mutation, expected reason]
    const cases: Array<[Action, () => Promise<unknown>, RegExp]> = [
      [{kind: 'unlink', key: 'str', expectType: 'hash'}, async () => undefined, /now a string, not a hash/],
      [{kind: 'zmove', from: 'dead', to: 'queue:x', member: '{"jid":"a"}', expectScore: '1700000000.1234567'}, () => r.zadd('dead', '1800000000', '{"jid":"a"}'), /score changed from 1700000000.1234567 to 1800000000/],
      [{kind: 'zrem', key: 'dead', member: '{"jid":"b"}', expectScore: '1700000001.5'}, () => r.zrem('dead', '{"jid":"b"}'), /no longer in dead/],
      [{kind: 'srem', key: 'procs', member: 'host-2'}, () => r.srem('procs', 'host-2'), /no longer a member/],
      [{kind: 'hdel', key: 'batch', field: 'stale', expectValue: 'x'}, () => r.hset('batch', 'stale', 'y'), /changed since it was read/],
      [{kind: 'hset', key: 'batch', field: 'label', value: 'new', expectOld: null}, async () => undefined, /created since it was read/],
      [{kind: 'hincrby', key: 'batch', field: 'pending', by: -1, expectValue: '5'}, () => r.hincrby('batch', 'pending', -1), /changed since it was read/],
      [{kind: 'lpush', key: 'queue:y', value: 'job-2', unlessPresentIn: ['private']}, async () => undefined, /already in private/],
      [{kind: 'lmove', from: 'private', to: 'queue:z', value: 'job-9'}, async () => undefined, /no longer in private/],
      [{kind: 'expire', key: 'failinfo', ttlMs: 1000, expectType: 'hash'}, () => r.del('failinfo').then(() => r.set('failinfo', 'now a string')), /now a string, not a hash/],
      [{kind: 'client-kill', id: victim.id, expectAddr: '10.9.9.9:1', clientLine: victim.line}, async () => undefined, /no client with id/],
      [{kind: 'zmove', from: 'procs', to: 'queue:x', member: 'host-1', expectScore: '1'}, async () => undefined, /procs is now a set/],
    ]
    for (const [, mutate] of cases) await mutate()
    const keys = ['str', 'dead', 'procs', 'batch', 'private', 'failinfo', 'queue:x', 'queue:y', 'queue:z']
    const before = await dumps(r, keys)
    const path = jd.path('skips')
    const result = await applyJournaled(conn(), cases.map(([a]) => a), path)
    expect(statuses(result)).toEqual(cases.map(() => 'skipped'))
    cases.forEach(([, , reason], i) => expect(result.records[i]!.detail).toMatch(reason))
    expect(await dumps(r, keys)).toEqual(before)
    expect(await r.client('LIST', 'ID', victim.id)).toContain(`id=${victim.id}`)
    // Undo has nothing to put back: the journal says every entry was skipped.
    expect(planUndo(readJournal(path)).actions).toHaveLength(0)
    victim.client.disconnect()
  })

  it('skips a whole-key action when the key changes after it was journaled (WATCH), and records that', async () => {
    const r = ctx.db.redis
    await r.hset('big', 'f1', 'v1')
    await r.hset('ttl-me', 'f', 'v')
    const path = jd.path('watch')
    const result = await applyJournaled(
      conn(),
      [
        {kind: 'unlink', key: 'big', expectType: 'hash'},
        {kind: 'expire', key: 'ttl-me', ttlMs: 5000, expectType: 'hash'},
      ],
      path,
      {
        hooks: {
          // Between the journal read (DUMP) and the write, a live worker changes the key.
          beforeWrite: async (i) => {
            await (i === 0 ? r.hset('big', 'f2', 'v2') : r.hset('ttl-me', 'g', 'w'))
          },
        },
      },
    )
    expect(statuses(result)).toEqual(['skipped', 'skipped'])
    expect(result.records[0]!.detail).toMatch(/changed between the journal read and the write/)
    expect(await r.hgetall('big')).toEqual({f1: 'v1', f2: 'v2'})
    expect(await r.pttl('ttl-me')).toBe(-1)
    const j = readJournal(path)
    expect(j.entries.map((e) => e.outcome?.status)).toEqual(['skipped', 'skipped'])
    expect(planUndo(j).actions).toHaveLength(0)
  })

  it('obeys --max-ops: writes are rate-limited like reads', async () => {
    const r = ctx.db.redis
    const n = 60
    await r.zadd('z', ...Array.from({length: n}, (_, i) => [String(i), `m${i}`]).flat())
    const c = conn(100)
    await c.redis()
    const spentBefore = c.budget.opsSpent
    const started = Date.now()
    const result = await applyActions(
      c,
      Array.from({length: n}, (_, i): Action => ({kind: 'zrem', key: 'z', member: `m${i}`, expectScore: String(i)})),
    )
    const elapsed = Date.now() - started
    expect(result.counts.applied).toBe(n)
    expect(c.budget.opsSpent - spentBefore).toBeGreaterThanOrEqual(n)
    // 60 commands at 100/s take about 0.6 s (less a 0.1 s burst allowance).
    expect(elapsed).toBeGreaterThanOrEqual(400)
  })

  it('stops at an interrupt: the rest is not reached', async () => {
    const r = ctx.db.redis
    await r.sadd('s', 'a', 'b', 'c', 'd')
    const ac = new AbortController()
    const result = await applyActions(
      conn(),
      ['a', 'b', 'c', 'd'].map((m): Action => ({kind: 'srem', key: 's', member: m})),
      {signal: ac.signal, hooks: {afterAction: (i) => (i === 1 ? ac.abort() : undefined)}},
    )
    expect(statuses(result)).toEqual(['applied', 'applied', 'not-reached', 'not-reached'])
    expect(result.stopped?.reason).toMatch(/interrupted/)
    expect((await r.smembers('s')).sort()).toEqual(['c', 'd'])
  })
})

describe('apply on a server out of memory', () => {
  it('refuses the move before anything is removed (the additive write comes first), stops, and undo finds it in place', async () => {
    const server = await startRedis()
    const c = conn(0, server.url(0))
    try {
      const r = server.client(0)
      await r.zadd('dead', '1', 'job-1', '2', 'job-2')
      await r.config('SET', 'maxmemory', '1')
      const path = jd.path('oom')
      const result = await applyJournaled(
        c,
        [
          {kind: 'zmove', from: 'dead', to: 'queue:default', member: 'job-1', expectScore: '1'},
          {kind: 'zmove', from: 'dead', to: 'queue:default', member: 'job-2', expectScore: '2'},
        ],
        path,
      )
      expect(statuses(result)).toEqual(['failed', 'not-reached'])
      expect(result.records[0]!.detail).toMatch(/Redis refused it: .*OOM/)
      expect(result.records[0]!.detail).toMatch(/whether this action took effect is unknown/)
      await r.config('SET', 'maxmemory', '0')
      expect(await r.zrange('dead', 0, -1)).toEqual(['job-1', 'job-2'])
      expect(await r.exists('queue:default')).toBe(0)
      const j = readJournal(path)
      expect(j.entries.map((e) => e.outcome?.status)).toEqual(['unknown'])
      const undo = await undoJournal(c, path)
      expect(undo.outcomes).toEqual(['already-back'])
      expect(await r.zrange('dead', 0, -1)).toEqual(['job-1', 'job-2'])
    } finally {
      await server.stop()
    }
  })
})
