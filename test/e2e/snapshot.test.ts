// `qdoctor snapshot export|import` end to end, between two real redis-servers, with data written by
// real Sidekiq 6.4.1 (queues, schedule, retry, dead, stats, a running process's work) plus Pro and
// sidekiq-batch keys: byte-identical round trips, idempotent re-imports, refusal of damaged files.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {snapshotKeyspace, writeFailinfo} from '../helpers/batch-data.js'
import {runCli} from '../helpers/cli.js'
import {type RedisServer, startRedis} from '../helpers/redis-server.js'
import {asRestored} from '../helpers/repairs.js'
import {type BaseSeed, type LiveSeed, requireSidekiq, seedSidekiq, startSidekiq} from '../helpers/sidekiq.js'

const sidekiq = requireSidekiq()
const PASSWORD = 'snap-s3cret-pw'
const QUEUES = ['bulk', 'critical', 'default', 'live', 'mailers']
const SETS = ['schedule', 'retry', 'dead', 'batches']

let source: RedisServer
let target: RedisServer
let src: Redis
let dir: string
let full: string
let liveFile: string
let seed: BaseSeed
let live: LiveSeed
let batchKeys: string[]
let n = 0
const file = (name: string) => join(dir, `${++n}-${name}`)

/** Pro and sidekiq-batch keys, built to the data model (§6.1, §8): hashes, a big (hash-table) set, the index. */
async function writeBatches(r: Redis): Promise<string[]> {
  await writeFailinfo(r, {bid: 'ProBatch00001-', entries: 3, parent: {createdAt: '1795000000.5', total: 3, pending: 2}, ttlSeconds: 3000, failedKey: true})
  await r.sadd('b-BigBatch000001-jids', ...Array.from({length: 200}, (_, i) => i.toString(16).padStart(24, '0')))
  await r.expire('b-BigBatch000001-jids', 5000)
  await r.hset('BID-SkBatch00001', {created_at: '1795000000.25', total: '2', pending: '1', children: '0'})
  await r.sadd('BID-SkBatch00001-jids', 'a'.repeat(24))
  await r.zadd('batches', '1797592000.5', 'ProBatch00001-', 'inf', 'BigBatch000001')
  await r.sadd('batch-died', 'OldBatch000001')
  await r.set('unrelated', 'not a Sidekiq key')
  return ['b-ProBatch00001-', 'b-ProBatch00001--failinfo', 'b-ProBatch00001--jids', 'b-ProBatch00001--failed', 'b-BigBatch000001-jids', 'BID-SkBatch00001', 'BID-SkBatch00001-jids', 'batch-died']
}

async function statKeys(r: Redis): Promise<string[]> {
  const [, keys] = await r.scan('0', 'MATCH', 'stat:*', 'COUNT', 1000)
  return keys.sort()
}

/** The target db holds exactly what the source held: lists, scores, DUMPs (as RESTOREd), TTLs, counters. */
async function expectSameAsSource(dst: Redis): Promise<void> {
  for (const q of QUEUES) expect(await dst.lrange(`queue:${q}`, 0, -1), q).toEqual(await src.lrange(`queue:${q}`, 0, -1))
  for (const z of SETS) expect(await dst.zrange(z, 0, -1, 'WITHSCORES'), z).toEqual(await src.zrange(z, 0, -1, 'WITHSCORES'))
  for (const k of batchKeys) {
    const dump = await src.dumpBuffer(k)
    expect((await dst.dumpBuffer(k))?.toString('hex'), k).toBe(await asRestored(dst, dump.toString('hex')))
    const [a, b] = [await src.pttl(k), await dst.pttl(k)]
    if (a === -1) expect(b, k).toBe(-1)
    else expect(Math.abs(a - b), k).toBeLessThan(15_000)
  }
  const stats = await statKeys(src)
  expect(stats.length).toBeGreaterThan(0)
  expect(await statKeys(dst)).toEqual(stats)
  expect(await dst.mget(...stats)).toEqual(await src.mget(...stats))
  expect((await dst.smembers('queues')).sort()).toEqual((await src.smembers('queues')).sort())
  expect(await dst.exists('unrelated', 'processes')).toBe(0)
}

/** The payloads of the in-progress records of the live export, in file order. */
function workPayloads(): string[] {
  return readFileSync(liveFile, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).filter((r) => r.family === 'work').map((r) => r.payload)
}

async function importInto(db: number, snapshot: string, ...extra: string[]) {
  const r = await runCli(['snapshot', 'import', snapshot, '--url', target.url(db), '--yes', '--json', '--journal', file('journal.jsonl'), ...extra])
  return {r, doc: r.json()}
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-snapshot-'))
  source = await startRedis(['--requirepass', PASSWORD])
  target = await startRedis()
  src = source.client(0)
  const url = source.url(0)
  seed = await seedSidekiq(url, 'base')
  const proc = await startSidekiq(url, {queues: ['live'], concurrency: 2, beatSeconds: 0.5})
  try {
    live = await seedSidekiq(url, 'live')
    const inProgress = async (r: Redis) => (await r.hvals(`${proc.identity}${sidekiq.workSuffix}`)).some((w) => w.includes(live.slowJid))
    await proc.waitFor(async (r) => (await r.zcard('dead')) === 1 && (await r.zcard('retry')) === 1 && (await inProgress(r)) && (await r.exists('stat:processed')) === 1, {
      what: 'a dead job, a retry, SlowJob in progress and flushed stats',
    })
    liveFile = file('live.jsonl')
    const r = await runCli(['snapshot', 'export', liveFile, '--only', 'work,processes', '--url', url, '--json'])
    expect(r.code, r.stderr).toBe(0)
  } finally {
    await proc.stop()
  }
  batchKeys = await writeBatches(src)
  full = file('full.jsonl')
  const r = await runCli(['snapshot', 'export', full, '--url', url, '--json'])
  expect(r.code, r.stderr).toBe(0)
}, 90_000)

afterAll(async () => {
  await source?.stop()
  await target?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('snapshot export', () => {
  it('writes a header (redacted source, versions, counts per family) and a matching trailer; never the password', () => {
    const text = readFileSync(full, 'utf8')
    expect(text).not.toContain(PASSWORD)
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l))
    const [header, trailer] = [lines[0], lines.at(-1)]
    expect(header).toMatchObject({type: 'header', format: 'qdoctor-snapshot', version: 1, source: {target: `redis://:***@127.0.0.1:${source.port}/0`, namespace: null, redisVersion: expect.stringMatching(/^\d+\./)}})
    const jobs = Object.values(seed.queueSizes).reduce((a, b) => a + b, 0) + 1 // + SlowJob, requeued by the shutdown
    // work/processes: Sidekiq 6.4.1's heartbeat thread can re-write its keys just after a clean shutdown cleared them.
    expect(header.counts).toEqual({schedule: 2, retry: 1, queues: QUEUES.length + jobs, work: expect.any(Number), dead: 1, batches: batchKeys.length + 2, stats: expect.any(Number), processes: expect.any(Number)})
    expect(trailer).toEqual({type: 'trailer', counts: header.counts, records: lines.length - 2})
    // Queue jobs in list order (head first), byte for byte, with big integers intact.
    const defaults = lines.filter((l) => l.type === 'job' && l.queue === 'default').map((l) => l.payload)
    expect(defaults.map((p: string) => JSON.parse(p).jid)).toEqual([...seed.queues.default].reverse())
    expect(defaults.join('\n')).toContain(seed.bigInt)
  })

  it('captures in-progress work and the live process while Sidekiq runs', () => {
    const records = readFileSync(liveFile, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).slice(1, -1)
    const work = records.filter((r) => r.family === 'work' && JSON.parse(r.payload).jid === live.slowJid)
    expect(work).toHaveLength(1)
    expect(work[0]).toMatchObject({type: 'work', source: 'work', queue: 'live', key: expect.stringMatching(new RegExp(`${sidekiq.workSuffix}$`))})
    expect(records.filter((r) => r.family === 'processes').map((r) => r.fields.busy)).toEqual(['1'])
  })

  it('writes to stdout with -, and refuses --json there (stdout carries the snapshot)', async () => {
    const r = await runCli(['snapshot', 'export', '-', '--only', 'queues', '--url', source.url(0)])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(lines[0].type).toBe('header')
    expect(lines.at(-1).type).toBe('trailer')
    expect(r.stderr).toContain('Snapshot export')
    const refused = await runCli(['snapshot', 'export', '-', '--json', '--url', source.url(0)])
    expect(refused.code).toBe(2)
  })

  it('refuses to overwrite an existing file', async () => {
    const r = await runCli(['snapshot', 'export', full, '--url', source.url(0), '--json'])
    expect(r.code).toBe(2)
    expect(r.json().error.message).toContain('already exists')
  })
})

describe('snapshot import', () => {
  it('rebuilds an empty Redis byte for byte (queue order, scores, batch DUMPs, TTLs, counters); not processes or work', async () => {
    const {r, doc} = await importInto(1, full)
    expect(r.code, r.stderr).toBe(0)
    expect(doc.summary.failed).toBe(0)
    expect(doc.summary.applied).toBe(doc.summary.planned)
    expect(doc.summary.families).toEqual(['schedule', 'retry', 'queues', 'dead', 'batches', 'stats'])
    await expectSameAsSource(target.client(1))
  })

  it('importing twice adds nothing', async () => {
    const dst = target.client(1)
    const before = await snapshotKeyspace(dst)
    const {r, doc} = await importInto(1, full)
    expect(r.code, r.stderr).toBe(0)
    expect(doc.summary.planned).toBe(0)
    expect(doc.summary.perFamily.queues.present).toBe(doc.summary.perFamily.queues.items)
    expect(await snapshotKeyspace(dst)).toEqual(before)
  })

  it('after a partial loss adds back only what is missing; a job with the same jid is never duplicated', async () => {
    const dst = target.client(1)
    const oldest = (await dst.lrange('queue:default', -1, -1))[0]!
    await dst.lrem('queue:default', 1, oldest)
    await dst.rpush('queue:default', '{"class":"OkJob","jid":"ffffffffffffffffffffffff","args":[]}')
    const [retryJob, retryScore] = await dst.zrange('retry', 0, 0, 'WITHSCORES')
    await dst.zrem('retry', retryJob!)
    // The scheduled job was re-written on the target (same jid, other payload): it must not come back twice.
    const [scheduled, score] = await dst.zrange('schedule', 0, 0, 'WITHSCORES')
    await dst.zrem('schedule', scheduled!)
    await dst.zadd('schedule', score!, scheduled!.replace('"later"', '"rewritten"'))
    await dst.del('b-ProBatch00001-', 'stat:processed')
    const {r, doc} = await importInto(1, full)
    expect(r.code, r.stderr).toBe(0)
    expect(doc.actions.map((a: {step: string}) => a.step).sort()).toEqual(['snapshot/batches', 'snapshot/queues', 'snapshot/retry', 'snapshot/stats'])
    // The missing oldest job runs next again (tail), behind nothing.
    expect(await dst.lindex('queue:default', -1)).toBe(oldest)
    expect(await dst.zscore('retry', retryJob!)).toBe(retryScore)
    expect(await dst.zcard('schedule')).toBe(2)
    expect(await dst.exists('b-ProBatch00001-', 'stat:processed')).toBe(2)
  })

  it('goes through the journal: undo takes an import back', async () => {
    const journal = file('undo-me.jsonl')
    const r = await runCli(['snapshot', 'import', full, '--url', target.url(5), '--yes', '--json', '--journal', journal])
    expect(r.code, r.stderr).toBe(0)
    const undo = await runCli(['undo', journal, '--url', target.url(5), '--yes', '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    // Everything but the queue registrations (`queues`: undo of a push does not unregister a queue).
    expect([...(await snapshotKeyspace(target.client(5))).keys()]).toEqual(['queues'])
  })

  it('refuses a truncated file with its line number and changes nothing', async () => {
    const lines = readFileSync(full, 'utf8').trimEnd().split('\n')
    const cut = file('cut.jsonl')
    writeFileSync(cut, lines.slice(0, -3).join('\n') + '\n')
    const {r, doc} = await importInto(3, cut)
    expect(r.code).toBe(4)
    expect(doc.error.message).toMatch(new RegExp(`ends after line ${lines.length - 3} without its trailer: it is truncated.*Nothing was changed`))
    const mid = file('mid.jsonl')
    writeFileSync(mid, lines.join('\n').slice(0, -40))
    expect((await importInto(3, mid)).doc.error.message).toMatch(new RegExp(`^Refusing to import .*: line ${lines.length}: the file ends in the middle of this line`))
    const corrupt = file('corrupt.jsonl')
    writeFileSync(corrupt, [...lines.slice(0, 4), '{"type":"job",', ...lines.slice(5)].join('\n') + '\n')
    const c = await importInto(3, corrupt)
    expect(c.r.code).toBe(4)
    expect(c.doc.error.message).toMatch(/: line 5: not valid JSON/)
    expect(await target.client(3).dbsize()).toBe(0)
  })

  it('round-trips through gzip', async () => {
    const gz = file('full.jsonl.gz')
    const e = await runCli(['snapshot', 'export', gz, '--url', source.url(0), '--json'])
    expect(e.code, e.stderr).toBe(0)
    expect(e.json().summary.gzip).toBe(true)
    expect([...readFileSync(gz).subarray(0, 2)]).toEqual([0x1f, 0x8b])
    const {r} = await importInto(2, gz)
    expect(r.code, r.stderr).toBe(0)
    await expectSameAsSource(target.client(2))
  })

  it('re-enqueues in-progress jobs only with --only work, and never imports processes', async () => {
    const byDefault = await importInto(4, liveFile)
    expect(byDefault.r.code, byDefault.r.stderr).toBe(0)
    expect(byDefault.doc.summary.planned).toBe(0)
    expect(byDefault.doc.warnings.join(' ')).toMatch(/in-progress jobs in this snapshot were not re-enqueued .*--only work/)
    const work = await importInto(4, liveFile, '--only', 'work')
    expect(work.r.code, work.r.stderr).toBe(0)
    const queued = await target.client(4).lrange('queue:live', 0, -1)
    expect(queued.map((p) => JSON.parse(p).jid)).toContain(live.slowJid)
    expect(queued).toEqual(workPayloads().filter((p) => JSON.parse(p).queue === 'live'))
    expect(await target.client(4).smembers('queues')).toEqual(['live'])
    const processes = await runCli(['snapshot', 'import', liveFile, '--only', 'processes', '--url', target.url(4), '--yes', '--json'])
    expect(processes.code).toBe(2)
    expect(processes.json().error.message).toMatch(/processes cannot be imported/)
  })

  it('--queues-only backfills just the queued jobs, under another namespace than the source', async () => {
    const {r, doc} = await importInto(6, full, '--queues-only', '--namespace', 'app')
    expect(r.code, r.stderr).toBe(0)
    expect(doc.summary.families).toEqual(['queues'])
    const dst = target.client(6)
    expect(await dst.lrange('app:queue:default', 0, -1)).toEqual(await src.lrange('queue:default', 0, -1))
    expect((await snapshotKeyspace(dst)).size).toBe(QUEUES.length + 1)
  })
})
