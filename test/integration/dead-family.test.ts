// The dead check family as `qdoctor doctor` runs it (one shared keyspace pass, next to the queues
// family) on a seeded dead set: corrupt entries, a duplicate jid, a set near dead_max_jobs, the
// static signs of a retry loop, a wrong-type key and a leftover quarantine; and the same findings
// and summary as `qdoctor dead --json`, whose code it is.
import {describe, expect, it} from 'vitest'

import {deadFamily} from '../../src/lib/checks/families/dead.js'
import {queuesFamily} from '../../src/lib/checks/families/queues.js'
import {selectChecks} from '../../src/lib/checks/families/registry.js'
import {runTarget} from '../../src/lib/doctor/run.js'
import type {Figure} from '../../src/lib/report/doctor.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {patternsOf, runFamily} from '../helpers/families.js'

const t = useTestDb()
const NOW = Math.floor(Date.now() / 1000)
const jid = (i: number) => i.toString(16).padStart(24, '0')

function job(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({retry: 0, queue: 'default', class: 'HardJob', args: [i], jid: jid(i), error_class: 'RuntimeError', error_message: `boom ${i}`, retry_count: 0, ...extra})
}

/** 9 entries (with dead_max_jobs 10: full): one unreadable, jid 2 twice, jid 1 a retried retry: 0 job that died again. */
async function seed(): Promise<void> {
  await t.db.redis.zadd(
    'dead',
    ...[
      [NOW - 900, job(1, {retried_at: NOW - 950})],
      [NOW - 800, job(2)],
      [NOW - 700, job(3)],
      [NOW - 600, job(4)],
      [NOW - 500, job(5)],
      [NOW - 400, job(6)],
      [NOW - 300, job(7)],
      [NOW - 200, 'not a job'],
      [NOW - 100, job(2, {error_message: 'second copy'})],
    ].flat().map(String),
  )
  // A copy retried again after dying again (retry_count -1 and retried_at), and one retried once.
  await t.db.redis.lpush('queue:default', job(8, {retry_count: -1, retried_at: NOW - 5}), job(9, {retry_count: -1}))
}

async function doctor(settings: Record<string, unknown> = {}) {
  const {section, findings} = await runTarget({
    target: {url: t.db.url},
    connection: {timeoutMs: 5000, maxOps: 0},
    selection: selectChecks([], [], [queuesFamily, deadFamily]),
    settings: {queues: queuesFamily.settings.parse({}), dead: deadFamily.settings.parse(settings)},
    failOn: 'error',
  })
  const dead = section.families.find((f) => f.name === 'dead')!
  return {section, dead, findings: findings.filter((f) => f.family === 'dead')}
}

const figure = (figures: Figure[], name: string, labels?: Record<string, string>) =>
  figures.find((f) => f.name === name && JSON.stringify(f.labels ?? {}) === JSON.stringify(labels ?? {}))?.value

describe('the dead family in a doctor run', () => {
  it('reports corrupt entries, duplicate jids, near capacity and the strong static loop sign; figures for dashboards', async () => {
    await seed()
    const {section, dead, findings} = await doctor({'max-jobs': 10})
    // The queues family needs the shared pass; dead reads fixed keys only.
    expect(section.keyspace).toMatchObject({patterns: 2})
    expect(deadFamily.patterns(new SidekiqKeys(), deadFamily.settings.parse({}))).toEqual([])
    expect(dead.status).toBe('error')
    expect(findings.map((f) => `${f.check}:${f.severity}`).sort()).toEqual(['dead/corrupt-entry:error', 'dead/duplicate-jid:warn', 'dead/near-capacity:error', 'dead/retry-loop:error'])
    expect(findings.find((f) => f.check === 'dead/near-capacity')).toMatchObject({evidence: {size: 9, maxJobs: 10, kept: 9}})
    expect(findings.find((f) => f.check === 'dead/duplicate-jid')).toMatchObject({subject: {jid: jid(2)}, evidence: {copies: 2}})
    expect(findings.find((f) => f.check === 'dead/retry-loop')).toMatchObject({subject: {jid: jid(8)}, evidence: {signal: 'retried-again-after-re-death'}})
    expect(dead.summary).toMatchObject({size: 9, read: 9, corrupt: 1, duplicateJids: 1, loopSignals: {retriedRetry0: 1, queuedManualRetry: 2, queuedRepeatedRetry: 1}})
    const figures = dead.figures
    expect(figure(figures, 'dead_jobs')).toBe(9)
    expect(figure(figures, 'dead_capacity_ratio')).toBeCloseTo(0.9)
    expect(figure(figures, 'dead_corrupt_entries')).toBe(1)
    expect(figure(figures, 'dead_duplicate_jids')).toBe(1)
    expect(figure(figures, 'dead_retry_loop_jobs', {signal: 'retried-again-after-re-death'})).toBe(1)
    expect(figure(figures, 'dead_retry_loop_jobs', {signal: 'manual-retry-died-again'})).toBe(1)
    expect(figure(figures, 'dead_retry_loop_jobs', {signal: 'manual-retry-in-flight'})).toBe(2)
    // Every check id it reported is one it declares.
    const declared = new Set(deadFamily.checks.map((c) => c.id))
    expect(findings.every((f) => declared.has(f.check))).toBe(true)
  })

  it('loops: true adds the weaker static signs (as dead --loops --watch 0s) and keeps the other checks', async () => {
    await seed()
    const {dead, findings} = await doctor({'max-jobs': 10, loops: true})
    const loops = findings.filter((f) => f.check === 'dead/retry-loop').map((f) => [f.subject!.jid, (f.evidence as {signal: string}).signal])
    expect(loops.sort()).toEqual([
      [jid(1), 'manual-retry-died-again'],
      [jid(8), 'retried-again-after-re-death'],
      [jid(9), 'manual-retry-in-flight'],
    ])
    expect(findings.map((f) => f.check)).toContain('dead/near-capacity')
    expect(dead.summary).toMatchObject({sidekiq: {versions: [], retryAllMayLoop: true}})
    expect(dead.summary).not.toHaveProperty('watch')
  })

  it('a dead key of the wrong type and a leftover quarantine are errors; an empty set is healthy', async () => {
    expect((await doctor()).dead).toMatchObject({status: 'ok', summary: {size: 0, read: 0}})
    await t.db.redis.set('dead', 'oops')
    const wrong = await doctor()
    expect(wrong.findings.map((f) => [f.check, f.severity])).toEqual([['dead/wrong-type', 'error']])
    await t.db.redis.del('dead')
    await t.db.redis.zadd('dead', String(NOW - 10), job(1))
    await t.db.redis.zadd('dead:qdoctor-quarantine', String(NOW - 20), job(2))
    const left = await doctor()
    expect(left.findings[0]).toMatchObject({check: 'dead/quarantined', severity: 'error', evidence: {quarantined: 1}})
    expect(figure(left.dead.figures, 'dead_quarantined_jobs')).toBe(1)
  })

  it('never scans the keyspace: the shared pass serves the others, dead reads its fixed keys', async () => {
    await seed()
    const keys = new SidekiqKeys()
    const settings = deadFamily.settings.parse({'max-jobs': 10, loops: true})
    const {scans, findings} = await runFamily(t.db, t.conn(), keys, deadFamily, settings, {shared: true, also: patternsOf(keys, [queuesFamily])})
    expect(scans).toBe(0)
    expect(findings.filter((f) => f.check === 'dead/retry-loop')).toHaveLength(3)
  })

  it('settings are parsed like the flags: units required, unknown names refused', () => {
    expect(deadFamily.settings.parse({'dead-timeout': '30d'})['dead-timeout']).toBe(30 * 86_400_000)
    expect(deadFamily.settings.parse({})).toEqual({'max-jobs': 10_000, 'dead-timeout': 180 * 86_400_000, top: 10, 'page-size': 1000, loops: false})
    expect(deadFamily.settings.safeParse({'dead-timeout': 30}).success).toBe(false)
    expect(deadFamily.settings.safeParse({'max-job': 5}).success).toBe(false)
  })

  it('finds and summarises exactly what `qdoctor dead --json` does (one copy of the checking code)', async () => {
    await seed()
    for (const [flags, settings] of [
      [['--max-jobs', '10'], {'max-jobs': 10}],
      [['--loops', '--watch', '0s', '--max-jobs', '10'], {'max-jobs': 10, loops: true}],
    ] as const) {
      const cli = await runCli(['dead', '--json', ...flags, '--url', t.db.url])
      const doc = cli.json()
      const {dead, findings} = await doctor(settings)
      const strip = (s: Record<string, unknown>) => JSON.parse(JSON.stringify(s, (k, v) => (k === 'ageSeconds' ? undefined : v)))
      const loopsMode = flags[0] === '--loops'
      // --loops narrows the report to loop signs; doctor's loops setting only adds them.
      const expected = findings.filter((f) => !loopsMode || !['dead/near-capacity', 'dead/corrupt-entry'].includes(f.check))
      expect(doc.findings).toEqual(expected.map(({target: _t, family: _f, ...f}) => f))
      expect(strip(doc.summary)).toEqual(strip(dead.summary as Record<string, unknown>))
    }
  })
})
