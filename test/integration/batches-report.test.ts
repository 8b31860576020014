// `qdoctor batches` (the inventory, no --ghosts) on hand-built batch keys of every shape the data model
// describes: Pro 1 (hex bid, `-pending` string), Pro ≤ 7 (float seconds), Pro 8 (integer ms),
// sidekiq-batch, fragments, drift, negative pending, dead and stale batches, orphan companions, the
// `batches` index, unknown fields and a hash too big to read whole.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fakeJid, writeBatch} from '../helpers/batches.js'
import {runCli} from '../helpers/cli.js'
import {type TestDb, testDb} from '../helpers/db.js'

const NOW = Math.floor(Date.now() / 1000)
let db: TestDb
let doc: any

beforeAll(async () => {
  db = await testDb()
  const r = db.redis
  await writeBatch(r, {bid: 'Healthy_Pro7-_', createdAt: NOW - 7200, jids: [fakeJid(1), fakeJid(2)]})
  await writeBatch(r, {bid: 'Pro8Millis0001', createdAt: String((NOW - 3 * 86400) * 1000), jids: [fakeJid(3)]}) // stale, ms
  await writeBatch(r, {bid: 'Negative000001', createdAt: NOW - 7200, jids: [], pending: -1})
  await writeBatch(r, {bid: 'DriftEmpty0001', createdAt: NOW - 7200, jids: [], pending: 2})
  await writeBatch(r, {bid: 'DriftCount0001', createdAt: NOW - 7200, jids: [fakeJid(4)], pending: 3})
  await writeBatch(r, {bid: 'DeadBatch00001', createdAt: NOW - 7200, jids: [fakeJid(5)], died: [fakeJid(5)]})
  await writeBatch(r, {bid: 'SbBatch_00001-', layout: 'sidekiq-batch', createdAt: NOW - 7200, jids: [fakeJid(6)], parent: 'Healthy_Pro7-_'})
  await writeBatch(r, {bid: 'NewFields00001', createdAt: NOW - 7200, jids: [fakeJid(7)], fields: {expires_at: '123', linger: '5'}})
  await writeBatch(r, {bid: 'Young000000001', createdAt: NOW - 5, jids: [fakeJid(8), fakeJid(9)], pending: 5}) // drift, but too young to judge
  // Pro 1.x: 16-hex bid, pending in its own string key.
  await r.hset('b-4f55163ddba10aa0', 'created_at', String(NOW - 7200), 'total', '1')
  await r.set('b-4f55163ddba10aa0-pending', '1')
  await r.sadd('b-4f55163ddba10aa0-jids', fakeJid(10))
  // A fragment (#5417): counters only, no TTL.
  await r.hset('b-Fragment00001', 'pending', '0', 'kids', '0', 'cbdeath', '1')
  // A batch hash with more fields than qdoctor reads whole: only its known fields are fetched.
  await writeBatch(r, {bid: 'WideBatch00001', createdAt: NOW - 7200, jids: [fakeJid(11)], fields: Object.fromEntries(Array.from({length: 80}, (_, i) => [`x${i}`, 'y']))})
  // Orphans: companions of a batch that is gone; a -notify marker without TTL next to a live batch.
  await r.sadd('b-GoneBatch0001-jids', fakeJid(12))
  await r.hset('b-GoneBatch0001-failinfo', fakeJid(12), '{"errmsg":"x"}')
  await r.set('b-Healthy_Pro7-_-notify', '1') // no TTL, next to a batch that expires: it outlives it
  await r.set('b-Fragment00001-notify', '1') // no TTL next to a batch without TTL either: not reported
  // The Pro index: one live batch, one member whose hash is gone.
  await r.zadd('batches', String(NOW + 86400), 'Healthy_Pro7-_', String(NOW + 86400), 'GoneBatch0001')
  await r.sadd('batch-died', 'DeadBatch00001')
  // Not batches: a string under b- with no known suffix, and a hash with no batch fields.
  await r.set('b-whatever', 'x')
  await r.hset('b-NotABatch0001', 'foo', 'bar')
  // Pro 7.3.6+ -failed: its type is only a guess (a set); another type is reported, never judged.
  await r.zadd('b-Healthy_Pro7-_-failed', '1', fakeJid(1))
  await r.expire('b-Healthy_Pro7-_-failed', 3600)
  const res = await runCli(['batches', '--json', '--url', db.url])
  expect(res.code, res.stderr).toBe(0) // warnings and infos only: exit 0 with the default --fail-on error
  doc = res.json()
})
afterAll(async () => db?.close())

const bidsOf = (check: string) =>
  doc.findings
    .filter((f: any) => f.check === check)
    .map((f: any) => f.subject.bid)
    .sort()

describe('qdoctor batches (inventory)', () => {
  it('counts every batch of both layouts, with pending, age and nesting', () => {
    const s = doc.summary
    expect(s.batches).toBe(12)
    expect(s.layouts).toEqual({pro: 11, 'sidekiq-batch': 1})
    expect(s.pendingBatches).toBe(10)
    expect(s.pendingJobs).toBe(2 + 1 + 2 + 3 + 1 + 1 + 1 + 5 + 1 + 1)
    expect(s.nesting).toEqual({withParent: 1, withKids: 0})
    expect(s.index).toEqual({members: 2, withoutHash: 1, pendingNotIndexed: 8})
    expect(s.ageHistogram.find((b: any) => b.label === 'unknown').batches).toBe(1)
    expect(s.ageHistogram.find((b: any) => b.label === '1–7d').batches).toBe(1)
  })

  it('reports each inventory check on exactly the right batches', () => {
    expect(bidsOf('batch/negative-pending')).toEqual(['Negative000001'])
    expect(bidsOf('batch/counter-drift')).toEqual(['DriftCount0001', 'DriftEmpty0001'])
    expect(bidsOf('batch/fragment')).toEqual(['Fragment00001'])
    expect(bidsOf('batch/stale')).toEqual(['Pro8Millis0001'])
    expect(bidsOf('batch/dead')).toEqual(['DeadBatch00001'])
    expect(bidsOf('batch/orphan-keys')).toEqual(['GoneBatch0001', 'Healthy_Pro7-_'])
    const orphan = doc.findings.find((f: any) => f.check === 'batch/orphan-keys' && f.subject.bid === 'GoneBatch0001')
    expect(orphan.subject.keys.sort()).toEqual(['b-GoneBatch0001-failinfo', 'b-GoneBatch0001-jids'])
    expect(orphan.evidence.parentExists).toBe(false)
    const dead = doc.findings.find((f: any) => f.check === 'batch/dead')
    expect(dead.evidence).toMatchObject({diedJids: 1, inDiedSet: true})
  })

  it('Pro 1.x pending (string key) is read; a wide hash is read by its known fields; unknown shapes are info', () => {
    expect(doc.findings.some((f: any) => f.subject?.bid === '4f55163ddba10aa0')).toBe(false)
    expect(doc.findings.some((f: any) => f.subject?.bid === 'WideBatch00001')).toBe(false)
    const unknown = doc.findings.filter((f: any) => f.check === 'batch/unrecognized')
    expect(unknown).toHaveLength(1)
    expect(unknown[0].severity).toBe('info')
    expect(unknown[0].evidence.unknownFields).toEqual({expires_at: 1, linger: 1})
    expect(unknown[0].subject.keys.sort()).toEqual(['b-Healthy_Pro7-_-failed', 'b-NotABatch0001', 'b-whatever'])
    expect(unknown[0].evidence.keys.find((k: any) => k.key === 'b-Healthy_Pro7-_-failed').reason).toBe('a zset, where a -failed key is guessed to be a set')
  })
})
