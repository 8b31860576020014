import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {FailinfoAggregator, DEFAULT_FAILINFO_THRESHOLDS} from '../../src/lib/checks/failinfo.js'
import {Connection} from '../../src/lib/redis/connect.js'
import {readFailinfo} from '../../src/lib/sidekiq/failinfo.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {writeFailinfo} from '../helpers/batch-data.js'
import {runCli} from '../helpers/cli.js'
import {testDb, type TestDb} from '../helpers/db.js'

let db: TestDb
beforeAll(async () => {
  db = await testDb()
})
afterAll(async () => db.close())
beforeEach(async () => db.reset())

const NOW = Math.floor(Date.now() / 1000)

async function seed(): Promise<void> {
  // Pro 5–7: created_at float seconds as a string; Pro 8: integer milliseconds.
  await writeFailinfo(db.redis, {bid: 'Pro7OldBatch_-', entries: 40, parent: {createdAt: String(NOW - 40 * 86400 + 0.25)}, ttlSeconds: 20 * 86400})
  await writeFailinfo(db.redis, {bid: '-Pro8MsBatch12', entries: 5, parent: {createdAt: String((NOW - 2 * 86400) * 1000)}, ttlSeconds: 86400, failedKey: true})
  await writeFailinfo(db.redis, {bid: 'OrphanBatch001', entries: 3})
  await writeFailinfo(db.redis, {bid: 'NoTtlBatch0001', entries: 2, parent: {createdAt: String(NOW - 3600)}})
  await writeFailinfo(db.redis, {bid: 'NoCreatedAt001', entries: 1, parent: {}, ttlSeconds: 600})
  await db.redis.set('b-StringIsWrong-failinfo', 'not a hash')
  // Lookalikes that must not be read as failinfo: other batch companions.
  await db.redis.sadd('b-Pro7OldBatch_--jids', 'x')
  await db.redis.set('failinfo-unrelated', '1')
}

async function collect(keys = new SidekiqKeys()) {
  const conn = new Connection({url: db.url, timeoutMs: 5000, maxOps: 0})
  const agg = new FailinfoAggregator({...DEFAULT_FAILINFO_THRESHOLDS, top: 3, upgradeCheck: true}, NOW)
  try {
    for await (const batch of readFailinfo(conn, keys, {scanCount: 2})) for (const k of batch) agg.add(k)
  } finally {
    await conn.quit()
  }
  agg.finish()
  return agg
}

describe('failinfo report', () => {
  it('measures every failinfo hash with its parent batch and companion keys', async () => {
    await seed()
    const agg = await collect()
    const s = agg.summary
    expect(s.keys).toBe(5)
    expect(s.entries).toBe(40 + 5 + 3 + 2 + 1)
    expect(s.wrongType).toBe(1)
    expect(s.noTtl).toBe(2) // orphan + NoTtlBatch
    expect(s.orphans).toBe(1)
    expect(s.bytes).toBeGreaterThan(0)
    expect(s.top.map((t) => t.bid)).toEqual(['Pro7OldBatch_-', '-Pro8MsBatch12', 'OrphanBatch001'])
    expect(s.top[0]!.batch).toMatchObject({exists: true, pending: 40, total: 40})
    expect(s.top[0]!.batch!.createdAt).toBeCloseTo(NOW - 40 * 86400 + 0.25, 1)
    // Pro 8 ms timestamps read as seconds.
    expect(s.top[1]!.batch!.createdAt).toBe(NOW - 2 * 86400)
    expect(s.top[1]!.failedKey).toBe(true)
    expect(s.ageHistogram.find((h) => h.label === '≥ 30d')!.keys).toBe(1)
    expect(s.ageHistogram.find((h) => h.label === '1–7d')!.keys).toBe(1)
    expect(s.ageHistogram.find((h) => h.label === 'unknown')!.keys).toBe(2) // orphan + no created_at
    expect(s.upgrade).toEqual({ready: false, missingFailed: 4})
    const checks = agg.findings.map((f) => `${f.check} ${f.subject?.key}`).sort()
    expect(checks).toContain('failinfo/wrong-type b-StringIsWrong-failinfo')
    expect(checks).toContain('failinfo/orphan b-OrphanBatch001-failinfo')
    expect(checks).toContain('failinfo/no-ttl b-NoTtlBatch0001-failinfo')
    expect(checks.filter((c) => c.startsWith('failinfo/upgrade-blocker'))).toHaveLength(4)
    const orphan = agg.findings.find((f) => f.check === 'failinfo/orphan')!
    expect(orphan.subject).toEqual({key: 'b-OrphanBatch001-failinfo', bid: 'OrphanBatch001'})
  })

  it('reads namespaced keys (redis-namespace) with --namespace', async () => {
    await writeFailinfo(db.redis, {bid: 'NsBatch0000001', entries: 4, parent: {createdAt: String(NOW)}, namespace: 'app'})
    await writeFailinfo(db.redis, {bid: 'BareBatch00001', entries: 1})
    const agg = await collect(new SidekiqKeys('app'))
    expect(agg.summary.keys).toBe(1)
    expect(agg.summary.top[0]).toMatchObject({key: 'app:b-NsBatch0000001-failinfo', bid: 'NsBatch0000001', entries: 4})
    expect(agg.summary.top[0]!.batch!.exists).toBe(true)
  })

  it('reads the same rows without scripts (an ACL user without @scripting) as with them, in both shapes', async () => {
    await seed()
    const user = `failinfo-noscript-${process.pid}-${db.db}`
    await db.redis.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '+@all', '-@scripting')
    const read = async (url: string, options: {batchCounts?: boolean; failedKeys?: boolean}) => {
      const conn = new Connection({url, timeoutMs: 5000, maxOps: 0})
      const out = []
      try {
        for await (const batch of readFailinfo(conn, new SidekiqKeys(), {scanCount: 3, ...options})) out.push(...batch)
      } finally {
        await conn.quit()
      }
      // MEMORY USAGE samples big hashes; these are small, so bytes compare exactly.
      return out.sort((a, b) => a.key.localeCompare(b.key))
    }
    try {
      const noScripts = db.url.replace('redis://', `redis://${user}:pw@`)
      for (const options of [{}, {batchCounts: false, failedKeys: false}]) {
        const scripted = await read(db.url, options)
        expect(scripted).toHaveLength(6)
        expect(await read(noScripts, options)).toEqual(scripted)
      }
      const lean = await read(db.url, {batchCounts: false, failedKeys: false})
      const full = await read(db.url, {})
      expect(lean.map((k) => ({...k, parent: {...k.parent, total: undefined, pending: undefined}, failedExists: false}))).toEqual(
        full.map((k) => ({...k, parent: {...k.parent, total: undefined, pending: undefined}, failedExists: false})),
      )
      expect(full.find((k) => k.bid === 'Pro7OldBatch_-')!.parent).toMatchObject({exists: true, type: 'hash', total: 40, pending: 40})
      expect(full.find((k) => k.bid === 'NoCreatedAt001')!.parent).toMatchObject({exists: true, createdAt: undefined})
      expect(lean.find((k) => k.bid === 'NoCreatedAt001')!.parent).toMatchObject({exists: true, createdAt: undefined})
      expect(lean.find((k) => k.bid === 'OrphanBatch001')!.parent).toMatchObject({exists: false, type: 'none'})
      expect(lean.find((k) => k.key === 'b-StringIsWrong-failinfo')).toMatchObject({type: 'string', entries: 0})
    } finally {
      await db.redis.call('ACL', 'DELUSER', user)
    }
  })

  it('skips keys that vanish between SCAN and measurement', async () => {
    for (let i = 0; i < 400; i++) await writeFailinfo(db.redis, {bid: `Vanish${String(i).padStart(8, '0')}`, entries: 1})
    const conn = new Connection({url: db.url, timeoutMs: 5000, maxOps: 0})
    let seen = 0
    let deletedOnce = false
    try {
      for await (const batch of readFailinfo(conn, new SidekiqKeys(), {scanCount: 50})) {
        seen += batch.length
        if (!deletedOnce) {
          // Delete everything not yet measured: later batches must simply shrink.
          let cursor = '0'
          do {
            const [next, keys] = await db.redis.scan(cursor, 'MATCH', 'b-*-failinfo', 'COUNT', 1000)
            cursor = next
            const victims = keys.filter((k) => !batch.some((b) => b.key === k))
            if (victims.length) await db.redis.del(...victims)
          } while (cursor !== '0')
          deletedOnce = true
        }
      }
    } finally {
      await conn.quit()
    }
    expect(seen).toBeGreaterThan(0)
    expect(seen).toBeLessThan(400)
  })

  it('qdoctor failinfo --json follows the contract, with exit 1 only over the error threshold', async () => {
    await seed()
    const r = await runCli(['failinfo', '--url', db.url, '--json', '--top', '2'])
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.complete).toBe(true)
    expect(doc.summary).toMatchObject({keys: 5, entries: 51, noTtl: 2})
    expect(doc.summary.top).toHaveLength(2)
    expect(Object.keys(doc.summary.top[0]).sort()).toEqual(['batch', 'bid', 'bytes', 'entries', 'failedKey', 'key', 'ttl'])
    // The scan reads only created_at per parent; the top keys' batch state (total, pending, -failed) is read for them.
    expect(doc.summary.top[0]).toMatchObject({bid: 'Pro7OldBatch_-', entries: 40, batch: {exists: true, pending: 40, total: 40}, failedKey: false})
    expect(doc.summary.top[1]).toMatchObject({bid: '-Pro8MsBatch12', batch: {exists: true, pending: 5, total: 5, createdAt: NOW - 2 * 86400}, failedKey: true})
    expect(doc.summary.ageHistogram.find((h: {label: string}) => h.label === 'unknown').keys).toBe(2)
    expect(doc.summary.orphans).toBe(1)
    expect(doc.summary.errorClasses[0].errorClass).toBe('RuntimeError')
    const strict = await runCli(['failinfo', '--url', db.url, '--json', '--warn-bytes', '1kb', '--error-bytes', '2kb'])
    expect(strict.code).toBe(1)
    const total = strict.json().findings.find((f: {check: string}) => f.check === 'failinfo/total-bytes')
    expect(total.severity).toBe('error')
  })
})
