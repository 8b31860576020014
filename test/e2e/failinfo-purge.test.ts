// `qdoctor failinfo --purge` end to end: exactly the filtered keys go, nothing else; undo restores
// them byte for byte; refusals exit 4; the user's own form works at a terminal.
import {execFile, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {CONFIRM_QUESTION} from '../../src/lib/command/confirm.js'
import {snapshotKeyspace, writeFailinfo} from '../helpers/batch-data.js'
import {ROOT, runCli} from '../helpers/cli.js'
import {testDb, type TestDb} from '../helpers/db.js'
import {asRestored} from '../helpers/repairs.js'

let db: TestDb
let dir: string
beforeAll(async () => {
  db = await testDb()
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-purge-'))
})
afterAll(async () => {
  await db.close()
  rmSync(dir, {recursive: true, force: true})
})
beforeEach(async () => db.reset())

const NOW = Math.floor(Date.now() / 1000)
let n = 0
const journal = () => join(dir, `j${++n}.jsonl`)

/** Old Pro 7 batch, new Pro 8 batch (ms), orphan, batch without created_at, and a big one. */
async function seed(): Promise<Record<string, string>> {
  return {
    old7: await writeFailinfo(db.redis, {bid: 'Old7Batch0000-', entries: 30, parent: {createdAt: String(NOW - 10 * 86400 + 0.5)}, ttlSeconds: 20 * 86400}),
    new8: await writeFailinfo(db.redis, {bid: '-New8Batch0000', entries: 3, parent: {createdAt: String((NOW - 3600) * 1000)}, ttlSeconds: 86400, failedKey: true}),
    old8: await writeFailinfo(db.redis, {bid: 'Old8Batch00000', entries: 2, parent: {createdAt: String((NOW - 30 * 86400) * 1000)}}),
    orphan: await writeFailinfo(db.redis, {bid: 'OrphanBatch001', entries: 4, ttlSeconds: 5000}),
    noCreated: await writeFailinfo(db.redis, {bid: 'NoCreatedAt001', entries: 1, parent: {}}),
    big: await writeFailinfo(db.redis, {bid: 'BigBatch000001', entries: 400, parent: {createdAt: String(NOW - 60)}, valueBytes: 200}),
  }
}

async function extras(): Promise<void> {
  await db.redis.set('b-WrongType0001-failinfo', 'a string: never touched')
  await db.redis.rpush('queue:default', '{"class":"A","jid":"aaaaaaaaaaaaaaaaaaaaaaaa"}')
}

/** Purge with the given filters and assert that exactly `gone` disappeared, everything else intact. */
async function purgeExactly(filters: string[], gone: string[]): Promise<{journal: string; before: Map<string, string>; doc: any}> {
  const before = await snapshotKeyspace(db.redis)
  const path = journal()
  const r = await runCli(['failinfo', '--purge', ...filters, '--yes', '--journal', path, '--url', db.url, '--json'])
  const doc = r.json()
  expect(r.code, r.stderr).toBeLessThanOrEqual(1)
  const after = await snapshotKeyspace(db.redis)
  const expected = new Map(before)
  for (const k of gone) expected.delete(k)
  expect([...after.keys()].sort()).toEqual([...expected.keys()].sort())
  for (const [k, v] of after) expect(v, k).toBe(before.get(k))
  expect(doc.summary.deleted).toBe(gone.length)
  expect(doc.actions.filter((a: {status: string}) => a.status === 'applied').map((a: {key: string}) => a.key).sort()).toEqual([...gone].sort())
  expect(doc.journal).toBe(path)
  return {journal: path, before, doc}
}

describe('failinfo --purge', () => {
  it('without filters removes every failinfo hash and nothing else, and undo restores them byte for byte', async () => {
    const k = await seed()
    await extras()
    const {journal: path, before, doc} = await purgeExactly([], Object.values(k))
    expect(doc.summary.bytesFreed).toBeGreaterThan(0)
    const undo = await runCli(['undo', path, '--yes', '--url', db.url, '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    const restored = await snapshotKeyspace(db.redis)
    expect([...restored.keys()].sort()).toEqual([...before.keys()].sort())
    // Byte for byte as Redis serialises a RESTORE of the original (hash tables may reorder members).
    for (const [key, v] of before) {
      const expected = Object.values(k).includes(key) ? await asRestored(db.redis, Buffer.from(v, 'base64').toString('hex')) : Buffer.from(v, 'base64').toString('hex')
      expect(Buffer.from(restored.get(key)!, 'base64').toString('hex'), key).toBe(expected)
    }
    // TTLs come back too (the DUMP holds no TTL; the journal's PTTL does).
    expect(await db.redis.ttl(k.old7!)).toBeGreaterThan(19 * 86400)
    expect(await db.redis.ttl(k.old8!)).toBe(-1)
  })

  it('--older-than judges Pro 7 float seconds and Pro 8 milliseconds, and leaves unknown ages with a count', async () => {
    const k = await seed()
    const {doc} = await purgeExactly(['--older-than', '7d'], [k.old7!, k.old8!])
    expect(doc.warnings.join(' ')).toMatch(/2 failinfo keys were left out: their batch age is unknown/)
  })

  it('--orphans-only, --min-bytes and --bid select exactly their keys', async () => {
    const k = await seed()
    await purgeExactly(['--orphans-only'], [k.orphan!])
    await purgeExactly(['--min-bytes', '20kb'], [k.big!])
    await purgeExactly(['--bid', '-New8Batch0000,NoCreatedAt001'], [k.new8!, k.noCreated!])
  })

  it('--expire shortens TTLs instead of deleting, never lengthens one, and undo restores the old TTL', async () => {
    const k = await seed()
    const path = journal()
    const r = await runCli(['failinfo', '--purge', '--expire', '2h', '--yes', '--journal', path, '--url', db.url, '--json'])
    const doc = r.json()
    // old7 (20 d) and new8 (1 d) and the no-TTL keys get 2 h; the orphan (5000 s < 2 h) keeps its own.
    expect(doc.summary.expired).toBe(5)
    expect(await db.redis.ttl(k.orphan!)).toBeLessThanOrEqual(5000)
    for (const key of [k.old7!, k.new8!, k.old8!, k.noCreated!, k.big!]) expect(await db.redis.ttl(key)).toBeLessThanOrEqual(7200)
    expect(await db.redis.exists(k.old7!)).toBe(1)
    const undo = await runCli(['undo', path, '--yes', '--url', db.url, '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    expect(await db.redis.ttl(k.old8!)).toBe(-1)
    expect(await db.redis.ttl(k.old7!)).toBeGreaterThan(19 * 86400)
  })

  it('--dry-run plans with status "planned" and changes nothing', async () => {
    await seed()
    const before = await snapshotKeyspace(db.redis)
    const r = await runCli(['failinfo', '--purge', '--dry-run', '--url', db.url, '--json'])
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.actions).toHaveLength(6)
    expect(doc.actions.every((a: {status: string; step: string}) => a.status === 'planned' && a.step === 'unlink')).toBe(true)
    expect(doc.actions.every((a: {bytes: number}) => a.bytes > 0)).toBe(true)
    expect(await snapshotKeyspace(db.redis)).toEqual(before)
  })

  it('refuses off a terminal without --yes (exit 4) and changes nothing', async () => {
    await seed()
    const before = await snapshotKeyspace(db.redis)
    const r = await runCli(['failinfo', '--purge', '--url', db.url])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/re-run with --yes/)
    expect(await snapshotKeyspace(db.redis)).toEqual(before)
  })

  it('works as typed at a terminal: `qdoctor failinfo --purge`, answering y', async () => {
    const k = await seed()
    const execAsync = promisify(execFile)
    // script(1) gives the CLI a real TTY; the answer comes on its stdin.
    const cmd = `printf 'y\\n' | script -qec "node bin/run.js failinfo --purge --url ${db.url} --journal ${journal()} --no-color" /dev/null`
    const {stdout} = await execAsync('bash', ['-c', cmd], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, timeout: 30_000})
    expect(stdout).toMatch(/6 failinfo keys/)
    for (const key of Object.values(k)) expect(await db.redis.exists(key)).toBe(0)
  })

  it('skips a key that changed while the prompt waited ("changed since plan") and removes the rest', async () => {
    const k = await seed()
    // At a terminal the plan waits for the answer: a failure recorded meanwhile changes one key's HLEN.
    const child = spawn('script', ['-qec', `node bin/run.js failinfo --purge --url ${db.url} --journal ${journal()} --no-color`, '/dev/null'], {
      cwd: ROOT,
      env: {...process.env, NO_COLOR: '1'},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt: ${out}`)), 30_000)
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes(CONFIRM_QUESTION.trim())) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    await db.redis.hset(k.old7!, 'ffffffffffffffffffffffff', '{"errtype":"RuntimeError","errmsg":"late"}')
    child.stdin.end('y\n')
    expect(await exited).toBe(0)
    expect(out).toMatch(/changed since plan: HLEN 31 now, 30 when planned/)
    expect(await db.redis.hlen(k.old7!)).toBe(31)
    for (const [name, key] of Object.entries(k)) if (name !== 'old7') expect(await db.redis.exists(key), key).toBe(0)
  })
})
