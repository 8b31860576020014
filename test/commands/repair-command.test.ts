// RepairCommand, the base every repair command uses, run in-process with a test-only subclass (no
// hidden command ships in the CLI): flags, refusal off a TTY, the prompt, --dry-run, --limit,
// the journal (default name, --journal, --no-journal) and the report, against a real Redis.
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {Config} from '@oclif/core'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'

import {RepairCommand} from '../../src/lib/command/repair-command.js'
import type {Action} from '../../src/lib/repairs/actions.js'
import {readJournal} from '../../src/lib/repairs/journal.js'
import type {Report} from '../../src/lib/report/types.js'
import {ROOT} from '../helpers/cli.js'
import {testDb, type TestDb} from '../helpers/db.js'
import {startRedis} from '../helpers/redis-server.js'
import {dumps} from '../helpers/repairs.js'

let plan: Action[] = []
let interactive = false
let answer = 'y\n'
let prompted = ''

class TestRepair extends RepairCommand<typeof TestRepair> {
  static override summary = 'test vehicle for RepairCommand'
  async run(): Promise<Report<{planned: number}>> {
    const report = this.startReport({planned: plan.length})
    await this.executePlan(report, plan)
    return this.finish(report, (r) => `planned ${r.summary.planned}`)
  }

  protected override isInteractive(): boolean {
    return interactive
  }

  protected override promptStreams(): {input: NodeJS.ReadableStream; output: NodeJS.WritableStream} {
    const input = new PassThrough()
    const output = new PassThrough()
    output.on('data', (d: Buffer) => (prompted += d.toString()))
    setTimeout(() => input.write(answer), 10)
    return {input, output}
  }
}

let config: Config
let db: TestDb
let dir: string
let out = ''
let err = ''

async function run(...argv: string[]): Promise<{code: number; stdout: string; stderr: string; json: () => any}> {
  out = ''
  err = ''
  process.exitCode = undefined
  await TestRepair.run(argv, config)
  const code = Number(process.exitCode ?? 0)
  process.exitCode = undefined
  const stdout = out
  return {code, stdout, stderr: err, json: () => JSON.parse(stdout)}
}

async function runUsage(...argv: string[]): Promise<number> {
  try {
    await run(...argv)
    return Number(process.exitCode ?? 0)
  } catch (e) {
    return (e as {oclif?: {exit?: number}}).oclif?.exit ?? -1
  }
}

beforeAll(async () => {
  config = await Config.load(ROOT)
  db = await testDb()
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-repair-cmd-'))
})
afterAll(async () => {
  await db.close()
  rmSync(dir, {recursive: true, force: true})
})
beforeEach(async () => {
  await db.reset()
  await db.redis.sadd('procs', 'a', 'b', 'c')
  await db.redis.set('k', 'v')
  plan = [
    {kind: 'srem', key: 'procs', member: 'a'},
    {kind: 'srem', key: 'procs', member: 'b'},
    {kind: 'unlink', key: 'k', expectType: 'string', bytes: 50},
  ]
  interactive = false
  answer = 'y\n'
  prompted = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += chunk.toString()
    return true
  })
})
afterEach(() => {
  vi.restoreAllMocks()
  process.exitCode = undefined
})

const KEYS = ['procs', 'k']
let n = 0
const journalPath = () => join(dir, `j${++n}.jsonl`)

describe('RepairCommand', () => {
  it('off a TTY without --yes: refuses with exit 4, says how to proceed, changes nothing', async () => {
    const before = await dumps(db.redis, KEYS)
    const text = await run('--url', db.url, '--journal', journalPath())
    expect(text.code).toBe(4)
    expect(text.stderr).toMatch(/Refusing to change redis:\/\/127\.0\.0\.1:\d+\/\d+ without confirmation: .*re-run with --yes .*--dry-run/)
    const json = await run('--url', db.url, '--json')
    expect(json.code).toBe(4)
    const doc = json.json()
    expect(doc.error.exitCode).toBe(4)
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['planned', 'planned', 'planned'])
    expect(await dumps(db.redis, KEYS)).toEqual(before)
    expect(readdirSync(dir)).toEqual([])
  })

  it('--dry-run prints the plan (JSON actions "planned") and changes nothing; no journal is written', async () => {
    const before = await dumps(db.redis, KEYS)
    const r = await run('--url', db.url, '--dry-run', '--json')
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.actions).toEqual([
      {step: 'srem', key: 'procs', status: 'planned', detail: 'SREM procs "a"'},
      {step: 'srem', key: 'procs', status: 'planned', detail: 'SREM procs "b"'},
      {step: 'unlink', key: 'k', status: 'planned', detail: 'UNLINK string k', bytes: 50},
    ])
    expect(doc.journal).toBeUndefined()
    const text = await run('--url', db.url, '--dry-run')
    expect(text.stdout).toMatch(/3 actions: 3 planned/)
    expect(text.stdout).toMatch(/Dry run: nothing was changed/)
    expect(await dumps(db.redis, KEYS)).toEqual(before)
    expect(await runUsage('--url', db.url, '--dry-run', '--yes')).toBe(2)
  })

  it('--yes applies, journals to --journal, and the report names the journal', async () => {
    const path = journalPath()
    const r = await run('--url', db.url, '--yes', '--json', '--journal', path)
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['applied', 'applied', 'applied'])
    expect(doc.journal).toBe(path)
    expect(await db.redis.smembers('procs')).toEqual(['c'])
    const j = readJournal(path)
    expect(j.ended).toBe(true)
    expect(j.header.target).toBe(db.url)
    expect(j.entries.map((e) => e.outcome?.status)).toEqual(['applied', 'applied', 'applied'])
    // Text output: the table, the tally and how to undo.
    await db.redis.sadd('procs', 'a', 'b')
    await db.redis.set('k', 'v')
    const text = await run('--url', db.url, '--yes', '--journal', journalPath())
    expect(text.stdout).toMatch(/3 actions: 3 applied/)
    expect(text.stdout).toMatch(/Undo with: qdoctor undo .*j\d+\.jsonl/)
  })

  it('writes the journal to qdoctor-journal-<UTC timestamp>.jsonl in the working directory by default', async () => {
    const cwd = process.cwd()
    const here = mkdtempSync(join(tmpdir(), 'qdoctor-cwd-'))
    process.chdir(here)
    try {
      const doc = (await run('--url', db.url, '--yes', '--json')).json()
      expect(doc.journal).toMatch(/^qdoctor-journal-\d{8}T\d{6}Z\.jsonl$/)
      expect(existsSync(join(here, doc.journal))).toBe(true)
    } finally {
      process.chdir(cwd)
      rmSync(here, {recursive: true, force: true})
    }
  })

  it('on a TTY asks first: "y" applies, anything else refuses with exit 4', async () => {
    interactive = true
    answer = 'n\n'
    const before = await dumps(db.redis, KEYS)
    const no = await run('--url', db.url, '--journal', journalPath())
    expect(no.code).toBe(4)
    expect(prompted).toMatch(/About to apply 3 actions \(about 50 B\) on redis:\/\/127\.0\.0\.1:\d+\/\d+\./)
    expect(no.stderr).toMatch(/Not confirmed: nothing was changed/)
    expect(await dumps(db.redis, KEYS)).toEqual(before)
    answer = 'y\n'
    const yes = await run('--url', db.url, '--journal', journalPath())
    expect(yes.code).toBe(0)
    expect(await db.redis.exists('k')).toBe(0)
  })

  it('--no-journal only with --yes, and says so loudly; an existing journal file is never overwritten', async () => {
    expect(await runUsage('--url', db.url, '--no-journal')).toBe(2)
    const r = await run('--url', db.url, '--yes', '--no-journal', '--json')
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(doc.journal).toBeUndefined()
    expect(doc.warnings).toContain('NO JOURNAL (--no-journal): these changes are not recorded anywhere and cannot be undone.')
    await db.redis.sadd('procs', 'a')
    const text = await run('--url', db.url, '--yes', '--no-journal')
    expect(text.stderr).toMatch(/NO JOURNAL/)

    const existing = journalPath()
    writeFileSync(existing, 'precious\n')
    await db.redis.sadd('procs', 'a')
    const clash = await run('--url', db.url, '--yes', '--journal', existing)
    expect(clash.code).toBe(2)
    expect(clash.stderr).toMatch(/already exists/)
    expect(await db.redis.sismember('procs', 'a')).toBe(1)
  })

  it('--limit caps the plan', async () => {
    const doc = (await run('--url', db.url, '--yes', '--json', '--limit', '1', '--journal', journalPath())).json()
    expect(doc.actions).toHaveLength(1)
    expect(doc.warnings.join()).toMatch(/--limit 1: 2 more planned actions were left out/)
    expect((await db.redis.smembers('procs')).sort()).toEqual(['b', 'c'])
  })

  it('never writes a password into the journal or the report', async () => {
    const server = await startRedis(['--requirepass', 'S3cr3t-pw'])
    try {
      const admin = server.client(0)
      await admin.sadd('procs', 'a')
      plan = [{kind: 'srem', key: 'procs', member: 'a'}]
      const path = journalPath()
      const r = await run('--url', server.url(0), '--yes', '--json', '--journal', path)
      expect(r.code).toBe(0)
      expect(r.stdout).not.toContain('S3cr3t-pw')
      const j = readJournal(path)
      expect(j.header.target).toBe(`redis://:***@127.0.0.1:${server.port}/0`)
      expect(JSON.stringify(j.header)).not.toContain('S3cr3t-pw')
    } finally {
      await server.stop()
    }
  })
})
