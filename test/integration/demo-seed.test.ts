// The demo's dataset (product code in src/lib/demo, reused here, never copied): it refuses a
// database that holds anything, and doctor finds in it each problem it was built to show.
import {describe, expect, it} from 'vitest'

import {IDLE_CLIENT_NAMES, openIdleClients} from '../../src/lib/demo/idle-clients.js'
import {loadDemoConfig, nextSteps} from '../../src/lib/demo/scenario.js'
import {DemoSeedRefused, seedDemo} from '../../src/lib/demo/seed.js'
import {runDoctor} from '../../src/lib/doctor/doctor.js'
import {parseJob} from '../../src/lib/sidekiq/job.js'
import {useTestDb} from '../helpers/db.js'

const t = useTestDb()

describe('seedDemo', () => {
  it('refuses a database that is not empty, and writes nothing there', async () => {
    await t.db.redis.set('someone:else', 'x')
    await expect(seedDemo(t.db.redis)).rejects.toThrow(DemoSeedRefused)
    expect(await t.db.redis.dbsize()).toBe(1)
  })

  it('writes genuine-looking Sidekiq payloads', async () => {
    const seed = await seedDemo(t.db.redis)
    const r = t.db.redis
    expect(await r.llen('queue:default')).toBe(seed.queues.default)
    expect(await r.zcard('schedule')).toBe(seed.scheduled)
    expect(await r.zcard('retry')).toBe(seed.retries)
    expect(await r.zcard('dead')).toBe(seed.dead)
    for (const raw of [...(await r.lrange('queue:mailers', 0, 2)), ...(await r.zrange('retry', 0, 2)), ...(await r.zrange('dead', 0, 2))]) {
      const parsed = parseJob(raw)
      expect(parsed.ok, raw).toBe(true)
      if (!parsed.ok) continue
      expect(parsed.job.jid).toMatch(/^[0-9a-f]{24}$/)
      expect(parsed.job.enqueuedAt).toBeGreaterThan(seed.now - 30 * 86_400)
    }
    const mail = parseJob((await r.lindex('queue:mailers', 0))!)
    expect(mail.ok && mail.job.class).toBe('ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper')
    expect(mail.ok && mail.job.displayClass).toBe('OrderConfirmationJob')
    // The loop traces: retry: 0 entries carrying retried_at, and a copy queued with retry_count -1.
    const loops = (await r.zrange('dead', 0, -1)).map(parseJob).filter((p) => p.ok && p.job.jid === seed.loopingJid)
    expect(loops).toHaveLength(3)
    for (const p of loops) expect(p.ok && [p.job.retry, p.job.retriedAt !== undefined]).toEqual([0, true])
    expect(await r.sismember('processes', seed.staleProcess)).toBe(1)
    expect(await r.exists(`${seed.staleProcess}`)).toBe(0)
    expect(await r.llen(seed.batches.stranded.privateQueue)).toBe(4)
    expect(await r.smembers(`b-${seed.batches.ghosts.bid}-jids`)).toEqual(expect.arrayContaining(seed.batches.ghosts.ghostJids))
    expect(await r.hlen(seed.batches.bloated.failinfoKey)).toBe(seed.batches.bloated.entries)
    expect(await r.ttl(seed.batches.orphanFailinfoKey)).toBe(-1)
  })

  it('shows doctor each problem it was built for', async () => {
    const seed = await seedDemo(t.db.redis)
    const {report} = await runDoctor({targets: [{url: t.db.url}], config: loadDemoConfig(), version: 'test', connection: {timeoutMs: 5000, maxOps: 0}})
    expect(report.complete).toBe(true)
    const found = (check: string, pick: (s: Record<string, unknown>) => unknown) => report.findings.filter((f) => f.check === check).map((f) => pick(f.subject ?? {}))
    expect(report.findings.filter((f) => f.check === 'queue/latency' && f.severity === 'error').map((f) => f.subject?.queue)).toEqual([seed.lateQueue])
    expect(found('queue/corrupt-payload', (s) => s.queue)).toEqual([seed.corruptQueue])
    expect(found('queue/unregistered', (s) => s.queue)).toEqual([seed.unregisteredQueue])
    expect(found('queue/paused', (s) => s.queue)).toEqual([seed.pausedQueue])
    expect(found('failinfo/oversized-key', (s) => s.key)).toEqual([seed.batches.bloated.failinfoKey])
    expect(found('failinfo/orphan', (s) => s.key)).toEqual([seed.batches.orphanFailinfoKey])
    expect(found('failinfo/no-ttl', (s) => s.key)).toEqual([seed.batches.orphanFailinfoKey])
    const ghosts = report.findings.filter((f) => f.check === 'batch/ghost-job')
    expect(ghosts.map((f) => f.subject?.jid).sort()).toEqual([...seed.batches.ghosts.ghostJids].sort())
    for (const f of ghosts) expect([f.severity, f.subject?.bid]).toEqual(['error', seed.batches.ghosts.bid])
    // Queued and retrying jids of the ghost batch are alive, not ghosts.
    for (const j of [...seed.batches.ghosts.queuedJids, ...seed.batches.ghosts.retryingJids]) expect(ghosts.map((f) => f.subject?.jid)).not.toContain(j)
    const stranded = report.findings.filter((f) => f.check === 'batch/stranded-job')
    expect(stranded.map((f) => f.subject?.jid).sort()).toEqual([...seed.batches.stranded.jids].sort())
    expect(new Set(stranded.map((f) => f.evidence?.key))).toEqual(new Set([seed.batches.stranded.privateQueue]))
    expect(found('dead/retry-loop', (s) => s.jid)).toContain(seed.loopingJid)
    expect(found('dead/duplicate-jid', (s) => s.jid).sort()).toEqual([seed.duplicateDeadJid, seed.loopingJid].sort())
    expect(report.findings.filter((f) => f.check === 'process/stale-heartbeat').map((f) => JSON.stringify(f.subject))).toEqual([expect.stringContaining(seed.staleProcess)])
    expect(found('process/stuck-job', (s) => s.jid)).toEqual([seed.stuckJid])
    expect(found('process/orphaned-private-queue', (s) => s.key ?? s.queue)).toHaveLength(1)
  })

  it('shows doctor the idle connections the demo opens', async () => {
    await seedDemo(t.db.redis)
    const idle = await openIdleClients(t.db.url)
    try {
      await new Promise((r) => setTimeout(r, 2100))
      const {report} = await runDoctor({targets: [{url: t.db.url}], config: loadDemoConfig(), version: 'test', connection: {timeoutMs: 5000, maxOps: 0}})
      const names = report.findings.filter((f) => f.check === 'connection/idle').map((f) => f.evidence?.name ?? f.subject?.name)
      // (The test's own unnamed connection idles too.)
      expect(names.filter(Boolean).sort()).toEqual([...IDLE_CLIENT_NAMES].sort())
    } finally {
      await idle.close()
    }
  })

  it('suggests only commands this build has, each aimed at the demo server', () => {
    const url = 'redis://127.0.0.1:1234/0'
    const all = nextSteps(url, () => true)
    expect(all.length).toBeGreaterThan(3)
    for (const s of all) expect(s.command).toMatch(new RegExp(`^qdoctor ${s.topic} .*--url ${url}$`))
    expect(nextSteps(url, (id) => id === 'failinfo').map((s) => s.topic)).toEqual(['failinfo'])
  })
})
