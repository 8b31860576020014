// `qdoctor dead --retry` killed (SIGKILL) in the middle of its pipelined batches: many jobs per
// ZMOVE_MANY call, every intent of a batch fsync'ed before the batch is sent, the outcome lines of a
// batch written after it. Whatever the moment of the kill, each job is in dead or in its queue exactly
// once, and undo puts back exactly what moved (intents never sent come out "already back").
import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {waitForOutcomes} from '../helpers/journals.js'

const t = useTestDb()
const NOW = Math.floor(Date.now() / 1000)
const BIG = '123456789012345678901234567890'
const N = 3000

function member(i: number): string {
  const payload = {retry: true, queue: i % 2 ? 'default' : 'low', class: 'HardJob', args: ['@BIG@', i], jid: i.toString(16).padStart(24, '0'), created_at: NOW - 5000 + i + 0.125, enqueued_at: NOW - 4000 + i + 0.25, error_message: `boom ${i}`, error_class: 'RuntimeError', failed_at: NOW - 3000 + i, retry_count: 25}
  return JSON.stringify(payload).replace('"@BIG@"', BIG)
}

describe('qdoctor dead --retry, killed mid-batch', () => {
  it('leaves every job exactly once in dead or its queue, and undo restores the set exactly', async () => {
    const redis = t.db.redis
    for (let start = 0; start < N; start += 1000) {
      const args: string[] = []
      for (let i = start; i < Math.min(N, start + 1000); i++) args.push(String(NOW - 2000 + i * 0.25), member(i))
      await redis.zadd('dead', ...args)
    }
    const before = await redis.zrange('dead', 0, -1, 'WITHSCORES')
    const journal = t.journals.path('killed-batched-retry')
    let pid = 0
    // Pages of 200 (two ZMOVE_MANY calls each) under the default --max-ops budget: ~15 batches over ~1 s.
    const run = runCli(['dead', '--retry', '--page-size', '200', '--yes', '--journal', journal, '--url', t.db.url], {onSpawn: (p) => (pid = p), timeoutMs: 30_000})
    await waitForOutcomes(journal, 400, 20_000)
    process.kill(pid, 'SIGKILL')
    const killed = await run
    expect(killed.code).toBeNull()

    const queued = [...(await redis.lrange('queue:default', 0, -1)), ...(await redis.lrange('queue:low', 0, -1))]
    const moved = queued.length
    expect(moved).toBeGreaterThanOrEqual(400)
    expect(moved).toBeLessThan(N)
    const left = await redis.zrange('dead', 0, -1)
    expect(left).toHaveLength(N - moved)
    // Exactly once: no jid both queued and still dead, none queued twice.
    const jids = queued.map((m) => JSON.parse(m).jid as string)
    expect(new Set(jids).size).toBe(moved)
    const stillDead = new Set(left.map((m) => JSON.parse(m).jid as string))
    expect(jids.filter((j) => stillDead.has(j))).toEqual([])
    // Retried as Sidekiq does: retry_count − 1, every other byte kept (the big integer too).
    expect(queued.every((m) => m.includes('"retry_count":24') && m.includes(BIG))).toBe(true)

    const undo = await runCli(['undo', journal, '--yes', '--url', t.db.url, '--json'], {timeoutMs: 60_000})
    expect(undo.code, undo.stderr).toBe(0)
    expect(undo.json().summary.restored).toBe(moved)
    expect(await redis.zrange('dead', 0, -1, 'WITHSCORES')).toEqual(before)
    expect(await redis.exists('queue:default', 'queue:low')).toBe(0)
  }, 120_000)
})
