// The processes family run the two ways qdoctor runs it, on the same data: through the shared
// keyspace pass (doctor, no SCAN of its own) and through its own SCAN (qdoctor processes). Heartbeats
// hand-built to the layouts of Sidekiq 6–8 (sidekiq-data-model.md §5): a stuck job, a late beat, a
// quiet process with nothing to do, mixed versions, a stale member with a leftover, an unreadable
// heartbeat, super_fetch and GitLab working lists with live and gone owners; redis-namespace'd data.
import {describe, expect, it} from 'vitest'

import {processesFamily} from '../../src/lib/checks/families/processes.js'
import {queuesFamily} from '../../src/lib/checks/families/queues.js'
import {batchesFamily} from '../../src/lib/checks/families/batches.js'
import type {ProcessesSummary} from '../../src/lib/checks/processes.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {bothWays, patternsOf, stable} from '../helpers/families.js'

const t = useTestDb()
const STUCK = 'worker-1:100:aaaaaaaaaaaa' // 7.3.9, a job running for two hours
const NEWER = 'worker-2:200:bbbbbbbbbbbb' // 8.0.1: the version mix
const QUIET = 'worker-3:300:cccccccccccc' // quiet, idle, still there
const LATE = 'worker-4:400:dddddddddddd' // its hash expires in 20 s: last beat 40 s ago
const GONE = 'worker-5:500:eeeeeeeeeeee' // a member without a heartbeat hash, its work left behind
const GARBLED = 'worker-6:600:ffffffffffff' // info is not JSON
const GITLAB_GONE = 'worker-7:700:0a0a0a'
const GITLAB_LIVE = 'worker-8:800:0b0b0b'

const job = (n: number, queue = 'default') => JSON.stringify({class: 'HardJob', queue, args: [n], jid: n.toString(16).padStart(24, '0'), created_at: 1_700_000_000.5})

async function seed(ns?: string): Promise<void> {
  const r = t.db.redis
  const k = (name: string) => (ns ? `${ns}:${name}` : name)
  const [secs] = await r.time()
  const now = Number(secs)
  const beat = async (identity: string, fields: Record<string, string>, ttl = 60) => {
    await r.sadd(k('processes'), identity)
    await r.hset(k(identity), {beat: String(now), busy: '0', concurrency: '5', rss: '204800', rtt_us: '900', quiet: 'false', ...fields})
    await r.expire(k(identity), ttl)
  }
  const info = (identity: string, version: string) => JSON.stringify({hostname: identity.split(':')[0], pid: Number(identity.split(':')[1]), tag: 'app', version, started_at: now - 86400, queues: ['default']})
  await beat(STUCK, {info: info(STUCK, '7.3.9'), busy: '1'})
  await r.hset(k(`${STUCK}:work`), 'tid-1', JSON.stringify({queue: 'default', payload: job(1), run_at: now - 7200}))
  await beat(NEWER, {info: info(NEWER, '8.0.1')})
  await beat(QUIET, {info: info(QUIET, '7.3.9'), quiet: 'true'})
  await beat(LATE, {info: info(LATE, '7.3.9'), beat: String(now - 40)}, 20)
  await beat(GARBLED, {info: 'not json {'})
  await r.sadd(k('processes'), GONE)
  await r.hset(k(`${GONE}:work`), 'tid-9', JSON.stringify({queue: 'critical', payload: job(9, 'critical'), run_at: now - 120}))
  // Fetch lists: super_fetch of a live and a gone owner, GitLab of a gone and a live owner.
  await r.rpush(k(`queue:sq|${GONE}|critical`), job(2, 'critical'), job(3, 'critical'))
  await r.rpush(k(`queue:sq|${STUCK}|default`), job(4))
  await r.rpush(k(`working:queue:mailers:${GITLAB_GONE}`), job(5, 'mailers'))
  await r.rpush(k(`working:queue:mailers:${GITLAB_LIVE}`), job(6, 'mailers'))
  await r.set(k(`reliable-fetcher-heartbeat-${GITLAB_LIVE.replace(/:/g, '-')}`), '1', 'EX', 600)
  // Lookalikes that are not fetch lists: a public queue and a string named like a private queue.
  await r.rpush(k('queue:default'), job(7))
  await r.set(k(`queue:sq|${GONE}|strings`), 'not a list')
}

/** What does not move with the clock. */
function steady(s: ProcessesSummary) {
  return {
    ...s,
    processes: s.processes.map(({identity, stale, late, version, busy, concurrency, workEntries}) => ({identity, stale, late, version, busy, concurrency, workEntries})),
    stuckJobs: s.stuckJobs.map(({jid, identity, queue}) => ({jid, identity, queue})),
  }
}

/** Run it both ways, with the queues and batches patterns in the shared pass as doctor would. */
function both(keys: SidekiqKeys, settings = processesFamily.settings.parse({})) {
  return bothWays(t.db, t.conn(), keys, processesFamily, settings, patternsOf(keys, [queuesFamily, batchesFamily]))
}

const EXPECTED = [
  'process/heartbeat-late:warn',
  'process/orphaned-private-queue:error',
  'process/orphaned-private-queue:error',
  'process/stale-heartbeat:warn',
  'process/stuck-job:warn',
  'process/stuck-quiet:warn',
  'process/version-mix:warn',
]

describe('the processes family: shared keyspace pass and own SCAN', () => {
  it('finds the same stale, late, quiet, stuck and orphaned things both ways, without scanning in the shared run', async () => {
    await seed()
    const {shared, own} = await both(new SidekiqKeys())
    expect(shared.scans).toBe(0)
    expect(own.scans).toBeGreaterThan(0)
    expect(stable(shared.findings)).toEqual(stable(own.findings))
    expect(steady(shared.summary)).toEqual(steady(own.summary))
    expect(shared.warnings).toEqual(own.warnings)

    expect(shared.findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(EXPECTED)
    const orphans = shared.findings.filter((f) => f.check === 'process/orphaned-private-queue')
    expect(orphans.map((f) => [f.subject, (f.evidence as {jobs: number}).jobs])).toEqual([
      [{key: `queue:sq|${GONE}|critical`, identity: GONE}, 2],
      [{key: `working:queue:mailers:${GITLAB_GONE}`, identity: GITLAB_GONE}, 1],
    ])
    expect(shared.summary.privateQueues.map((q) => [q.key, q.ownerAlive])).toEqual([
      [`queue:sq|${STUCK}|default`, true],
      [`queue:sq|${GONE}|critical`, false],
      [`working:queue:mailers:${GITLAB_GONE}`, false],
      [`working:queue:mailers:${GITLAB_LIVE}`, true],
    ])
    expect(shared.findings.find((f) => f.check === 'process/stale-heartbeat')).toMatchObject({subject: {identity: GONE}, evidence: {lostJobs: [{jid: (9).toString(16).padStart(24, '0'), queue: 'critical'}]}})
    expect(shared.findings.find((f) => f.check === 'process/stuck-job')!.subject).toEqual({jid: (1).toString(16).padStart(24, '0'), identity: STUCK})
    expect(shared.findings.find((f) => f.check === 'process/heartbeat-late')!.subject).toEqual({identity: LATE})
    expect(shared.findings.find((f) => f.check === 'process/stuck-quiet')!.subject).toEqual({identity: QUIET})
    expect(shared.warnings).toEqual([`${GARBLED}: heartbeat "info" is not JSON`])
    expect(shared.summary).toMatchObject({total: 6, alive: 5, stale: 1, versions: ['7.3.9', '8.0.1']})
    const declared = new Set(processesFamily.checks.map((c) => c.id))
    expect(shared.findings.every((f) => declared.has(f.check))).toBe(true)

    const figure = (name: string) => processesFamily.figures(shared.summary).find((f) => f.name === name)?.value
    expect(figure('processes_stale')).toBe(1)
    expect(figure('stuck_jobs')).toBe(1)
    expect(figure('orphaned_private_queue_jobs')).toBe(3)
  })

  it('is the code `qdoctor processes` runs: the same findings and summary', async () => {
    await seed()
    const {shared} = await both(new SidekiqKeys())
    const r = await runCli(['processes', '--json', '--url', t.db.url])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    expect(stable(doc.findings)).toEqual(stable(shared.findings))
    expect(steady(doc.summary)).toEqual(steady(shared.summary))
    expect(doc.warnings).toEqual(shared.warnings)
  })

  it('stuck-after is honoured; under a namespace only <ns>: keys count, the same both ways', async () => {
    await seed('myapp')
    await t.db.redis.rpush(`queue:sq|${GONE}|bare`, job(8)) // a bare lookalike of a gone owner
    const keys = new SidekiqKeys('myapp')
    const {shared, own} = await both(keys, processesFamily.settings.parse({'stuck-after': '3h'}))
    expect(shared.scans).toBe(0)
    expect(stable(shared.findings)).toEqual(stable(own.findings))
    expect(shared.findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(EXPECTED.filter((c) => c !== 'process/stuck-job:warn'))
    expect(shared.summary.privateQueues.every((q) => q.key.startsWith('myapp:'))).toBe(true)
  })

  it('with no processes at the top level, says where namespaced ones are (both ways)', async () => {
    await seed('myapp')
    const {shared, own} = await both(new SidekiqKeys())
    expect(shared.scans).toBe(0)
    expect(shared.warnings).toEqual(['No processes at the top level, but namespaced Sidekiq data exists under: myapp. Re-run with --namespace myapp.'])
    expect(own.warnings).toEqual(shared.warnings)
    expect(shared.findings).toEqual([])
  })

  it('settings are parsed like the flags', () => {
    expect(processesFamily.settings.parse({})).toEqual({'stuck-after': 3_600_000})
    expect(processesFamily.settings.parse({'stuck-after': '30m'})).toEqual({'stuck-after': 1_800_000})
    expect(processesFamily.settings.safeParse({'stuck-after': 30}).success).toBe(false)
    expect(processesFamily.settings.safeParse({prune: true}).success).toBe(false)
  })
})
