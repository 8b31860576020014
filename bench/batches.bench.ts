// Ghost-batch benchmark: `qdoctor batches --ghosts --settle 0` against the naive per-jid lookups through
// the Sidekiq Ruby API (Debian's sidekiq 6.4.1), on the same data in the same run, in a throwaway
// redis-server (free port, never 6379, no persistence).
//
//   npm run bench:batches                                   # 1,000,000 jobs, 10,000 batches, 200,000 pending jids
//   BENCH_JOBS=100000 BENCH_BATCHES=1000 BENCH_PENDING=20000 npm run bench:batches   # smaller
//
// Env: BENCH_JOBS (1000000: over BENCH_QUEUES queues + schedule/retry/dead), BENCH_QUEUES (20),
// BENCH_BATCHES (10000), BENCH_PENDING (200000 pending jids; must divide by BENCH_BATCHES and be at most
// BENCH_JOBS), BENCH_NAIVE_JIDS (12 jids looked up the naive way), BENCH_NAIVE_SECONDS (120: time budget of
// the naive run; the jids done by then are extrapolated), BENCH_THROTTLED=0 skips the run with the default
// --max-ops budget.
// Writes bench/batches-results.json. Exits 1 if qdoctor's verdicts differ from what was loaded.
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import Table from 'cli-table3'
import type {Redis} from 'ioredis'

import {type RedisServer, startRedis} from '../test/helpers/redis-server.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH_DIR)
const CHILD = join(BENCH_DIR, 'batches-child.mjs')
const NAIVE = join(BENCH_DIR, 'batches-naive.rb')
const RESULTS = join(BENCH_DIR, 'batches-results.json')
const LUA_BATCH = 10_000

function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw.replace(/[_,]/g, ''))
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`)
  return value
}

const JOBS = envInt('BENCH_JOBS', 1_000_000)
const QUEUES = envInt('BENCH_QUEUES', 20)
const BATCHES = envInt('BENCH_BATCHES', 10_000)
const PENDING = envInt('BENCH_PENDING', 200_000)
const NAIVE_JIDS = envInt('BENCH_NAIVE_JIDS', 12)
const NAIVE_SECONDS = envInt('BENCH_NAIVE_SECONDS', 120)
const THROTTLED = process.env.BENCH_THROTTLED !== '0'
if (PENDING % BATCHES !== 0) throw new Error('BENCH_PENDING must be a multiple of BENCH_BATCHES')
if (PENDING > JOBS || PENDING < 100) throw new Error('BENCH_PENDING must be between 100 and BENCH_JOBS')
const PER_BATCH = PENDING / BATCHES
/** Pending jid k is job k*STRIDE (unless it is a ghost or stranded): batch jobs spread over every container. */
const STRIDE = Math.floor(JOBS / PENDING)

// ---------------------------------------------------------------------------------------------- keyspace
// Job i: jid = hex(i+1); container by i % 1000: < 40 schedule, < 80 retry, < 100 dead, else queue q<i % QUEUES>.
// Pending jid k (batch k / PER_BATCH): k % 100 == 0 a ghost (no job anywhere), == 1 stranded (in the super_fetch
// private queue of a process whose heartbeat is gone), else job k*STRIDE. Every 1000th job carries a ghost's
// jid nested in its args (the decoy). Counted in `expected` below exactly as the Lua lays it out.

const LOAD_LUA = `
local kind, from, to, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local queues, stride, pending, perBatch = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function jid(i) return string.format('%024x', i + 1) end
local function ghost(k) return 'f' .. string.format('%023x', k) end
local function stranded(k) return 'e' .. string.format('%023x', k) end
local function bid(b) return string.format('bench%09d', b) end
local function pendingJid(k)
  if k % 100 == 0 then return ghost(k) end
  if k % 100 == 1 then return stranded(k) end
  return jid(k * stride)
end
if kind == 'jobs' then
  for i = from, to - 1 do
    local q = i % queues
    local job = {class = 'Worker' .. q, queue = 'q' .. q, jid = jid(i), args = {i, 'import'}, retry = true, created_at = now, enqueued_at = now}
    if i % 1000 == 7 then job.args = {i, {jid = ghost(((i - 7) / 1000 * 100) % pending)}} end
    if i % stride == 0 then
      local k = i / stride
      if k < pending and k % 100 > 1 then job.bid = bid(math.floor(k / perBatch)) end
    end
    local r = i % 1000
    local payload = cjson.encode(job)
    if r < 40 then redis.call('ZADD', 'schedule', now + 60 + r, payload)
    elseif r < 80 then redis.call('ZADD', 'retry', now + 600 + r, payload)
    elseif r < 100 then redis.call('ZADD', 'dead', now - 600 - r, payload)
    else redis.call('LPUSH', 'queue:q' .. q, payload) end
  end
elseif kind == 'stranded' then
  for k = from, to - 1 do
    if k % 100 == 1 then
      local q = k % queues
      local job = {class = 'Worker' .. q, queue = 'q' .. q, jid = stranded(k), args = {k}, retry = true, created_at = now, enqueued_at = now, bid = bid(math.floor(k / perBatch))}
      redis.call('LPUSH', 'queue:sq|deadhost.internal:4242:0a0b0c0d0e0f|q' .. q, cjson.encode(job))
    end
  end
elseif kind == 'batches' then
  for b = from, to - 1 do
    local key = 'b-' .. bid(b)
    redis.call('HSET', key, 'created_at', string.format('%.4f', now - 7200), 'total', perBatch, 'pending', perBatch, 'kids', 0,
      'description', 'nightly import #' .. b, 'callbacks', '{"complete":[{"ImportCallback":{"import_id":' .. b .. '}}]}')
    local members = {}
    for k = b * perBatch, (b + 1) * perBatch - 1 do members[#members + 1] = pendingJid(k) end
    redis.call('SADD', key .. '-jids', unpack(members))
    redis.call('EXPIRE', key, 2592000)
    redis.call('EXPIRE', key .. '-jids', 2592000)
    redis.call('ZADD', 'batches', now + 2592000, bid(b))
  end
end
return to - from
`

const SETUP_LUA = `
local now, queues = tonumber(ARGV[1]), tonumber(ARGV[2])
for q = 0, queues - 1 do redis.call('SADD', 'queues', 'q' .. q) end
for p = 1, 4 do
  local id = 'worker-' .. p .. '.internal:' .. (1000 + p) .. ':0a1b2c3d4e5' .. p
  redis.call('SADD', 'processes', id)
  redis.call('HSET', id, 'info', cjson.encode({hostname = 'worker-' .. p .. '.internal', pid = 1000 + p, concurrency = 10, queues = {'q0'}}),
    'busy', '2', 'beat', tostring(now), 'quiet', 'false')
  redis.call('EXPIRE', id, 60)
  for t = 1, 2 do
    local job = cjson.encode({class = 'Worker0', queue = 'q0', jid = string.format('%024x', 900000000 + p * 10 + t), args = {}, created_at = now, enqueued_at = now})
    redis.call('HSET', id .. ':work', 'tid' .. t, cjson.encode({queue = 'q0', payload = job, run_at = math.floor(now)}))
  end
  redis.call('EXPIRE', id .. ':work', 60)
end
return 1
`

type Verdict = 'alive' | 'waiting-on-retry' | 'dead' | 'stranded' | 'ghost' | 'unconfirmed'

function expectedVerdicts(): Record<Verdict, number> {
  const out: Record<Verdict, number> = {alive: 0, 'waiting-on-retry': 0, dead: 0, stranded: 0, ghost: 0, unconfirmed: 0}
  for (let k = 0; k < PENDING; k++) {
    if (k % 100 === 0) out.ghost++
    else if (k % 100 === 1) out.stranded++
    else {
      const r = (k * STRIDE) % 1000
      out[r < 40 ? 'alive' : r < 80 ? 'waiting-on-retry' : r < 100 ? 'dead' : 'alive']++
    }
  }
  return out
}

function pendingJid(k: number): string {
  if (k % 100 === 0) return 'f' + k.toString(16).padStart(23, '0')
  if (k % 100 === 1) return 'e' + k.toString(16).padStart(23, '0')
  return (k * STRIDE + 1).toString(16).padStart(24, '0')
}

async function evalBatched(redis: Redis, kind: string, total: number, now: number): Promise<void> {
  for (let from = 0; from < total; from += LUA_BATCH)
    await redis.eval(LOAD_LUA, 0, kind, from, Math.min(from + LUA_BATCH, total), now, QUEUES, STRIDE, PENDING, PER_BATCH)
}

async function load(redis: Redis): Promise<number> {
  const t0 = performance.now()
  const now = Date.now() / 1000
  await redis.eval(SETUP_LUA, 0, now, QUEUES)
  await evalBatched(redis, 'jobs', JOBS, now)
  await evalBatched(redis, 'stranded', PENDING, now)
  await evalBatched(redis, 'batches', BATCHES, now)
  return performance.now() - t0
}

// ---------------------------------------------------------------------------------------------- measuring

function run(cmd: string, args: string[], options: {env?: NodeJS.ProcessEnv; stdoutFile?: string} = {}): Promise<{wallMs: number; stdout: string; code: number | null}> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child: ChildProcess = spawn(cmd, args, {cwd: ROOT, env: {...process.env, ...options.env}, stdio: ['ignore', 'pipe', 'pipe']})
    const out: Buffer[] = []
    let err = ''
    child.stdout!.on('data', (d: Buffer) => out.push(d))
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      const stdout = Buffer.concat(out).toString('utf8')
      if (options.stdoutFile) writeFileSync(options.stdoutFile, stdout)
      if (code !== 0 && code !== 1) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err}\n${stdout.slice(0, 2000)}`))
      else resolve({wallMs: performance.now() - t0, stdout, code})
    })
  })
}

interface QdoctorRun {
  label: string
  args: string[]
  wallMs: number
  inProcessMs: number
  peakRssMB: number
  exitCode: number | null
  verdicts: Record<Verdict, number>
  ghostFindings: number
  jobsRead: number
  commandStats: Record<string, {calls: number; usec: number}>
}

async function commandStats(redis: Redis): Promise<Record<string, {calls: number; usec: number}>> {
  const out: Record<string, {calls: number; usec: number}> = {}
  for (const line of String(await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim())
    if (m) out[m[1]!] = {calls: Number(m[2]), usec: Number(m[3])}
  }
  return out
}

async function measureQdoctor(redis: Redis, url: string, label: string, extra: string[]): Promise<QdoctorRun> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'qdoctor-bench-batches-'))
  try {
    const metrics = join(tmp, 'metrics.json')
    const args = ['batches', '--ghosts', '--settle', '0', '--json', '--url', url, ...extra]
    await redis.config('RESETSTAT')
    const {wallMs, stdout} = await run(process.execPath, [CHILD, metrics, ...args])
    const stats = await commandStats(redis)
    const m = JSON.parse(readFileSync(metrics, 'utf8')) as {wallMs: number; maxRssKB: number; vmHwmKB: number | null; exitCode: number}
    const doc = JSON.parse(stdout) as {complete: boolean; summary: {verdicts: Record<Verdict, number>; jobsRead: Record<string, number>}; findings: Array<{check: string}>}
    if (!doc.complete) throw new Error(`${label}: the report is incomplete`)
    return {
      label,
      args,
      wallMs,
      inProcessMs: m.wallMs,
      peakRssMB: (m.vmHwmKB ?? m.maxRssKB) / 1024,
      exitCode: m.exitCode,
      verdicts: doc.summary.verdicts,
      ghostFindings: doc.findings.filter((f) => f.check === 'batch/ghost-job').length,
      jobsRead: Object.values(doc.summary.jobsRead).reduce((a, b) => a + b, 0),
      commandStats: stats,
    }
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
}

interface NaiveRun {
  jids: number
  done: number
  seconds: number
  perJidSeconds: number
  extrapolatedSeconds: number
  peakRssMB: number | null
  perJid: Array<{jid: string; where: string | null; seconds: number}>
}

async function measureNaive(url: string): Promise<NaiveRun> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'qdoctor-bench-naive-'))
  try {
    const file = join(tmp, 'jids.txt')
    // Evenly spread over the pending jids, nudged off the ghosts (k % 100 == 0): a ghost is the naive
    // search's worst case (every queue read to the end), so leaving them out makes the extrapolation
    // an underestimate of the naive time, never an overestimate.
    const ks = Array.from({length: NAIVE_JIDS}, (_, j) => Math.floor(((j + 0.5) * PENDING) / NAIVE_JIDS) + 2)
    writeFileSync(file, ks.map(pendingJid).join('\n'))
    const {stdout} = await run('ruby', [NAIVE, file, String(NAIVE_SECONDS)], {env: {REDIS_URL: url}})
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {done: number; seconds: number; perJid: NaiveRun['perJid']; vmHwmKB: number | null}
    if (r.done === 0) throw new Error('the naive run did not finish a single lookup within BENCH_NAIVE_SECONDS')
    const per = r.perJid.reduce((a, p) => a + p.seconds, 0) / r.done
    return {jids: NAIVE_JIDS, done: r.done, seconds: r.seconds, perJidSeconds: per, extrapolatedSeconds: per * PENDING, peakRssMB: r.vmHwmKB ? r.vmHwmKB / 1024 : null, perJid: r.perJid}
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
}

// ---------------------------------------------------------------------------------------------- main

const fmtS = (ms: number) => (ms >= 100_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(2)} s`)
const fmtN = (n: number) => n.toLocaleString('en-US')

function humanDuration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`
  return `${(seconds / 86_400).toFixed(1)} days`
}

async function main(): Promise<void> {
  let server: RedisServer | undefined
  const stop = async () => {
    await server?.stop()
    server = undefined
  }
  process.once('SIGINT', () => void stop().then(() => process.exit(130)))
  try {
    server = await startRedis()
    const redis = server.client(0)
    const url = server.url(0)
    console.log(`redis-server on port ${server.port}: loading ${fmtN(JOBS)} jobs over ${QUEUES} queues + schedule/retry/dead, ${fmtN(BATCHES)} batches with ${fmtN(PENDING)} pending jids…`)
    const loadMs = await load(redis)
    const usedMB = Number(/used_memory:(\d+)/.exec(String(await redis.info('memory')))?.[1] ?? 0) / 1024 / 1024
    console.log(`  loaded in ${fmtS(loadMs)}; Redis uses ${usedMB.toFixed(0)} MB`)
    const expected = expectedVerdicts()

    const runs: QdoctorRun[] = []
    runs.push(await measureQdoctor(redis, url, 'qdoctor --max-ops 0 (unthrottled)', ['--max-ops', '0']))
    if (THROTTLED) runs.push(await measureQdoctor(redis, url, 'qdoctor (default --max-ops 5000)', []))
    let wrong = false
    for (const r of runs) {
      console.log(`  ${r.label}: ${fmtS(r.wallMs)} wall, peak RSS ${r.peakRssMB.toFixed(1)} MB, ${fmtN(r.jobsRead)} jobs read, ${fmtN(r.ghostFindings)} ghost findings`)
      if (JSON.stringify(r.verdicts) !== JSON.stringify(expected)) {
        wrong = true
        console.error(`  WRONG VERDICTS from ${r.label}: got ${JSON.stringify(r.verdicts)}, loaded ${JSON.stringify(expected)}`)
      }
    }

    console.log(`  naive Sidekiq API lookups: ${NAIVE_JIDS} jids, budget ${NAIVE_SECONDS} s…`)
    const naive = await measureNaive(url)
    console.log(`  naive: ${naive.done} jids in ${naive.seconds.toFixed(1)} s (${naive.perJidSeconds.toFixed(2)} s per jid) → ${humanDuration(naive.extrapolatedSeconds)} for ${fmtN(PENDING)} jids`)

    const best = runs[0]!
    const t = new Table({head: ['method', 'wall', 'peak RSS', 'jids', 'vs qdoctor (unthrottled)'], style: {head: [], border: []}})
    for (const r of runs) t.push([r.label, fmtS(r.wallMs), `${r.peakRssMB.toFixed(1)} MB`, fmtN(PENDING), (r.wallMs / best.wallMs).toFixed(2)])
    t.push([
      `Sidekiq API find_job per jid (${naive.done} of ${fmtN(PENDING)}, extrapolated)`,
      humanDuration(naive.extrapolatedSeconds),
      naive.peakRssMB ? `${naive.peakRssMB.toFixed(1)} MB` : '-',
      fmtN(PENDING),
      fmtN(Math.round((naive.extrapolatedSeconds * 1000) / best.wallMs)),
    ])
    console.log(t.toString())

    const verdicts = new Table({head: ['verdict', 'loaded', ...runs.map((r) => r.label)], style: {head: [], border: []}})
    for (const v of Object.keys(expected) as Verdict[]) verdicts.push([v, fmtN(expected[v]), ...runs.map((r) => fmtN(r.verdicts[v] ?? 0))])
    console.log(verdicts.toString())

    writeFileSync(
      RESULTS,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: {cpus: os.cpus().length, model: os.cpus()[0]?.model, memGB: Math.round(os.totalmem() / 1024 ** 3), node: process.version},
          config: {jobs: JOBS, queues: QUEUES, batches: BATCHES, pendingJids: PENDING, naiveJids: NAIVE_JIDS, naiveSeconds: NAIVE_SECONDS},
          loadMs,
          redisUsedMemoryMB: usedMB,
          expected,
          qdoctor: runs,
          naive,
          ratio: naive.extrapolatedSeconds * 1000 / best.wallMs,
        },
        null,
        2,
      ) + '\n',
    )
    console.log(`results written to ${RESULTS}`)
    if (wrong) process.exitCode = 1
  } finally {
    await stop()
  }
}

await main()
