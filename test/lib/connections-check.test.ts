// The connection checks and the --kill planner over hand-written CLIENT LIST lines.
import {describe, expect, it} from 'vitest'

import {DEFAULT_CONNECTION_THRESHOLDS, evaluateConnections, type ConnectionsInput, MAX_CLIENT_FINDINGS} from '../../src/lib/checks/connections.js'
import {type ClientInfo, parseClientLine} from '../../src/lib/redis/client-list.js'
import {planClientKills} from '../../src/lib/repairs/plans/connections-kill.js'
import {classifyClient} from '../../src/lib/sidekiq/clients.js'
import type {ProcessState} from '../../src/lib/sidekiq/processes.js'

let nextId = 100
function client(fields: Record<string, string | number>): ClientInfo {
  const f: Record<string, string | number> = {id: nextId++, addr: '10.0.0.1:40000', name: '', age: 100, idle: 0, flags: 'N', db: 0, sub: 0, psub: 0, multi: -1, qbuf: 0, omem: 0, 'tot-mem': 2000, cmd: 'get', resp: 2, ...fields}
  return parseClientLine(
    Object.entries(f)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  )
}

function input(clients: ClientInfo[], over: Partial<ConnectionsInput> = {}): ConnectionsInput {
  return {clients, info: {connected_clients: String(clients.length), maxclients: '10000', rejected_connections: '0', total_connections_received: '50'}, config: {timeout: '0', 'tcp-keepalive': '300'}, processes: [], namespaces: [], ...over}
}

function proc(identity: string, concurrency: number, hostname = 'worker-1'): ProcessState {
  return {identity, alive: true, hostname, concurrency, problems: [], work: []}
}

const T = DEFAULT_CONNECTION_THRESHOLDS
const checksOf = (r: ReturnType<typeof evaluateConnections>) => r.findings.map((f) => f.check)

describe('classifyClient', () => {
  it('tells qdoctor, replication links, MONITOR, pub/sub, healthy fetches, long blocks and MULTI apart', () => {
    const self = client({cmd: 'client|list'})
    expect(classifyClient(self, self.id)).toBe('self')
    expect(classifyClient(client({flags: 'S', cmd: 'psync'}))).toBe('replica')
    expect(classifyClient(client({flags: 'M'}))).toBe('master')
    expect(classifyClient(client({flags: 'O', cmd: 'monitor'}))).toBe('monitor')
    expect(classifyClient(client({flags: 'P', sub: 1, cmd: 'subscribe'}))).toBe('pubsub')
    expect(classifyClient(client({flags: 'N', psub: 2}))).toBe('pubsub')
    expect(classifyClient(client({flags: 'b', cmd: 'brpop', idle: 2}))).toBe('fetcher')
    expect(classifyClient(client({flags: 'b', cmd: 'blmove', idle: 1}))).toBe('fetcher')
    expect(classifyClient(client({flags: 'b', cmd: 'brpop', idle: 600}))).toBe('blocked')
    expect(classifyClient(client({flags: 'b', cmd: 'blpop', idle: 1}))).toBe('blocked')
    expect(classifyClient(client({flags: 'x', multi: 3}))).toBe('multi')
    expect(classifyClient(client({}))).toBe('normal')
  })
})

describe('evaluateConnections', () => {
  it('summarises by host, library, protocol, name, command, kind, idle and age', () => {
    const clients = [
      client({addr: '10.0.0.1:1', flags: 'b', cmd: 'brpop', idle: 1, resp: 3, 'lib-name': 'redis-client(sidekiq_v8.1.5)', 'lib-ver': '0.28.0'}),
      client({addr: '10.0.0.1:2', flags: 'b', cmd: 'brpop', idle: 0, resp: 3, 'lib-name': 'redis-client(sidekiq_v8.1.5)', 'lib-ver': '0.28.0'}),
      client({addr: '10.0.0.2:1', name: 'web', idle: 30, age: 4000, 'lib-name': '', 'lib-ver': ''}),
      client({addr: '10.0.0.9:5', flags: 'S', cmd: 'replconf', age: 90_000}),
    ]
    const r = evaluateConnections(input(clients), T)
    expect(r.findings).toEqual([])
    expect(r.summary).toMatchObject({
      connected: 4,
      maxclients: 10000,
      clientList: true,
      listed: 4,
      byHost: {'10.0.0.1': 2, '10.0.0.2': 1, '10.0.0.9': 1},
      byLib: {'redis-client(sidekiq_v8.1.5) 0.28.0': 2, '(not reported)': 1, '(not set)': 1},
      byProtocol: {RESP2: 2, RESP3: 2},
      byName: {'(none)': 3, web: 1},
      byCommand: {brpop: 2, get: 1, replconf: 1},
      byKind: {fetcher: 2, normal: 1, replica: 1},
      idle: {'<10s': 3, '10s-1m': 1, '1m-10m': 0, '10m-1h': 0, '1h-1d': 0, '>=1d': 0},
      age: {'<10s': 0, '10s-1m': 0, '1m-10m': 2, '10m-1h': 0, '1h-1d': 1, '>=1d': 1},
      timeoutSeconds: 0,
      tcpKeepaliveSeconds: 300,
    })
  })

  it('connection/idle and connection/blocked per client with id, addr, name and idleSeconds; fetchers and pub/sub are healthy', () => {
    const idle = client({addr: '10.0.0.3:7', name: 'leaky', idle: 7200})
    const blocked = client({addr: '10.0.0.4:8', flags: 'b', cmd: 'blpop', idle: 900})
    const clients = [idle, blocked, client({flags: 'b', cmd: 'brpop', idle: 2}), client({flags: 'P', sub: 1, idle: 90_000}), client({flags: 'S', idle: 90_000})]
    const r = evaluateConnections(input(clients), T)
    expect(checksOf(r)).toEqual(['connection/idle', 'connection/blocked'])
    expect(r.findings[0]).toMatchObject({severity: 'info', subject: {id: idle.id, addr: '10.0.0.3:7', name: 'leaky'}, evidence: {idleSeconds: 7200}})
    expect(r.findings[1]).toMatchObject({severity: 'warn', subject: {id: blocked.id, addr: '10.0.0.4:8', name: ''}, evidence: {idleSeconds: 900, cmd: 'blpop'}})
    // Thresholds come from --idle-after / --blocked-after.
    const strict = evaluateConnections(input(clients), {...T, idleAfterSeconds: 1, blockedAfterSeconds: 1000})
    expect(checksOf(strict)).toEqual(['connection/idle'])
  })

  it('connection/stale-multi for an open MULTI or WATCH left idle', () => {
    const multi = client({flags: 'x', multi: 2, idle: 45})
    const watching = client({watch: 3, idle: 400})
    const fresh = client({flags: 'x', multi: 1, idle: 1})
    const r = evaluateConnections(input([multi, watching, fresh]), T)
    expect(r.findings.map((f) => [f.check, f.subject?.id])).toEqual([
      ['connection/stale-multi', multi.id],
      ['connection/stale-multi', watching.id],
    ])
  })

  it('connection/big-buffers on omem, qbuf or tot-mem', () => {
    const slow = client({omem: 40 * 1024 * 1024, 'tot-mem': 41 * 1024 * 1024, cmd: 'lrange'})
    const r = evaluateConnections(input([slow, client({})]), {...T, bigBufferBytes: 32 * 1024 * 1024})
    expect(checksOf(r)).toEqual(['connection/big-buffers'])
    expect(r.findings[0]!.evidence).toMatchObject({omem: 40 * 1024 * 1024, cmd: 'lrange'})
  })

  it('connection/mixed-client-libs when one host mixes RESP2 and RESP3, or versions of one library', () => {
    const r = evaluateConnections(
      input([
        client({addr: '10.0.0.5:1', resp: 2}),
        client({addr: '10.0.0.5:2', resp: 3}),
        client({addr: '10.0.0.6:1', resp: 3, 'lib-name': 'redis-rb', 'lib-ver': '6.0.0'}),
        client({addr: '10.0.0.6:2', resp: 3, 'lib-name': 'redis-rb', 'lib-ver': '6.1.0'}),
        client({addr: '10.0.0.7:1', resp: 3}),
        client({addr: '10.0.0.7:2', resp: 3}),
        // Replication links and qdoctor do not count.
        client({addr: '10.0.0.7:3', resp: 2, flags: 'S'}),
      ]),
      T,
    )
    expect(r.findings.map((f) => [f.check, f.subject?.host])).toEqual([
      ['connection/mixed-client-libs', '10.0.0.5'],
      ['connection/mixed-client-libs', '10.0.0.6'],
    ])
    expect(r.findings[0]!.evidence).toMatchObject({byProtocol: {RESP2: 1, RESP3: 1}})
    expect(r.findings[1]!.evidence).toMatchObject({libs: {'redis-rb': ['6.0.0', '6.1.0']}})
  })

  it('connection/near-maxclients (warn at 80%, error at 95%) and connection/rejected', () => {
    const base = input([])
    const at = (connected: number, rejected = 0) =>
      evaluateConnections({...base, info: {...base.info, connected_clients: String(connected), maxclients: '100', rejected_connections: String(rejected)}}, T)
    expect(at(79).findings).toEqual([])
    expect(at(80).findings.map((f) => [f.check, f.severity])).toEqual([['connection/near-maxclients', 'warn']])
    expect(at(96, 3).findings.map((f) => [f.check, f.severity])).toEqual([
      ['connection/near-maxclients', 'error'],
      ['connection/rejected', 'warn'],
    ])
    // Replica links count against maxclients, though connected_clients leaves them out.
    const withReplicas = evaluateConnections({...base, info: {...base.info, connected_clients: '78', connected_slaves: '2', maxclients: '100'}}, T)
    expect(withReplicas.findings.map((f) => [f.check, f.evidence])).toEqual([['connection/near-maxclients', {connected: 78, replicas: 2, ratio: 0.8}]])
    // maxclients from CONFIG when INFO does not report it.
    const fromConfig = evaluateConnections({...base, info: {connected_clients: '9'}, config: {maxclients: '10'}}, T)
    expect(fromConfig.summary.maxclients).toBe(10)
    expect(fromConfig.findings[0]!.check).toBe('connection/near-maxclients')
  })

  it('--watch: new connections per second, a reconnect storm, and rejections during the window (error)', () => {
    const watch = [
      {atMs: 0, connectedClients: 10, totalConnectionsReceived: 100, rejectedConnections: 0, blockedClients: 0},
      {atMs: 1000, connectedClients: 30, totalConnectionsReceived: 160, rejectedConnections: 0, blockedClients: 0},
      {atMs: 2000, connectedClients: 12, totalConnectionsReceived: 180, rejectedConnections: 2, blockedClients: 0},
    ]
    const r = evaluateConnections(input([], {watch}), {...T, stormRate: 10})
    expect(r.summary.watch).toMatchObject({durationSeconds: 2, newConnections: 80, newPerSecond: 40, peakNewPerSecond: 60, rejected: 2, connectedMin: 10, connectedMax: 30})
    expect(r.findings.map((f) => [f.check, f.severity])).toEqual([
      ['connection/rejected', 'error'],
      ['connection/reconnect-storm', 'warn'],
    ])
    expect(evaluateConnections(input([], {watch}), {...T, stormRate: 50}).findings.map((f) => f.check)).toEqual(['connection/rejected'])
  })

  it('connection/per-host-outlier against the biggest Sidekiq host pool budget', () => {
    // Two live 6.x-style processes on one host: (10 + 10) + (5 + 10) = 35; limit 2 × 35 + 10 = 80.
    const processes = [proc('w:1:a', 10), proc('w:2:b', 5), {...proc('gone:3:c', 50, 'gone'), alive: false}]
    const many = (host: string, n: number) => Array.from({length: n}, (_, i) => client({addr: `${host}:${i}`, idle: 4000}))
    const r = evaluateConnections(input([...many('10.1.1.1', 81), ...many('10.1.1.2', 80)], {processes}), {...T, idleAfterSeconds: 1e9})
    expect(r.summary).toMatchObject({sidekiqProcesses: 2, sidekiqPoolBudget: 35})
    expect(r.findings.map((f) => [f.check, f.subject?.host])).toEqual([['connection/per-host-outlier', '10.1.1.1']])
    expect(r.findings[0]!.evidence).toMatchObject({connections: 81, idleOverAnHour: 81, biggestHostPoolBudget: 35, limit: 80, sidekiqProcesses: 2})
    // No live process: no basis for the check.
    expect(evaluateConnections(input(many('10.1.1.1', 500)), {...T, idleAfterSeconds: 1e9}).findings).toEqual([])
  })

  it('connection/no-idle-timeout when timeout is 0 and idle connections pile up', () => {
    const idle = Array.from({length: 12}, () => client({idle: 5000}))
    const busy = Array.from({length: 20}, () => client({idle: 0}))
    const r = evaluateConnections(input([...idle, ...busy]), T)
    expect(checksOf(r).filter((c) => c !== 'connection/idle')).toEqual(['connection/no-idle-timeout'])
    expect(r.findings.find((f) => f.check === 'connection/no-idle-timeout')!.evidence).toMatchObject({idleClients: 12, connected: 32})
    // With a server timeout, or with too few idle clients, no finding.
    expect(checksOf(evaluateConnections(input([...idle, ...busy], {config: {timeout: '300'}}), T))).not.toContain('connection/no-idle-timeout')
    expect(checksOf(evaluateConnections(input([...idle.slice(0, 9), ...busy]), T))).not.toContain('connection/no-idle-timeout')
  })

  it('connection/unavailable where CLIENT is refused: INFO totals only, no crash', () => {
    const r = evaluateConnections({...input([]), clients: undefined, clientListRefused: "ERR unknown command 'CLIENT'"}, T)
    expect(r.findings.map((f) => [f.check, f.severity])).toEqual([['connection/unavailable', 'warn']])
    expect(r.findings[0]!.message).toContain("unknown command 'CLIENT'")
    expect(r.summary).toMatchObject({clientList: false, listed: 0, connected: 0, byHost: {}})
  })

  it('redis/namespace-in-use for each namespace holding Sidekiq data', () => {
    const r = evaluateConnections(input([], {namespaces: ['myapp']}), T)
    expect(r.findings.map((f) => [f.check, f.severity, f.subject])).toEqual([['redis/namespace-in-use', 'info', {namespace: 'myapp'}]])
  })

  it('caps per-client findings and counts the rest', () => {
    const idle = Array.from({length: MAX_CLIENT_FINDINGS + 3}, () => client({idle: 5000}))
    const r = evaluateConnections(input(idle, {config: {timeout: '300'}}), T)
    expect(r.findings).toHaveLength(MAX_CLIENT_FINDINGS)
    expect(r.summary.unlisted).toEqual({'connection/idle': 3})
  })
})

describe('planClientKills', () => {
  const self = client({addr: '10.0.0.1:9', cmd: 'client|list', idle: 9000})
  const clients = [
    self,
    client({addr: '10.0.0.1:1', name: 'Sidekiq-server-PID-1', idle: 9000, 'lib-name': 'redis-rb', 'lib-ver': '4.8.0'}),
    client({addr: '10.0.0.1:2', name: 'Sidekiq-server-PID-1', idle: 10}),
    client({addr: '10.0.0.2:1', name: 'web', idle: 9000, 'lib-name': 'redis-client', 'lib-ver': '0.22.2'}),
    client({addr: '10.0.0.2:2', flags: 'b', cmd: 'blpop', idle: 120}),
    client({addr: '10.0.0.2:3', flags: 'b', cmd: 'brpop', idle: 1}),
    client({addr: '10.0.0.3:1', flags: 'S', cmd: 'replconf', idle: 9000}),
    client({addr: '10.0.0.3:2', flags: 'P', sub: 1, cmd: 'subscribe', idle: 9000}),
  ]
  const base = {idleAfterSeconds: 3600, blockedAfterSeconds: 60, includePubsub: false}
  const killed = (f: Parameters<typeof planClientKills>[2]) => planClientKills(clients, self.id, f).actions.map((a) => a.expectAddr)

  it('selects idle and long-blocked clients, never qdoctor, replicas or (by default) pub/sub', () => {
    const plan = planClientKills(clients, self.id, base)
    expect(plan.actions.map((a) => a.expectAddr)).toEqual(['10.0.0.1:1', '10.0.0.2:1', '10.0.0.2:2'])
    expect(plan.spared).toEqual({self: 1, replica: 1, pubsub: 1})
    const a = plan.actions[0]!
    expect(a).toMatchObject({kind: 'client-kill', step: 'client-kill', id: clients[1]!.id, expectAddr: '10.0.0.1:1', clientLine: clients[1]!.line, subject: {id: clients[1]!.id, addr: '10.0.0.1:1', name: 'Sidekiq-server-PID-1'}})
    expect(killed({...base, includePubsub: true})).toEqual(['10.0.0.1:1', '10.0.0.2:1', '10.0.0.2:2', '10.0.0.3:2'])
  })

  it('narrows by --addr (host or ip:port), --name (wildcards), --lib, --cmd, all of them at once', () => {
    expect(killed({...base, addr: ['10.0.0.2']})).toEqual(['10.0.0.2:1', '10.0.0.2:2'])
    expect(killed({...base, addr: ['10.0.0.2:2']})).toEqual(['10.0.0.2:2'])
    expect(killed({...base, name: ['Sidekiq-*']})).toEqual(['10.0.0.1:1'])
    expect(killed({...base, idleAfterSeconds: 5, name: ['Sidekiq-server-PID-?']})).toEqual(['10.0.0.1:1', '10.0.0.1:2'])
    expect(killed({...base, lib: ['redis-rb*']})).toEqual(['10.0.0.1:1'])
    expect(killed({...base, lib: ['redis-client 0.22.*']})).toEqual(['10.0.0.2:1'])
    // Redis glob rules: `.` is literal, classes work.
    expect(killed({...base, lib: ['redis.rb*']})).toEqual([])
    expect(killed({...base, name: ['Sidekiq-server-PID-[0-9]'], idleAfterSeconds: 5})).toEqual(['10.0.0.1:1', '10.0.0.1:2'])
    expect(killed({...base, cmd: ['BLPOP']})).toEqual(['10.0.0.2:2'])
    expect(killed({...base, addr: ['10.0.0.2'], cmd: ['get']})).toEqual(['10.0.0.2:1'])
    // --idle-after 0s takes every unprotected client, healthy fetchers included (the user asked for it).
    expect(killed({...base, idleAfterSeconds: 0, addr: ['10.0.0.2']})).toEqual(['10.0.0.2:1', '10.0.0.2:2', '10.0.0.2:3'])
    expect(killed({...base, blockedAfterSeconds: 600})).toEqual(['10.0.0.1:1', '10.0.0.2:1'])
  })
})
