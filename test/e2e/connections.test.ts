// `qdoctor connections` end to end against real connections opened by the test: idle clients, a
// BLPOP with timeout 0, a pub/sub listener, an open MULTI, a RESP3 client, a client with a huge
// query buffer, and a real replica. --kill kills exactly the filtered clients and never the
// replica, pub/sub listeners (unless asked) or qdoctor itself. Each test server is private to this
// file: CLIENT KILL must never reach another file's connections.
import {readFileSync} from 'node:fs'
import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, runCli} from '../helpers/cli.js'
import {closeClients, named, raw} from '../helpers/clients.js'
import {type RedisServer, startRedis} from '../helpers/redis-server.js'
import {journalDir} from '../helpers/repairs.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const servers: RedisServer[] = []
const jd = journalDir()

async function server(args: string[] = []): Promise<RedisServer> {
  const s = await startRedis(args)
  servers.push(s)
  return s
}

async function clientNames(port: number): Promise<string[]> {
  const admin = new Redis({port, host: '127.0.0.1', retryStrategy: () => null})
  try {
    const list = (await admin.client('LIST')) as string
    return list
      .trim()
      .split('\n')
      .map((l) => /name=(\S*)/.exec(l)?.[1] ?? '')
      .filter(Boolean)
      .sort()
  } finally {
    admin.disconnect()
  }
}

async function replicaLinkId(primary: RedisServer): Promise<string> {
  const admin = new Redis({port: primary.port, host: '127.0.0.1', retryStrategy: () => null})
  try {
    return /id=(\d+)/.exec(String(await admin.call('CLIENT', 'LIST', 'TYPE', 'replica')))![1]!
  } finally {
    admin.disconnect()
  }
}

/** Poll until a connection matching `test` shows in CLIENT LIST (e.g. the CLI has connected). */
async function waitForClient(port: number, test: (line: string) => boolean): Promise<void> {
  const admin = new Redis({port, host: '127.0.0.1', retryStrategy: () => null})
  try {
    for (let i = 0; i < 200; i++) {
      const lines = ((await admin.client('LIST')) as string).trim().split('\n')
      if (lines.some(test)) return
      await sleep(25)
    }
    throw new Error('the connection never showed up')
  } finally {
    admin.disconnect()
  }
}

async function connectedReplicas(primary: RedisServer): Promise<number> {
  const admin = new Redis({port: primary.port, host: '127.0.0.1', retryStrategy: () => null})
  try {
    return Number(/connected_slaves:(\d+)/.exec(await admin.info('replication'))?.[1] ?? 0)
  } finally {
    admin.disconnect()
  }
}

const findings = (r: CliResult, check: string) => (r.json().findings as Array<{check: string; subject: Record<string, unknown>; evidence: Record<string, unknown>}>).filter((f) => f.check === check)

describe('qdoctor connections on a primary with real clients and a replica', () => {
  let primary: RedisServer
  let replica: RedisServer
  let blockerId: string
  let blocked: Promise<unknown>

  beforeAll(async () => {
    primary = await server()
    replica = await server(['--replicaof', '127.0.0.1', String(primary.port)])
    for (let i = 0; (await connectedReplicas(primary)) < 1; i++) {
      if (i > 100) throw new Error('the replica never connected')
      await sleep(50)
    }
    await named(primary.port, 'idle-a')
    await named(primary.port, 'idle-b')
    const blocker = await named(primary.port, 'blocker')
    blockerId = String(await blocker.client('ID'))
    blocked = blocker.blpop('nothing-ever', 0).catch((err: unknown) => err)
    const listener = await named(primary.port, 'listener')
    await listener.subscribe('news')
    await raw(primary.port, 'CLIENT SETNAME txn\r\nMULTI\r\nINCR counter\r\n')
    await raw(primary.port, 'HELLO 3 SETNAME resp3\r\n')
    // Half of a 40 MB SET: Redis holds the partial argument in the query buffer.
    await raw(primary.port, 'CLIENT SETNAME bigbuf\r\n', `*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${40 * 1024 * 1024}\r\n`, Buffer.alloc(3 * 1024 * 1024, 120))
    // CLIENT LIST counts idle in whole seconds.
    await sleep(2100)
  }, 30_000)

  afterAll(async () => {
    closeClients()
    for (const s of servers) await s.stop()
    jd.cleanup()
  })

  it('reports totals, kinds and per-client findings with id, addr, name and idleSeconds', async () => {
    const r = await runCli(['connections', '--url', primary.url(), '--json', '--idle-after', '1s', '--blocked-after', '1s', '--big-buffer', '2mb'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.complete).toBe(true)
    const s = doc.summary
    expect(s.clientList).toBe(true)
    expect(s.maxclients).toBeGreaterThan(0)
    // Our 7 clients, the replica link and qdoctor itself, all from 127.0.0.1.
    expect(s.listed).toBe(9)
    // INFO connected_clients leaves the replica link out.
    expect(s).toMatchObject({connected: 8, replicas: 1})
    expect(s.byHost['127.0.0.1']).toBe(s.listed)
    expect(s.byKind).toMatchObject({self: 1, replica: 1, pubsub: 1, blocked: 1, multi: 1})
    expect(s.byProtocol.RESP3).toBe(1)
    expect(Object.values(s.byLib as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(s.listed)
    expect(s.byCommand.blpop).toBe(1)
    expect(s.byName).toMatchObject({'idle-a': 1, 'idle-b': 1, blocker: 1, listener: 1, txn: 1, resp3: 1, bigbuf: 1})

    const idleNames = findings(r, 'connection/idle').map((f) => f.subject.name)
    expect(idleNames).toEqual(expect.arrayContaining(['idle-a', 'idle-b']))
    for (const busyElsewhere of ['listener', 'blocker', 'txn']) expect(idleNames).not.toContain(busyElsewhere)
    for (const f of findings(r, 'connection/idle')) {
      expect(f.subject).toEqual({id: expect.stringMatching(/^\d+$/), addr: expect.stringMatching(/^127\.0\.0\.1:\d+$/), name: expect.any(String)})
      expect(f.evidence.idleSeconds).toBeGreaterThanOrEqual(1)
    }
    const blockedFindings = findings(r, 'connection/blocked')
    expect(blockedFindings).toHaveLength(1)
    expect(blockedFindings[0]!.subject).toMatchObject({id: blockerId, name: 'blocker'})
    expect(blockedFindings[0]!.evidence).toMatchObject({cmd: 'blpop'})
    expect(blockedFindings[0]!.evidence.idleSeconds).toBeGreaterThanOrEqual(2)
    expect(findings(r, 'connection/stale-multi').map((f) => f.subject.name)).toEqual(['txn'])
    expect(findings(r, 'connection/big-buffers').map((f) => f.subject.name)).toEqual(['bigbuf'])
    const mixed = findings(r, 'connection/mixed-client-libs')
    expect(mixed.map((f) => f.subject)).toEqual([{host: '127.0.0.1'}])
    expect(mixed[0]!.evidence.byProtocol).toMatchObject({RESP3: 1})
    // The replica link and qdoctor itself are never judged per client.
    const perClient = (doc.findings as Array<{subject: {id?: string}}>).map((f) => f.subject.id).filter(Boolean)
    expect(perClient).not.toContain(await replicaLinkId(primary))
    expect(perClient).not.toContain(doc.summary.ownId)
  })

  it('prints tables without --json, and --fail-on warn turns the warnings into exit 1', async () => {
    const r = await runCli(['connections', '--url', primary.url(), '--idle-after', '1s', '--blocked-after', '1s', '--fail-on', 'warn'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/by kind/)
    expect(r.stdout).toMatch(/connection\/blocked/)
    expect(r.stdout).toMatch(/127\.0\.0\.1/)
  })

  it('--kill --dry-run plans client-kill actions with subject.id and kills nothing; off a terminal without --yes it refuses (exit 4)', async () => {
    const dry = await runCli(['connections', '--url', primary.url(), '--json', '--kill', '--name', 'idle-*', '--idle-after', '1s', '--dry-run'])
    expect(dry.code, dry.stderr).toBe(0)
    const actions = dry.json().actions as Array<{step: string; status: string; subject: {id: string; name: string}}>
    expect(actions.map((a) => [a.step, a.status, a.subject.name]).sort()).toEqual([
      ['client-kill', 'planned', 'idle-a'],
      ['client-kill', 'planned', 'idle-b'],
    ])
    expect(actions.every((a) => /^\d+$/.test(a.subject.id))).toBe(true)
    const refused = await runCli(['connections', '--url', primary.url(), '--kill', '--name', 'idle-*', '--idle-after', '1s'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/--yes/)
    expect(await clientNames(primary.port)).toEqual(expect.arrayContaining(['idle-a', 'idle-b']))
  })

  it('--kill --yes kills exactly the filtered clients and journals their CLIENT LIST lines', async () => {
    const before = await clientNames(primary.port)
    const journal = jd.path('kill-idle')
    const r = await runCli(['connections', '--url', primary.url(), '--json', '--kill', '--name', 'idle-*', '--idle-after', '1s', '--yes', '--journal', journal])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.summary.killed).toBe(2)
    expect(doc.actions.map((a: {status: string}) => a.status)).toEqual(['applied', 'applied'])
    expect(await clientNames(primary.port)).toEqual(before.filter((n) => n !== 'idle-a' && n !== 'idle-b'))
    const intents = readFileSync(journal, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'intent')
    expect(intents.map((l) => l.action.clientLine.match(/name=(\S+)/)[1]).sort()).toEqual(['idle-a', 'idle-b'])

    // A blocking call with timeout 0, by command: only the blocker goes, and its BLPOP fails.
    const b = await runCli(['connections', '--url', primary.url(), '--json', '--kill', '--cmd', 'blpop', '--blocked-after', '1s', '--yes', '--no-journal'])
    expect(b.code, b.stderr).toBe(0)
    expect(b.json().actions.map((a: {subject: {id: string}}) => a.subject.id)).toEqual([blockerId])
    expect(await blocked).toBeInstanceOf(Error)
    expect(await clientNames(primary.port)).toEqual(before.filter((n) => !['idle-a', 'idle-b', 'blocker'].includes(n)))
  })

  it('--kill --idle-after 0s takes everything but qdoctor, the replica and the pub/sub listener; --include-pubsub takes the listener too', async () => {
    const r = await runCli(['connections', '--url', primary.url(), '--json', '--kill', '--idle-after', '0s', '--yes', '--no-journal'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.warnings.join(' ')).toMatch(/Spared 3 matching connections \(.*\)/)
    for (const kind of ['replica: 1', 'pubsub: 1', 'self: 1']) expect(doc.warnings.join(' ')).toContain(kind)
    expect(doc.actions.map((a: {subject: {name: string}}) => a.subject.name).sort()).toEqual(['bigbuf', 'resp3', 'txn'])
    expect(await clientNames(primary.port)).toEqual(['listener'])
    expect(await connectedReplicas(primary)).toBe(1)

    const p = await runCli(['connections', '--url', primary.url(), '--json', '--kill', '--idle-after', '0s', '--include-pubsub', '--yes', '--no-journal'])
    expect(p.code, p.stderr).toBe(0)
    expect(p.json().actions.map((a: {subject: {name: string}}) => a.subject.name)).toEqual(['listener'])
    expect(await clientNames(primary.port)).toEqual([])
    expect(await connectedReplicas(primary)).toBe(1)
  })

  it('--kill on a replica is allowed (CLIENT KILL writes no data) and never takes its link to the primary', async () => {
    await named(replica.port, 'reader')
    const journal = jd.path('kill-on-replica')
    const r = await runCli(['connections', '--url', replica.url(), '--json', '--kill', '--idle-after', '0s', '--yes', '--journal', journal])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.actions.map((a: {status: string; subject: {name: string}}) => [a.subject.name, a.status])).toEqual([['reader', 'applied']])
    expect(doc.warnings.join(' ')).toContain('master: 1')
    expect(await clientNames(replica.port)).toEqual([])
    expect(await connectedReplicas(primary)).toBe(1)
    expect(readFileSync(journal, 'utf8')).toMatch(/name=reader/)
  })
})

describe('qdoctor connections: limits, watch, refusals and faults', () => {
  afterAll(async () => {
    closeClients()
    for (const s of servers) await s.stop()
  })

  it('near maxclients and rejected connections, on a server with maxclients 10', async () => {
    const s = await server(['--maxclients', '10'])
    const held: Redis[] = []
    for (let i = 0; i < 10; i++) held.push(await named(s.port, `hold-${i}`))
    // The eleventh is refused by the server (rejected_connections 1).
    const extra = new Redis({port: s.port, host: '127.0.0.1', retryStrategy: () => null, maxRetriesPerRequest: 0, lazyConnect: true})
    extra.on('error', () => {})
    await expect(extra.connect().then(() => extra.ping())).rejects.toThrow()
    extra.disconnect()
    held.pop()!.disconnect()
    await sleep(100)
    const r = await runCli(['connections', '--url', s.url(), '--json'])
    expect(r.code, r.stderr).toBe(1)
    const doc = r.json()
    expect(doc.summary).toMatchObject({connected: 10, maxclients: 10, rejectedConnections: 1})
    expect(doc.findings.map((f: {check: string; severity: string}) => [f.check, f.severity])).toEqual([
      ['connection/near-maxclients', 'error'],
      ['connection/rejected', 'warn'],
    ])
  })

  it('--watch shows a reconnect storm as a rate', async () => {
    const s = await server()
    let done = false
    const run = runCli(['connections', '--url', s.url(), '--json', '--watch', '2s', '--storm-rate', '5']).finally(() => (done = true))
    // Connect and hang up in a loop for as long as the CLI watches.
    while (!done) {
      const c = new Redis({port: s.port, host: '127.0.0.1', retryStrategy: () => null, lazyConnect: true})
      c.on('error', () => {})
      await c.connect()
      c.disconnect()
      await sleep(20)
    }
    const r = await run
    expect(r.code, r.stderr).toBe(0)
    const w = r.json().summary.watch
    expect(w.samples.length).toBeGreaterThanOrEqual(3)
    expect(w.durationSeconds).toBeGreaterThanOrEqual(1.9)
    expect(w.newConnections).toBeGreaterThanOrEqual(30)
    expect(w.newPerSecond).toBeGreaterThanOrEqual(10)
    expect(findings(r, 'connection/reconnect-storm')).toHaveLength(1)
  })

  it('a Redis restart while connections are being watched gives a clean exit 3 with a partial report', async () => {
    const s = await server()
    const run = runCli(['connections', '--url', s.url(), '--json', '--watch', '4s'])
    // Restart only once the CLI is connected and sampling INFO.
    await waitForClient(s.port, (line) => /cmd=info/.test(line))
    await s.kill()
    servers.push(await startRedis([], s.port))
    const r = await run
    expect(r.code, r.stderr).toBe(3)
    const doc = r.json()
    expect(doc.complete).toBe(false)
    expect(doc.incomplete.join(' ')).toMatch(/restarted/)
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/)
  })

  it('where CLIENT is renamed away it says so and exits cleanly; --kill is refused with exit 4', async () => {
    const s = await server(['--rename-command', 'CLIENT', ''])
    const r = await runCli(['connections', '--url', s.url(), '--json'])
    expect(r.code, r.stderr).toBe(0)
    const doc = r.json()
    expect(doc.complete).toBe(true)
    expect(doc.summary).toMatchObject({clientList: false, listed: 0})
    expect(doc.summary.connected).toBeGreaterThanOrEqual(1)
    expect(findings(r, 'connection/unavailable')).toHaveLength(1)
    const k = await runCli(['connections', '--url', s.url(), '--json', '--kill', '--yes'])
    expect(k.code).toBe(4)
    expect(k.json().warnings.join(' ')).toMatch(/--kill needs CLIENT LIST/)
  })

  it('where an ACL forbids CLIENT (NOPERM) it says so and exits cleanly', async () => {
    const s = await server(['--user', 'qd', 'on', '>secret', '~*', '&*', '+@all', '-client'])
    const r = await runCli(['connections', '--url', `redis://qd:secret@127.0.0.1:${s.port}/0`, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const unavailable = findings(r, 'connection/unavailable')
    expect(unavailable).toHaveLength(1)
    expect(unavailable[0]!.evidence.reply).toMatch(/NOPERM/)
    expect(r.stdout).not.toContain('secret')
  })
})
