// `qdoctor undo` as a user runs it (built CLI, subprocess): refusal off a TTY, --dry-run, --yes,
// conflicts and --force, --limit, a replica and a loading server refused, Redis failing part-way.
// Journals are produced through the engine's library API (no repair command exists yet).
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import type {RepairAction} from '../../src/lib/repairs/actions.js'
import {runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {startRedis} from '../helpers/redis-server.js'
import {applyJournaled, dumps, startSlowLoadingRedis} from '../helpers/repairs.js'

const ctx = useTestDb()
const jd = ctx.journals

const KEYS = ['b-1-failinfo', 'dead', 'queue:default', 'procs']

/** Seed, snapshot, apply a small repair through the engine: returns the journal and the DUMPs before. */
async function repaired(r: Redis, url: string): Promise<{path: string; before: Record<string, string | null>; actions: RepairAction[]}> {
  await r.hset('b-1-failinfo', 'jid1', '{"error_class":"Boom"}', 'jid2', '{"error_class":"Bang"}')
  await r.pexpire('b-1-failinfo', 86_400_000)
  await r.zadd('dead', '1700000000.5', '{"jid":"d1"}', '1700000001.5', '{"jid":"d2"}')
  await r.sadd('procs', 'host-1', 'host-2')
  const before = await dumps(r, KEYS)
  const actions: RepairAction[] = [
    {kind: 'unlink', key: 'b-1-failinfo', expectType: 'hash', bytes: 120},
    {kind: 'zmove', from: 'dead', to: 'queue:default', member: '{"jid":"d1"}', expectScore: '1700000000.5'},
    {kind: 'zrem', key: 'dead', member: '{"jid":"d2"}', expectScore: '1700000001.5'},
    {kind: 'srem', key: 'procs', member: 'host-2'},
  ]
  const c = ctx.conn(0, url)
  const path = jd.path('repair')
  const result = await applyJournaled(c, actions, path)
  expect(result.counts.applied).toBe(actions.length)
  return {path, before, actions}
}

describe('qdoctor undo', () => {
  it('off a TTY without --yes: refuses with exit 4 and a sentence saying how to proceed; nothing changes', async () => {
    const {path} = await repaired(ctx.db.redis, ctx.db.url)
    const after = await dumps(ctx.db.redis, KEYS)
    const text = await runCli(['undo', path, '--url', ctx.db.url])
    expect(text.code).toBe(4)
    expect(text.stderr).toMatch(/Refusing to change redis:\/\/127\.0\.0\.1:\d+\/\d+ without confirmation: .*re-run with --yes.*--dry-run/)
    const json = await runCli(['undo', path, '--url', ctx.db.url, '--json'])
    expect(json.code).toBe(4)
    const doc = json.json()
    expect(doc.error.exitCode).toBe(4)
    expect(doc.actions).toHaveLength(4)
    expect(await dumps(ctx.db.redis, KEYS)).toEqual(after)
  })

  it('--dry-run: lists what would be put back (status planned) and changes nothing (DUMP before/after)', async () => {
    const {path} = await repaired(ctx.db.redis, ctx.db.url)
    const after = await dumps(ctx.db.redis, KEYS)
    const r = await runCli(['undo', path, '--url', ctx.db.url, '--dry-run', '--json'])
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.command).toBe('undo')
    expect(doc.summary).toMatchObject({dryRun: true, entries: 4, applied: 4, inDoubt: 0, restored: 4, conflicts: 0, journalFinished: true})
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['planned', 'planned', 'planned', 'planned'])
    expect(doc.actions.map((a: {step: string}) => a.step)).toEqual(['undo srem', 'undo zrem', 'undo zmove', 'undo unlink'])
    expect(doc.actions[3].detail).toMatch(/would RESTORE the key/)
    const text = await runCli(['undo', path, '--url', ctx.db.url, '--dry-run'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/Dry run: nothing was changed/)
    expect(text.stdout).toMatch(/would be restored\s+│?\s*4/)
    expect(await dumps(ctx.db.redis, KEYS)).toEqual(after)
  })

  it('--yes: puts everything back byte for byte and reports per entry; a second run finds all already back', async () => {
    const {path, before} = await repaired(ctx.db.redis, ctx.db.url)
    const r = await runCli(['undo', path, '--url', ctx.db.url, '--yes', '--json'])
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.summary).toMatchObject({restored: 4, alreadyBack: 0, conflicts: 0})
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['applied', 'applied', 'applied', 'applied'])
    expect(doc.journal).toBeUndefined() // undo writes no journal of its own
    expect(await dumps(ctx.db.redis, KEYS)).toEqual(before)
    const ttl = await ctx.db.redis.pttl('b-1-failinfo')
    expect(ttl).toBeGreaterThan(86_000_000)
    const again = await runCli(['undo', path, '--url', ctx.db.url, '--yes', '--json'])
    expect(again.code).toBe(0)
    expect(again.json().summary).toMatchObject({restored: 0, alreadyBack: 4})
    expect(again.json().actions.every((a: {detail: string}) => /already back/.test(a.detail))).toBe(true)
    expect(await dumps(ctx.db.redis, KEYS)).toEqual(before)
  })

  it('a key re-created since is never overwritten (exit 4) unless --force', async () => {
    const {path, before} = await repaired(ctx.db.redis, ctx.db.url)
    await ctx.db.redis.hset('b-1-failinfo', 'newer', 'data')
    const r = await runCli(['undo', path, '--url', ctx.db.url, '--yes', '--json'])
    expect(r.code).toBe(4)
    const doc = r.json()
    expect(doc.summary).toMatchObject({restored: 3, conflicts: 1})
    expect(doc.actions[3]).toMatchObject({step: 'undo unlink', key: 'b-1-failinfo', status: 'skipped'})
    expect(doc.actions[3].detail).toMatch(/conflict: the key was re-created since/)
    expect(doc.warnings.join()).toMatch(/conflict with newer data .*--force/)
    expect(await ctx.db.redis.hgetall('b-1-failinfo')).toEqual({newer: 'data'})
    const text = await runCli(['undo', path, '--url', ctx.db.url, '--yes'])
    expect(text.code).toBe(4)
    expect(text.stdout).toMatch(/conflicts\s+│?\s*1/)
    const forced = await runCli(['undo', path, '--url', ctx.db.url, '--yes', '--force', '--json'])
    expect(forced.code).toBe(0)
    expect(forced.json().summary).toMatchObject({restored: 1, alreadyBack: 3})
    expect(await dumps(ctx.db.redis, KEYS)).toEqual(before)
  })

  it('--limit undoes only the newest N entries', async () => {
    const {path} = await repaired(ctx.db.redis, ctx.db.url)
    const r = await runCli(['undo', path, '--url', ctx.db.url, '--yes', '--limit', '1', '--json'])
    expect(r.code).toBe(0)
    expect(r.json().actions).toEqual([expect.objectContaining({step: 'undo srem', status: 'applied'})])
    expect((await ctx.db.redis.smembers('procs')).sort()).toEqual(['host-1', 'host-2'])
    expect(await ctx.db.redis.exists('b-1-failinfo')).toBe(0)
  })

  it('a missing journal is a usage error (2); a damaged one is refused (4)', async () => {
    const missing = await runCli(['undo', join(jd.dir, 'nope.jsonl'), '--url', ctx.db.url])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/No journal at/)
    const bad = join(jd.dir, 'bad.jsonl')
    writeFileSync(bad, 'not json\n{}\n')
    const r = await runCli(['undo', bad, '--url', ctx.db.url, '--json'])
    expect(r.code).toBe(4)
    expect(r.json().error.message).toMatch(/Refusing to undo: .*damaged|not a qdoctor journal/)
  })
})

describe('qdoctor undo refuses to write where writes would be wrong', () => {
  it('refuses a replica (role:slave) with exit 4', async () => {
    const primary = await startRedis()
    const replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)])
    try {
      const p = primary.client(0)
      const {path} = await repaired(p, primary.url(0))
      expect(await replica.client(0).info('replication')).toMatch(/role:slave/)
      const after = await dumps(p, KEYS)
      const r = await runCli(['undo', path, '--url', replica.url(0), '--yes'])
      expect(r.code).toBe(4)
      expect(r.stderr).toMatch(/Refusing to write to redis:\/\/127\.0\.0\.1:\d+\/0: it is a replica \(role:slave\) of 127\.0\.0\.1:\d+/)
      const json = await runCli(['undo', path, '--url', replica.url(0), '--yes', '--json'])
      expect(json.code).toBe(4)
      expect(json.json().error.message).toMatch(/replica/)
      expect(await dumps(p, KEYS)).toEqual(after)
      // A dry run is read-only, so it may look at a replica; it points out the other target.
      const dry = await runCli(['undo', path, '--url', replica.url(0), '--dry-run', '--json'])
      expect(dry.code).toBe(0)
      expect(dry.json().warnings.join()).toMatch(/written against redis:\/\/127\.0\.0\.1:\d+\/0; it is being undone on redis:\/\/127\.0\.0\.1:\d+\/0/)
    } finally {
      await replica.stop()
      await primary.stop()
    }
  })

  it('refuses a server still loading its dataset with exit 4', async () => {
    const {path} = await repaired(ctx.db.redis, ctx.db.url)
    const loading = await startSlowLoadingRedis(jd.dir)
    try {
      const r = await runCli(['undo', path, '--url', `redis://127.0.0.1:${loading.port}/0`, '--yes'])
      expect(r.code).toBe(4)
      expect(r.stderr).toMatch(/Refusing to write to .*: it is still loading its dataset/)
    } finally {
      await loading.stop()
    }
  })
})

describe('qdoctor undo when Redis fails part-way', () => {
  it('stops, reports applied / failed / not-reached, and exits 4', async () => {
    const server = await startRedis()
    try {
      const r = server.client(0)
      const n = 300
      await r.zadd('retry', ...Array.from({length: n}, (_, i) => [String(i), `job-${i}`]).flat())
      const c = ctx.conn(0, server.url(0))
      const path = jd.path('zrems')
      await applyJournaled(
        c,
        Array.from({length: n}, (_, i): RepairAction => ({kind: 'zrem', key: 'retry', member: `job-${i}`, expectScore: String(i)})),
        path,
      )
      expect(await r.zcard('retry')).toBe(0)
      // Undo slowly (--max-ops), and kill the server once it has put some back.
      const pending = runCli(['undo', path, '--url', server.url(0), '--yes', '--json', '--max-ops', '100'])
      for (let i = 0; i < 500 && (await r.zcard('retry')) < 10; i++) await new Promise((res) => setTimeout(res, 20))
      await server.kill()
      const result = await pending
      expect(result.code).toBe(4)
      const doc = result.json()
      const byStatus = (s: string) => doc.actions.filter((a: {status: string}) => a.status === s).length
      expect(byStatus('applied')).toBeGreaterThanOrEqual(10)
      expect(byStatus('failed')).toBe(1)
      expect(byStatus('not-reached')).toBeGreaterThan(0)
      expect(byStatus('applied') + byStatus('failed') + byStatus('not-reached')).toBe(n)
      expect(doc.warnings.join()).toMatch(/Stopped part-way at action \d+ of 300: Redis failed/)
    } finally {
      await server.stop()
    }
  })
})
