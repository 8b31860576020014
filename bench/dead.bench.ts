// Dead-set benchmark, whole process against whole process, same data, same run, in a throwaway
// redis-server (free port, never 6379, no persistence):
// 1. the report: `qdoctor dead --json` against walking Sidekiq::DeadSet with the Sidekiq Ruby API
//    (Debian's sidekiq 6.4.1, bench/dead-ruby.rb iterate) and aggregating the same things;
// 2. the retry: `qdoctor dead --retry --yes` (journaled, atomic per job, exactly once) against
//    Sidekiq::DeadSet#retry_all (bench/dead-ruby.rb retry-all), with no worker running.
//
//   npm run bench:dead                                              # 100,000 dead jobs; retry of 10,000
//   BENCH_DEAD_JOBS=20000 BENCH_RETRY_JOBS=2000 BENCH_RUNS=1 npm run bench:dead   # smaller, quicker
//
// Env: BENCH_DEAD_JOBS (100000), BENCH_RETRY_JOBS (10000), BENCH_RUNS (3; medians are reported).
// Writes the `dead` section of bench/results.json. Exits 1 if any run read or moved the wrong jobs.
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Redis} from 'ioredis'

import {envInt} from './lib/env.js'
import {type PeakRssResult, runWithPeakRss} from './lib/process.js'
import {fmtKeys, fmtMB, fmtMs, machineInfo, median, table, writeResults} from './lib/report.js'
import {runBench, startBenchServer} from './lib/server.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH_DIR)
const BIN = join(ROOT, 'bin', 'run.js')
const RUBY = join(BENCH_DIR, 'dead-ruby.rb')

const DEAD_JOBS = envInt('BENCH_DEAD_JOBS', 100_000)
const RETRY_JOBS = envInt('BENCH_RETRY_JOBS', 10_000)
const RUNS = envInt('BENCH_RUNS', 3)
/** The targets: the report at least 2× faster than the Ruby walk, the retry at least 3× faster than retry_all. */
const REPORT_TARGET = 2
const RETRY_TARGET = 3

// ---------------------------------------------------------------------------------------------- data

const CLASSES = ['HardJob', 'ImportJob', 'WebhookJob', 'SyncJob', 'ReportJob', 'BillingJob', 'MailJob', 'SearchIndexJob']
const QUEUES = ['default', 'critical', 'mailers', 'imports', 'low']
const ERRORS: Array<[string, (i: number) => string]> = [
  ['ActiveRecord::RecordNotFound', (i) => `Couldn't find User with 'id'=${100_000 + (i % 5000)}`],
  ['Net::ReadTimeout', () => 'Net::ReadTimeout with #<TCPSocket:(closed)>'],
  ['Faraday::ConnectionFailed', (i) => `Failed to open TCP connection to api.example.com:443 (attempt ${i % 3})`],
  ['NoMethodError', () => "undefined method `name' for nil:NilClass"],
  ['Redis::CommandError', () => 'OOM command not allowed when used memory > maxmemory'],
  ['RuntimeError', (i) => `boom ${i % 97}`],
]
const BIG_INT = '123456789012345678901234567890'

/** A dead job as Sidekiq 6 writes it (key order, float-second timestamps; an Active Job wrapper for MailJob). */
function deadPayload(i: number, diedAt: number): string {
  const cls = CLASSES[i % CLASSES.length]!
  const [errorClass, message] = ERRORS[i % ERRORS.length]!
  const retryCount = i % 4 === 0 ? 0 : 25
  const job = {
    retry: retryCount === 0 ? 0 : true,
    queue: QUEUES[i % QUEUES.length],
    ...(cls === 'MailJob' ? {class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'MailJob'} : {class: cls}),
    args: i % 10 === 0 ? ['@BIG@', `record-${i}`] : [i, {tenant: `t${i % 50}`, trace: 'x'.repeat(40)}],
    jid: (0x1_0000_0000 + i).toString(16).padStart(24, '0'),
    created_at: diedAt - 3600 - 0.1234567,
    enqueued_at: diedAt - 60 - 0.7654321,
    error_message: message(i),
    error_class: errorClass,
    failed_at: diedAt - 30 - 0.5,
    retry_count: retryCount,
    ...(retryCount ? {retried_at: diedAt - 0.25} : {}),
  }
  return JSON.stringify(job).replace('"@BIG@"', BIG_INT)
}

/** `n` dead jobs, deaths spread evenly over the last 120 days. */
async function loadDead(redis: Redis, n: number): Promise<void> {
  await redis.del('dead', 'queues', ...QUEUES.map((q) => `queue:${q}`))
  const now = Date.now() / 1000
  const span = 120 * 86_400
  for (let start = 0; start < n; start += 5000) {
    const args: string[] = []
    for (let i = start; i < Math.min(n, start + 5000); i++) {
      const diedAt = now - span + (span * i) / n
      args.push(diedAt.toFixed(6), deadPayload(i, diedAt))
    }
    await redis.zadd('dead', ...args)
  }
  const size = await redis.zcard('dead')
  if (size !== n) throw new Error(`loaded ${size} dead jobs, expected ${n}`)
}

// ---------------------------------------------------------------------------------------------- measuring

interface Measured {
  runs: Array<{wallMs: number; peakRssMB: number}>
  medianWallMs: number
  peakRssMB: number
}

const problems: string[] = []

function summarize(results: PeakRssResult[]): Measured {
  const runs = results.map((r) => ({wallMs: r.wallMs, peakRssMB: r.peakRssKB / 1024}))
  return {runs, medianWallMs: median(runs.map((r) => r.wallMs)), peakRssMB: Math.max(...runs.map((r) => r.peakRssMB))}
}

function check(what: string, got: unknown, want: unknown): void {
  if (got !== want) problems.push(`${what}: got ${String(got)}, expected ${String(want)}`)
}

async function measureReport(url: string, redis: Redis): Promise<{qdoctor: Measured; ruby: Measured}> {
  await loadDead(redis, DEAD_JOBS)
  const q: PeakRssResult[] = []
  const r: PeakRssResult[] = []
  for (let i = 0; i < RUNS; i++) {
    // Exit 1 is expected: 100,000 dead jobs is far over dead_max_jobs (dead/near-capacity).
    const qd = await runWithPeakRss(process.execPath, [BIN, 'dead', '--url', url, '--json'], {okCodes: [0, 1]})
    check(`qdoctor dead run ${i + 1}: entries read`, JSON.parse(qd.stdout).summary.read, DEAD_JOBS)
    q.push(qd)
    const rb = await runWithPeakRss('ruby', [RUBY, 'iterate'], {env: {REDIS_URL: url}})
    check(`Ruby DeadSet#each run ${i + 1}: entries read`, JSON.parse(rb.stdout).read, DEAD_JOBS)
    r.push(rb)
    console.log(`  run ${i + 1}: qdoctor ${fmtMs(qd.wallMs)}, Ruby ${fmtMs(rb.wallMs)}`)
  }
  return {qdoctor: summarize(q), ruby: summarize(r)}
}

/** After a retry of every job: dead is empty and the queues hold each jid exactly once. */
async function checkRetried(redis: Redis, who: string): Promise<void> {
  check(`${who}: left in dead`, await redis.zcard('dead'), 0)
  const jids = new Set<string>()
  let pushed = 0
  for (const q of QUEUES)
    for (const m of await redis.lrange(`queue:${q}`, 0, -1)) {
      pushed++
      jids.add(JSON.parse(m).jid as string)
    }
  check(`${who}: jobs pushed`, pushed, RETRY_JOBS)
  check(`${who}: distinct jids pushed`, jids.size, RETRY_JOBS)
}

interface RetryResults {
  qdoctor: Measured
  ruby: Measured
  noJournal: Measured
  defaultBudget: Measured
}

async function measureRetry(url: string, redis: Redis): Promise<RetryResults> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'qdoctor-bench-dead-'))
  const q: PeakRssResult[] = []
  const r: PeakRssResult[] = []
  const once = async (label: string, args: string[]): Promise<PeakRssResult> => {
    await loadDead(redis, RETRY_JOBS)
    // -q: findings only (no table of the first 50 moves); the work is the same.
    const res = await runWithPeakRss(process.execPath, [BIN, 'dead', '--retry', '--yes', '-q', '--url', url, ...args])
    await checkRetried(redis, label)
    return res
  }
  try {
    for (let i = 0; i < RUNS; i++) {
      const qd = await once(`qdoctor --retry run ${i + 1}`, ['--max-ops', '0', '--journal', join(tmp, `journal-${i}.jsonl`)])
      q.push(qd)
      await loadDead(redis, RETRY_JOBS)
      const rb = await runWithPeakRss('ruby', [RUBY, 'retry-all'], {env: {REDIS_URL: url}})
      await checkRetried(redis, `retry_all run ${i + 1}`)
      r.push(rb)
      console.log(`  run ${i + 1}: qdoctor ${fmtMs(qd.wallMs)}, retry_all ${fmtMs(rb.wallMs)}`)
    }
    const noJournal = await once('qdoctor --retry --no-journal', ['--max-ops', '0', '--no-journal'])
    const defaultBudget = await once('qdoctor --retry (default --max-ops)', ['--journal', join(tmp, 'journal-budget.jsonl')])
    console.log(`  qdoctor --no-journal ${fmtMs(noJournal.wallMs)}; with the default --max-ops budget ${fmtMs(defaultBudget.wallMs)}`)
    return {qdoctor: summarize(q), ruby: summarize(r), noJournal: summarize([noJournal]), defaultBudget: summarize([defaultBudget])}
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  if (!existsSync(join(ROOT, 'dist/commands/dead/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm run bench:dead` does).')
  const {server, client, version} = await startBenchServer()
  const url = server.url(0)
  console.log(`redis-server on 127.0.0.1:${server.port} (${version.split(' ').slice(0, 3).join(' ')}); ${RUNS} runs each`)

  console.log(`\nreport: ${fmtKeys(DEAD_JOBS)} dead jobs`)
  const report = await measureReport(url, client)
  console.log(`\nretry: ${fmtKeys(RETRY_JOBS)} dead jobs, no worker running`)
  const retry = await measureRetry(url, client)

  const reportRatio = report.ruby.medianWallMs / report.qdoctor.medianWallMs
  const retryRatio = retry.ruby.medianWallMs / retry.qdoctor.medianWallMs
  const t = table(['what', 'tool', 'jobs', 'wall (median)', 'runs', 'peak RSS', 'speed-up'])
  const row = (what: string, tool: string, jobs: number, m: Measured, ratio?: number) =>
    t.push([what, tool, fmtKeys(jobs), fmtMs(m.medianWallMs), m.runs.map((x) => fmtMs(x.wallMs)).join(', '), fmtMB(m.peakRssMB), ratio === undefined ? '' : `${ratio.toFixed(2)}×`])
  row('report', 'Sidekiq::DeadSet#each (Ruby 6.4.1)', DEAD_JOBS, report.ruby)
  row('report', 'qdoctor dead --json', DEAD_JOBS, report.qdoctor, reportRatio)
  row('retry', 'Sidekiq::DeadSet#retry_all (Ruby 6.4.1)', RETRY_JOBS, retry.ruby)
  row('retry', 'qdoctor dead --retry --yes -q --max-ops 0 (journaled)', RETRY_JOBS, retry.qdoctor, retryRatio)
  row('retry', 'qdoctor dead --retry --yes -q --max-ops 0 --no-journal', RETRY_JOBS, retry.noJournal, retry.ruby.medianWallMs / retry.noJournal.medianWallMs)
  row('retry', 'qdoctor dead --retry --yes -q (default --max-ops 5000)', RETRY_JOBS, retry.defaultBudget, retry.ruby.medianWallMs / retry.defaultBudget.medianWallMs)
  console.log()
  console.log(t.toString())
  console.log('wall = the whole process (start, connect, work, exit); peak RSS = max over the runs (GNU time %M).')
  console.log(`report: qdoctor is ${reportRatio.toFixed(2)}× faster than the Ruby walk; target ≥ ${REPORT_TARGET}×: ${reportRatio >= REPORT_TARGET ? 'met' : 'NOT MET'}`)
  console.log(`retry: qdoctor is ${retryRatio.toFixed(2)}× faster than retry_all; target ≥ ${RETRY_TARGET}×: ${retryRatio >= RETRY_TARGET ? 'met' : 'NOT MET'}`)

  const path = writeResults('dead', {
    generatedAt: new Date().toISOString(),
    machine: machineInfo(version),
    config: {deadJobs: DEAD_JOBS, retryJobs: RETRY_JOBS, runs: RUNS},
    report,
    retry,
    summary: {reportSpeedup: reportRatio, reportTarget: REPORT_TARGET, retrySpeedup: retryRatio, retryTarget: RETRY_TARGET, countsMatch: problems.length === 0, problems},
  })
  console.log(`\nwrote the "dead" section of ${path}`)
  if (problems.length) {
    console.error('\nCOUNT MISMATCH:')
    for (const p of problems) console.error(`  ${p}`)
    return 1
  }
  return 0
}

await runBench(main)
