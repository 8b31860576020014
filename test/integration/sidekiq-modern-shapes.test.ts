// Sidekiq 7/8 data (no real 7/8 on these machines) and a redis-namespace layout (Sidekiq <= 6 with
// the redis-namespace gem, not installed here), written with plain Redis commands to the layout in
// docs/sidekiq-data-model.md §1.2, §2.1, §2.4, §2.5, §5 and §6.3.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Connection} from '../../src/lib/redis/connect.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {readProcesses} from '../../src/lib/sidekiq/processes.js'
import {readQueues} from '../../src/lib/sidekiq/queues.js'
import type {Finding} from '../../src/lib/report/types.js'
import {runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'

const keys = new SidekiqKeys()

function connect(url: string): Connection {
  return new Connection({url, timeoutMs: 5000, maxOps: 0})
}

let seq = 0
/** A 24-hex jid, unique within the run. */
function jid(): string {
  return (++seq).toString(16).padStart(24, 'a')
}

/** A Sidekiq 8 payload: created_at / enqueued_at in integer milliseconds. */
function job8(queue: string, enqueuedMs: number, extra: Record<string, unknown> = {}): {jid: string; json: string} {
  const id = jid()
  const json = JSON.stringify({retry: true, queue, class: 'HardJob', args: [1, 'x'], jid: id, created_at: enqueuedMs - 50, enqueued_at: enqueuedMs, ...extra})
  return {jid: id, json}
}

describe('Sidekiq 7/8 shapes', () => {
  let db: TestDb
  let conn: Connection
  let nowMs: number
  const corruptValue = '{"jid":"feedfacefeedfacefeedface","class":"HardJob", oops'
  const noJidValue = JSON.stringify({class: 'HardJob', queue: 'default', args: [], enqueued_at: 1_713_484_819_000})
  const IDENTITY_8 = 'web-1:4242:0123456789ab'
  const IDENTITY_7 = 'worker-2:77:abcdefabcdef'
  const STALE = 'gone-host:1:ffffffffffff'
  let oldestDefault: string
  let runningJob: {jid: string; json: string}
  let startedAt: number

  beforeAll(async () => {
    db = await testDb()
    conn = connect(db.url)
    const r = db.redis
    const [s, us] = await r.time()
    nowMs = Number(s) * 1000 + Math.floor(Number(us) / 1000)
    startedAt = nowMs / 1000 - 3600.25

    // Queues. `mailers` is registered without a list (an empty queue); `orphan` has a list but is
    // not registered; `critical` is paused (Pro writes `paused`, OSS 8 reads it).
    await r.sadd('queues', 'default', 'critical', 'mailers')
    await r.sadd('paused', 'critical')
    // queue:default, RPUSHed so index i holds the i-th value: index 4 (LINDEX -1) is the oldest.
    const oldest = job8('default', nowMs - 120_000)
    oldestDefault = oldest.jid
    await r.rpush('queue:default', job8('default', nowMs - 1_000).json, noJidValue, corruptValue, job8('default', nowMs - 60_000).json, oldest.json)
    await r.rpush('queue:critical', job8('critical', nowMs - 5_000).json)
    await r.rpush('queue:orphan', job8('orphan', nowMs - 30_000).json)
    // Pro super_fetch private queue of a process: `queue:sq|<identity>|<queue>`, not a public queue.
    await r.rpush('queue:sq|host:1:abc|default', job8('default', nowMs - 900_000).json, 'not json either')

    // A Sidekiq 8.1.7 process: concurrency as a hash field (8.1.2+), info.version, `:work` hash.
    await r.sadd('processes', IDENTITY_8, IDENTITY_7, STALE)
    await r.hset(IDENTITY_8, {
      info: JSON.stringify({
        hostname: 'web-1',
        started_at: startedAt,
        pid: 4242,
        tag: 'shop',
        queues: ['default', 'critical'],
        weights: [{default: 0, critical: 0}],
        labels: ['reliable'],
        identity: IDENTITY_8,
        version: '8.1.7',
        embedded: false,
        capsules: {default: {concurrency: 10, mode: 'random', weights: {default: 0, critical: 0}}},
      }),
      busy: '1',
      beat: String(nowMs / 1000 - 2.5),
      rtt_us: '312',
      quiet: 'false',
      rss: '123456',
      concurrency: '10',
    })
    await r.expire(IDENTITY_8, 60)
    runningJob = job8('default', nowMs - 40_000)
    // The payload is the job JSON as a string inside the entry's JSON (6.0.2 → 8.1.7).
    await r.hset(`${IDENTITY_8}:work`, 'c3x9', JSON.stringify({queue: 'default', payload: runningJob.json, run_at: Math.floor(nowMs / 1000) - 30}))
    await r.expire(`${IDENTITY_8}:work`, 60)

    // A 7.x process: concurrency inside info only, quiet, idle (7.2.3+ writes no :work key when idle).
    await r.hset(IDENTITY_7, {
      info: JSON.stringify({hostname: 'worker-2', started_at: startedAt, pid: 77, tag: 'shop', concurrency: 5, queues: ['default'], labels: [], identity: IDENTITY_7, version: '7.3.10'}),
      busy: '0',
      beat: String(nowMs / 1000 - 1),
      rtt_us: '99',
      quiet: 'true',
      rss: '2048',
    })
    await r.expire(IDENTITY_7, 60)
    // STALE: a member whose heartbeat hash expired.
  })
  afterAll(async () => {
    await conn?.quit()
    await db?.close()
  })

  it('readQueues: registered, unregistered, paused and private lists; latency from ms timestamps', async () => {
    const read = await readQueues(conn, keys, {scanCount: 1})
    expect(read.anomalies).toEqual([])
    expect(read.queues.map((q) => q.name)).toEqual(['critical', 'default', 'mailers', 'orphan'])
    const byName = Object.fromEntries(read.queues.map((q) => [q.name, q]))
    expect(byName.default).toMatchObject({size: 5, registered: true, listExists: true, paused: false})
    expect(byName.critical).toMatchObject({size: 1, registered: true, listExists: true, paused: true})
    expect(byName.mailers).toMatchObject({size: 0, registered: true, listExists: false, paused: false})
    expect(byName.mailers!.latencySeconds).toBeUndefined()
    expect(byName.orphan).toMatchObject({size: 1, registered: false, listExists: true})
    const oldest = byName.default!.oldest
    expect(oldest?.ok && oldest.job.jid).toBe(oldestDefault)
    expect(oldest?.ok && oldest.job.enqueuedAt).toBe((nowMs - 120_000) / 1000)
    // Integer milliseconds read as seconds: ~120 s, not 0 and not 1000× off.
    expect(byName.default!.latencySeconds!).toBeGreaterThanOrEqual(119.9)
    expect(byName.default!.latencySeconds!).toBeLessThan(130)
    expect(byName.critical!.latencySeconds!).toBeGreaterThanOrEqual(4.9)
    expect(byName.critical!.latencySeconds!).toBeLessThan(15)
    expect(byName.orphan!.latencySeconds!).toBeGreaterThanOrEqual(29.9)
    expect(byName.orphan!.latencySeconds!).toBeLessThan(40)
  })

  it('readProcesses: 8.1.7 heartbeat with concurrency as a field, :work JSON-in-JSON, 7.x info fallback, a stale member', async () => {
    const procs = await readProcesses(conn, keys)
    expect(procs.map((p) => p.identity)).toEqual([STALE, IDENTITY_8, IDENTITY_7].sort())
    const byId = Object.fromEntries(procs.map((p) => [p.identity, p]))

    const p8 = byId[IDENTITY_8]!
    expect(p8.problems).toEqual([])
    expect(p8).toMatchObject({
      alive: true,
      hostname: 'web-1',
      pid: 4242,
      tag: 'shop',
      version: '8.1.7',
      concurrency: 10,
      busy: 1,
      quiet: false,
      rssKb: 123456,
      rttUs: 312,
      queues: ['default', 'critical'],
      startedAt,
      workKey: `${IDENTITY_8}:work`,
    })
    expect(p8.beat).toBeCloseTo(nowMs / 1000 - 2.5, 3)
    expect(p8.ttlMs!).toBeGreaterThan(0)
    expect(p8.ttlMs!).toBeLessThanOrEqual(60_000)
    expect(p8.work).toHaveLength(1)
    const w = p8.work[0]!
    expect(w).toMatchObject({tid: 'c3x9', queue: 'default', runAt: Math.floor(nowMs / 1000) - 30})
    expect(w.corrupt).toBeUndefined()
    expect(w.payload.ok).toBe(true)
    if (w.payload.ok) {
      expect(w.payload.job.jid).toBe(runningJob.jid)
      expect(w.payload.job.enqueuedAt).toBe((nowMs - 40_000) / 1000)
      expect(w.payload.job.createdAt).toBe((nowMs - 40_050) / 1000)
    }

    const p7 = byId[IDENTITY_7]!
    expect(p7).toMatchObject({alive: true, hostname: 'worker-2', pid: 77, version: '7.3.10', concurrency: 5, busy: 0, quiet: true, work: [], problems: []})
    expect(p7.workKey).toBeUndefined()

    expect(byId[STALE]).toMatchObject({identity: STALE, alive: false, work: [], problems: []})
    expect(byId[STALE]!.hostname).toBeUndefined()
  })

  it('qdoctor queues --deep --json: corrupt payloads at their exact key and index, unregistered, paused, ms latency', async () => {
    const r = await runCli(['queues', '--deep', '--json', '--page-size', '2', '--latency-warn', '1m', '--url', db.url])
    // queue/corrupt-payload is an error: exit 1 under the default --fail-on error.
    expect(r.code, r.stderr).toBe(1)
    const report = r.json()
    expect(report.complete).toBe(true)
    const findings = report.findings as Finding[]
    const corrupt = findings.filter((f) => f.check === 'queue/corrupt-payload').sort((a, b) => (b.subject!.index as number) - (a.subject!.index as number))
    expect(corrupt.map((f) => f.subject)).toEqual([
      {key: 'queue:default', queue: 'default', index: 2},
      {key: 'queue:default', queue: 'default', index: 1},
    ])
    expect(corrupt.map((f) => f.severity)).toEqual(['error', 'error'])
    expect(String(corrupt[0]!.evidence?.reason)).toMatch(/not JSON/)
    expect(corrupt[1]!.evidence?.reason).toBe('no "jid" string')
    // The index is one a person can use: LINDEX returns exactly the bad value.
    expect(await db.redis.lindex('queue:default', corrupt[0]!.subject!.index as number)).toBe(corruptValue)
    expect(await db.redis.lindex('queue:default', corrupt[1]!.subject!.index as number)).toBe(noJidValue)

    const byCheck = (check: string) => findings.filter((f) => f.check === check).map((f) => f.subject)
    expect(byCheck('queue/unregistered')).toEqual([{queue: 'orphan', key: 'queue:orphan'}])
    expect(byCheck('queue/paused')).toEqual([{queue: 'critical'}])
    const latency = findings.filter((f) => f.check === 'queue/latency')
    expect(latency.map((f) => [f.subject?.queue, f.severity])).toEqual([['default', 'warn']])
    expect(latency[0]!.evidence?.oldestJid).toBe(oldestDefault)
    expect(latency[0]!.evidence?.latencySeconds as number).toBeGreaterThanOrEqual(119.9)
    expect(latency[0]!.evidence?.latencySeconds as number).toBeLessThan(130)
    // Nothing about the super_fetch private list.
    expect(JSON.stringify(report)).not.toContain('sq|')
    expect(findings.map((f) => f.check).sort()).toEqual([
      'queue/corrupt-payload',
      'queue/corrupt-payload',
      'queue/latency',
      'queue/paused',
      'queue/unregistered',
    ])

    const s = report.summary
    expect(s.queues.map((q: {name: string; size: number; registered: boolean; paused: boolean; corrupt?: number}) => [q.name, q.size, q.registered, q.paused, q.corrupt])).toEqual([
      ['critical', 1, true, true, 0],
      ['default', 5, true, false, 2],
      ['mailers', 0, true, false, undefined],
      ['orphan', 1, false, false, 0],
    ])
    expect(s.totalJobs).toBe(7)
    expect(s.jobsParsed).toBe(7)
    expect(s.corruptJobs).toBe(2)
    expect(s.queues.find((q: {name: string}) => q.name === 'default').latencySeconds).toBeGreaterThanOrEqual(119.9)
    expect(s.queues.find((q: {name: string}) => q.name === 'mailers').latencySeconds).toBeNull()
  })
})

describe('redis-namespace layout (Sidekiq <= 6)', () => {
  let db: TestDb
  let pushedAt: number

  beforeAll(async () => {
    db = await testDb()
    const r = db.redis
    pushedAt = Date.now() / 1000 - 10
    // Key names carry the prefix; members of `queues` stay bare (ns:lib/redis/namespace.rb).
    await r.sadd('myns:queues', 'default', 'mailers')
    const job = (queue: string, n: number) =>
      JSON.stringify({retry: true, queue, class: 'HardJob', args: [n], jid: jid(), created_at: pushedAt, enqueued_at: pushedAt + n / 1000})
    await r.lpush('myns:queue:default', job('default', 1), job('default', 2))
    await r.lpush('myns:queue:mailers', job('mailers', 3))
    // A namespaced list whose bare name is not in `myns:queues`: found only by SCAN + prefix stripping.
    await r.lpush('myns:queue:lost', job('lost', 4))
    await r.sadd('myns:processes', 'web-1:4242:0123456789ab')
  })
  afterAll(async () => {
    await db?.close()
  })

  it('readQueues with the namespace reads <ns>:queue:* from bare `queues` members', async () => {
    const conn = connect(db.url)
    try {
      const read = await readQueues(conn, new SidekiqKeys('myns'), {scanCount: 1})
      expect(read.queues.map((q) => [q.name, q.key, q.size, q.registered])).toEqual([
        ['default', 'myns:queue:default', 2, true],
        ['lost', 'myns:queue:lost', 1, false],
        ['mailers', 'myns:queue:mailers', 1, true],
      ])
      expect(read.queues[0]!.latencySeconds!).toBeGreaterThanOrEqual(9)
      expect((await readQueues(conn, keys)).queues).toEqual([])
    } finally {
      await conn.quit()
    }
  })

  it('qdoctor queues --namespace myns finds the queues', async () => {
    const r = await runCli(['queues', '--namespace', 'myns', '--json', '--url', db.url])
    expect(r.code, r.stderr).toBe(0)
    const report = r.json()
    expect((report.findings as Finding[]).map((f) => [f.check, f.subject])).toEqual([['queue/unregistered', {queue: 'lost', key: 'myns:queue:lost'}]])
    expect(report.summary.namespacesDetected).toBeUndefined()
    expect(report.summary.totalJobs).toBe(4)
    expect(report.summary.queues.map((q: {name: string; size: number; registered: boolean}) => [q.name, q.size, q.registered])).toEqual([
      ['default', 2, true],
      ['lost', 1, false],
      ['mailers', 1, true],
    ])
  })

  it('without --namespace the report is empty and names the namespace it found', async () => {
    const r = await runCli(['queues', '--json', '--url', db.url])
    expect(r.code, r.stderr).toBe(0) // a warning: below the default --fail-on error
    const report = r.json()
    expect(report.summary).toMatchObject({queues: [], totalJobs: 0, namespacesDetected: ['myns']})
    const found = (report.findings as Finding[]).filter((f) => f.check === 'sidekiq/namespace-detected')
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({severity: 'warn', subject: {namespaces: ['myns']}})
    expect(found[0]!.message).toContain('myns')
    expect(found[0]!.fix).toContain('--namespace myns')
    expect((await runCli(['queues', '--json', '--fail-on', 'warn', '--url', db.url])).code).toBe(1)
  })
})
