// `qdoctor processes` end to end against real Sidekiq 6.4.1 processes: one healthy, one running a
// job that sleeps past a short --stuck-after, and one SIGKILLed mid-job whose `processes` entry
// stays behind. --prune removes exactly the stale entry and its leftover work key, never a member
// whose heartbeat hash exists (even when it appears between plan and apply), and undo puts it back.
import {execFile, spawn} from 'node:child_process'
import {hostname} from 'node:os'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT, runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'
import {journalDir} from '../helpers/repairs.js'
import {APP_RB, requireSidekiq, type SidekiqProcess, startSidekiq} from '../helpers/sidekiq.js'

const execFileAsync = promisify(execFile)
const sidekiq = requireSidekiq()
const jd = journalDir()

/** Push jobs with the real Sidekiq::Client; returns their jids in order. */
async function push(url: string, jobs: Array<[klass: string, queue: string, args: unknown[]]>): Promise<string[]> {
  const script = `require ${JSON.stringify(APP_RB)}
JSON.parse(ARGV[0]).each { |k, q, a| puts Sidekiq::Client.push("class" => k, "queue" => q, "args" => a) }`
  const {stdout} = await execFileAsync('ruby', ['-e', script, JSON.stringify(jobs)], {cwd: ROOT, env: {...process.env, REDIS_URL: url}, timeout: 30_000})
  return stdout.trim().split('\n')
}

type Finding = {check: string; severity: string; subject: Record<string, unknown>; evidence: Record<string, unknown>}

describe(`qdoctor processes with real Sidekiq ${sidekiq.version} processes`, () => {
  let db: TestDb
  let healthy: SidekiqProcess
  let slow: SidekiqProcess
  let doomed: SidekiqProcess
  let slowJid: string
  let doomedJid: string
  const workers = (identity: string) => `${identity}${sidekiq.workSuffix}`

  beforeAll(async () => {
    db = await testDb()
    ;[slowJid, doomedJid] = (await push(db.url, [
      ['SlowJob', 'slow', [120]],
      ['SlowJob', 'doomed', [120]],
    ])) as [string, string]
    // Beats every 0.5 s (app.rb's test-only QDOCTOR_BEAT_PAUSE) so in-progress work shows at once.
    // Sidekiq 6.4's scheduler prunes stale members itself 10-15 s after boot; QDOCTOR_NO_PROCESS_CLEANUP
    // turns that off (as in 6.5.4+), so the stale entry stays for the whole file instead of racing it.
    process.env.QDOCTOR_NO_PROCESS_CLEANUP = '1'
    try {
      ;[healthy, slow, doomed] = await Promise.all([
        startSidekiq(db.url, {queues: ['healthy'], concurrency: 1, tag: 'healthy', beatSeconds: 0.5}),
        startSidekiq(db.url, {queues: ['slow'], concurrency: 1, tag: 'slow', beatSeconds: 0.5}),
        startSidekiq(db.url, {queues: ['doomed'], concurrency: 1, tag: 'doomed', beatSeconds: 0.5}),
      ])
    } finally {
      delete process.env.QDOCTOR_NO_PROCESS_CLEANUP
    }
    for (const p of [slow, doomed]) await p.waitFor(async (r) => (await r.hlen(workers(p.identity))) > 0, {what: `${p.identity}'s job in ${workers(p.identity)}`})
    // A crash: no clean shutdown, so the member stays in `processes` and the work hash keeps its TTL.
    process.kill(doomed.pid, 'SIGKILL')
    await doomed.stop()
    // Its heartbeat hash would expire 60 s after the last beat; deleting it simulates that expiry
    // without making the test wait a minute.
    await db.redis.del(doomed.identity)
    // --stuck-after 1s needs the slow job to have run for more than a second (run_at is whole seconds).
    await slow.waitFor(async (r) => {
      const raw = Object.values(await r.hgetall(workers(slow.identity)))[0]
      return raw !== undefined && Date.now() / 1000 - (JSON.parse(raw) as {run_at: number}).run_at >= 1.5
    })
  }, 60_000)

  afterAll(async () => {
    await Promise.all([healthy?.stop(), slow?.stop(), doomed?.stop()])
    await db?.close()
    jd.cleanup()
  })

  it('reports every process, the stale entry and the stuck job (--stuck-after 1s), measured on the Redis clock', async () => {
    const r = await runCli(['processes', '--url', db.url, '--json', '--stuck-after', '1s'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.complete).toBe(true)
    const rows = doc.summary.processes as Array<Record<string, unknown>>
    expect(rows.map((p) => p.identity).sort()).toEqual([healthy.identity, slow.identity, doomed.identity].sort())
    const row = (id: string) => rows.find((p) => p.identity === id)!
    expect(row(healthy.identity)).toMatchObject({hostname: hostname(), pid: healthy.pid, version: null, concurrency: 1, busy: 0, quiet: false, stale: false, late: false})
    expect(row(healthy.identity).beatAgeSeconds as number).toBeLessThan(5)
    expect(row(healthy.identity).beatAgeSeconds as number).toBeGreaterThan(-2)
    expect(row(slow.identity)).toMatchObject({pid: slow.pid, busy: 1, stale: false, workEntries: 1, tag: 'slow'})
    expect(row(doomed.identity)).toMatchObject({stale: true, beatAgeSeconds: null})
    expect(doc.summary).toMatchObject({total: 3, alive: 2, stale: 1})

    const findings = doc.findings as Finding[]
    expect(findings.map((f) => f.check).sort()).toEqual(['process/stale-heartbeat', 'process/stuck-job'])
    const stale = findings.find((f) => f.check === 'process/stale-heartbeat')!
    expect(stale.subject).toEqual({identity: doomed.identity})
    // The job the crashed process was running is lost under basic fetch: named in the evidence.
    expect(stale.evidence.lostJobs).toEqual([expect.objectContaining({jid: doomedJid, class: 'SlowJob', queue: 'doomed'})])
    const stuck = findings.find((f) => f.check === 'process/stuck-job')!
    expect(stuck.subject).toEqual({jid: slowJid, identity: slow.identity})
    expect(stuck.evidence).toMatchObject({class: 'SlowJob', queue: 'slow'})
    expect(typeof stuck.evidence.runAt).toBe('number')
    expect(stuck.evidence.runningSeconds as number).toBeGreaterThanOrEqual(1)

    // With the default --stuck-after (1 h) the same job is not stuck; --fail-on warn fails the run.
    const lenient = await runCli(['processes', '--url', db.url, '--json', '--fail-on', 'warn'])
    expect(lenient.code, lenient.stderr).toBe(1)
    expect((lenient.json().findings as Finding[]).map((f) => f.check)).toEqual(['process/stale-heartbeat'])
  })

  it('reports private and working queues whose owner is gone, with job counts (error, exit 1)', async () => {
    // Pro super_fetch and GitLab reliable-fetch are not installable here: their lists are written by hand.
    const orphan = `queue:sq|${doomed.identity}|critical`
    const owned = `queue:sq|${slow.identity}|slow`
    const gitlab = `working:queue:mailers:${hostname()}:99999:0a1b2c`
    await db.redis.rpush(orphan, '{"jid":"o1"}', '{"jid":"o2"}')
    await db.redis.rpush(owned, '{"jid":"s1"}')
    await db.redis.rpush(gitlab, '{"jid":"g1"}')
    try {
      const r = await runCli(['processes', '--url', db.url, '--json'])
      expect(r.code, r.stderr).toBe(1)
      const doc = r.json()
      const orphans = (doc.findings as Finding[]).filter((f) => f.check === 'process/orphaned-private-queue')
      expect(orphans.map((f) => [f.severity, f.subject, f.evidence.jobs])).toEqual([
        ['error', {key: orphan, identity: doomed.identity}, 2],
        ['error', {key: gitlab, identity: `${hostname()}:99999:0a1b2c`}, 1],
      ])
      expect(orphans.map((f) => f.evidence.kind)).toEqual(['super_fetch', 'reliable_fetch'])
      // Sorted by key.
      const expected: Array<[string, boolean]> = [
        [orphan, false],
        [owned, true],
        [gitlab, false],
      ]
      expect(doc.summary.privateQueues.map((q: {key: string; ownerAlive: boolean}) => [q.key, q.ownerAlive])).toEqual(expected.sort(([a], [b]) => (a < b ? -1 : 1)))
      const human = await runCli(['processes', '--url', db.url])
      expect(human.stdout).toMatch(/private \/ working queue/)
      expect(human.stdout).toContain(doomed.identity)
    } finally {
      await db.redis.del(orphan, owned, gitlab)
    }
  })

  it('--prune --dry-run plans SREM of the stale member and UNLINK of its leftover work hash, and changes nothing', async () => {
    const before = (await db.redis.smembers('processes')).sort()
    const r = await runCli(['processes', '--url', db.url, '--json', '--prune', '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    const actions = r.json().actions as Array<{step: string; key: string; status: string; subject: {identity: string}}>
    expect(actions.map((a) => [a.step, a.key, a.status, a.subject.identity])).toEqual([
      ['srem', 'processes', 'planned', doomed.identity],
      ['unlink', workers(doomed.identity), 'planned', doomed.identity],
    ])
    expect((await db.redis.smembers('processes')).sort()).toEqual(before)
    expect(await db.redis.exists(workers(doomed.identity))).toBe(1)
  })

  it('never removes a member whose heartbeat hash appears between plan and apply', async () => {
    // script(1) gives the CLI a terminal, so it stops at the prompt after planning.
    const cmd = `node bin/run.js processes --prune --url ${db.url} --journal ${jd.path('race')} --no-color`
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    for (let i = 0; !out.includes('Type y to go ahead'); i++) {
      if (i > 600) throw new Error(`no prompt:\n${out}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    // The process "comes back": its heartbeat hash exists again.
    await db.redis.hset(doomed.identity, 'info', JSON.stringify({hostname: hostname(), pid: doomed.pid}), 'beat', String(Date.now() / 1000))
    try {
      child.stdin.write('y\n')
      expect(await exited).toBe(0)
      expect(out).toMatch(/skipped/)
      expect(await db.redis.sismember('processes', doomed.identity)).toBe(1)
      expect(await db.redis.exists(workers(doomed.identity))).toBe(1)
    } finally {
      await db.redis.del(doomed.identity)
    }
  })

  it('--prune --yes removes exactly the stale entry and its leftover; live processes stay; undo puts them back', async () => {
    const before = (await db.redis.smembers('processes')).sort()
    expect(before).toEqual([healthy.identity, slow.identity, doomed.identity].sort())
    const journal = jd.path('prune')
    const r = await runCli(['processes', '--url', db.url, '--json', '--prune', '--yes', '--journal', journal])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary.pruned).toBe(1)
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['applied', 'applied'])
    expect(doc.journal).toBe(journal)
    expect((await db.redis.smembers('processes')).sort()).toEqual([healthy.identity, slow.identity].sort())
    expect(await db.redis.exists(workers(doomed.identity))).toBe(0)
    // The live processes' own keys are untouched.
    expect(await db.redis.exists(healthy.identity, slow.identity, workers(slow.identity))).toBe(3)

    const again = await runCli(['processes', '--url', db.url, '--json', '--prune', '--yes', '--no-journal'])
    expect(again.json().actions).toEqual([])

    const undo = await runCli(['undo', journal, '--url', db.url, '--yes', '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    expect((await db.redis.smembers('processes')).sort()).toEqual(before)
    const leftover = await db.redis.hgetall(workers(doomed.identity))
    expect(Object.values(leftover).map((v) => (JSON.parse(JSON.parse(v).payload) as {jid: string}).jid)).toEqual([doomedJid])
  })
})
