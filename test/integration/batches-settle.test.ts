// The two-pass rules of the ghost search, on genuine Sidekiq 6.4.1 payloads: a job that moves behind
// the walk's back, a batch that moves during the settle interval, a job that shows up in a work hash one
// heartbeat late; and redis-namespace'd data (Sidekiq ≤ 6), where bare lookalike keys must not count.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {judgeJid} from '../../src/lib/checks/batches.js'
import {Connection} from '../../src/lib/redis/connect.js'
import {ownScan} from '../../src/lib/redis/keyspace-index.js'
import {type BatchRecord, readBatchIndexes, scanBatches} from '../../src/lib/sidekiq/batches.js'
import {huntGhosts, type HuntOptions} from '../../src/lib/sidekiq/ghost-hunt.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {fakeJid, pushJobs, writeBatch} from '../helpers/batches.js'
import {runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'

const HOUR_AGO = Date.now() / 1000 - 3600
let db: TestDb
let conn: Connection
/** Genuine payloads (raw JSON) by jid, pushed once by Sidekiq::Client and copied into place by each test. */
const payloads = new Map<string, string>()
let jids: string[] = []

beforeAll(async () => {
  db = await testDb()
  conn = new Connection({url: db.url, timeoutMs: 5000, maxOps: 0})
  jids = await pushJobs(db.url, [0, 1, 2, 3].map((i) => ({class: 'OkJob', queue: 'pool', bid: 'SettleBatch001', args: [i]})))
  for (const raw of await db.redis.lrange('queue:pool', 0, -1)) payloads.set(JSON.parse(raw).jid, raw)
})
afterAll(async () => {
  await conn.quit()
  await db.close()
})
beforeEach(async () => db.reset())

async function judged(keys = new SidekiqKeys()): Promise<BatchRecord[]> {
  const out: BatchRecord[] = []
  for await (const items of scanBatches(conn, keys, await readBatchIndexes(conn, keys), {source: ownScan(conn)})) for (const i of items) if (i.kind === 'batch') out.push(i.batch)
  return out
}

async function verdicts(options: Omit<HuntOptions, 'source'>): Promise<Record<string, string>> {
  const result = await huntGhosts(conn, new SidekiqKeys(), await judged(), {...options, source: ownScan(conn)})
  return Object.fromEntries(result.observations.map((o) => [o.jid, judgeJid(o).verdict]))
}

describe('the settle pass', () => {
  it('a job that moves from a queue into retry right after retry was read is missed once, then found', async () => {
    const [moving] = jids as [string]
    await db.redis.lpush('queue:zz', payloads.get(moving)!)
    await writeBatch(db.redis, {bid: 'SettleBatch001', createdAt: HOUR_AGO, jids: [moving]})
    let moves = 0
    const hooks = {
      afterContainer: async (c: {key: string}) => {
        if (c.key !== 'retry' || moves++ > 0) return
        // A worker fails it: it leaves the (not yet read) queue for the (already read) retry set.
        await db.redis.lrem('queue:zz', 1, payloads.get(moving)!)
        await db.redis.zadd('retry', String(Date.now() / 1000 + 3600), payloads.get(moving)!)
      },
    }
    expect(await verdicts({settleMs: 300, hooks})).toEqual({[moving]: 'waiting-on-retry'})

    // The same move with one pass only: the job looks like a ghost. This is why the second pass exists.
    await db.redis.del('retry')
    await db.redis.lpush('queue:zz', payloads.get(moving)!)
    moves = 0
    expect(await verdicts({settleMs: 0, hooks})).toEqual({[moving]: 'ghost'})
  })

  it('a jid missing twice is unconfirmed when the batch moved meanwhile, or when the jid left the pending set', async () => {
    const [a, b] = [fakeJid(1), fakeJid(2)]
    await writeBatch(db.redis, {bid: 'MovingBatch001', createdAt: HOUR_AGO, jids: [a]})
    await writeBatch(db.redis, {bid: 'LeavingBatch01', createdAt: HOUR_AGO, jids: [b]})
    const onSettle = async () => {
      await db.redis.hincrby('b-MovingBatch001', 'pending', 1) // another job joined the batch
      await db.redis.srem('b-LeavingBatch01-jids', b) // this one succeeded after all
    }
    expect(await verdicts({settleMs: 200, hooks: {onSettle}})).toEqual({[a]: 'unconfirmed', [b]: 'unconfirmed'})
    // Unchanged, the same jid is a ghost.
    await db.redis.hincrby('b-MovingBatch001', 'pending', -1)
    expect((await verdicts({settleMs: 200}))[a]).toBe('ghost')
  })

  it('a job fetched just before the scan shows up in its process work hash one heartbeat later: alive', async () => {
    const [fetched] = jids.slice(1) as [string]
    await writeBatch(db.redis, {bid: 'FetchedBatch01', createdAt: HOUR_AGO, jids: [fetched]})
    const identity = 'worker-1:4242:0a1b2c3d4e5f'
    await db.redis.sadd('processes', identity)
    await db.redis.hset(identity, 'info', '{"hostname":"worker-1","pid":4242}', 'beat', String(Date.now() / 1000))
    const onSettle = async () => {
      // The next heartbeat writes the work entry: JSON with the payload as a JSON string inside (6.0.2+).
      const entry = JSON.stringify({queue: 'pool', payload: payloads.get(fetched), run_at: Math.floor(Date.now() / 1000)})
      await db.redis.hset(`${identity}:workers`, 'tid1', entry)
    }
    const result = await huntGhosts(conn, new SidekiqKeys(), await judged(), {settleMs: 200, source: ownScan(conn), hooks: {onSettle}})
    const o = result.observations[0]!
    expect(o.first).toEqual([])
    expect(o.second!.map((s) => s.container.key)).toEqual([`${identity}:workers`])
    expect(judgeJid(o).verdict).toBe('alive')
  })
})

describe('pending sets', () => {
  it('a big pending set is read in SSCAN pages; a jid pending in two batches is judged in both', async () => {
    const many = Array.from({length: 2500}, (_, i) => fakeJid(0x10000 + i))
    const shared = jids[2]!
    await db.redis.lpush('queue:default', payloads.get(shared)!)
    await writeBatch(db.redis, {bid: 'BigBatch000001', createdAt: HOUR_AGO, jids: [...many, shared]})
    await writeBatch(db.redis, {bid: 'OtherBatch0001', createdAt: HOUR_AGO, jids: [shared]})
    const result = await huntGhosts(conn, new SidekiqKeys(), await judged(), {settleMs: 0, source: ownScan(conn)})
    expect(result.pendingJids).toBe(2502)
    const count = (verdict: string) => result.observations.filter((o) => judgeJid(o).verdict === verdict).length
    expect(count('ghost')).toBe(2500)
    expect(result.observations.filter((o) => o.jid === shared).map((o) => [o.batch.bid, judgeJid(o).verdict]).sort()).toEqual([
      ['BigBatch000001', 'alive'],
      ['OtherBatch0001', 'alive'],
    ])
  })
})

describe('--namespace (redis-namespace, Sidekiq ≤ 6)', () => {
  it('reads only <ns>: keys, turns set members into prefixed keys, and ignores bare lookalikes', async () => {
    const [queued, stranded, retrying] = jids as [string, string, string]
    const ghost = fakeJid(0xbeef)
    const ns = 'myapp'
    await db.redis.lpush(`${ns}:queue:default`, payloads.get(queued)!)
    await db.redis.sadd(`${ns}:queues`, 'default')
    await db.redis.zadd(`${ns}:retry`, '1', payloads.get(retrying)!)
    await db.redis.lpush(`${ns}:queue:sq|gone:1:abcdefabcdef|default`, payloads.get(stranded)!)
    await writeBatch(db.redis, {bid: '-NsBatch-0001-', namespace: ns, createdAt: HOUR_AGO, jids: [queued, stranded, retrying, ghost]})
    await db.redis.sadd(`${ns}:b-NsOrphan00001-died`, ghost)
    // Bare keys: another app's batch, and the ghost's payload in a bare queue (not this namespace's).
    await writeBatch(db.redis, {bid: 'BareBatch00001', createdAt: HOUR_AGO, jids: [fakeJid(7)]})
    await db.redis.lpush('queue:default', JSON.stringify({class: 'OkJob', jid: ghost, queue: 'default', args: []}))

    const r = await runCli(['batches', '--ghosts', '--namespace', ns, '--settle', '200ms', '--json', '--url', db.url])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    expect(doc.summary.batches).toBe(1)
    expect(doc.summary.verdicts).toEqual({alive: 1, 'waiting-on-retry': 1, dead: 0, stranded: 1, ghost: 1, unconfirmed: 0})
    const byCheck = (check: string) => doc.findings.filter((f: any) => f.check === check)
    expect(byCheck('batch/ghost-job').map((f: any) => [f.subject.bid, f.subject.jid])).toEqual([['-NsBatch-0001-', ghost]])
    expect(byCheck('batch/stranded-job').map((f: any) => [f.evidence.key, f.evidence.heartbeatKey])).toEqual([[`${ns}:queue:sq|gone:1:abcdefabcdef|default`, `${ns}:gone:1:abcdefabcdef`]])
    expect(byCheck('batch/orphan-keys').map((f: any) => f.subject.keys)).toEqual([[`${ns}:b-NsOrphan00001-died`]])

    // Without --namespace only the bare batch is seen.
    const bare = (await runCli(['batches', '--json', '--url', db.url])).json()
    expect(bare.summary.batches).toBe(1)
    expect(bare.summary.layouts.pro).toBe(1)
    expect(bare.findings.some((f: any) => JSON.stringify(f).includes('NsBatch'))).toBe(false)
  })
})
