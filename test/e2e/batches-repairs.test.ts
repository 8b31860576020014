// `qdoctor batches --repair rescue|recreate|forget|purge-orphans` end to end, as a user runs them (the
// built CLI): refusal off a terminal, dry run, --yes with a journal, exactly the planned change, and
// `qdoctor undo <journal> --yes` putting every key back (DUMP compared). A recreated job is run by a
// real Sidekiq 6.4.1 process.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {snapshotKeyspace} from '../helpers/batch-data.js'
import {fakeJid, pushJobs, writeBatch} from '../helpers/batches.js'
import {runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'
import {asRestored} from '../helpers/repairs.js'
import {startSidekiq} from '../helpers/sidekiq.js'

const HOUR_AGO = Date.now() / 1000 - 3600
let db: TestDb
let dir: string
let n = 0
const journal = () => join(dir, `j${++n}.jsonl`)
/** Genuine Sidekiq 6.4.1 payloads, by jid (pushed once, copied into place by each test). */
const payloads = new Map<string, string>()
let jids: string[] = []

beforeAll(async () => {
  db = await testDb()
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-batches-'))
  jids = await pushJobs(db.url, [0, 1, 2].map((i) => ({class: 'OkJob', queue: 'pool', bid: 'RepairBatch001', args: [i]})))
  for (const raw of await db.redis.lrange('queue:pool', 0, -1)) payloads.set(JSON.parse(raw).jid, raw)
})
afterAll(async () => {
  await db?.close()
  rmSync(dir, {recursive: true, force: true})
})
beforeEach(async () => db.reset())

const cli = (args: string[]) => runCli(['batches', ...args, '--url', db.url])

async function undo(path: string): Promise<void> {
  const r = await runCli(['undo', path, '--yes', '--json', '--url', db.url])
  expect(r.code, r.stdout + r.stderr).toBe(0)
}

/**
 * After undo every key is back: byte for byte, or (for RESTOREd keys) as Redis serialises the restore.
 * `ignore`: keys an undo leaves on purpose (the engine does not take back a queue registration).
 */
async function expectRestored(before: Map<string, string>, ignore: string[] = []): Promise<void> {
  const after = await snapshotKeyspace(db.redis)
  for (const k of ignore) after.delete(k)
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
  for (const [k, v] of before) {
    const now = after.get(k)!
    if (now === v) continue
    expect(now, k).toBe(await asRestored(db.redis, Buffer.from(v, 'base64').toString('hex')).then((h) => Buffer.from(h!, 'hex').toString('base64')))
  }
}

describe('--repair rescue', () => {
  const PRIVATE = 'queue:sq|gone:1:aaaaaaaaaaaa|default'
  const WORKING = 'working:queue:mailers:gone:2:bbbbbbbbbbbb'

  async function seed(): Promise<[string, string]> {
    const [s1, s2, alive] = jids as [string, string, string]
    await db.redis.lpush(PRIVATE, payloads.get(s1)!)
    await db.redis.lpush(WORKING, payloads.get(s2)!)
    await db.redis.lpush('queue:default', payloads.get(alive)!)
    await writeBatch(db.redis, {bid: '-Rescue-Batch-', createdAt: HOUR_AGO, jids: [s1, s2, alive]})
    return [s1, s2]
  }

  it('off a terminal without --yes: refuses (exit 4) and changes nothing; --dry-run lists the plan', async () => {
    await seed()
    const before = await snapshotKeyspace(db.redis)
    const refused = await cli(['--repair', 'rescue', '--settle', '0'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/Refusing to change .* without confirmation: .*--yes/)
    const dry = await cli(['--repair', 'rescue', '--settle', '0', '--dry-run', '--json'])
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.json().actions.map((a: any) => [a.step, a.key, a.status]).sort()).toEqual([
      ['batch/rescue', PRIVATE, 'planned'],
      ['batch/rescue', WORKING, 'planned'],
    ])
    expect(await snapshotKeyspace(db.redis)).toEqual(before)
  })

  it('--yes moves each stranded job back to its public queue; a re-run finds nothing; undo puts them back', async () => {
    const [s1, s2] = await seed()
    const before = await snapshotKeyspace(db.redis)
    const path = journal()
    const r = await cli(['--repair', 'rescue', '--yes', '--journal', path, '--settle', '0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.actions.map((a: any) => a.status)).toEqual(['applied', 'applied'])
    expect(doc.summary.repair).toEqual({step: 'rescue', planned: 2, applied: 2, skipped: 0})
    expect(doc.journal).toBe(path)
    expect(await db.redis.exists(PRIVATE, WORKING)).toBe(0)
    expect(await db.redis.lrange('queue:default', 0, 0)).toEqual([payloads.get(s1)])
    expect(await db.redis.lrange('queue:mailers', 0, -1)).toEqual([payloads.get(s2)])

    const again = (await cli(['--repair', 'rescue', '--yes', '--settle', '0', '--json'])).json()
    expect(again.summary.verdicts).toMatchObject({alive: 3, stranded: 0})
    expect(again.actions).toEqual([])

    await undo(path)
    await expectRestored(before)
  })
})

describe('--repair recreate', () => {
  async function seed(): Promise<{ghost: string; bid: string}> {
    const ghost = fakeJid(0xdead)
    const alive = jids[0]!
    await db.redis.lpush('queue:default', payloads.get(alive)!)
    await writeBatch(db.redis, {bid: 'Recreate_Batch', createdAt: HOUR_AGO, jids: [ghost, alive]})
    return {ghost, bid: 'Recreate_Batch'}
  }

  it('refuses without --job-class, with a bad class name, and with --settle 0 (exit 2)', async () => {
    await seed()
    expect((await cli(['--repair', 'recreate', '--yes'])).code).toBe(2)
    expect((await cli(['--repair', 'recreate', '--job-class', 'not a class', '--yes'])).code).toBe(2)
    const one = await cli(['--repair', 'recreate', '--job-class', 'QdoctorNoopJob', '--settle', '0', '--yes'])
    expect(one.code).toBe(2)
    expect(one.stderr).toMatch(/needs the settle pass/)
  })

  it('--yes pushes a Sidekiq payload with the ghost jid and bid and registers the queue; undo takes it back', async () => {
    const {ghost, bid} = await seed()
    const before = await snapshotKeyspace(db.redis)
    const path = journal()
    const r = await cli(['--ghosts', '--repair', 'recreate', '--job-class', 'QdoctorNoopJob', '--queue', 'noop', '--settle', '200ms', '--yes', '--journal', path, '--json'])
    expect(r.code, r.stderr).toBe(1) // the ghost finding (error) still describes what was found
    const doc = r.json()
    expect(doc.actions.map((a: any) => [a.step, a.key, a.status])).toEqual([['batch/recreate', 'queue:noop', 'applied']])
    const [raw] = await db.redis.lrange('queue:noop', 0, -1)
    expect(raw).toMatch(/"created_at":\d{10}\.\d{3},"enqueued_at":\d{10}\.\d{3}/)
    const job = JSON.parse(raw!)
    expect(job).toMatchObject({class: 'QdoctorNoopJob', queue: 'noop', jid: ghost, bid, retry: true, args: []})
    expect(Math.abs(job.enqueued_at - Date.now() / 1000)).toBeLessThan(60)
    expect(await db.redis.sismember('queues', 'noop')).toBe(1)
    // No heartbeat says which Sidekiq this is: float seconds, which every version reads as seconds.
    expect(doc.warnings.join('\n')).toMatch(/float-second timestamps/)

    await undo(path)
    // The job is gone again; the queue stays registered in `queues` (harmless: an empty queue).
    expect(await db.redis.exists('queue:noop')).toBe(0)
    expect(await db.redis.smembers('queues')).toEqual(['noop'])
    await expectRestored(before, ['queues'])
  })

  it('real Sidekiq 6.4.1 runs the recreated job', async () => {
    const {ghost} = await seed()
    const r = await cli(['--repair', 'recreate', '--job-class', 'QdoctorNoopJob', '--queue', 'noop', '--settle', '200ms', '--yes', '--no-journal', '--json'])
    expect(r.json().summary.repair).toMatchObject({applied: 1})
    const sk = await startSidekiq(db.url, {queues: ['noop'], beatSeconds: 0.5})
    try {
      await sk.waitFor(async (redis) => (await redis.sismember('qdoctor-test:noop-ran', ghost)) === 1, {what: 'QdoctorNoopJob to run'})
      expect(await db.redis.llen('queue:noop')).toBe(0)
      expect(await db.redis.zcard('retry')).toBe(0)
    } finally {
      await sk.stop()
    }
  })
})

describe('--repair forget', () => {
  it('removes the ghost jid and lowers pending, says loudly that callbacks will not fire; undo restores both', async () => {
    const ghost = fakeJid(0xf0)
    const alive = jids[1]!
    await db.redis.lpush('queue:default', payloads.get(alive)!)
    await writeBatch(db.redis, {bid: 'Forget-Batch-1', createdAt: HOUR_AGO, jids: [ghost, alive]})
    const before = await snapshotKeyspace(db.redis)
    const path = journal()
    const r = await cli(['--ghosts', '--repair', 'forget', '--settle', '200ms', '--yes', '--journal', path])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain('CALLBACKS WILL NOT FIRE')
    expect(r.stdout).toContain('CALLBACKS WILL NOT FIRE')
    expect(await db.redis.smembers('b-Forget-Batch-1-jids')).toEqual([alive])
    // Under --json as well: the warning is in the report and on stderr.
    const dry = await cli(['--repair', 'forget', '--settle', '200ms', '--dry-run', '--json'])
    expect(dry.stderr).toContain('CALLBACKS WILL NOT FIRE')
    expect(dry.json().warnings.join('\n')).toContain('CALLBACKS WILL NOT FIRE')
    expect(await db.redis.hget('b-Forget-Batch-1', 'pending')).toBe('1')

    await undo(path)
    await expectRestored(before)
  })
})

describe('--repair purge-orphans', () => {
  it('unlinks exactly the companion keys whose batch is gone; undo restores them', async () => {
    await writeBatch(db.redis, {bid: 'LiveBatch00001', createdAt: HOUR_AGO, jids: [fakeJid(1)], died: [fakeJid(1)]})
    await db.redis.sadd('b--orph-an--jids', fakeJid(2))
    await db.redis.expire('b--orph-an--jids', 86400)
    await db.redis.sadd('b--orph-an--died', fakeJid(2))
    await db.redis.set('b--orph-an--notify', '1')
    await db.redis.sadd('BID-gone1-callbacks-success', '{"callback":"X","opts":{}}')
    await db.redis.hset('b-WrongType001-jids', 'a', '1') // a -jids that is not a set: reported, never deleted
    const gone = ['b--orph-an--jids', 'b--orph-an--died', 'b--orph-an--notify', 'BID-gone1-callbacks-success']
    const before = await snapshotKeyspace(db.redis)
    const path = journal()
    const r = await cli(['--repair', 'purge-orphans', '--yes', '--journal', path, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.actions.map((a: any) => [a.key, a.status]).sort()).toEqual(gone.map((k) => [k, 'applied']).sort())
    expect(doc.warnings.join('\n')).toMatch(/b-WrongType001-jids is a hash.*not purged/)
    const after = await snapshotKeyspace(db.redis)
    const expected = new Map(before)
    for (const k of gone) expected.delete(k)
    expect(after).toEqual(expected)

    await undo(path)
    await expectRestored(before)
  })
})
