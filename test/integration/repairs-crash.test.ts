// Failure part-way: the connection dies after K actions, or qdoctor itself is killed with SIGKILL.
// The journal then holds exactly what was applied (plus at most one entry "in doubt"), every line is
// complete or ignored, and undo brings the data back byte for byte (DUMP).
import {spawn} from 'node:child_process'
import {appendFileSync, existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import type {RepairAction} from '../../src/lib/repairs/actions.js'
import {readJournal} from '../../src/lib/repairs/journal.js'
import {isInDoubt} from '../../src/lib/repairs/undo.js'
import {ROOT} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {applyJournaled, dumps, expectedAfterUndo, statuses, undoJournal} from '../helpers/repairs.js'

const ctx = useTestDb()
const conn = () => ctx.conn()
const jd = ctx.journals

/** n rounds of: a hash to unlink, a zset member to remove, a job to move to a queue. */
async function seedAndPlan(r: Redis, n: number): Promise<{actions: RepairAction[]; keys: string[]; unlinked: string[]}> {
  const pipe = r.pipeline()
  const actions: RepairAction[] = []
  for (let i = 0; i < n; i++) {
    pipe.hset(`b-${i}-failinfo`, 'jid', `{"i":${i}}`, 'other', 'x'.repeat(i))
    if (i % 2) pipe.pexpire(`b-${i}-failinfo`, 3_600_000)
    pipe.zadd('retry', String(1000 + i), `r${i}`)
    pipe.zadd('dead', String(2000 + i), `d${i}`)
    actions.push(
      {kind: 'unlink', key: `b-${i}-failinfo`, expectType: 'hash'},
      {kind: 'zrem', key: 'retry', member: `r${i}`, expectScore: String(1000 + i)},
      {kind: 'zmove', from: 'dead', to: 'queue:default', member: `d${i}`, expectScore: String(2000 + i)},
    )
  }
  await pipe.exec()
  const unlinked = Array.from({length: n}, (_, i) => `b-${i}-failinfo`)
  return {actions, keys: [...unlinked, 'retry', 'dead', 'queue:default'], unlinked}
}

/** Is the effect of this action visible in Redis? */
async function isApplied(r: Redis, a: RepairAction): Promise<boolean> {
  if (a.kind === 'unlink') return (await r.exists(a.key)) === 0
  if (a.kind === 'zrem') return (await r.zscore(a.key, a.member)) === null
  if (a.kind === 'zmove') return (await r.zscore(a.from, a.member)) === null
  throw new Error(a.kind)
}

describe('failure part-way', () => {
  it('connection killed after K actions: stops, reports applied/failed/not-reached; journal = exactly the applied; undo restores byte for byte', async () => {
    const r = ctx.db.redis
    const {actions, keys, unlinked} = await seedAndPlan(r, 10)
    const before = await dumps(r, keys)
    const c = conn()
    const myId = String(await (await c.redis()).client('ID'))
    const K = 7
    const path = jd.path('killed')
    const result = await applyJournaled(c, actions, path, {
      hooks: {
        afterAction: async (i) => {
          if (i === K - 1) await r.client('KILL', 'ID', myId)
        },
      },
    })
    expect(statuses(result)).toEqual([...Array(K).fill('applied'), 'failed', ...Array(actions.length - K - 1).fill('not-reached')])
    expect(result.stopped?.index).toBe(K)
    expect(result.records[K]!.detail).toMatch(/Redis failed: The connection to .* was closed/)

    const j = readJournal(path)
    expect(j.ended).toBe(false)
    const appliedEntries = j.entries.filter((e) => e.outcome?.status === 'applied')
    expect(appliedEntries.map((e) => e.action)).toEqual(actions.slice(0, K))
    // At most the action that was in flight is "in doubt", and it did not take effect.
    const rest = j.entries.filter((e) => e.outcome?.status !== 'applied')
    expect(rest.length).toBeLessThanOrEqual(1)
    for (const e of rest) {
      expect(isInDoubt(e)).toBe(true)
      expect(e.seq).toBe(K + 1)
    }
    for (let i = 0; i < actions.length; i++) expect(await isApplied(r, actions[i]!), `action ${i}`).toBe(i < K)

    const undo = await undoJournal(conn(), path)
    expect(undo.outcomes.filter((o) => o === 'restored')).toHaveLength(K)
    expect(undo.outcomes.filter((o) => o === 'already-back')).toHaveLength(rest.length)
    expect(await dumps(r, keys)).toEqual(await expectedAfterUndo(r, before, unlinked))
  })

  it('qdoctor killed with SIGKILL mid-apply: every journal line is complete (or a cut last line is ignored), undo restores byte for byte', async () => {
    const r = ctx.db.redis
    const {actions, keys, unlinked} = await seedAndPlan(r, 40)
    const before = await dumps(r, keys)
    const planPath = join(jd.dir, 'plan.json')
    writeFileSync(planPath, JSON.stringify(actions))
    const path = jd.path('sigkill')
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/apply-child.ts'), ctx.db.url, planPath, path, '300'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    // Kill it once it has journaled a good part (but not all) of the plan.
    const deadline = Date.now() + 20_000
    for (;;) {
      const intents = existsSync(path) ? (readFileSync(path, 'utf8').match(/"type":"intent"/g) ?? []).length : 0
      if (intents >= 25) break
      if (child.exitCode !== null) throw new Error(`child exited early: ${stderr}`)
      if (Date.now() > deadline) throw new Error(`child too slow: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    child.kill('SIGKILL')
    await exited

    const j = readJournal(path)
    expect(j.ended).toBe(false)
    expect(j.entries.length).toBeGreaterThanOrEqual(25)
    expect(j.entries.length).toBeLessThan(actions.length)
    // The journal and Redis agree: applied entries took effect, actions never journaled did not.
    for (const e of j.entries) if (e.outcome?.status === 'applied') expect(await isApplied(r, e.action)).toBe(true)
    for (let i = j.entries.length; i < actions.length; i++) expect(await isApplied(r, actions[i]!)).toBe(false)
    expect(j.entries.filter((e) => isInDoubt(e)).length).toBeLessThanOrEqual(1)

    // A torn write at the end (a crash mid-line) does not stop undo either.
    appendFileSync(path, '{"type":"intent","seq":999,"at":"2026-01-01T00:00:00.000Z","action":{"kind":"unlink","key":"b-1')
    const undo = await undoJournal(conn(), path)
    expect(undo.stopped).toBeUndefined()
    expect(await dumps(r, keys)).toEqual(await expectedAfterUndo(r, before, unlinked))
    expect(readJournal(path).truncated).toBeDefined()
  })
})
