// `qdoctor batches --ghosts` against genuine Sidekiq 6.4.1 data: jobs pushed by Sidekiq::Client with a
// `bid`, retried, killed and run by a real `sidekiq` process; batch keys, super_fetch private queues
// and GitLab working lists hand-built to the documented layouts (Pro and the GitLab fetcher are not
// installed). Every verdict, the nested-jid decoy, a corrupt member, both layouts and awkward bids.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {judgeJid, type Verdict} from '../../src/lib/checks/batches.js'
import {Connection} from '../../src/lib/redis/connect.js'
import {ownScan} from '../../src/lib/redis/keyspace-index.js'
import {type BatchRecord, readBatchIndexes, scanBatches} from '../../src/lib/sidekiq/batches.js'
import {huntGhosts} from '../../src/lib/sidekiq/ghost-hunt.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {AWKWARD, fakeJid, pushJobs, writeBatch} from '../helpers/batches.js'
import {runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'
import {requireSidekiq, type SidekiqProcess, startSidekiq} from '../helpers/sidekiq.js'

const sidekiq = requireSidekiq()
const keys = new SidekiqKeys()
const HOUR_AGO = Date.now() / 1000 - 3600
const {pro: B1, sidekiqBatch: B2, young: B3, companionLike: B4, deadHost: DEAD_HOST, deadGitlab: DEAD_GITLAB, liveHost: LIVE_GITLAB} = AWKWARD

let db: TestDb
let sk: SidekiqProcess
const jid: Record<string, string> = {}
const expected: Record<string, Verdict> = {}

/** Push one job to a scratch queue and move its genuine payload into `list` (as a fetcher would). */
async function fetchedInto(list: string, bid: string): Promise<string> {
  const [id] = await pushJobs(db.url, [{class: 'OkJob', queue: 'scratch', bid, args: ['fetched']}])
  await db.redis.lmove('queue:scratch', list, 'RIGHT', 'LEFT')
  return id!
}

beforeAll(async () => {
  db = await testDb()
  const pushed = await pushJobs(db.url, [
    {class: 'OkJob', queue: 'parked', bid: B1, args: ['queued']},
    {class: 'OkJob', queue: 'parked', bid: B1, args: ['scheduled'], in: 3600},
    {class: 'RetryJob', queue: 'live', bid: B1, args: ['r']},
    {class: 'DieJob', queue: 'live', bid: B1, args: ['d']},
    {class: 'SlowJob', queue: 'live', bid: B1, args: [120]},
    {class: 'OkJob', queue: 'parked', bid: B2, args: ['queued']},
    {class: 'OkJob', queue: 'parked', bid: B4, args: ['queued']},
  ])
  for (const [i, name] of ['queued', 'scheduled', 'retrying', 'dead', 'running', 'queued2', 'queued4'].entries()) jid[name] = pushed[i]!
  jid.ghost = fakeJid(0xa1)
  jid.ghost2 = fakeJid(0xa2)
  jid.ghost3 = fakeJid(0xa3)
  jid.diedOnly = fakeJid(0xa4)
  // The decoy is alive itself and carries the ghost's jid nested in its arguments.
  jid.decoy = (await pushJobs(db.url, [{class: 'OkJob', queue: 'parked', bid: B1, args: [{jid: jid.ghost, note: 'nested'}, jid.ghost]}]))[0]!
  jid.strandedPrivate = await fetchedInto(`queue:sq|${DEAD_HOST}|parked`, B1)
  jid.strandedWorking = await fetchedInto(`working:queue:parked:${DEAD_GITLAB}`, B1)
  jid.fetchedWorking = await fetchedInto(`working:queue:parked:${LIVE_GITLAB}`, B1)
  await db.redis.set(`reliable-fetcher-heartbeat-${LIVE_GITLAB.replace(/:/g, '-')}`, '1', 'EX', 600)
  const [interruptedJid] = await pushJobs(db.url, [{class: 'OkJob', queue: 'scratch', bid: B1, args: ['interrupted']}])
  jid.interrupted = interruptedJid!
  const raw = (await db.redis.rpop('queue:scratch'))!
  await db.redis.zadd('interrupted', String(Date.now() / 1000), raw)
  await db.redis.lpush('queue:parked', 'not json {')

  sk = await startSidekiq(db.url, {queues: ['live'], concurrency: 3, beatSeconds: 0.5})
  jid.fetchedPrivate = await fetchedInto(`queue:sq|${sk.identity}|parked`, B1)
  await sk.waitFor(async (r) => (await r.zcard('retry')) === 1 && (await r.zcard('dead')) === 1 && (await r.hlen(`${sk.identity}${sidekiq.workSuffix}`)) === 1, {
    what: 'the retry, the death and the running job',
  })

  await writeBatch(db.redis, {
    bid: B1,
    createdAt: HOUR_AGO,
    jids: [jid.queued, jid.scheduled, jid.retrying, jid.dead, jid.running, jid.decoy, jid.ghost, jid.strandedPrivate, jid.strandedWorking, jid.fetchedWorking, jid.fetchedPrivate, jid.interrupted, jid.diedOnly].map(String),
    died: [jid.dead!, jid.diedOnly!],
  })
  await writeBatch(db.redis, {bid: B2, layout: 'sidekiq-batch', createdAt: HOUR_AGO, jids: [jid.queued2!, jid.ghost2!], failed: [jid.ghost2!]})
  await writeBatch(db.redis, {bid: B3, createdAt: Date.now() / 1000, jids: [jid.ghost3!]})
  await writeBatch(db.redis, {bid: B4, createdAt: HOUR_AGO, jids: [jid.queued4!]})
  Object.assign(expected, {
    queued: 'alive',
    scheduled: 'alive',
    running: 'alive',
    decoy: 'alive',
    fetchedPrivate: 'alive',
    fetchedWorking: 'alive',
    queued2: 'alive',
    queued4: 'alive',
    retrying: 'waiting-on-retry',
    dead: 'dead',
    interrupted: 'dead',
    diedOnly: 'dead',
    strandedPrivate: 'stranded',
    strandedWorking: 'stranded',
    ghost: 'ghost',
    ghost2: 'ghost',
  })
}, 60_000)

afterAll(async () => {
  await sk?.stop()
  await db?.close()
})

async function inventory(conn: Connection): Promise<BatchRecord[]> {
  const indexes = await readBatchIndexes(conn, keys)
  const out: BatchRecord[] = []
  for await (const items of scanBatches(conn, keys, indexes, {source: ownScan(conn), scanCount: 3})) for (const item of items) if (item.kind === 'batch') out.push(item.batch)
  return out
}

describe(`batches --ghosts on Sidekiq ${sidekiq.version} data`, () => {
  it('recognises both layouts by type and fields, whatever the bid looks like', async () => {
    const conn = new Connection({url: db.url, timeoutMs: 5000, maxOps: 0})
    try {
      const batches = await inventory(conn)
      expect(batches.map((b) => `${b.layout}:${b.bid}`).sort()).toEqual([`pro:${B1}`, `pro:${B3}`, `pro:${B4}`, `sidekiq-batch:${B2}`].sort())
      const b4 = batches.find((b) => b.bid === B4)!
      expect(b4.jids).toMatchObject({key: `b-${B4}-jids`, type: 'set', size: 1})
      const b2 = batches.find((b) => b.bid === B2)!
      expect(b2).toMatchObject({key: `BID-${B2}`, pending: 2, total: 2, jids: {key: `BID-${B2}-jids`, size: 2}})
      expect(b2.createdAt).toBeCloseTo(HOUR_AGO, 2)
    } finally {
      await conn.quit()
    }
  })

  it('gives every pending jid its verdict, with the key it was found in (lib)', async () => {
    const conn = new Connection({url: db.url, timeoutMs: 5000, maxOps: 0})
    try {
      const judged = (await inventory(conn)).filter((b) => b.bid !== B3)
      const result = await huntGhosts(conn, keys, judged, {settleMs: 300, source: ownScan(conn)})
      const verdicts = Object.fromEntries(result.observations.map((o) => [o.jid, judgeJid(o).verdict]))
      const byName = Object.fromEntries(Object.entries(expected).map(([name]) => [name, verdicts[jid[name]!]]))
      expect(byName).toEqual(expected)
      const where = (name: string) => {
        const o = result.observations.find((x) => x.jid === jid[name])!
        return (o.second ?? o.first).map((s) => s.container.key)
      }
      expect(where('running')).toEqual([`${sk.identity}${sidekiq.workSuffix}`])
      expect(where('strandedPrivate')).toEqual([`queue:sq|${DEAD_HOST}|parked`])
      expect(where('fetchedPrivate')).toEqual([`queue:sq|${sk.identity}|parked`])
      expect(where('decoy')).toEqual(['queue:parked'])
      // The decoy's nested jid never counts: the ghost was looked for twice and found nowhere.
      const ghost = result.observations.find((o) => o.jid === jid.ghost)!
      expect(ghost.first).toEqual([])
      expect(ghost.second).toEqual([])
      expect(ghost.batchChanged).toBe(false)
      expect(result.observations.find((o) => o.jid === jid.ghost2)!.failedBefore).toBe(true)
      expect(result.observations.find((o) => o.jid === jid.diedOnly)!.inDied).toBe(true)
      expect(result.first.corrupt).toEqual([{key: 'queue:parked', kind: 'queue', count: 1, examples: [{reason: expect.stringMatching(/not JSON/), preview: 'not json {'}]}])
      // Genuine 6.4.1 payloads carry float-second created_at.
      expect(result.first.timestampUnits.seconds).toBeGreaterThan(0)
      expect(result.first.timestampUnits.milliseconds).toBe(0)
    } finally {
      await conn.quit()
    }
  })

  it('qdoctor batches --ghosts --json: verdict counts, ghost and stranded findings with evidence, exit 1', async () => {
    const r = await runCli(['batches', '--ghosts', '--json', '--settle', '300ms', '--url', db.url])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    expect(doc).toMatchObject({command: 'batches', complete: true})
    const s = doc.summary
    expect(s.batches).toBe(4)
    expect(s.layouts).toEqual({pro: 3, 'sidekiq-batch': 1})
    expect(s.verdicts).toEqual({alive: 8, 'waiting-on-retry': 1, dead: 3, stranded: 2, ghost: 2, unconfirmed: 0})
    expect(s.pendingJids).toBe(16)
    expect(s.judgedBatches).toBe(3)
    expect(s.tooYoung).toBe(1)
    expect(s.passes).toBe(2)
    expect(s.sidekiq).toEqual({major: 6, source: 'workers-key', versions: []})
    const ghosts = doc.findings.filter((f: any) => f.check === 'batch/ghost-job')
    expect(ghosts.map((f: any) => [f.severity, f.subject.bid, f.subject.jid]).sort()).toEqual(
      [
        ['error', B1, jid.ghost],
        ['error', B2, jid.ghost2],
      ].sort(),
    )
    expect(ghosts.find((f: any) => f.subject.jid === jid.ghost2).evidence.failedBefore).toBe(true)
    const stranded = doc.findings.filter((f: any) => f.check === 'batch/stranded-job')
    expect(stranded.map((f: any) => [f.severity, f.subject.jid, f.evidence.key]).sort()).toEqual(
      [
        ['warn', jid.strandedPrivate, `queue:sq|${DEAD_HOST}|parked`],
        ['warn', jid.strandedWorking, `working:queue:parked:${DEAD_GITLAB}`],
      ].sort(),
    )
    const dead = doc.findings.filter((f: any) => f.check === 'batch/dead')
    expect(dead).toHaveLength(1)
    expect(dead[0].subject.bid).toBe(B1)
    expect(dead[0].evidence.deadJids.sort()).toEqual([jid.dead, jid.interrupted, jid.diedOnly].sort())
    expect(doc.findings.filter((f: any) => f.check === 'batch/corrupt-member').map((f: any) => [f.subject.key, f.evidence.count])).toEqual([['queue:parked', 1]])
    // The young batch is left alone, and B4 (a bid ending in -jids) is not mistaken for a companion.
    expect(doc.findings.some((f: any) => f.subject?.bid === B3)).toBe(false)
    expect(doc.findings.some((f: any) => f.check === 'batch/orphan-keys')).toBe(false)
  })

  it('--bid narrows the search to one batch; the human table names the ghost', async () => {
    const r = await runCli(['batches', '--ghosts', '--bid', B2, '--settle', '200ms', '--url', db.url])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toContain(`Job ${jid.ghost2} of batch ${B2} is pending but exists nowhere`)
    expect(r.stdout).not.toContain(jid.ghost)
    const doc = (await runCli(['batches', '--ghosts', '--bid', B2, '--settle', '200ms', '--url', db.url, '--json'])).json()
    expect(doc.summary.verdicts).toMatchObject({alive: 1, ghost: 1})
    expect(doc.summary.batches).toBe(1)
  })
})
