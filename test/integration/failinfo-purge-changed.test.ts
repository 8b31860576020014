// Issue 4: "a key whose size changed between plan and apply is re-checked, not blindly removed".
// The purge plan carries each key's HLEN (expectLength); a key that gained or lost an entry after
// the plan is skipped ("changed since plan") and kept with its new data; the others go; the journal
// holds only what was removed, and undo puts exactly that back. Deterministic: plan, change, apply.
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {FailinfoPurgePlanner, type FailinfoPurgeFilters} from '../../src/lib/repairs/plans/failinfo-purge.js'
import {readFailinfo} from '../../src/lib/sidekiq/failinfo.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {writeFailinfo} from '../helpers/batch-data.js'
import {repairBed} from '../helpers/repair-bed.js'
import {applyJournaled, dumps, expectedAfterUndo, undoJournal} from '../helpers/repairs.js'

const bed = repairBed()

const NOW = Math.floor(Date.now() / 1000)

async function seed(): Promise<string[]> {
  return [
    await writeFailinfo(bed.db.redis, {bid: 'Changed0000001', entries: 3, parent: {createdAt: String(NOW - 86400)}, ttlSeconds: 86400}),
    await writeFailinfo(bed.db.redis, {bid: 'Steady00000001', entries: 2, parent: {createdAt: String(NOW - 86400)}, ttlSeconds: 86400}),
    await writeFailinfo(bed.db.redis, {bid: 'Steady00000002', entries: 5, ttlSeconds: 86400}),
  ]
}

/** Plan a purge the way `qdoctor failinfo --purge` does: measure every failinfo key, let the planner pick. */
async function plan(filters: FailinfoPurgeFilters = {}) {
  const planner = new FailinfoPurgePlanner(filters, NOW)
  for await (const batch of readFailinfo(bed.conn, new SidekiqKeys(), {batchCounts: false, failedKeys: false})) for (const k of batch) planner.consider(k)
  return planner.plan
}

describe('failinfo purge: a key that changed between plan and apply', () => {
  it('is skipped with "changed since plan" and keeps its new field; the others are removed; undo restores exactly those', async () => {
    const [changed, steady1, steady2] = await seed()
    const p = await plan()
    expect(p.actions.map((a) => [a.key, a.kind === 'unlink' ? a.expectLength : undefined]).sort()).toEqual([
      [changed, 3],
      [steady1, 2],
      [steady2, 5],
    ])
    // Sidekiq records one more failure of this batch after the plan was made.
    await bed.db.redis.hset(changed!, 'ffffffffffffffffffffffff', '{"errtype":"RuntimeError","errmsg":"late"}')
    const before = await dumps(bed.db.redis, [changed!, steady1!, steady2!])

    const path = bed.journals.path('failinfo-changed')
    const result = await applyJournaled(bed.conn, p.actions, path)
    const byKey = Object.fromEntries(result.records.map((r) => [r.key, r]))
    expect(byKey[changed!]).toMatchObject({step: 'unlink', status: 'skipped'})
    expect(byKey[changed!]!.detail).toMatch(/changed since plan: HLEN 4 now, 3 when planned/)
    expect(byKey[steady1!]!.status).toBe('applied')
    expect(byKey[steady2!]!.status).toBe('applied')
    expect(result.counts).toMatchObject({applied: 2, skipped: 1, failed: 0})
    expect(result.stopped).toBeUndefined()

    // The changed key is still there, with its new field; the others are gone.
    expect(await bed.db.redis.hlen(changed!)).toBe(4)
    expect(await bed.db.redis.hget(changed!, 'ffffffffffffffffffffffff')).toMatch(/late/)
    expect(await bed.db.redis.exists(steady1!, steady2!)).toBe(0)

    // The journal holds intents for the two removed keys only (the skip happened before any intent).
    const intents = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"dump"'))
      .map((l) => (JSON.parse(l) as {action: {key: string}}).action.key)
    expect(intents.sort()).toEqual([steady1, steady2].sort())

    // Undo restores the removed keys byte for byte and leaves the changed one alone.
    const undo = await undoJournal(bed.conn, path)
    expect(undo.counts.failed).toBe(0)
    expect(await dumps(bed.db.redis, [changed!, steady1!, steady2!])).toEqual(await expectedAfterUndo(bed.db.redis, before, [steady1!, steady2!]))
  })

  it('a key that lost an entry is skipped too; an unchanged plan removes everything it planned', async () => {
    const [changed, steady1, steady2] = await seed()
    const p = await plan()
    await bed.db.redis.hdel(changed!, (await bed.db.redis.hkeys(changed!))[0]!)
    const result = await applyJournaled(bed.conn, p.actions, bed.journals.path('failinfo-shrunk'))
    expect(result.records.find((r) => r.key === changed)).toMatchObject({status: 'skipped', detail: expect.stringMatching(/changed since plan: HLEN 2 now, 3 when planned/)})
    expect(await bed.db.redis.hlen(changed!)).toBe(2)
    expect(await bed.db.redis.exists(steady1!, steady2!)).toBe(0)

    const again = await plan()
    expect((await applyJournaled(bed.conn, again.actions, bed.journals.path('failinfo-again'))).counts).toMatchObject({applied: 1, skipped: 0})
    expect(await bed.db.redis.exists(changed!)).toBe(0)
  })

  it('--expire: a changed key keeps its TTL; the others get the shorter one', async () => {
    const [changed, steady1] = await seed()
    const p = await plan({expireMs: 60_000, bids: ['Changed0000001', 'Steady00000001']})
    expect(p.actions.every((a) => a.kind === 'expire' && a.expectLength !== undefined)).toBe(true)
    await bed.db.redis.hset(changed!, 'ffffffffffffffffffffffff', 'late')
    const result = await applyJournaled(bed.conn, p.actions, bed.journals.path('failinfo-expire'))
    const byKey = Object.fromEntries(result.records.map((r) => [r.key, r]))
    expect(byKey[changed!]).toMatchObject({step: 'expire', status: 'skipped', detail: expect.stringMatching(/changed since plan/)})
    expect(byKey[steady1!]!.status).toBe('applied')
    expect(await bed.db.redis.ttl(changed!)).toBeGreaterThan(3600)
    expect(await bed.db.redis.pttl(steady1!)).toBeLessThanOrEqual(60_000)
  })
})
