// failinfo benchmark (issue 4): the real `qdoctor failinfo` report (SCAN + sizes + batch state, JSON out)
// against `redis-cli --scan --pattern 'b-*-failinfo'` (merely listing the keys) and `redis-cli --memkeys`
// (sizes of every key) on the same data in the same run: 1,000,000 Sidekiq Pro failinfo hashes among
// 2,000,000 keys in a throwaway redis-server (free port, never 6379, no persistence).
//
//   npm run bench:failinfo                            # 1,000,000 failinfo hashes, 2,000,000 keys
//   BENCH_FAILINFO_KEYS=100000 npm run bench:failinfo # smaller: 100,000 among 200,000
//
// qdoctor runs as a user would run it, `node bin/run.js failinfo --url … --json --max-ops 0`, one process per
// run: its wall time covers node start, oclif, connect, the scan, the measurement and the JSON. --max-ops 0
// lifts the default budget of 5,000 commands/s, which would otherwise set the pace. Peak RSS comes from
// `/usr/bin/time -f %M` (GNU time) or, without it, from a probe reading the child's own VmHWM as it exits.
//
// Env: BENCH_FAILINFO_KEYS (failinfo hashes, default 1000000), BENCH_FAILINFO_TOTAL (keys in all, default
// 2*BENCH_FAILINFO_KEYS), BENCH_RUNS (runs of the listing and of qdoctor, interleaved, median taken; default
// 3), BENCH_MEMKEYS=0 (skip the slow `redis-cli --memkeys`), BENCH_FILL=lua (filler with Lua, not DEBUG POPULATE).
// Writes the "failinfo" section of bench/results.json. Exits 1 when qdoctor's or redis-cli's counts differ
// from what was loaded.
import {existsSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Redis} from 'ioredis'

import {envInt} from './lib/env.js'
import {type CommandStat, evalInBatches, Filler, type ServerStats, usedMemoryMB, waitForRehash, withServerStats} from './lib/load.js'
import {type PeakRssSource, run, type RunResult, runWithPeakRss} from './lib/process.js'
import {finishBench, fmtKeys, fmtMB, fmtMs, median, table} from './lib/report.js'
import {runBench, startBenchServer} from './lib/server.js'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const BIN = join(ROOT, 'bin', 'run.js')
const PATTERN = 'b-*-failinfo'
const TARGETS = {listingRatio: 0.5, memkeysSpeedup: 6, peakRssMB: 200}
/** Failinfo keys per EVAL when loading. */
const LOAD_BATCH = 5_000

// ---------------------------------------------------------------------------------------------- config

const FAILINFO = envInt('BENCH_FAILINFO_KEYS', 1_000_000)
const TOTAL = envInt('BENCH_FAILINFO_TOTAL', 2 * FAILINFO)
const RUNS = envInt('BENCH_RUNS', 3)
const MEMKEYS = process.env.BENCH_MEMKEYS !== '0'
if (FAILINFO < 1_000) throw new Error('BENCH_FAILINFO_KEYS must be at least 1000')
/** `b-<bid>-failinfo` *strings*: they match the pattern, so redis-cli lists them, but qdoctor counts them as wrong-type. */
const WRONG_TYPE = Math.max(1, Math.floor(FAILINFO / 10_000))
/** A few giant hashes (over the 10 MB oversized-key threshold), as a mass failure leaves behind. */
const HUGE = 3
const HUGE_ENTRIES = 110_000
const NOW = Math.floor(Date.now() / 1000)

// ---------------------------------------------------------------------------------------------- keyspace

// One EVAL writes failinfo keys [from, to) with their batch companions and returns what it wrote:
// {entries, noTtl, orphans, parents, failedSets}. Everything is derived from the index, so a run is
// reproducible. Shape (sidekiq-data-model.md §6.1): field = jid, value = failure JSON.
//   - entries: 95% 1-4, 5% 20-60, every 1000th 200-600 with a backtrace, the first HUGE keys 110,000;
//   - TTL: 12% none, 8% 1 hour to 1 day (none expires during the bench), 25% 1-7 days, 55% 7-30 days;
//   - parent b-<bid>: 85% exist (70% created_at float seconds as Pro <= 7 writes it, 10% integer
//     milliseconds as Pro 8 does, 5% none), 15% are orphans; a tenth of the parents have b-<bid>-failed.
// kind 'wrong-type' writes b-<bid>-failinfo strings instead.
const KEYSPACE_LUA = `
local kind, from, to, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local huge, hugeEntries = tonumber(ARGV[5]), tonumber(ARGV[6])
local A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
local DAY = 86400
local function b64(n, len)
  local out = {}
  for j = 1, len do
    local d = n % 64
    out[j] = string.sub(A, d + 1, d + 1)
    n = math.floor(n / 64)
  end
  return table.concat(out)
end
local function jid(i, j) return string.format('%012x%012x', i, j) end
local ERRORS = {
  {'RuntimeError', 'Import row %d failed: upstream returned 502'},
  {'ActiveRecord::RecordNotFound', "Couldn't find Order with 'id'=%d"},
  {'Net::ReadTimeout', 'Net::ReadTimeout'},
  {'NoMethodError', "undefined method 'email' for nil:NilClass (user %d)"},
  {'Faraday::ConnectionFailed', 'Failed to open TCP connection to api.partner.example:443 (Connection refused - connect(2) for api.partner.example port 443)'},
  {'Redis::TimeoutError', 'Connection timed out'},
  {'ArgumentError', 'wrong number of arguments (given 2, expected 1)'},
}
local BACKTRACE = ',"backtrace":["app/services/import/row_importer.rb:118:in import_row!","app/services/import/row_importer.rb:64:in block in call",' ..
  '"app/workers/import_worker.rb:42:in perform","sidekiq/processor.rb:202:in execute_job","sidekiq/processor.rb:170:in block (2 levels) in process",' ..
  '"sidekiq/middleware/chain.rb:128:in invoke","sidekiq/processor.rb:169:in block in process"]'
local entries, noTtl, orphans, parents, failedSets = 0, 0, 0, 0, 0
for i = from, to - 1 do
  local x = (i * 2654435761) % 4294967296
  local bid = b64(i, 5) .. b64(x, 6) .. b64((i * 40503 + 12345) % 16777216, 3)
  local key = 'b-' .. bid .. '-failinfo'
  if kind == 'wrong-type' then
    redis.call('SET', key, 'RuntimeError: written by a pre-hash Pro version')
  else
    local n, backtrace = 1 + math.floor(x / 7) % 4, false
    if i < huge then n = hugeEntries
    elseif i % 1000 == 500 then n = 200 + (math.floor(i / 1000) % 5) * 100; backtrace = true
    elseif x % 100 < 5 then n = 20 + x % 41 end
    local args = {}
    for j = 0, n - 1 do
      local e = ERRORS[(i + j) % #ERRORS + 1]
      args[#args + 1] = jid(i, j)
      args[#args + 1] = '{"errtype":"' .. e[1] .. '","errmsg":"' .. string.format(e[2], i + j) .. '"' .. (backtrace and BACKTRACE or '') .. '}'
      if #args >= 1000 then redis.call('HSET', key, unpack(args)); args = {} end
    end
    if #args > 0 then redis.call('HSET', key, unpack(args)) end
    entries = entries + n
    local t = math.floor(x / 10000) % 100
    if t < 12 then noTtl = noTtl + 1
    elseif t < 20 then redis.call('EXPIRE', key, 3600 + x % (DAY - 3600))
    elseif t < 45 then redis.call('EXPIRE', key, DAY + x % (6 * DAY))
    else redis.call('EXPIRE', key, 7 * DAY + x % (23 * DAY)) end
    local p = math.floor(x / 1000000) % 100
    if p < 85 then
      local b = 'b-' .. bid
      local age = x % (35 * DAY)
      local fields = {'total', tostring(n + 10), 'pending', tostring(n), 'failures', tostring(n), 'kids', '0',
        'description', 'Nightly import #' .. i, 'cbq', 'default'}
      if p < 70 then
        fields[#fields + 1] = 'created_at'; fields[#fields + 1] = string.format('%.6f', now - age - (x % 1000) / 1000)
      elseif p < 80 then
        fields[#fields + 1] = 'created_at'; fields[#fields + 1] = string.format('%d', (now - age) * 1000)
      end
      redis.call('HSET', b, unpack(fields))
      redis.call('EXPIRE', b, 30 * DAY)
      parents = parents + 1
      if math.floor(x / 100000000) % 10 == 0 then
        redis.call('SADD', b .. '-failed', jid(i, 0))
        redis.call('EXPIRE', b .. '-failed', 30 * DAY)
        failedSets = failedSets + 1
      end
    else
      orphans = orphans + 1
    end
  end
end
return {entries, noTtl, orphans, parents, failedSets}
`

interface Loaded {
  failinfo: number
  wrongType: number
  entries: number
  noTtl: number
  orphans: number
  parents: number
  failedSets: number
  filler: number
  fillMethod: string
  totalKeys: number
  loadMs: number
  redisUsedMemoryMB: number
}

async function load(redis: Redis): Promise<Loaded> {
  const t0 = performance.now()
  const argv = (kind: string) => (start: number, end: number) => [kind, start, end, NOW, HUGE, HUGE_ENTRIES]
  const replies = await evalInBatches<number[]>(redis, KEYSPACE_LUA, 0, FAILINFO, LOAD_BATCH, argv('failinfo'))
  const sum = (i: number) => replies.reduce((n, r) => n + Number(r[i]), 0)
  await evalInBatches(redis, KEYSPACE_LUA, FAILINFO, FAILINFO + WRONG_TYPE, LOAD_BATCH, argv('wrong-type'))
  const sidekiqKeys = await redis.dbsize()
  if (sidekiqKeys > TOTAL) throw new Error(`the failinfo keys and their companions are ${sidekiqKeys} keys, more than BENCH_FAILINFO_TOTAL=${TOTAL}`)
  const filler = new Filler()
  await filler.fillTo(redis, TOTAL)
  await waitForRehash(redis)
  return {
    failinfo: FAILINFO,
    wrongType: WRONG_TYPE,
    entries: sum(0),
    noTtl: sum(1),
    orphans: sum(2),
    parents: sum(3),
    failedSets: sum(4),
    filler: filler.loaded,
    fillMethod: filler.method,
    totalKeys: TOTAL,
    loadMs: performance.now() - t0,
    redisUsedMemoryMB: await usedMemoryMB(redis),
  }
}

// ---------------------------------------------------------------------------------------------- measuring

interface Run {
  wallMs: number
  /** What Redis did during the run. */
  server: ServerStats
}

interface ListingRun extends Run {
  lines: number
  uniqueKeys: number
}

interface QdoctorRun extends Run {
  peakRssMB: number
  peakRssSource: PeakRssSource
  /** CPU time of the qdoctor process (user + system). */
  cpuMs: number
  exitCode: number
  summary: {keys: number; entries: number; bytes: number; noTtl: number; orphans: number; wrongType: number; top: number}
}

interface MemkeysRun extends Run {
  sampledKeys: number
}

interface FailinfoJson {
  complete: boolean
  incomplete?: string[]
  summary: {keys: number; entries: number; bytes: number; noTtl: number; orphans: number; wrongType: number; top: unknown[]}
}

const mismatches: string[] = []

function check(label: string, what: string, got: number, expected: number): void {
  if (got !== expected) mismatches.push(`${label}: ${what} ${fmtKeys(got)}, expected ${fmtKeys(expected)}`)
}

function redisCli(port: number, ...args: string[]): Promise<RunResult> {
  return run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])
}

async function listing(redis: Redis, port: number, loaded: Loaded, label: string): Promise<ListingRun> {
  const {value, stats} = await withServerStats(redis, () => redisCli(port, '--scan', '--pattern', PATTERN))
  const lines = value.stdout.split('\n').filter((l) => l !== '')
  // redis-cli does not deduplicate (a rehash could repeat a key): compare distinct keys.
  const uniqueKeys = new Set(lines).size
  check(`redis-cli --scan (${label})`, 'distinct keys', uniqueKeys, loaded.failinfo + loaded.wrongType)
  return {wallMs: value.wallMs, server: stats, lines: lines.length, uniqueKeys}
}

async function memkeys(redis: Redis, port: number, loaded: Loaded): Promise<MemkeysRun> {
  const {value, stats} = await withServerStats(redis, () => redisCli(port, '--memkeys'))
  // Not the progress lines ("[50.00%] Sampled 1000000 keys so far"): the summary.
  const sampledKeys = Number(/Sampled (\d+) keys in the keyspace/.exec(value.stdout)?.[1] ?? -1)
  check('redis-cli --memkeys', 'keys sampled', sampledKeys, loaded.totalKeys)
  return {wallMs: value.wallMs, server: stats, sampledKeys}
}

/** `node bin/run.js failinfo --url … --json --max-ops 0 …` in a process of its own; checks its JSON against `loaded`. */
async function qdoctor(redis: Redis, url: string, label: string, extra: string[], loaded?: Loaded): Promise<QdoctorRun> {
  const args = [BIN, 'failinfo', '--url', url, '--json', '--max-ops', '0', ...extra]
  // Exit 1 = a finding at error severity (failinfo over --error-bytes): still a complete report.
  const {value, stats} = await withServerStats(redis, () => runWithPeakRss(process.execPath, args, {okCodes: [0, 1]}))
  let doc: FailinfoJson
  try {
    doc = JSON.parse(value.stdout) as FailinfoJson
  } catch {
    throw new Error(`qdoctor failinfo (${label}) did not print JSON: ${value.stdout.slice(0, 500)} ${value.stderr.slice(0, 500)}`)
  }
  const s = doc.summary
  const result: QdoctorRun = {
    wallMs: value.wallMs,
    server: stats,
    peakRssMB: value.peakRssKB / 1024,
    peakRssSource: value.peakRssSource,
    cpuMs: value.cpuMs,
    exitCode: value.code,
    summary: {keys: s.keys, entries: s.entries, bytes: s.bytes, noTtl: s.noTtl, orphans: s.orphans, wrongType: s.wrongType, top: s.top.length},
  }
  if (!loaded) return result
  const what = `qdoctor failinfo ${extra.join(' ')} (${label})`.replace('  ', ' ')
  if (!doc.complete) mismatches.push(`${what}: report incomplete: ${(doc.incomplete ?? []).join('; ')}`)
  check(what, 'summary.keys', s.keys, loaded.failinfo)
  check(what, 'summary.entries', s.entries, loaded.entries)
  check(what, 'summary.noTtl', s.noTtl, loaded.noTtl)
  check(what, 'summary.orphans', s.orphans, loaded.orphans)
  check(what, 'summary.wrongType', s.wrongType, loaded.wrongType)
  if (!(s.bytes > 0)) mismatches.push(`${what}: summary.bytes is ${s.bytes}, expected > 0`)
  return result
}

/** The run whose wall time is the median (the odd-length case; the lower middle otherwise). */
function medianRun<T extends Run>(runs: T[]): T {
  return [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((runs.length - 1) / 2)]!
}

// ---------------------------------------------------------------------------------------------- report

function lua(r: Run): CommandStat {
  const {eval: e, evalsha: sha} = r.server.commands
  return {calls: (e?.calls ?? 0) + (sha?.calls ?? 0), usec: (e?.usec ?? 0) + (sha?.usec ?? 0)}
}
const scanOf = (r: Run): CommandStat => r.server.commands.scan ?? {calls: 0, usec: 0}

function luaCell(r: Run): string {
  const l = lua(r)
  if (!l.calls) return ''
  // qdoctor sends EVALSHA (EVAL only until the script is cached): the percentiles of the one used most.
  const {eval: e, evalsha: sha} = r.server.commands
  const p = (sha?.calls ?? 0) >= (e?.calls ?? 0) ? r.server.latency.evalsha : r.server.latency.eval
  return `${fmtKeys(l.calls)} calls, ${fmtMs(l.usec / 1000)}${p ? ` (p50 ${Math.round(p.p50)} µs, p99 ${Math.round(p.p99)} µs)` : ''}`
}

function row(tool: string, does: string, wallMs: number, r: Run, keys: number, rss?: number): string[] {
  const s = scanOf(r)
  return [tool, does, fmtMs(wallMs), fmtMs(r.server.cpuMs), `${fmtKeys(s.calls)} calls, ${fmtMs(s.usec / 1000)}`, luaCell(r), fmtKeys(keys), rss === undefined ? '' : fmtMB(rss)]
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  if (!existsSync(join(ROOT, 'dist/commands/failinfo.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does).')
  const {server, client, version} = await startBenchServer()
  const url = server.url(0)
  console.log(`redis-server on 127.0.0.1:${server.port} (${version.split(' ').slice(0, 3).join(' ')}), pattern '${PATTERN}'`)
  console.log('qdoctor runs as `node bin/run.js failinfo --url <url> --json --max-ops 0`: --max-ops 0 lifts the default budget of 5,000 commands/s.')

  // node + oclif start, connect, an empty scan: what every run pays before it reads a key.
  const startup = await qdoctor(client, server.url(1), 'empty db', [])

  console.log(`\nloading ${fmtKeys(FAILINFO)} failinfo hashes among ${fmtKeys(TOTAL)} keys…`)
  const loaded = await load(client)
  console.log(
    `  loaded in ${(loaded.loadMs / 1000).toFixed(1)} s: ${fmtKeys(loaded.failinfo)} failinfo hashes (${fmtKeys(loaded.entries)} entries, ` +
      `${fmtKeys(loaded.noTtl)} without TTL, ${fmtKeys(loaded.orphans)} orphans), ${fmtKeys(loaded.wrongType)} failinfo strings, ` +
      `${fmtKeys(loaded.parents)} b-<bid>, ${fmtKeys(loaded.failedSets)} b-<bid>-failed, ${fmtKeys(loaded.filler)} filler (${loaded.fillMethod}); ` +
      `Redis uses ${fmtMB(loaded.redisUsedMemoryMB)}`,
  )

  // Interleaved, so that a noisy moment on a shared machine hits both.
  const listings: ListingRun[] = []
  const qdoctors: QdoctorRun[] = []
  for (let i = 0; i < RUNS; i++) {
    const l = await listing(client, server.port, loaded, `run ${i + 1}`)
    listings.push(l)
    console.log(`  run ${i + 1}: redis-cli --scan --pattern: ${fmtMs(l.wallMs)} (${fmtKeys(l.uniqueKeys)} keys)`)
    const q = await qdoctor(client, url, `run ${i + 1}`, [], loaded)
    qdoctors.push(q)
    console.log(`  run ${i + 1}: qdoctor failinfo:          ${fmtMs(q.wallMs)} (${fmtKeys(q.summary.keys)} keys, ${fmtMB(q.summary.bytes / 1024 / 1024)}), peak RSS ${fmtMB(q.peakRssMB)}`)
  }
  const exact = await qdoctor(client, url, 'one run', ['--exact'], loaded)
  console.log(`  qdoctor failinfo --exact: ${fmtMs(exact.wallMs)}, peak RSS ${fmtMB(exact.peakRssMB)}`)
  const upgrade = await qdoctor(client, url, 'one run', ['--upgrade-check'], loaded)
  console.log(`  qdoctor failinfo --upgrade-check: ${fmtMs(upgrade.wallMs)}, peak RSS ${fmtMB(upgrade.peakRssMB)}`)
  let mem: MemkeysRun | undefined
  if (MEMKEYS) {
    console.log('  redis-cli --memkeys (once: it is slow)…')
    mem = await memkeys(client, server.port, loaded)
    console.log(`  redis-cli --memkeys: ${fmtMs(mem.wallMs)} (${fmtKeys(mem.sampledKeys)} keys)`)
  }

  const listingMs = median(listings.map((r) => r.wallMs))
  const qdoctorMs = median(qdoctors.map((r) => r.wallMs))
  const peakRssMB = Math.max(...[...qdoctors, exact, upgrade].map((r) => r.peakRssMB))
  const listingRatio = qdoctorMs / listingMs
  const memkeysSpeedup = mem ? mem.wallMs / qdoctorMs : undefined
  const met = {
    listingRatio: listingRatio <= TARGETS.listingRatio,
    memkeysSpeedup: memkeysSpeedup === undefined ? null : memkeysSpeedup >= TARGETS.memkeysSpeedup,
    peakRssMB: peakRssMB <= TARGETS.peakRssMB,
  }
  const q = medianRun(qdoctors)
  const l = medianRun(listings)

  const t = table(['tool', 'does', 'wall', 'Redis CPU', 'SCAN: calls, Redis time', 'Lua: calls, Redis time (per call)', 'keys', 'peak RSS'])
  t.push(row('redis-cli --scan --pattern', 'lists the names', listingMs, l, l.uniqueKeys))
  t.push(row('qdoctor failinfo', 'the full report, sizes included', qdoctorMs, q, q.summary.keys, peakRssMB))
  t.push(row('qdoctor failinfo --exact', 'same, MEMORY USAGE SAMPLES 0', exact.wallMs, exact, exact.summary.keys, exact.peakRssMB))
  t.push(row('qdoctor failinfo --upgrade-check', 'same, + b-<bid>-failed of every key', upgrade.wallMs, upgrade, upgrade.summary.keys, upgrade.peakRssMB))
  if (mem) t.push(row('redis-cli --memkeys', 'sizes of every key (TYPE + MEMORY USAGE)', mem.wallMs, mem, mem.sampledKeys))
  t.push(row('qdoctor failinfo, empty db', 'node + oclif start, connect', startup.wallMs, startup, 0, startup.peakRssMB))

  console.log()
  console.log(`${fmtKeys(loaded.failinfo)} failinfo hashes (+${fmtKeys(loaded.wrongType)} failinfo strings) among ${fmtKeys(loaded.totalKeys)} keys; qdoctor with --json --max-ops 0 (no ops/s budget)`)
  console.log(t.toString())
  console.log(`wall = whole process, start to exit; listing and qdoctor: median of ${RUNS} interleaved runs (${listings.map((r) => fmtMs(r.wallMs)).join(', ')} / ${qdoctors.map((r) => fmtMs(r.wallMs)).join(', ')}); the rest one run.`)
  console.log('Redis CPU = CPU time of redis-server during the run; SCAN and Lua: Redis\'s own time in those commands (INFO commandstats), per call: INFO latencystats.')
  console.log(`peak RSS: ${q.peakRssSource === 'gnu-time' ? '/usr/bin/time -f %M' : "the child's VmHWM"}, max over the qdoctor runs. qdoctor process CPU: ${fmtMs(q.cpuMs)} (median run).`)
  console.log(`qdoctor found ${fmtMB(q.summary.bytes / 1024 / 1024)} in failinfo. Redis alone was busy ${fmtMs(q.server.cpuMs)} of qdoctor's ${fmtMs(qdoctorMs)}: no client can be faster than that.`)
  console.log(`load average (1, 5, 15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} on ${os.cpus().length} CPUs; other work on the machine slows every tool, unevenly.`)
  console.log()
  const verdict = (ok: boolean | null) => (ok === null ? 'not measured (BENCH_MEMKEYS=0)' : ok ? 'met' : 'NOT MET')
  console.log(`qdoctor / redis-cli --scan listing: ${listingRatio.toFixed(3)}  (target <= ${TARGETS.listingRatio}: ${verdict(met.listingRatio)})`)
  console.log(`redis-cli --memkeys / qdoctor:      ${memkeysSpeedup === undefined ? '-' : `${memkeysSpeedup.toFixed(2)}x`}  (target >= ${TARGETS.memkeysSpeedup}x: ${verdict(met.memkeysSpeedup)})`)
  console.log(`qdoctor peak RSS:                   ${fmtMB(peakRssMB)}  (target <= ${TARGETS.peakRssMB} MB: ${verdict(met.peakRssMB)})`)

  const results = {
    config: {
      failinfoKeys: FAILINFO,
      totalKeys: TOTAL,
      runs: RUNS,
      pattern: PATTERN,
      qdoctorCommand: 'node bin/run.js failinfo --url <url> --json --max-ops 0',
      note: '--max-ops 0 lifts the default budget of 5,000 commands/s',
    },
    keyspace: loaded,
    targets: TARGETS,
    summary: {
      listingMs,
      qdoctorMs,
      qdoctorExactMs: exact.wallMs,
      qdoctorUpgradeCheckMs: upgrade.wallMs,
      memkeysMs: mem?.wallMs ?? null,
      listingRatio,
      memkeysSpeedup: memkeysSpeedup ?? null,
      peakRssMB,
      qdoctorRedisCpuMs: q.server.cpuMs,
      qdoctorProcessCpuMs: q.cpuMs,
      met,
      countsMatch: mismatches.length === 0,
      mismatches,
    },
    runs: {startup, listing: listings, qdoctor: qdoctors, qdoctorExact: exact, qdoctorUpgradeCheck: upgrade, memkeys: mem ?? null},
  }
  return finishBench('failinfo', version, results, mismatches)
}

await runBench(main)
