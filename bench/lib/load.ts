// Loading a bench keyspace fast: server-side Lua in large batches, DEBUG POPULATE for filler, and
// the server-side numbers (INFO commandstats, used_memory) the benches report.
import type {Redis} from 'ioredis'

import {fillWithLua} from './env.js'

/**
 * EVAL `script` over the index range [from, to) in slices of `batch` indexes; `argv(start, end)`
 * gives the ARGV of one call. Returns the replies, one per call.
 */
export async function evalInBatches<T = unknown>(
  redis: Redis,
  script: string,
  from: number,
  to: number,
  batch: number,
  argv: (start: number, end: number) => Array<string | number>,
): Promise<T[]> {
  const replies: T[] = []
  for (let start = from; start < to; start += batch) {
    replies.push((await redis.eval(script, 0, ...argv(start, Math.min(start + batch, to)))) as T)
  }
  return replies
}

/** `cache:<n>` = `value:<n>` strings, the same keys and values DEBUG POPULATE … cache writes. */
const FILLER_LUA = `
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
  redis.call('SET', 'cache:' .. i, 'value:' .. i)
end
return 1
`
/** Filler keys per EVAL when loading with Lua. */
const FILLER_LUA_BATCH = 10_000

export type FillMethod = 'debug-populate' | 'lua'

/** Filler that grows the keyspace to an exact size: DEBUG POPULATE, or Lua where DEBUG is refused (or BENCH_FILL=lua). */
export class Filler {
  method: FillMethod = fillWithLua() ? 'lua' : 'debug-populate'
  /** Filler keys written so far (`cache:0` … `cache:<loaded-1>`). */
  loaded = 0

  /** Grow the filler (`cache:<n>` strings) until the database holds exactly `total` keys. */
  async fillTo(redis: Redis, total: number): Promise<void> {
    const size = await redis.dbsize()
    const want = this.loaded + (total - size)
    if (want < this.loaded) throw new Error(`keyspace already holds ${size} keys, more than ${total}`)
    if (this.method === 'debug-populate') {
      try {
        // Creates cache:0 … cache:<want-1>, skipping those that exist; value "value:<n>".
        await redis.call('DEBUG', 'POPULATE', String(want), 'cache')
      } catch (err) {
        console.warn(`DEBUG POPULATE unavailable (${(err as Error).message}); loading filler with Lua instead.`)
        this.method = 'lua'
      }
    }
    if (this.method === 'lua') await evalInBatches(redis, FILLER_LUA, this.loaded, want, FILLER_LUA_BATCH, (start, end) => [start, end])
    this.loaded = want
    const after = await redis.dbsize()
    if (after !== total) throw new Error(`loaded ${after} keys, expected ${total}`)
  }
}

/** SCAN can return a key twice while the main table rehashes: wait for a quiet table so runs compare. */
export async function waitForRehash(redis: Redis, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    let stats: string
    try {
      stats = String(await redis.call('DEBUG', 'HTSTATS', '0'))
    } catch {
      return // DEBUG disabled: the benches deduplicate what they compare
    }
    if (!/rehashing/i.test(stats)) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export async function usedMemoryMB(redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1024 / 1024
}

export interface CommandStat {
  calls: number
  usec: number
}

export interface ServerStats {
  /** Calls and Redis's own time per command (INFO commandstats; lower-case names). Commands a Lua script calls count too. */
  commands: Record<string, CommandStat>
  /** Per-call latency percentiles in µs (INFO latencystats, Redis 7+; empty before). */
  latency: Record<string, {p50: number; p99: number}>
  /** CPU time the redis-server process used (used_cpu_user + used_cpu_sys), ms. */
  cpuMs: number
}

function cpuSeconds(info: string): number {
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0)
}

/** What Redis did during `work`: calls and time per command, latency percentiles, CPU time. */
export async function withServerStats<T>(redis: Redis, work: () => Promise<T>): Promise<{value: T; stats: ServerStats}> {
  await redis.config('RESETSTAT')
  const cpuBefore = cpuSeconds(await redis.info('cpu'))
  const value = await work()
  const cpuMs = (cpuSeconds(await redis.info('cpu')) - cpuBefore) * 1000
  const commands: ServerStats['commands'] = {}
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) commands[m[1]!] = {calls: Number(m[2]), usec: Number(m[3])}
  const latency: ServerStats['latency'] = {}
  const latencyInfo = await redis.info('latencystats').catch(() => '')
  for (const m of latencyInfo.matchAll(/^latency_percentiles_usec_([^:]+):p50=([\d.]+),p99=([\d.]+)/gm)) latency[m[1]!] = {p50: Number(m[2]), p99: Number(m[3])}
  return {value, stats: {commands, latency, cpuMs}}
}
