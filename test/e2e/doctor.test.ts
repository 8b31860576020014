// `qdoctor doctor` end to end, as CI runs it: a real Redis holding genuine Sidekiq 6.4.1 data
// (seed.rb) plus failinfo, batch and dead-set problems; every format read back with a parser; exit
// codes for every --fail-on; baseline round trip; several targets with one unreachable; config files.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {writeFailinfo} from '../helpers/batch-data.js'
import {runCli} from '../helpers/cli.js'
import {testDb, type TestDb} from '../helpers/db.js'
import {gauge, parseExposition} from '../helpers/exposition.js'
import {freePort, type RedisServer, startRedis} from '../helpers/redis-server.js'
import {checkDoctorReport, type DoctorDocument} from '../helpers/report-contract.js'
import {seedSidekiq} from '../helpers/sidekiq.js'

let db: TestDb
let dir: string
let baseline: DoctorDocument
let firstCode: number | null

/** The problems added to the genuine Sidekiq data, and the findings they must produce. */
const EXPECTED: Array<[check: string, severity: string, family: string]> = [
  ['queue/corrupt-payload', 'error', 'queues'],
  ['queue/paused', 'info', 'queues'],
  ['failinfo/orphan', 'warn', 'failinfo'],
  ['failinfo/no-ttl', 'warn', 'failinfo'],
  ['redis/persistence', 'warn', 'server'],
  // LiveBatch00001's pending jid is nowhere; OrphanBatch001 and LiveBatch00001 have failinfo beside them.
  ['batch/ghost-job', 'error', 'batches'],
  ['dead/retry-loop', 'error', 'dead'],
]

/**
 * `qdoctor doctor` with a one-second settle: LiveBatch00001's pending jid exists nowhere (a ghost), so
 * the ghost hunt looks again after two heartbeats (20 s) by default; no worker runs here to wait for.
 */
const doctor = (args: string[], options?: Parameters<typeof runCli>[1]) => runCli(['doctor', ...args, '--set', 'batches.settle=1s'], options)

beforeAll(async () => {
  db = await testDb()
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-doctor-'))
  const seeded = await seedSidekiq(db.url)
  expect(seeded.sidekiq).toMatch(/^6\./)
  const r = db.redis
  // The oldest job of `default` (the tail: Sidekiq LPUSHes) was cut short mid-write.
  await r.rpush('queue:default', '{"class":"HardJob","queue":"default","jid":"0123')
  await r.sadd('paused', 'bulk')
  // One job in the morgue (seed.rb leaves the dead set empty).
  const diedAt = Date.now() / 1000 - 600
  await r.zadd('dead', diedAt, JSON.stringify({class: 'HardJob', queue: 'default', args: [1], jid: 'dead00000000000000000001', retry: true, retry_count: 25, error_class: 'RuntimeError', error_message: 'boom', failed_at: diedAt - 86_400, enqueued_at: diedAt - 86_400}))
  // A retry loop's traces: a retry: 0 job retried by hand that died again, and its copy queued again
  // by the next lap (retry_count -1 and retried_at), as DeadSet#retry_all in Sidekiq ≤ 7.3.4 leaves them.
  const loop = {class: 'ChargeJob', queue: 'loops', args: [42], jid: 'loop00000000000000000001', retry: 0, error_class: 'Stripe::CardError', error_message: 'declined', failed_at: diedAt - 3600}
  await r.zadd('dead', diedAt + 60, JSON.stringify({...loop, retry_count: 0, retried_at: diedAt + 55, enqueued_at: diedAt + 55}))
  const lap = Date.now() / 1000 - 30 // (recent: no queue latency finding)
  await r.lpush('queue:loops', JSON.stringify({...loop, retry_count: -1, retried_at: lap, enqueued_at: lap}))
  await r.sadd('queues', 'loops')
  // Pro batch data: failinfo whose batch is gone and that never expires; a healthy one beside it.
  await writeFailinfo(r, {bid: 'OrphanBatch001', entries: 3})
  await writeFailinfo(r, {bid: 'LiveBatch00001', entries: 5, parent: {createdAt: String(Date.now() / 1000 - 3600)}, ttlSeconds: 86_400, failedKey: true})
  const first = await doctor(['--url', db.url, '--json'])
  firstCode = first.code
  baseline = checkDoctorReport(first.json())
})

afterAll(async () => {
  await db.close()
  rmSync(dir, {recursive: true, force: true})
})

const FAMILY_ORDER = ['server', 'connections', 'processes', 'queues', 'batches', 'dead', 'failinfo']

const checksOf = (doc: DoctorDocument) => doc.findings.map((f) => `${f.check}:${f.severity}:${f.family}`).sort()

describe('qdoctor doctor on real Sidekiq data', () => {
  it('prints one report in the JSON contract: a section per family, the seeded problems as findings', async () => {
    const doc = baseline
    expect(doc.command).toBe('doctor')
    expect(doc.complete).toBe(true)
    expect(doc.target).toBe(db.url)
    const t = doc.summary.targets[0]!
    expect(doc.summary.targets).toHaveLength(1)
    expect(t.families.map((f) => f.name)).toEqual(FAMILY_ORDER)
    for (const [check, severity, family] of EXPECTED) expect(checksOf(doc)).toContain(`${check}:${severity}:${family}`)
    expect(t.families.find((f) => f.name === 'queues')!.status).toBe('error')
    expect(t.families.find((f) => f.name === 'failinfo')!.status).toBe('warn')
    // The genuine queues are all there, with their sizes from seed.rb.
    const queues = t.families.find((f) => f.name === 'queues')!.summary as {queues: Array<{name: string; size: number}>}
    expect(Object.fromEntries(queues.queues.map((q) => [q.name, q.size]))).toMatchObject({default: 4, mailers: 2, critical: 1, bulk: 4})
    // Counts agree with the findings, at every level.
    const count = (sev: string) => doc.findings.filter((f) => f.severity === sev).length
    expect(doc.summary.counts).toEqual({error: count('error'), warn: count('warn'), info: count('info'), known: 0})
    expect(t.exitCode).toBe(1)
    // One shared keyspace pass served the families that need keys by pattern.
    expect(t.keyspace).toMatchObject({match: '*'})
    expect(t.keyspace!.patterns).toBeGreaterThan(3)
  })

  it('exits per --fail-on: every threshold', async () => {
    // All checks: an error is found, so only --fail-on never passes.
    expect(firstCode).toBe(1)
    // server + queue/paused: a warning and an info, no error.
    const cases: Array<[selection: string[], expected: Record<string, number>]> = [
      [[], {never: 0}],
      [['--only', 'server,queue/paused'], {error: 0, warn: 1, info: 1, never: 0}],
    ]
    const runs = cases.flatMap(([selection, expected]) =>
      Object.entries(expected).map(async ([failOn, code]) => {
        const r = await doctor(['--url', db.url, '--json', '--fail-on', failOn, ...selection])
        const doc = checkDoctorReport(r.json())
        expect(doc.summary.failOn).toBe(failOn)
        if (selection.length) expect(checksOf(doc)).toEqual(['queue/paused:info:queues', 'redis/persistence:warn:server'])
        expect(r.code, `${selection.join(' ')} --fail-on ${failOn}: ${checksOf(doc).join(', ')}`).toBe(code)
      }),
    )
    await Promise.all(runs)
  })

  it('--format junit: one testsuite per family, one failed testcase per finding (XML parser)', async () => {
    const r = await doctor(['--url', db.url, '--format', 'junit'])
    expect(r.code).toBe(1)
    expect(XMLValidator.validate(r.stdout)).toBe(true)
    const xml = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name)}).parse(r.stdout)
    const suites = xml.testsuites.testsuite as Array<Record<string, any>>
    expect(suites.map((s) => s.name)).toEqual(FAMILY_ORDER)
    let failures = 0
    for (const suite of suites) {
      const own = baseline.findings.filter((f) => f.family === suite.name)
      const failed = (suite.testcase as Array<Record<string, any>>).filter((c) => c.failure)
      expect(failed).toHaveLength(own.length)
      expect(Number(suite.failures)).toBe(own.length)
      expect(Number(suite.tests)).toBe((suite.testcase as unknown[]).length)
      expect(failed.map((c) => c.failure.type).sort()).toEqual(own.map((f) => f.severity).sort())
      for (const c of failed) expect(c.classname).toBe(`qdoctor.${suite.name}`)
      failures += failed.length
    }
    expect(Number(xml.testsuites.failures)).toBe(failures)
    expect(failures).toBe(baseline.findings.length)
    const corrupt = suites.find((suite) => suite.name === 'queues')!.testcase.find((c: Record<string, any>) => String(c.name).startsWith('queue/corrupt-payload'))
    expect(corrupt.failure['#text']).toContain('fix: redis-cli LINDEX queue:default')
  })

  it('--format prometheus: one gauge per check id and severity, and the key figures (text-format parser)', async () => {
    const out = join(dir, 'qdoctor.prom')
    const r = await doctor(['--url', db.url, '--format', 'prometheus', '--output', out])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const metrics = parseExposition(readFileSync(out, 'utf8'))
    const findings = gauge(metrics, 'qdoctor_check_findings')
    expect(findings.samples.reduce((sum, s) => sum + s.value, 0)).toBe(baseline.findings.length)
    for (const [check, severity, family] of EXPECTED) {
      const s = findings.samples.find((x) => x.labels.check === check && x.labels.severity === severity)
      expect(s, `${check} ${severity}`).toMatchObject({labels: {target: db.url, family}})
      expect(s!.value).toBe(baseline.findings.filter((f) => f.check === check && f.severity === severity).length)
    }
    // A clean check still has its series, at 0.
    expect(findings.samples.find((x) => x.labels.check === 'queue/latency' && x.labels.severity === 'error')?.value).toBe(0)
    // One series per (check, severity): no duplicates.
    const ids = findings.samples.map((s) => JSON.stringify(s.labels))
    expect(new Set(ids).size).toBe(ids.length)
    const failinfo = baseline.summary.targets[0]!.families.find((f) => f.name === 'failinfo')!.summary as {bytes: number; keys: number}
    expect(gauge(metrics, 'qdoctor_failinfo_bytes').samples[0]!.value).toBe(failinfo.bytes)
    expect(gauge(metrics, 'qdoctor_failinfo_keys').samples[0]!.value).toBe(2)
    expect(gauge(metrics, 'qdoctor_queue_jobs').samples.find((s) => s.labels.queue === 'mailers')?.value).toBe(2)
    expect(gauge(metrics, 'qdoctor_redis_connected_clients').samples[0]!.value).toBeGreaterThan(0)
    // The dead-set size, the ghost count and the connections, from their families' summaries.
    const dead = baseline.summary.targets[0]!.families.find((f) => f.name === 'dead')!.summary as {size: number}
    expect(dead.size).toBeGreaterThan(0)
    expect(gauge(metrics, 'qdoctor_dead_jobs').samples[0]!.value).toBe(dead.size)
    expect(gauge(metrics, 'qdoctor_batch_pending_jids').samples.find((x) => x.labels.verdict === 'ghost')?.value).toBe(1)
    expect(gauge(metrics, 'qdoctor_connections_clients').samples[0]!.value).toBeGreaterThan(0)
    expect(gauge(metrics, 'qdoctor_up').samples).toEqual([{labels: {target: db.url}, value: 1}])
    expect(gauge(metrics, 'qdoctor_exit_code').samples[0]!.value).toBe(1)
  })

  it('--format markdown and table: families, findings by severity, fix commands', async () => {
    const [md, table] = await Promise.all([doctor(['--url', db.url, '--format', 'markdown']), doctor(['--url', db.url])])
    expect(md.code).toBe(1)
    expect(md.stdout).toMatch(/^## qdoctor doctor: findings$/m)
    expect(md.stdout).toMatch(/^\| family \| status \| errors \| warnings \| info \| known \| details \|$/m)
    expect(md.stdout).toMatch(/^\| queues \| ❌ error \| 1 \| 0 \| 1 \| 0 \| `qdoctor queues` \|$/m)
    expect(md.stdout.indexOf('#### Errors (1)')).toBeLessThan(md.stdout.indexOf('#### Warnings'))
    expect(md.stdout).toMatch(/- \*\*queue\/corrupt-payload\*\* — .*<br>fix: `redis-cli LINDEX queue:default \d+/)
    expect(table.code).toBe(1)
    const lines = table.stdout.split('\n')
    const at = (text: string) => lines.findIndex((l) => l.includes(text))
    expect(at('│ queues')).toBeGreaterThan(0)
    expect(at('Errors (1)')).toBeLessThan(at('Warnings ('))
    expect(at('Warnings (')).toBeLessThan(at('Info (1)'))
    expect(table.stdout).toContain('fix: qdoctor failinfo --purge --orphans-only')
  })

  it('`qdoctor check` is the same command', async () => {
    const r = await runCli(['check', '--url', db.url, '--only', 'queues', '--json'])
    expect(r.code).toBe(1)
    const doc = checkDoctorReport(r.json())
    expect(doc.command).toBe('doctor')
    expect(doc.summary.targets[0]!.families.map((f) => f.name)).toEqual(['queues'])
    expect(checksOf(doc)).toEqual(checksOf(baseline).filter((c) => c.endsWith(':queues')))
  })

  it('--list-checks prints the catalog without connecting (table and JSON)', async () => {
    const unreachable = `redis://127.0.0.1:${await freePort()}/0`
    const json = await doctor(['--list-checks', '--json', '--url', unreachable])
    expect(json.code, json.stderr).toBe(0)
    const catalog = json.json() as Array<{family: string; id: string; severities: string[]; title: string}>
    expect(catalog.map((c) => c.id)).toEqual(expect.arrayContaining(['redis/persistence', 'queue/corrupt-payload', 'failinfo/orphan']))
    expect(new Set(catalog.map((c) => c.family))).toEqual(new Set(baseline.summary.targets[0]!.families.map((f) => f.name)))
    const table = await doctor(['--list-checks', '--url', unreachable])
    expect(table.code).toBe(0)
    for (const c of catalog) expect(table.stdout).toContain(c.id)
  })

  it('baseline round trip: recorded findings are known and pass; a new problem fails', async () => {
    const file = join(dir, 'baseline.json')
    const write = await doctor(['--url', db.url, '--write-baseline', file, '--fail-on', 'info', '--json'])
    expect(write.code).toBe(0)
    const written = JSON.parse(readFileSync(file, 'utf8'))
    expect(written.findings.map((f: {check: string}) => f.check).sort()).toEqual(baseline.findings.map((f) => f.check).sort())
    expect(written.findings.every((f: {target?: string}) => f.target === undefined)).toBe(true)
    expect(checkDoctorReport(write.json()).findings.every((f) => f.known)).toBe(true)

    const again = await doctor(['--url', db.url, '--baseline', file, '--fail-on', 'info', '--json'])
    expect(again.code).toBe(0)
    const doc = checkDoctorReport(again.json())
    expect(doc.summary.baseline).toEqual({file, entries: baseline.findings.length, known: baseline.findings.length, new: 0})
    expect(doc.summary.counts).toMatchObject({error: 0, warn: 0, info: 0, known: baseline.findings.length})

    const key = await writeFailinfo(db.redis, {bid: 'NewOrphan00001', entries: 2})
    try {
      const regressed = await doctor(['--url', db.url, '--baseline', file, '--fail-on', 'warn', '--json'])
      expect(regressed.code).toBe(1)
      const fresh = checkDoctorReport(regressed.json()).findings.filter((f) => !f.known)
      expect(fresh.map((f) => `${f.check} ${f.subject?.key ?? f.subject?.bid}`).sort()).toEqual(['batch/orphan-keys NewOrphan00001', `failinfo/no-ttl ${key}`, `failinfo/orphan ${key}`])
      const junit = await doctor(['--url', db.url, '--baseline', file, '--format', 'junit', '--only', 'failinfo'])
      const skipped = [...junit.stdout.matchAll(/<skipped message="known: in the baseline"\/>/g)]
      expect(skipped).toHaveLength(2)
      expect([...junit.stdout.matchAll(/<failure /g)]).toHaveLength(2)
    } finally {
      await db.redis.del(key)
    }
  })

  it('two targets at once, one unreachable: exit 3, and the other is still fully reported', async () => {
    const port = await freePort()
    const closed = `redis://:***@127.0.0.1:${port}/0`
    const r = await doctor(['--url', db.url, '--url', `redis://:hunter2-pw@127.0.0.1:${port}/0`, '--json'])
    expect(r.code).toBe(3)
    expect(r.stdout + r.stderr).not.toContain('hunter2-pw')
    const doc = checkDoctorReport(r.json())
    expect(doc.complete).toBe(false)
    const [good, bad] = doc.summary.targets
    expect(good).toMatchObject({target: db.url, complete: true, exitCode: 1})
    expect(checksOf({...doc, findings: doc.findings.filter((f) => f.target === db.url)})).toEqual(checksOf(baseline))
    expect(bad).toMatchObject({target: closed, complete: false, exitCode: 3})
    expect(bad!.incomplete![0]).toMatch(/Connection refused/)
    expect(bad!.families.every((f) => f.status === 'not-run')).toBe(true)
    expect(doc.incomplete).toEqual([`${closed}: ${bad!.incomplete![0]}`])
    // The same through a --targets file, in table form: one section per target.
    const targets = join(dir, 'targets.txt')
    writeFileSync(targets, `# two shards\n${db.url} shard-a\nredis://:hunter2-pw@127.0.0.1:${port}/0 shard-b\n`)
    // A REDIS_URL in the environment (as CI often has) does not conflict with --targets.
    const table = await doctor(['--targets', targets, '--concurrency', '2'], {env: {REDIS_URL: 'redis://127.0.0.1:1/0'}})
    expect(table.code).toBe(3)
    expect(table.stdout).toMatch(/Target shard-a[\s\S]*Target shard-b[\s\S]*INCOMPLETE: Connection refused/)
    expect(table.stdout).toMatch(/2 targets — shard-a: exit 1, shard-b: could not check/)
    expect(table.stdout + table.stderr).not.toContain('hunter2-pw')
  })
})

describe('config files', () => {
  it('is found from the working directory upward; flags override it', async () => {
    const project = join(dir, 'project')
    mkdirSync(join(project, 'deploy'), {recursive: true})
    writeFileSync(join(project, '.qdoctor.yml'), `fail-on: info\nonly: [failinfo]\ntargets:\n  - ${db.url}\nfailinfo:\n  key-warn-bytes: 64\n`)
    const r = await doctor(['--json'], {cwd: join(project, 'deploy')})
    const doc = checkDoctorReport(r.json())
    expect(doc.summary.config).toBe(join(project, '.qdoctor.yml'))
    expect(doc.target).toBe(db.url)
    expect(doc.summary.targets[0]!.families.map((f) => f.name)).toEqual(['failinfo'])
    expect(doc.summary.failOn).toBe('info')
    expect(checksOf(doc)).toContain('failinfo/oversized-key:warn:failinfo')
    expect(r.code).toBe(1)
    const overridden = await doctor(['--json', '--fail-on', 'never', '--set', 'failinfo.key-warn-bytes=10mb'], {cwd: project})
    expect(overridden.code).toBe(0)
    expect(checksOf(checkDoctorReport(overridden.json()))).not.toContain('failinfo/oversized-key:warn:failinfo')
  })

  it('an invalid config file, an unknown check id or a missing baseline is a usage error (exit 2) saying what and where, also under --json', async () => {
    const project = join(dir, 'broken')
    mkdirSync(project, {recursive: true})
    writeFileSync(join(project, '.qdoctor.json'), JSON.stringify({'fail-on': 'warn', queues: {'latency-warn': 300, colour: 'red'}}))
    const [r, json, missing, only] = await Promise.all([
      doctor(['--url', db.url], {cwd: project}),
      doctor(['--url', db.url, '--json'], {cwd: project}),
      doctor(['--url', db.url, '--baseline', join(dir, 'nope.json')]),
      doctor(['--url', db.url, '--only', 'queue']),
    ])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(join(project, '.qdoctor.json'))
    expect(r.stderr).toMatch(/queues\.latency-warn: "300" needs a unit/)
    expect(r.stderr).toMatch(/"queues\.colour": unknown setting \(allowed in queues: latency-warn/)
    expect(json.code).toBe(2)
    expect(json.json()).toMatchObject({command: 'doctor', complete: false, error: {exitCode: 2}})
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/Baseline .*nope\.json does not exist \(create it with --write-baseline/)
    expect(only.code).toBe(2)
    expect(only.stderr).toMatch(/"queue" is neither a check family nor a check id/)
  })
})

describe('one keyspace pass', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedis()
  })
  afterAll(async () => server.stop())

  const scanCalls = async (r: ReturnType<RedisServer['client']>) => Number(/cmdstat_scan:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0)

  it('SCANs the keyspace once for every family, where the topic commands scan once each', async () => {
    const r = server.client(0)
    for (let i = 0; i < 3000; i += 500) await r.mset(Object.fromEntries(Array.from({length: 500}, (_, j) => [`cache:${i + j}`, 'x'])))
    await r.lpush('queue:default', JSON.stringify({class: 'A', jid: 'a'.repeat(24), enqueued_at: Date.now() / 1000}))
    await writeFailinfo(r, {bid: 'OrphanBatch002', entries: 2})
    await r.config('RESETSTAT')
    const all = await doctor(['--url', server.url(0), '--scan-count', '200', '--json'])
    const doctorCalls = await scanCalls(r)
    const section = checkDoctorReport(all.json()).summary.targets[0]!
    expect(section.keyspace!.scanCalls).toBe(doctorCalls)
    // One pass over ~3000 keys with COUNT 200 takes about 15 calls; two would take twice as many.
    expect(doctorCalls).toBeGreaterThanOrEqual(10)
    await r.config('RESETSTAT')
    await Promise.all([runCli(['queues', '--url', server.url(0), '--scan-count', '200', '--json']), runCli(['failinfo', '--url', server.url(0), '--scan-count', '200', '--json'])])
    const separate = await scanCalls(r)
    expect(separate).toBeGreaterThanOrEqual(2 * doctorCalls - 2)
    expect(section.keyspace!.keysMatched).toBe(2)
  })
})
