// `qdoctor dead` as a user runs it (built CLI, subprocess): the report and its JSON contract, exit
// codes, --export, --purge and --retry with every filter, the `dead retry` alias, refusals, usage
// errors, --stop-loop on a quiet set and a leftover quarantine, and a retry killed mid-way then undone.
import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'

import {ROOT, runCli} from '../helpers/cli.js'
import {useTestDb} from '../helpers/db.js'
import {waitForOutcomes} from '../helpers/journals.js'

const t = useTestDb()
const NOW = Math.floor(Date.now() / 1000)
const BIG = '123456789012345678901234567890'
const DAY = 86_400

const jid = (i: number) => i.toString(16).padStart(24, '0')

interface Spec {
  i: number
  ageSeconds: number
  class?: string
  wrapped?: string
  queue?: string
  error?: [string, string]
  extra?: Record<string, unknown>
}

function member(s: Spec): string {
  const payload = {
    retry: 0,
    queue: s.queue ?? 'default',
    class: s.class ?? 'HardJob',
    ...(s.wrapped ? {wrapped: s.wrapped} : {}),
    args: ['@BIG@', s.i],
    jid: jid(s.i),
    created_at: NOW - s.ageSeconds - 10 + 0.125,
    enqueued_at: NOW - s.ageSeconds - 5 + 0.25,
    error_message: s.error?.[1] ?? `boom ${s.i}`,
    error_class: s.error?.[0] ?? 'RuntimeError',
    failed_at: NOW - s.ageSeconds,
    retry_count: 0,
    ...s.extra,
  }
  return JSON.stringify(payload).replace('"@BIG@"', BIG)
}

/** A realistic mix: 3 classes (one Active Job), 2 queues, 2 errors, ages from minutes to 40 days. */
const MIX: Spec[] = [
  {i: 1, ageSeconds: 40 * DAY, class: 'ReportJob', queue: 'low'},
  {i: 2, ageSeconds: 20 * DAY},
  {i: 3, ageSeconds: 10 * DAY, error: ['Net::ReadTimeout', 'Net::ReadTimeout with #<TCPSocket>']},
  {i: 4, ageSeconds: 2 * DAY, class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'MailJob', queue: 'mailers'},
  {i: 5, ageSeconds: 3 * 3600, error: ['Net::ReadTimeout', 'Net::ReadTimeout with #<TCPSocket>']},
  {i: 6, ageSeconds: 600, class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'MailJob', queue: 'mailers'},
  {i: 7, ageSeconds: 60},
]

async function seed(specs: Spec[] = MIX, extra: Array<[number, string]> = []): Promise<Array<[string, string]>> {
  const args: string[] = []
  for (const s of specs) args.push(String(NOW - s.ageSeconds + 0.5), member(s))
  for (const [score, m] of extra) args.push(String(score), m)
  await t.db.redis.zadd('dead', ...args)
  return snapshot()
}

async function snapshot(): Promise<Array<[string, string]>> {
  const flat = await t.db.redis.zrange('dead', 0, -1, 'WITHSCORES')
  const out: Array<[string, string]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!])
  return out
}

const dead = (...args: string[]) => runCli(['dead', ...args, '--url', t.db.url])

describe('qdoctor dead (report)', () => {
  it('reports the JSON contract: size, maxJobs, oldest, newest, topClasses, topErrors; exit 0 when healthy', async () => {
    await seed()
    const r = await dead('--json')
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.command).toBe('dead')
    expect(doc.complete).toBe(true)
    const s = doc.summary
    expect(s).toMatchObject({size: 7, read: 7, maxJobs: 10_000, corrupt: 0, duplicateJids: 0})
    expect(s.oldest).toMatchObject({jid: jid(1), class: 'ReportJob', at: new Date((NOW - 40 * DAY + 0.5) * 1000).toISOString()})
    expect(s.newest).toMatchObject({jid: jid(7), class: 'HardJob'})
    expect(s.topClasses).toEqual([
      {class: 'HardJob', count: 4},
      {class: 'MailJob', count: 2},
      {class: 'ReportJob', count: 1},
    ])
    expect(s.topQueues[0]).toEqual({queue: 'default', count: 4})
    expect(s.topErrors.map((e: {errorClass: string; count: number}) => [e.errorClass, e.count])).toEqual([
      ['RuntimeError', 5],
      ['Net::ReadTimeout', 2],
    ])
    expect(s.topErrors[1]).toMatchObject({firstSeen: new Date((NOW - 10 * DAY + 0.5) * 1000).toISOString(), lastSeen: new Date((NOW - 3 * 3600 + 0.5) * 1000).toISOString()})
    expect(s.ageHistogram.map((b: {count: number}) => b.count)).toEqual([2, 1, 1, 2, 1, 0, 0])
    expect(doc.findings).toEqual([])
    const human = await dead()
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/7 jobs \(0\.1% of dead_max_jobs 10,000; Sidekiq keeps 9,999\)/)
    expect(human.stdout).toMatch(/Net::ReadTimeout: Net::ReadTimeout with/)
  })

  it('near capacity, corrupt and duplicate entries, and a job queued again after dying again, are findings; errors exit 1', async () => {
    await seed(MIX, [
      [NOW - 5, 'not a job'],
      [NOW - 4, member({i: 2, ageSeconds: 4, extra: {error_message: 'second copy'}})],
    ])
    // Without --loops only the strong static sign of a loop is a finding (retried again after dying again).
    await t.db.redis.lpush('queue:default', member({i: 8, ageSeconds: 5, extra: {retry_count: -1, retried_at: NOW - 5}}))
    // 9 entries; dead_max_jobs 10 keeps 9: full, every new death evicts the oldest.
    const r = await dead('--json', '--max-jobs', '10')
    expect(r.code).toBe(1)
    const doc = r.json()
    const checks = doc.findings.map((f: {check: string; severity: string}) => `${f.check}:${f.severity}`).sort()
    expect(checks).toEqual(['dead/corrupt-entry:error', 'dead/duplicate-jid:warn', 'dead/near-capacity:error', 'dead/retry-loop:error'])
    expect(doc.findings.find((f: {check: string}) => f.check === 'dead/retry-loop')).toMatchObject({subject: {jid: jid(8)}, evidence: {signal: 'retried-again-after-re-death'}})
    expect(doc.findings.find((f: {check: string}) => f.check === 'dead/near-capacity')).toMatchObject({evidence: {size: 9, maxJobs: 10, kept: 9}})
    expect(doc.summary).toMatchObject({corrupt: 1, duplicateJids: 1})
  })

  it('a dead key of the wrong type is an error finding, not a crash', async () => {
    await t.db.redis.set('dead', 'oops')
    const r = await dead('--json')
    expect(r.code).toBe(1)
    expect(r.json().findings[0]).toMatchObject({check: 'dead/wrong-type', severity: 'error', evidence: {type: 'string'}})
  })

  it('--loops --watch 0s reports the static signs of a loop as dead/retry-loop errors', async () => {
    await seed([{i: 1, ageSeconds: 100, extra: {retried_at: NOW - 100}}, {i: 2, ageSeconds: 50}])
    await t.db.redis.lpush('queue:default', member({i: 3, ageSeconds: 5, extra: {retry_count: -1, retried_at: NOW - 5}}))
    const r = await dead('--loops', '--watch', '0s', '--json')
    expect(r.code).toBe(1)
    const doc = r.json()
    const loops = doc.findings.filter((f: {check: string}) => f.check === 'dead/retry-loop')
    expect(loops.map((f: {subject: {jid: string}; evidence: {signal: string}}) => [f.subject.jid, f.evidence.signal]).sort()).toEqual([
      [jid(1), 'manual-retry-died-again'],
      [jid(3), 'retried-again-after-re-death'],
    ])
    expect(doc.summary.loopSignals).toMatchObject({retriedRetry0: 1, queuedManualRetry: 1, queuedRepeatedRetry: 1})
    expect(doc.summary.watch).toBeUndefined()
  })
})

describe('qdoctor dead --export', () => {
  it('streams the selected entries as JSON lines, payloads verbatim (big integers intact); never overwrites', async () => {
    await seed(MIX, [[NOW - 3, 'garbage\nwith a newline']])
    const file = t.journals.path('export')
    const r = await dead('--export', file, '--class', 'MailJob', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().summary).toMatchObject({exported: 2, exportFile: file})
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    const first = JSON.parse(lines[0]!)
    expect(first).toMatchObject({jid: jid(4), class: 'MailJob', queue: 'mailers', error: 'RuntimeError: boom 4'})
    expect(lines[0]).toContain(`"job":${member(MIX[3]!)}`)
    expect(lines[0]).toContain(`[${BIG},4]`)
    const corrupt = t.journals.path('corrupt')
    await dead('--export', corrupt, '--corrupt')
    expect(JSON.parse(readFileSync(corrupt, 'utf8'))).toMatchObject({corrupt: true, member: 'garbage\nwith a newline'})
    const again = await dead('--export', file)
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already exists/)
  })
})

describe('qdoctor dead --purge', () => {
  it('--older-than removes exactly the selected entries (journaled); undo puts them back byte for byte', async () => {
    const before = await seed()
    const journal = t.journals.path('purge')
    const r = await dead('--purge', '--older-than', '7d', '--yes', '--journal', journal, '--json')
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary).toMatchObject({purged: 3, skipped: 4, skippedBy: {filtered: 4}})
    expect(doc.actions.map((a: {step: string; status: string; subject: {jid: string}}) => [a.step, a.status, a.subject.jid])).toEqual([
      ['purge', 'applied', jid(1)],
      ['purge', 'applied', jid(2)],
      ['purge', 'applied', jid(3)],
    ])
    expect((await snapshot()).map(([m]) => JSON.parse(m).jid)).toEqual([4, 5, 6, 7].map(jid))
    const undo = await runCli(['undo', journal, '--yes', '--url', t.db.url, '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})

describe('qdoctor dead --retry / dead retry', () => {
  it('--dry-run plans one action per job (step retry, subject.jid, queue) and changes nothing', async () => {
    const before = await seed()
    const r = await dead('--retry', '--dry-run', '--queue', 'mailers', '--json')
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.actions).toEqual([
      expect.objectContaining({step: 'retry', status: 'planned', subject: {jid: jid(4), class: 'MailJob'}, queue: 'mailers'}),
      expect.objectContaining({step: 'retry', status: 'planned', subject: {jid: jid(6), class: 'MailJob'}, queue: 'mailers'}),
    ])
    expect(doc.summary).toMatchObject({retried: 2, skipped: 5, bound: {count: 7}})
    expect(await snapshot()).toEqual(before)
    expect(await t.db.redis.exists('queue:mailers')).toBe(0)
  })

  it('refuses off a terminal without --yes (exit 4) and changes nothing', async () => {
    const before = await seed()
    const r = await dead('--retry')
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/re-run with --yes/)
    expect(await snapshot()).toEqual(before)
  })

  it('at a terminal: counts the selection first, shows the jobs, and retries on "y"', async () => {
    await seed()
    // script(1) gives the CLI a real TTY; the answer comes on its stdin.
    const cmd = `printf 'y\\n' | script -qec "node bin/run.js dead retry --class MailJob --url ${t.db.url} --journal ${t.journals.path('tty')} --no-color" /dev/null`
    const {stdout} = await promisify(execFile)('bash', ['-c', cmd], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, timeout: 30_000})
    expect(stdout).toMatch(/retry jid 000000000000000000000004 MailJob → queue:mailers/)
    expect(stdout).toMatch(/About to retry 2 dead jobs on redis:\/\/127\.0\.0\.1:\d+\/\d+/)
    expect(await t.db.redis.llen('queue:mailers')).toBe(2)
    expect(await t.db.redis.zcard('dead')).toBe(5)
  })

  it('each filter selects its jobs; the rewritten payload differs only in retry_count and enqueued_at', async () => {
    // Every filter is covered against fixtures in test/lib/dead-check.test.ts; here, the CLI wiring.
    const cases: Array<[string[], number[]]> = [
      [['--class', 'MailJob,ReportJob', '--limit', '2'], [1, 4]],
      [['--error', '/^RuntimeError: boom [27]$/', '--jid', `${jid(2)},${jid(5)}`], [2]],
      [['--older-than', '5d', '--newer-than', '30d', '--queue', 'default'], [2, 3]],
    ]
    for (const [filters, expected] of cases) {
      await t.db.reset()
      await seed()
      const r = await runCli(['dead', 'retry', ...filters, '--yes', '--no-journal', '--url', t.db.url, '--json'])
      expect(r.code, `${filters.join(' ')}: ${r.stderr}`).toBe(0)
      const doc = r.json()
      const retried = doc.actions.filter((a: {status: string}) => a.status === 'applied').map((a: {subject: {jid: string}}) => a.subject.jid)
      expect(retried, filters.join(' ')).toEqual(expected.map(jid))
      expect(doc.summary.retried).toBe(expected.length)
      expect((await snapshot()).length).toBe(7 - expected.length)
    }
    // The last case moved jobs 2 and 3: compare job 2 with the payload that was in dead.
    const queued = (await t.db.redis.lrange('queue:default', 0, -1))[1]!
    const original = member(MIX[1]!)
    const enqueuedAt = /"enqueued_at":([\d.]+)/.exec(queued)![1]!
    expect(Number(enqueuedAt)).toBeGreaterThan(NOW - 5)
    expect(queued).toBe(original.replace(/"enqueued_at":[\d.]+/, `"enqueued_at":${enqueuedAt}`).replace('"retry_count":0', '"retry_count":-1'))
    expect(await t.db.redis.smembers('queues')).toEqual(['default'])
  })

  it('usage errors exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--class', 'X'], /select what --retry, --purge or --export act on/],
      [['--retry', '--corrupt'], /--corrupt cannot go with --retry/],
      // Checked before connecting: a usage error even where no Redis listens.
      [['--purge', '--error', '/(/'], /not a valid regular expression/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['dead', ...args, '--url', args.includes('--error') ? 'redis://127.0.0.1:1/0' : t.db.url])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr, args.join(' ')).toMatch(message)
    }
  })

  it('a retry killed mid-way (SIGKILL) leaves a journal that undo uses to put every job back', async () => {
    const specs = Array.from({length: 30}, (_, i) => ({i: i + 1, ageSeconds: 1000 - i}))
    const before = await seed(specs)
    const journal = t.journals.path('killed-retry')
    let pid = 0
    const run = runCli(['dead', '--retry', '--rate', '10', '--yes', '--journal', journal, '--url', t.db.url], {onSpawn: (p) => (pid = p), timeoutMs: 20_000})
    await waitForOutcomes(journal, 5)
    process.kill(pid, 'SIGKILL')
    const killed = await run
    expect(killed.code).toBeNull()
    const moved = await t.db.redis.llen('queue:default')
    expect(moved).toBeGreaterThanOrEqual(5)
    expect(moved).toBeLessThan(30)
    expect(await t.db.redis.zcard('dead')).toBe(30 - moved)
    const undo = await runCli(['undo', journal, '--yes', '--url', t.db.url, '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    expect(undo.json().summary.restored).toBe(moved)
    expect(await snapshot()).toEqual(before)
    expect(await t.db.redis.exists('queue:default')).toBe(0)
  })
})

describe('qdoctor dead --stop-loop', () => {
  it('on a quiet set: sets it aside, holds briefly, merges it back unchanged; --dry-run plans the two steps', async () => {
    const before = await seed()
    const dry = (await dead('--stop-loop', '--dry-run', '--json')).json()
    expect(dry.actions.map((a: {step: string; status: string}) => `${a.step}:${a.status}`)).toEqual(['stop-loop/quarantine:planned', 'stop-loop/merge:planned'])
    const r = await dead('--stop-loop', '--yes', '--watch', '200ms', '--hold', '300ms', '--no-journal', '--json')
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary.stopLoop).toMatchObject({quarantined: 7, swept: 0, driversStopped: null, mergedBack: true, sizeAfter: 7})
    expect(doc.actions.map((a: {step: string; status: string}) => `${a.step}:${a.status}`)).toEqual(['stop-loop/quarantine:applied', 'stop-loop/merge:applied'])
    expect(await snapshot()).toEqual(before)
    expect(await t.db.redis.exists('dead:qdoctor-quarantine')).toBe(0)
  })

  it('a quarantine left by an interrupted run is reported, and the next --stop-loop merges it back (MAX scores)', async () => {
    await seed(MIX.slice(0, 3))
    await t.db.redis.zadd('dead:qdoctor-quarantine', String(NOW - 10), member({i: 9, ageSeconds: 10}))
    const report = await dead('--json')
    expect(report.code).toBe(1)
    expect(report.json().findings[0]).toMatchObject({check: 'dead/quarantined', evidence: {quarantined: 1}})
    const r = await dead('--stop-loop', '--yes', '--watch', '200ms', '--hold', '300ms', '--no-journal', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().warnings.join(' ')).toMatch(/already held 1 jobs from an earlier run/)
    expect((await snapshot()).map(([m]) => JSON.parse(m).jid)).toEqual([1, 2, 3, 9].map(jid))
  })

  it('undo of a run stopped mid-hold merges the quarantine back', async () => {
    const before = await seed()
    const journal = t.journals.path('stop-loop')
    // A journal as an interrupted run leaves it: the quarantine step applied, no merge.
    writeFileSync(
      journal,
      [
        JSON.stringify({type: 'header', version: 1, tool: 'qdoctor', qdoctor: 'test', command: 'qdoctor dead --stop-loop', target: t.db.url, startedAt: new Date().toISOString()}),
        JSON.stringify({type: 'intent', seq: 1, at: new Date().toISOString(), action: {kind: 'zmerge', step: 'stop-loop/quarantine', from: 'dead', to: 'dead:qdoctor-quarantine', purpose: 'stash'}}),
      ].join('\n') + '\n',
    )
    await t.db.redis.rename('dead', 'dead:qdoctor-quarantine')
    const undo = await runCli(['undo', journal, '--yes', '--url', t.db.url, '--json'])
    expect(undo.code, undo.stderr).toBe(0)
    expect(await snapshot()).toEqual(before)
    expect(await t.db.redis.exists('dead:qdoctor-quarantine')).toBe(0)
  })
})
