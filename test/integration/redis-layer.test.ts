import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import {ScanInterruptedError} from '../../src/lib/redis/errors.js'
import {hashEntries, listPages, setMembers, zsetPages} from '../../src/lib/redis/paged.js'
import {pipelinedReads} from '../../src/lib/redis/pipeline.js'
import {collectKeys, scanKeys} from '../../src/lib/redis/scan.js'
import {readServerFacts} from '../../src/lib/redis/server-info.js'
import {useTestDb} from '../helpers/db.js'
import {startRedis} from '../helpers/redis-server.js'

const ctx = useTestDb()
const connect = (url?: string, maxOps = 0) => ctx.conn(maxOps, url)

async function fill(n: number, prefix = 'k:', redis: Redis = ctx.db.redis): Promise<void> {
  const pipe = redis.pipeline()
  for (let i = 0; i < n; i++) pipe.set(`${prefix}${i}`, 'x')
  await pipe.exec()
}

describe('scanKeys', () => {
  it('finds exactly the matching keys of a given type, each once', async () => {
    await fill(3000, 'filler:')
    const pipe = ctx.db.redis.pipeline()
    for (let i = 0; i < 250; i++) pipe.hset(`b-bid${i}-failinfo`, 'jid', '{}')
    pipe.set('b-str-failinfo', 'not a hash')
    await pipe.exec()
    const conn = connect()
    const all = await collectKeys(conn, {match: 'b-*-failinfo', count: 100})
    expect(all.length).toBe(251)
    expect(new Set(all).size).toBe(251)
    const hashes = await collectKeys(conn, {match: 'b-*-failinfo', type: 'hash', count: 100})
    expect(hashes.length).toBe(250)
    expect(hashes).not.toContain('b-str-failinfo')
  })

  it('treats keys deleted mid-scan as normal and still returns every surviving key', async () => {
    await fill(5000)
    const conn = connect()
    const seen = new Set<string>()
    let deleted = 0
    for await (const batch of scanKeys(conn, {count: 200})) {
      for (const k of batch) seen.add(k)
      if (deleted === 0) {
        // Delete 1000 keys not yet seen (from the high end).
        const victims: string[] = []
        for (let i = 4999; victims.length < 1000; i--) if (!seen.has(`k:${i}`)) victims.push(`k:${i}`)
        await ctx.db.redis.del(...victims)
        deleted = victims.length
      }
    }
    const remaining = await ctx.db.redis.dbsize()
    expect(remaining).toBe(4000)
    // Every key that still exists was reported.
    let missing = 0
    for (let i = 0; i < 5000; i++) if (!seen.has(`k:${i}`) && (await ctx.db.redis.exists(`k:${i}`))) missing++
    expect(missing).toBe(0)
  })

  it('survives its connection being killed mid-scan: reconnects, retries the cursor, finishes', async () => {
    await fill(4000)
    const conn = connect()
    const found = new Set<string>()
    let killed = false
    for await (const batch of scanKeys(conn, {count: 100})) {
      batch.forEach((k) => found.add(k))
      if (!killed) {
        const clients = await ctx.db.redis.client('LIST')
        const mine = await ctx.db.redis.client('ID')
        for (const line of String(clients).split('\n')) {
          const id = /id=(\d+)/.exec(line)?.[1]
          if (id && Number(id) !== mine && line.includes(`db=${ctx.db.db}`)) await ctx.db.redis.client('KILL', 'ID', id)
        }
        killed = true
      }
    }
    expect(found.size).toBe(4000)
  })

  it('reports an interruption when Redis is killed mid-scan, instead of a short result', async () => {
    const server = await startRedis()
    try {
      await fill(3000, 'k:', server.client())
      const conn = connect(server.url())
      const run = async () => {
        for await (const _ of scanKeys(conn, {count: 100})) await server.kill()
      }
      await expect(run()).rejects.toBeInstanceOf(ScanInterruptedError)
    } finally {
      await server.stop()
    }
  })

  it('reports an interruption when Redis restarts mid-scan (run_id changes)', async () => {
    const server = await startRedis()
    let second: Awaited<ReturnType<typeof startRedis>> | undefined
    try {
      await fill(3000, 'k:', server.client())
      const conn = connect(server.url())
      const run = async () => {
        for await (const _ of scanKeys(conn, {count: 100})) {
          if (!second) {
            await server.kill()
            second = await startRedis([], server.port)
          }
        }
      }
      const err = await run().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ScanInterruptedError)
      expect(String((err as Error).message)).toMatch(/restarted/)
    } finally {
      await second?.stop()
      await server.stop()
    }
  })
})

describe('paged readers', () => {
  it('walks a list oldest-first with positive indexes, in pages', async () => {
    const values = Array.from({length: 1234}, (_, i) => `job${i}`)
    // LPUSH like Sidekiq: job0 ends at the tail (index 1233).
    await ctx.db.redis.lpush('queue:x', ...values)
    const conn = connect()
    const seen: Array<[number, string]> = []
    let pages = 0
    for await (const page of listPages(conn, 'queue:x', 100)) {
      pages++
      for (const e of page) seen.push([e.index, e.value])
    }
    expect(pages).toBe(13)
    expect(seen.length).toBe(1234)
    expect(seen[0]).toEqual([1233, 'job0'])
    expect(seen[1233]).toEqual([0, 'job1233'])
    for (const [index, value] of seen) expect(await ctx.db.redis.lindex('queue:x', index)).toBe(value)
  })

  it('pages zsets in score order and scans sets and hashes without repeats', async () => {
    const z: Array<string | number> = []
    for (let i = 0; i < 700; i++) z.push(i + 0.5, `m${i}`)
    await ctx.db.redis.zadd('dead', ...z)
    const members = Array.from({length: 900}, (_, i) => `s${i}`)
    await ctx.db.redis.sadd('set', ...members)
    const h: Record<string, string> = {}
    for (let i = 0; i < 800; i++) h[`f${i}`] = `v${i}`
    await ctx.db.redis.hset('hash', h)
    const conn = connect()
    const zs: number[] = []
    for await (const page of zsetPages(conn, 'dead', 64)) zs.push(...page.map((e) => e.score))
    expect(zs.length).toBe(700)
    expect(zs).toEqual([...zs].sort((a, b) => a - b))
    const ss: string[] = []
    for await (const batch of setMembers(conn, 'set', 50)) ss.push(...batch)
    expect(ss.sort()).toEqual([...members].sort())
    const hs = new Map<string, string>()
    for await (const batch of hashEntries(conn, 'hash', 50)) for (const [f, v] of batch) hs.set(f, v)
    expect(hs.size).toBe(800)
    expect(hs.get('f7')).toBe('v7')
  })
})

describe('pipelinedReads', () => {
  it('keeps each command’s error with its own result (a wrong type never sinks the batch)', async () => {
    await ctx.db.redis.rpush('l', 'a', 'b')
    await ctx.db.redis.set('s', 'str')
    const conn = connect()
    const replies = await pipelinedReads(conn, ['l', 's', 'missing'], (k) => [['llen', k]], 2)
    expect(replies[0]![0]!.value).toBe(2)
    expect(replies[1]![0]!.error?.message).toMatch(/WRONGTYPE/)
    expect(replies[2]![0]!.value).toBe(0)
  })
})

describe('budget', () => {
  it('spaces commands to --max-ops', async () => {
    await fill(10)
    const conn = connect(ctx.db.url, 50)
    const started = Date.now()
    for (let i = 0; i < 25; i++) await conn.budget.take(1)
    // 25 ops at 50/s cannot finish in less than ~0.4 s (lower bound only: never a flaky upper bound).
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
    expect(conn.budget.opsSpent).toBe(25)
  })
})

describe('readServerFacts', () => {
  it('reads INFO and CONFIG from a real server', async () => {
    const facts = await readServerFacts(connect())
    expect(facts.info.redis_version).toMatch(/^\d+\.\d+/)
    expect(facts.config['maxmemory-policy']).toBe('noeviction')
    expect(facts.config.save).toBe('')
    expect(facts.configUnavailable).toEqual({})
  })

  it('records CONFIG parameters it may not read (ACL) instead of failing', async () => {
    await ctx.db.redis.acl('SETUSER', 'noconfig', 'on', '>pw', '~*', '+@all', '-config')
    try {
      const facts = await readServerFacts(connect(`redis://noconfig:pw@127.0.0.1:${ctx.db.port}/${ctx.db.db}`))
      expect(facts.info.redis_version).toBeTruthy()
      expect(facts.configUnavailable['maxmemory-policy']).toMatch(/NOPERM|permission/i)
    } finally {
      await ctx.db.redis.acl('DELUSER', 'noconfig')
    }
  })
})
