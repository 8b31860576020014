// The real retry loop, reproduced with Debian's Sidekiq 6.4.1: a worker that always fails with
// retry: 0 (QdoctorLoopJob, which counts its runs per jid), 300 of its jobs in `dead`, and the real
// Sidekiq::DeadSet#retry_all running in another Ruby process (test/fixtures/sidekiq/retry_all.rb).
// While it loops, `dead --loops` names the looping jids and the connection driving them;
// `dead --stop-loop` makes retry_all return without losing a job; and `dead --retry`, with the
// failing worker still running, ends and runs every job exactly once more.
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {pushJobs} from '../helpers/batches.js'
import {ROOT, runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'
import {journalDir} from '../helpers/repairs.js'
import {requireSidekiq, SIDEKIQ_FIXTURES, type SidekiqProcess, startSidekiq} from '../helpers/sidekiq.js'

requireSidekiq()
// One database for the whole file (no reset between tests): the tests follow one loop from start to end.
let db: TestDb
const journals = journalDir()
const JOBS = 300
const DRIVER = 'qdoctor-test-retry-all'

let worker: SidekiqProcess | undefined
let loop: {child: ChildProcess; out: () => string; exited: Promise<number | null>} | undefined
let jids: string[] = []

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${loop ? `\nretry_all.rb: ${loop.out()}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function runs(): Promise<Map<string, number>> {
  return new Map(Object.entries(await db.redis.hgetall('qdoctor-test:runs')).map(([k, v]) => [k, Number(v)]))
}

async function deadJids(): Promise<string[]> {
  return (await db.redis.zrange('dead', 0, -1)).map((m) => JSON.parse(m).jid as string).sort()
}

function startRetryAll(url: string) {
  const child = spawn('ruby', [join(SIDEKIQ_FIXTURES, 'retry_all.rb'), DRIVER], {cwd: ROOT, env: {...process.env, REDIS_URL: url}, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {child, out: () => out, exited}
}

beforeAll(async () => {
  db = await testDb()
  worker = await startSidekiq(db.url, {queues: ['loop'], concurrency: 5})
  jids = (await pushJobs(db.url, Array.from({length: JOBS}, (_, i) => ({class: 'QdoctorLoopJob', queue: 'loop', args: [i]})))).sort()
  await until('every job to die once', 20_000, async () => (await db.redis.zcard('dead')) === JOBS)
  loop = startRetryAll(db.url)
  // The loop is on once jobs have been re-run a few times.
  await until('retry_all to loop', 15_000, async () => [...(await runs()).values()].some((n) => n >= 3))
}, 60_000)

afterAll(async () => {
  if (loop && loop.child.exitCode === null && loop.child.pid) process.kill(loop.child.pid, 'SIGKILL')
  await worker?.stop()
  await db?.close()
  journals.cleanup()
})

describe('Sidekiq 6.4.1 DeadSet#retry_all looping over jobs that always fail', () => {
  it('dead --loops --watch 3s names the looping jids and the connection driving them, while it runs', async () => {
    expect(loop!.child.exitCode, loop!.out()).toBeNull()
    const r = await runCli(['dead', '--loops', '--watch', '3s', '--url', db.url, '--json'])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    const watch = doc.summary.watch
    const looping = watch.looping.map((j: {jid: string}) => j.jid) as string[]
    expect(looping.every((j) => jids.includes(j))).toBe(true)
    // A pass of retry_all over 300 jobs takes about a second (longer on a busy machine): in 3 s most
    // jobs are seen dying again, every one of them a job of this loop.
    expect(looping.length).toBeGreaterThanOrEqual(JOBS / 2)
    expect(watch.reDeaths).toBeGreaterThanOrEqual(looping.length)
    expect(watch.drivers.map((d: {name: string}) => d.name)).toEqual([DRIVER])
    expect(watch.drivers[0].commands).toEqual(expect.arrayContaining(['lpush']))
    const findings = doc.findings.filter((f: {check: string}) => f.check === 'dead/retry-loop')
    expect(findings.length).toBe(Math.min(100, looping.length))
    expect(findings[0]).toMatchObject({severity: 'error', subject: {class: 'QdoctorLoopJob'}, evidence: {signal: 're-died-in-window', drivers: [expect.objectContaining({name: DRIVER})]}})
    expect(findings[0].evidence.reDeaths).toBeGreaterThanOrEqual(1)
    expect(doc.summary.sidekiq).toMatchObject({retryAllMayLoop: true})
  })

  it('dead --stop-loop makes retry_all return, and no job is lost', async () => {
    expect(loop!.child.exitCode, loop!.out()).toBeNull()
    const journal = journals.path('stop-loop')
    const r = await runCli(['dead', '--stop-loop', '--yes', '--watch', '1s', '--hold', '8s', '--journal', journal, '--url', db.url, '--json'], {timeoutMs: 30_000})
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary.stopLoop).toMatchObject({driversStopped: true, mergedBack: true})
    expect(doc.summary.stopLoop.drivers.map((d: {name: string}) => d.name)).toEqual([DRIVER])
    expect(doc.actions[0]).toMatchObject({step: 'stop-loop/quarantine', status: 'applied'})
    expect(doc.actions.at(-1)).toMatchObject({step: 'stop-loop/merge', status: 'applied'})
    const code = await Promise.race([loop!.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))])
    expect(code, loop!.out()).toBe(0)
    expect(loop!.out()).toMatch(/returned \d/)
    // Jobs the loop had pushed just before die once more; then every one of them is in dead, once.
    await until('every job back in dead', 15_000, async () => (await db.redis.zcard('dead')) === JOBS && (await db.redis.llen('queue:loop')) === 0)
    expect(await deadJids()).toEqual(jids)
    expect(await db.redis.exists('dead:qdoctor-quarantine')).toBe(0)
  })

  it('dead --retry with the failing worker still running ends, and runs every job exactly once more', async () => {
    const before = await runs()
    const r = await runCli(['dead', '--retry', '--yes', '--rate', '300', '--no-journal', '--url', db.url, '--json'], {timeoutMs: 30_000})
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary).toMatchObject({retried: JOBS, skipped: 0, bound: {count: JOBS}})
    expect(doc.actions).toHaveLength(JOBS)
    expect(doc.actions.every((a: {status: string; queue: string}) => a.status === 'applied' && a.queue === 'loop')).toBe(true)
    // Retried jobs died again during the run (the worker kept failing them) and were never picked up again.
    await until('every retried job to run and die again', 15_000, async () => {
      const now = await runs()
      return jids.every((j) => now.get(j) === (before.get(j) ?? 0) + 1) && (await db.redis.zcard('dead')) === JOBS
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = await runs()
    expect(jids.filter((j) => after.get(j) !== (before.get(j) ?? 0) + 1)).toEqual([])
    expect(await deadJids()).toEqual(jids)
  })
})
