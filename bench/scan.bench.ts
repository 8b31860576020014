// SCAN benchmark: qdoctor's scan layer (dist/lib/redis/scan.js) against `redis-cli --scan` on a large,
// Sidekiq-like keyspace in a throwaway redis-server (free port, never 6379, no persistence).
//
//   npm run bench                      # 2,000,000 keys (memory check at 500,000)
//   BENCH_KEYS=200000 npm run bench    # smaller
//
// Env: BENCH_KEYS (default 2000000), BENCH_SMALL_KEYS (default BENCH_KEYS/4), BENCH_XL_KEYS (default
// 2*BENCH_KEYS, qdoctor-only memory check, 0 skips), BENCH_RUNS (runs of each scanner per measurement, median
// taken; default 3), BENCH_FILL=lua (load filler with Lua instead of DEBUG POPULATE).
// Writes bench/results.json. Exits 1 if any scan's keys differ from the keys that were loaded.
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Redis} from 'ioredis'

import type {RedisServer} from '../test/helpers/redis-server.js'
import {envInt, envIntOrOff} from './lib/env.js'
import {evalInBatches, Filler, usedMemoryMB, waitForRehash, withServerStats} from './lib/load.js'
import {run} from './lib/process.js'
import {finishBench, fmtKeys, fmtMB, fmtMs, median, signed, table} from './lib/report.js'
import {runBench, startBenchServer} from './lib/server.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH_DIR)
const CHILD = join(BENCH_DIR, 'scan-child.mjs')
const PATTERN = 'b-*-failinfo'
const TARGET_RATIO = 0.3
/** Keys per EVAL when loading with Lua. */
const LUA_BATCH = 10_000

// ---------------------------------------------------------------------------------------------- config

const KEYS = envInt('BENCH_KEYS', 2_000_000)
const SMALL_KEYS = envInt('BENCH_SMALL_KEYS', Math.floor(KEYS / 4))
const RUNS = envInt('BENCH_RUNS', 3)
/** A third, larger keyspace scanned by qdoctor only (memory check; no redis-cli). 0 skips it. */
const XL_KEYS = envIntOrOff('BENCH_XL_KEYS', 2 * KEYS)
if (KEYS < 20_000) throw new Error('BENCH_KEYS must be at least 20000')
if (SMALL_KEYS >= KEYS || SMALL_KEYS < 5_000) throw new Error('BENCH_SMALL_KEYS must be between 5000 and BENCH_KEYS')
if (XL_KEYS && XL_KEYS <= KEYS) throw new Error('BENCH_XL_KEYS must be larger than BENCH_KEYS (or 0 to skip)')

// Keys matching the pattern are loaded once, with the small keyspace, and stay fixed: growing the
// keyspace adds filler only, so the two peak-RSS figures differ by keyspace size and nothing else.
const FAILINFO = Math.min(5_000, Math.floor(SMALL_KEYS / 20)) // b-<bid>-failinfo hashes
const FAILINFO_LEGACY = Math.max(1, Math.floor(FAILINFO / 100)) // b-<bid>-failinfo strings: match, but not TYPE hash
const BATCHES = 2 * FAILINFO // b-<bid> hashes + b-<bid>-jids sets (the first FAILINFO of them failed)

// ---------------------------------------------------------------------------------------------- keyspace

/** Sidekiq batch id i, identical to `bid(i)` in BATCH_LUA (exact: i * 2654435761 < 2^53, 2^32 divides exactly). */
function bid(i: number): string {
  return i.toString(16).padStart(8, '0') + ((i * 2654435761) % 4294967296).toString(16).padStart(8, '0')
}
const expectedMatch = [
  ...Array.from({length: FAILINFO}, (_, i) => `b-${bid(i)}-failinfo`),
  ...Array.from({length: FAILINFO_LEGACY}, (_, i) => `b-${bid(FAILINFO + i)}-failinfo`),
]
const expectedHashes = expectedMatch.slice(0, FAILINFO)

const BATCH_LUA = `
local kind, from, to, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local function bid(i) return string.format('%08x%08x', i, (i * 2654435761) % 4294967296) end
local function jid(n) return string.format('%024x', n) end
for i = from, to - 1 do
  local b = 'b-' .. bid(i)
  if kind == 'batch' then
    redis.call('HSET', b, 'created_at', now, 'description', 'nightly import #' .. i,
      'callbacks', '{"complete":[{"ImportCallback":{"import_id":' .. i .. '}}]}', 'pending', '2', 'total', '2', 'failures', '0')
    redis.call('SADD', b .. '-jids', jid(i * 2), jid(i * 2 + 1))
  elseif kind == 'failinfo' then
    redis.call('HSET', b .. '-failinfo', jid(i * 2), cjson.encode({
      errmsg = 'undefined method for nil (row ' .. i .. ')', errclass = 'NoMethodError',
      backtrace = {'app/workers/import_worker.rb:42:in perform', 'sidekiq/processor.rb:202:in execute_job'}}))
  elseif kind == 'failinfo-legacy' then
    redis.call('SET', b .. '-failinfo', 'NoMethodError: undefined method for nil')
  end
end
return to - from
`

const QUEUES_LUA = `
local now = tonumber(ARGV[1])
local queues = {'default', 'critical', 'low', 'mailers', 'imports', 'exports', 'webhooks', 'billing', 'search',
  'reports', 'notifications', 'media', 'sync', 'cleanup', 'analytics'}
local function job(class, q, n) return cjson.encode({class = class, queue = q, jid = string.format('%024x', n),
  args = {n}, retry = true, created_at = now, enqueued_at = now}) end
for qi, q in ipairs(queues) do
  redis.call('SADD', 'queues', q)
  for j = 1, 20 do redis.call('RPUSH', 'queue:' .. q, job('Worker' .. qi, q, qi * 1000 + j)) end
end
for j = 1, 200 do
  redis.call('ZADD', 'retry', now + j * 30, job('RetriedWorker', 'default', 100000 + j))
  redis.call('ZADD', 'schedule', now + j * 60, job('ScheduledWorker', 'low', 200000 + j))
  redis.call('ZADD', 'dead', now - j * 60, job('DeadWorker', 'default', 300000 + j))
end
for p = 1, 4 do
  local id = 'worker-' .. p .. '.internal:' .. (1000 + p) .. ':0a1b2c3d4e5f'
  redis.call('SADD', 'processes', id)
  redis.call('HSET', id, 'info', '{"hostname":"worker-' .. p .. '.internal","concurrency":10}', 'busy', '0', 'beat', now)
end
redis.call('SET', 'stat:processed', '123456789')
redis.call('SET', 'stat:failed', '4242')
for i = 2, #ARGV do
  redis.call('SET', 'stat:processed:' .. ARGV[i], tostring(100000 + i))
  redis.call('SET', 'stat:failed:' .. ARGV[i], tostring(i))
end
return 1
`

async function evalBatched(redis: Redis, kind: string, from: number, to: number): Promise<void> {
  const now = String(Math.floor(Date.now() / 1000))
  await evalInBatches(redis, BATCH_LUA, from, to, LUA_BATCH, (start, end) => [kind, start, end, now])
}

/** The Sidekiq part of the keyspace (batches, failinfo, queues, retry/dead/schedule, stats). */
async function loadSidekiq(redis: Redis): Promise<void> {
  await evalBatched(redis, 'batch', 0, BATCHES)
  await evalBatched(redis, 'failinfo', 0, FAILINFO)
  await evalBatched(redis, 'failinfo-legacy', FAILINFO, FAILINFO + FAILINFO_LEGACY)
  const days = Array.from({length: 365}, (_, d) => new Date(Date.now() - d * 86_400_000).toISOString().slice(0, 10))
  await redis.eval(QUEUES_LUA, 0, Math.floor(Date.now() / 1000), ...days)
}

const filler = new Filler()

// ---------------------------------------------------------------------------------------------- measuring

interface ChildResult {
  keys: number
  uniqueKeys: number
  calls: number
  batches: number
  scanCount: number
  scanMs: number
  maxRssKB: number
  vmHwmKB: number | null
  /** JS heap after a full GC at the end (the found keys still held). */
  retainedHeapMB: number
}

interface QdoctorRun extends ChildResult {
  wallMs: number
}

interface QdoctorMeasure {
  type: string | null
  runs: QdoctorRun[]
  medianWallMs: number
  medianScanMs: number
  keys: number
  expected: number
  peakRssMB: number
  /** Redis's own time in SCAN per run (INFO commandstats): what no client can go below. */
  serverScanMs: number
}

interface CliRun {
  wallMs: number
  lines: number
  uniqueKeys: number
}

interface CliMeasure {
  runs: CliRun[]
  medianWallMs: number
  serverScanMs: number
  scanCalls: number
  lines: number
  uniqueKeys: number
  expected: number
}

interface MemoryResult {
  keys: number
  loadMs: number
  redisUsedMemoryMB: number
  qdoctor: QdoctorMeasure
  /** One more qdoctor run with V8's young generation pinned (--max-semi-space-size=1): RSS without heap-sizing slack. */
  pinnedYoungGen: QdoctorRun
}

interface SizeResult extends MemoryResult {
  redisCli: CliMeasure
  qdoctorTypeHash?: QdoctorMeasure
  ratioWall: number
  ratioScanOnly: number
}

const mismatches: string[] = []

function compareKeys(label: string, got: string[], expected: string[]): void {
  const gotSet = new Set(got)
  const expectedSet = new Set(expected)
  const missing = expected.filter((k) => !gotSet.has(k))
  const extra = [...gotSet].filter((k) => !expectedSet.has(k))
  if (missing.length || extra.length || gotSet.size !== got.length) {
    mismatches.push(
      `${label}: ${got.length} keys (${gotSet.size} distinct), expected ${expected.length}; ` +
        `${missing.length} missing${missing.length ? ` e.g. ${missing.slice(0, 3).join(', ')}` : ''}, ` +
        `${extra.length} unexpected${extra.length ? ` e.g. ${extra.slice(0, 3).join(', ')}` : ''}`,
    )
  }
}

/** SCAN calls and Redis's own SCAN time (INFO commandstats) during `work`, on the throwaway server. */
async function withServerScanStats<T>(redis: Redis, work: () => Promise<T>): Promise<{value: T; calls: number; usec: number}> {
  const {value, stats} = await withServerStats(redis, work)
  return {value, calls: stats.commands.scan?.calls ?? 0, usec: stats.commands.scan?.usec ?? 0}
}

async function measureRedisCli(redis: Redis, port: number, label: string): Promise<CliMeasure> {
  const {value, calls, usec} = await withServerScanStats(redis, () => redisCliRuns(port, label))
  return {...value, serverScanMs: usec / 1000 / RUNS, scanCalls: calls / RUNS}
}

async function redisCliRuns(port: number, label: string): Promise<Omit<CliMeasure, 'serverScanMs' | 'scanCalls'>> {
  const runs: CliRun[] = []
  for (let i = 0; i < RUNS; i++) {
    const {wallMs, stdout} = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--scan', '--pattern', PATTERN])
    const lines = stdout.split('\n').filter((l) => l !== '')
    const unique = [...new Set(lines)]
    // redis-cli does not deduplicate; a rehash could repeat a key, so the comparison uses distinct keys.
    compareKeys(`redis-cli --scan (${label}, run ${i + 1})`, unique, expectedMatch)
    runs.push({wallMs, lines: lines.length, uniqueKeys: unique.length})
  }
  return {
    runs,
    medianWallMs: median(runs.map((r) => r.wallMs)),
    lines: runs[0]?.lines ?? 0,
    uniqueKeys: runs[0]?.uniqueKeys ?? 0,
    expected: expectedMatch.length,
  }
}

async function qdoctorOnce(url: string, extra: string[], nodeArgs: string[] = []): Promise<{run: QdoctorRun; keys: string[]}> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'qdoctor-bench-'))
  try {
    const keysOut = join(tmp, 'keys.txt')
    const {wallMs, stdout} = await run(process.execPath, ['--expose-gc', ...nodeArgs, CHILD, '--url', url, '--keys-out', keysOut, ...extra])
    const result = JSON.parse(stdout) as ChildResult
    const keys = existsSync(keysOut) ? readFileSync(keysOut, 'utf8').split('\n').filter((k) => k !== '') : []
    return {run: {...result, wallMs}, keys}
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
}

async function measureQdoctor(redis: Redis, url: string, label: string, type?: string): Promise<QdoctorMeasure> {
  const expected = type ? expectedHashes : expectedMatch
  const runs: QdoctorRun[] = []
  const {usec} = await withServerScanStats(redis, async () => {
    for (let i = 0; i < RUNS; i++) {
      const {run: r, keys} = await qdoctorOnce(url, ['--match', PATTERN, ...(type ? ['--type', type] : [])])
      compareKeys(`qdoctor scanKeys${type ? ` TYPE ${type}` : ''} (${label}, run ${i + 1})`, keys, expected)
      runs.push(r)
    }
  })
  return {
    serverScanMs: usec / 1000 / RUNS,
    type: type ?? null,
    runs,
    medianWallMs: median(runs.map((r) => r.wallMs)),
    medianScanMs: median(runs.map((r) => r.scanMs)),
    keys: runs[0]?.keys ?? 0,
    expected: expected.length,
    peakRssMB: Math.max(...runs.map((r) => rssMB(r))),
  }
}

function rssMB(r: ChildResult): number {
  return (r.vmHwmKB ?? r.maxRssKB) / 1024
}

async function load(redis: Redis, keys: number): Promise<number> {
  const t0 = performance.now()
  if ((await redis.dbsize()) === 0) await loadSidekiq(redis)
  await filler.fillTo(redis, keys)
  await waitForRehash(redis)
  const loadMs = performance.now() - t0
  console.log(`  loaded ${fmtKeys(keys)} keys in ${(loadMs / 1000).toFixed(1)} s (${filler.method}); scanning…`)
  return loadMs
}

/** The qdoctor scan alone: time, keys, peak RSS (plus one run with the young generation pinned). */
async function measureMemory(server: RedisServer, redis: Redis, keys: number, loadMs: number): Promise<MemoryResult> {
  const label = `${fmtKeys(keys)} keys`
  const url = server.url(0)
  const qdoctor = await measureQdoctor(redis, url, label)
  console.log(`  qdoctor scanKeys: ${fmtMs(qdoctor.medianWallMs)} (median of ${RUNS}: ${qdoctor.runs.map((r) => fmtMs(r.wallMs)).join(', ')}), ${qdoctor.keys} keys, peak RSS ${fmtMB(qdoctor.peakRssMB)}`)
  const pinned = await qdoctorOnce(url, ['--match', PATTERN], ['--max-semi-space-size=1'])
  compareKeys(`qdoctor scanKeys --max-semi-space-size=1 (${label})`, pinned.keys, expectedMatch)
  return {keys, loadMs, redisUsedMemoryMB: await usedMemoryMB(redis), qdoctor, pinnedYoungGen: pinned.run}
}

async function measureSize(server: RedisServer, redis: Redis, keys: number, withTypeHash: boolean): Promise<SizeResult> {
  const loadMs = await load(redis, keys)
  const label = `${fmtKeys(keys)} keys`
  const redisCli = await measureRedisCli(redis, server.port, label)
  console.log(`  redis-cli --scan: ${fmtMs(redisCli.medianWallMs)} (median of ${RUNS}: ${redisCli.runs.map((r) => fmtMs(r.wallMs)).join(', ')}), ${redisCli.lines} keys`)
  const memory = await measureMemory(server, redis, keys, loadMs)
  const qdoctorTypeHash = withTypeHash ? await measureQdoctor(redis, server.url(0), label, 'hash') : undefined
  if (qdoctorTypeHash) console.log(`  qdoctor scanKeys TYPE hash: ${fmtMs(qdoctorTypeHash.medianWallMs)}, ${qdoctorTypeHash.keys} keys`)
  return {
    ...memory,
    redisCli,
    qdoctorTypeHash,
    ratioWall: memory.qdoctor.medianWallMs / redisCli.medianWallMs,
    ratioScanOnly: memory.qdoctor.medianScanMs / redisCli.medianWallMs,
  }
}

// ---------------------------------------------------------------------------------------------- report

function printReport(sizes: SizeResult[], xl: MemoryResult | undefined, baseline: QdoctorRun): void {
  const speed = table(['keyspace', 'scanner', 'wall', 'scan only', 'SCAN calls', 'Redis time in SCAN', 'keys found', 'expected', 'vs redis-cli'])
  for (const s of sizes) {
    const cli = s.redisCli
    speed.push([fmtKeys(s.keys), 'redis-cli --scan (COUNT 10)', fmtMs(cli.medianWallMs), '', fmtKeys(Math.round(cli.scanCalls)), fmtMs(cli.serverScanMs), fmtKeys(cli.uniqueKeys), fmtKeys(cli.expected), '1.000'])
    for (const q of [s.qdoctor, s.qdoctorTypeHash]) {
      if (!q) continue
      const r = q.runs[0]!
      speed.push([
        fmtKeys(s.keys),
        `qdoctor scanKeys${q.type ? ` TYPE ${q.type}` : ''} (COUNT ${r.scanCount})`,
        fmtMs(q.medianWallMs),
        fmtMs(q.medianScanMs),
        fmtKeys(r.calls),
        fmtMs(q.serverScanMs),
        fmtKeys(q.keys),
        fmtKeys(q.expected),
        (q.medianWallMs / cli.medianWallMs).toFixed(3),
      ])
    }
  }
  const memory = table(['keyspace', 'qdoctor wall', 'peak RSS', 'peak RSS, young gen pinned to 1 MB', 'JS heap retained (after GC)'])
  memory.push(['no scan (connect + PING)', fmtMs(baseline.wallMs), fmtMB(rssMB(baseline)), '', fmtMB(baseline.retainedHeapMB)])
  for (const m of [...sizes, ...(xl ? [xl] : [])]) {
    const last = m.qdoctor.runs[m.qdoctor.runs.length - 1]!
    memory.push([
      `${fmtKeys(m.keys)}${m === xl ? ' (qdoctor only)' : ''}`,
      fmtMs(m.qdoctor.medianWallMs),
      fmtMB(m.qdoctor.peakRssMB),
      fmtMB(rssMB(m.pinnedYoungGen)),
      fmtMB(last.retainedHeapMB),
    ])
  }
  console.log()
  console.log(`SCAN --pattern '${PATTERN}' (${fmtKeys(expectedMatch.length)} matching keys: ${fmtKeys(FAILINFO)} hashes + ${fmtKeys(FAILINFO_LEGACY)} strings)`)
  console.log(speed.toString())
  console.log(`wall = whole process (start, connect, scan), median of ${RUNS} runs; scan only = timed inside the qdoctor process;`)
  console.log('Redis time in SCAN = the server\'s own SCAN time per run (INFO commandstats).')
  console.log()
  console.log(memory.toString())
  console.log(`peak RSS = max VmHWM over the ${RUNS} qdoctor runs (one process each, nothing but the scan). A longer scan adds a few MB`)
  console.log('of V8 young-generation sizing and JIT code, not keys: it levels off, and the heap retained after GC does not grow.')

  const big = sizes[sizes.length - 1]!
  const small = sizes[0]!
  const ok = big.ratioWall <= TARGET_RATIO
  console.log()
  console.log(
    `ratio qdoctor/redis-cli at ${fmtKeys(big.keys)} keys: ${big.ratioWall.toFixed(3)} (scan only ${big.ratioScanOnly.toFixed(3)}); ` +
      `target <= ${TARGET_RATIO}: ${ok ? 'met' : 'NOT MET'}`,
  )
  const all = [...sizes, ...(xl ? [xl] : [])]
  console.log(
    `qdoctor peak RSS: ${all.map((m) => `${fmtMB(m.qdoctor.peakRssMB)} at ${fmtKeys(m.keys)} keys`).join(', ')} ` +
      `(${signed(big.qdoctor.peakRssMB - small.qdoctor.peakRssMB)} for ${(big.keys / small.keys).toFixed(1)}x the keys` +
      `${xl ? `, ${signed(xl.qdoctor.peakRssMB - big.qdoctor.peakRssMB)} for ${(xl.keys / big.keys).toFixed(1)}x more` : ''})`,
  )
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  if (!existsSync(join(ROOT, 'dist/lib/redis/scan.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does).')
  const {server, client, version: redisVersion} = await startBenchServer()
  console.log(`redis-server on 127.0.0.1:${server.port} (${redisVersion.split(' ').slice(0, 3).join(' ')}), pattern '${PATTERN}'`)

  const {run: baseline} = await qdoctorOnce(server.url(0), ['--baseline'])

  const sizes: SizeResult[] = []
  for (const keys of [SMALL_KEYS, KEYS]) {
    console.log(`\n${fmtKeys(keys)} keys`)
    sizes.push(await measureSize(server, client, keys, keys === KEYS))
  }
  let xl: MemoryResult | undefined
  if (XL_KEYS) {
    console.log(`\n${fmtKeys(XL_KEYS)} keys (qdoctor only: memory check)`)
    xl = await measureMemory(server, client, XL_KEYS, await load(client, XL_KEYS))
  }
  printReport(sizes, xl, baseline)

  const big = sizes[sizes.length - 1]!
  const small = sizes[0]!
  const results = {
    config: {
      keys: KEYS,
      smallKeys: SMALL_KEYS,
      xlKeys: XL_KEYS,
      pattern: PATTERN,
      runs: RUNS,
      fillMethod: filler.method,
      keyspace: {
        failinfoHashes: FAILINFO,
        failinfoStrings: FAILINFO_LEGACY,
        batches: BATCHES,
        fillerAtLargestKeyspace: filler.loaded,
        note: 'b-<bid> hashes + b-<bid>-jids sets, b-<bid>-failinfo hashes (+1% legacy strings), 15 queue:* lists, retry/schedule/dead zsets, processes, stat:* strings; the rest cache:<n> strings',
      },
    },
    baseline: {rssMB: rssMB(baseline), ...baseline},
    sizes,
    memoryOnly: xl ?? null,
    summary: {
      ratioWall: big.ratioWall,
      ratioScanOnly: big.ratioScanOnly,
      targetRatio: TARGET_RATIO,
      ratioMet: big.ratioWall <= TARGET_RATIO,
      redisCliMs: big.redisCli.medianWallMs,
      qdoctorMs: big.qdoctor.medianWallMs,
      qdoctorScanOnlyMs: big.qdoctor.medianScanMs,
      redisServerScanMs: {redisCli: big.redisCli.serverScanMs, qdoctor: big.qdoctor.serverScanMs},
      peakRssMB: Object.fromEntries([...sizes, ...(xl ? [xl] : [])].map((m) => [m.keys, m.qdoctor.peakRssMB])),
      rssGrowthMB: big.qdoctor.peakRssMB - small.qdoctor.peakRssMB,
      peakRssYoungGenPinnedMB: Object.fromEntries([...sizes, ...(xl ? [xl] : [])].map((m) => [m.keys, rssMB(m.pinnedYoungGen)])),
      baselineRssMB: rssMB(baseline),
      countsMatch: mismatches.length === 0,
      mismatches,
    },
  }
  return finishBench('scan', redisVersion, results, mismatches, 'KEY COUNT MISMATCH')
}

await runBench(main)
