// The batches family run the two ways qdoctor runs it, on the same data: through the shared keyspace
// pass (doctor, no SCAN of its own) and through its own SCAN (qdoctor batches --ghosts). Genuine
// Sidekiq 6.4.1 payloads placed in every container a job can be in, hand-built batch keys of both
// layouts with awkward bids, the inventory's adversarial shapes, a nested-jid decoy, a corrupt member,
// an unregistered queue, and a redis-namespace'd copy next to bare lookalikes.
import {describe, expect, it} from 'vitest'

import {batchesFamily} from '../../src/lib/checks/families/batches.js'
import {failinfoFamily} from '../../src/lib/checks/families/failinfo.js'
import {processesFamily} from '../../src/lib/checks/families/processes.js'
import {queuesFamily} from '../../src/lib/checks/families/queues.js'
import {selectChecks} from '../../src/lib/checks/families/registry.js'
import {runTarget} from '../../src/lib/doctor/run.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {AWKWARD, fakeJid, pushJobs, writeBatch} from '../helpers/batches.js'
import {runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {bothWays, countScans, patternsOf, stable} from '../helpers/families.js'

const t = useTestDb()
const HOUR_AGO = Date.now() / 1000 - 3600
const {pro: B1, sidekiqBatch: B2, young: B3, companionLike: B4, deadHost: DEAD_HOST, deadGitlab: DEAD_GITLAB, liveHost: LIVE} = AWKWARD
const SETTLE = batchesFamily.settings.parse({settle: '200ms'})

/** Genuine payloads by name, pushed once (Sidekiq::Client is slow to start). */
let raw: Record<string, string> | undefined
const jid: Record<string, string> = {}

async function payloads(): Promise<Record<string, string>> {
  if (raw) return raw
  const names = ['queued', 'scheduled', 'retrying', 'dead', 'strandedPrivate', 'strandedWorking', 'fetchedPrivate', 'running', 'queued2', 'queued4', 'decoy']
  jid.ghost = fakeJid(0xa1)
  jid.ghost2 = fakeJid(0xa2)
  jid.ghost3 = fakeJid(0xa3)
  jid.staleGhost = fakeJid(0xa4)
  const pushed = await pushJobs(t.db.url, [
    ...names.slice(0, 10).map((name) => ({class: 'OkJob', queue: 'scratch', bid: name === 'queued2' ? B2 : name === 'queued4' ? B4 : B1, args: [name]})),
    // The decoy is alive itself and carries the ghost's jid nested in its arguments.
    {class: 'OkJob', queue: 'scratch', bid: B1, args: [{jid: jid.ghost, note: 'nested'}, jid.ghost]},
  ])
  names.forEach((name, i) => (jid[name] = pushed[i]!))
  const byJid = new Map((await t.db.redis.lrange('queue:scratch', 0, -1)).map((r) => [JSON.parse(r).jid as string, r]))
  raw = Object.fromEntries(names.map((name) => [name, byJid.get(jid[name]!)!]))
  return raw
}

/** Every verdict, every inventory finding, under `ns` (or bare). */
async function seed(ns?: string): Promise<void> {
  const p = await payloads()
  const r = t.db.redis
  const k = (name: string) => (ns ? `${ns}:${name}` : name)
  await r.del('queue:scratch', 'queues')
  await r.lpush(k('queue:parked'), p.queued!, p.decoy!, 'not json {')
  await r.lpush(k('queue:unlisted'), p.queued2!, p.queued4!) // a queue list missing from `queues`
  await r.sadd(k('queues'), 'parked')
  await r.zadd(k('schedule'), String(Date.now() / 1000 + 3600), p.scheduled!)
  await r.zadd(k('retry'), String(Date.now() / 1000 + 3600), p.retrying!)
  await r.zadd(k('dead'), String(Date.now() / 1000), p.dead!)
  await r.rpush(k(`queue:sq|${DEAD_HOST}|parked`), p.strandedPrivate!)
  await r.rpush(k(`working:queue:parked:${DEAD_GITLAB}`), p.strandedWorking!)
  await r.rpush(k(`queue:sq|${LIVE}|parked`), p.fetchedPrivate!)
  await r.sadd(k('processes'), LIVE)
  await r.hset(k(LIVE), 'info', JSON.stringify({hostname: 'livehost', pid: 333}), 'beat', String(Date.now() / 1000), 'busy', '1')
  await r.expire(k(LIVE), 600)
  await r.hset(k(`${LIVE}:work`), 'tid1', JSON.stringify({queue: 'parked', payload: p.running, run_at: Math.floor(Date.now() / 1000)}))

  const batch = {namespace: ns, createdAt: HOUR_AGO}
  await writeBatch(r, {...batch, bid: B1, jids: ['queued', 'scheduled', 'retrying', 'dead', 'decoy', 'ghost', 'strandedPrivate', 'strandedWorking', 'fetchedPrivate', 'running'].map((n) => jid[n]!), died: [jid.dead!]})
  await writeBatch(r, {...batch, bid: B2, layout: 'sidekiq-batch', jids: [jid.queued2!, jid.ghost2!], failed: [jid.ghost2!]})
  await writeBatch(r, {...batch, bid: B3, createdAt: Date.now() / 1000, jids: [jid.ghost3!]})
  await writeBatch(r, {...batch, bid: B4, jids: [jid.queued4!]})
  // The inventory's shapes: stale (Pro 8 ms timestamps), negative, drifting, a fragment, orphans, junk.
  await writeBatch(r, {...batch, bid: 'Pro8Millis0001', createdAt: String((Math.floor(Date.now() / 1000) - 3 * 86400) * 1000), jids: [jid.staleGhost!]})
  await writeBatch(r, {...batch, bid: 'Negative000001', jids: [], pending: -1})
  await writeBatch(r, {...batch, bid: 'DriftEmpty0001', jids: [], pending: 2})
  await r.hset(k('b-Fragment00001'), 'pending', '0', 'kids', '0')
  await r.sadd(k('b-GoneBatch0001-jids'), fakeJid(12))
  await r.set(k('b-whatever'), 'x')
}

const EXPECTED_CHECKS = [
  'batch/corrupt-member:warn',
  'batch/counter-drift:warn',
  'batch/dead:warn',
  'batch/fragment:warn',
  'batch/ghost-job:error',
  'batch/ghost-job:error',
  'batch/ghost-job:error',
  'batch/negative-pending:warn',
  'batch/orphan-keys:warn',
  'batch/stale:warn',
  'batch/stranded-job:warn',
  'batch/stranded-job:warn',
  'batch/unrecognized:info',
]

/** Both ways; the shared pass also serves the other families' patterns, as in doctor (a broader MATCH). */
const both = (keys: SidekiqKeys, settings = SETTLE) => bothWays(t.db, t.conn(), keys, batchesFamily, settings, patternsOf(keys, [queuesFamily, failinfoFamily, processesFamily]))

describe('the batches family: shared keyspace pass and own SCAN', () => {
  it('finds the same ghosts, stranded and dead jobs and inventory problems both ways, without scanning in the shared run', async () => {
    await seed()
    const {shared, own} = await both(new SidekiqKeys())
    expect(shared.scans).toBe(0)
    expect(own.scans).toBeGreaterThan(0)
    expect(stable(shared.findings)).toEqual(stable(own.findings))
    expect(shared.summary).toEqual(own.summary)
    expect(shared.warnings).toEqual(own.warnings)

    const s = shared.summary
    expect(s.verdicts).toEqual({alive: 7, 'waiting-on-retry': 1, dead: 1, stranded: 2, ghost: 3, unconfirmed: 0})
    expect(s).toMatchObject({batches: 8, layouts: {pro: 7, 'sidekiq-batch': 1}, passes: 2, judgedBatches: 4, tooYoung: 1, pendingJids: 14})
    expect(shared.findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(EXPECTED_CHECKS)
    const ghosts = shared.findings.filter((f) => f.check === 'batch/ghost-job').map((f) => [f.subject!.bid, f.subject!.jid])
    expect(ghosts.sort()).toEqual([[B1, jid.ghost], [B2, jid.ghost2], ['Pro8Millis0001', jid.staleGhost]].sort())
    expect(shared.findings.find((f) => f.subject?.jid === jid.ghost2)!.evidence).toMatchObject({failedBefore: true})
    const stranded = shared.findings.filter((f) => f.check === 'batch/stranded-job').map((f) => (f.evidence as {key: string}).key)
    expect(stranded.sort()).toEqual([`queue:sq|${DEAD_HOST}|parked`, `working:queue:parked:${DEAD_GITLAB}`])
    // The young batch is left alone; B4 (a bid ending in -jids) is not mistaken for a companion.
    expect(shared.findings.some((f) => f.subject?.bid === B3)).toBe(false)
    expect(shared.findings.find((f) => f.check === 'batch/orphan-keys')!.subject).toMatchObject({bid: 'GoneBatch0001'})
    // Every check id reported is declared.
    const declared = new Set(batchesFamily.checks.map((c) => c.id))
    expect(shared.findings.every((f) => declared.has(f.check))).toBe(true)
  })

  it('is the code `qdoctor batches --ghosts` runs: the same summary and findings', async () => {
    await seed()
    const {shared} = await both(new SidekiqKeys())
    const r = await runCli(['batches', '--ghosts', '--settle', '200ms', '--json', '--url', t.db.url])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    expect(doc.summary).toEqual(shared.summary)
    expect(stable(doc.findings)).toEqual(stable(shared.findings))
  })

  it('ghosts: false runs the inventory alone, with no container patterns', async () => {
    await seed()
    const keys = new SidekiqKeys()
    const settings = batchesFamily.settings.parse({ghosts: false})
    expect(batchesFamily.patterns(keys, settings).map((p) => p.match)).toEqual(['b-*', 'BID-*'])
    const {shared, own} = await both(keys, settings)
    expect(shared.scans).toBe(0)
    expect(stable(shared.findings)).toEqual(stable(own.findings))
    expect(shared.summary.verdicts).toBeUndefined()
    const hunted = ['batch/ghost-job', 'batch/stranded-job', 'batch/corrupt-member']
    expect(shared.findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(EXPECTED_CHECKS.filter((c) => !hunted.some((h) => c.startsWith(`${h}:`))))
  })

  it('under a namespace reads only <ns>: keys, the same both ways, and ignores bare lookalikes', async () => {
    await seed('myapp')
    // Bare lookalikes: another app's batch with a ghost, and a bare private queue of a dead owner.
    await writeBatch(t.db.redis, {bid: 'BareBatch00001', createdAt: HOUR_AGO, jids: [fakeJid(0xbb)]})
    await t.db.redis.rpush(`queue:sq|${DEAD_HOST}|bare`, (await payloads()).queued!)
    const keys = new SidekiqKeys('myapp')
    const {shared, own} = await both(keys)
    expect(shared.scans).toBe(0)
    expect(stable(shared.findings)).toEqual(stable(own.findings))
    expect(shared.summary).toEqual(own.summary)
    expect(shared.summary.verdicts).toEqual({alive: 7, 'waiting-on-retry': 1, dead: 1, stranded: 2, ghost: 3, unconfirmed: 0})
    expect(shared.findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(EXPECTED_CHECKS)
    expect(JSON.stringify(shared.findings)).not.toContain('BareBatch')
    expect(shared.findings.filter((f) => f.check === 'batch/stranded-job').every((f) => String((f.evidence as {key: string}).key).startsWith('myapp:'))).toBe(true)
  })

  it('in a doctor run shares one SCAN pass with the other families and reports figures for dashboards', async () => {
    await seed()
    let section: Awaited<ReturnType<typeof runTarget>>['section'] | undefined
    const scans = await countScans(t.db, async () => {
      ;({section} = await runTarget({
        target: {url: t.db.url},
        connection: {timeoutMs: 5000, maxOps: 0},
        selection: selectChecks([], [], [queuesFamily, batchesFamily, processesFamily]),
        settings: {queues: queuesFamily.settings.parse({}), batches: SETTLE, processes: processesFamily.settings.parse({})},
        failOn: 'error',
      }))
    })
    // Every SCAN call of the run is the shared pass's.
    expect(scans).toBe(section!.keyspace!.scanCalls)
    const batches = section!.families.find((f) => f.name === 'batches')!
    expect(batches.status).toBe('error')
    const figure = (name: string, labels?: Record<string, string>) => batches.figures.find((f) => f.name === name && JSON.stringify(f.labels ?? {}) === JSON.stringify(labels ?? {}))?.value
    expect(figure('batch_pending_jids', {verdict: 'ghost'})).toBe(3)
    expect(figure('batch_pending_jids', {verdict: 'stranded'})).toBe(2)
    expect(figure('batches')).toBe(8)
    expect(figure('batches_stale')).toBe(1)
    expect(figure('batch_orphan_keys')).toBe(1)
  })

  it('settings are parsed like the flags: ghosts on by default in doctor, settle takes 0, units required', () => {
    expect(batchesFamily.settings.parse({})).toEqual({ghosts: true, 'min-age': 300_000, 'stale-after': 86_400_000})
    expect(batchesFamily.settings.parse({settle: 0}).settle).toBe(0)
    expect(batchesFamily.settings.parse({settle: '0', bid: 'a,b'})).toMatchObject({settle: 0, bid: ['a', 'b']})
    expect(batchesFamily.settings.safeParse({settle: 10}).success).toBe(false)
    expect(batchesFamily.settings.safeParse({'min-age': '10'}).success).toBe(false)
    expect(batchesFamily.settings.safeParse({repair: 'forget'}).success).toBe(false)
  })
})
