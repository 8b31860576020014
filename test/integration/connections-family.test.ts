// The connections check family as `qdoctor doctor` runs it (one shared keyspace pass, which also
// serves its namespace detection) against real clients on a private redis-server: idle clients, a
// BLPOP with timeout 0, RESP2 next to RESP3 from one host, and Sidekiq data under a namespace; and the
// same findings as `qdoctor connections --json`, whose code it is. A private server: CLIENT LIST must
// not see other test files' connections.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {connectionsFamily} from '../../src/lib/checks/families/connections.js'
import {selectChecks} from '../../src/lib/checks/families/registry.js'
import {runTarget} from '../../src/lib/doctor/run.js'
import {Connection} from '../../src/lib/redis/connect.js'
import type {Figure} from '../../src/lib/report/doctor.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {runCli} from '../helpers/cli.js'
import {closeClients, named, raw} from '../helpers/clients.js'
import {runFamily} from '../helpers/families.js'
import {type RedisServer, startRedis} from '../helpers/redis-server.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
let server: RedisServer

async function doctor() {
  const settings = connectionsFamily.settings.parse({'idle-after': '1s', 'blocked-after': '1s'})
  const {section, findings} = await runTarget({
    target: {url: server.url()},
    connection: {timeoutMs: 5000, maxOps: 0},
    selection: selectChecks([], [], [connectionsFamily]),
    settings: {connections: settings},
    failOn: 'error',
  })
  return {section, family: section.families[0]!, findings}
}

const figure = (figures: Figure[], name: string, labels?: Record<string, string>) =>
  figures.find((f) => f.name === name && JSON.stringify(f.labels ?? {}) === JSON.stringify(labels ?? {}))?.value
const sum = (figures: Figure[], name: string) => figures.filter((f) => f.name === name).reduce((n, f) => n + f.value, 0)

describe('the connections family in a doctor run', () => {
  beforeAll(async () => {
    server = await startRedis()
    const admin = server.client()
    // Sidekiq <= 6 data under a redis-namespace, and no bare Sidekiq keys.
    await admin.sadd('myapp:queues', 'default')
    admin.disconnect()
    await named(server.port, 'idle-a')
    await named(server.port, 'idle-b')
    const blocker = await named(server.port, 'blocker')
    blocker.blpop('nothing-ever', 0).catch(() => {})
    await raw(server.port, 'HELLO 3 SETNAME resp3\r\n')
    // CLIENT LIST counts idle in whole seconds.
    await sleep(2100)
  }, 30_000)

  afterAll(async () => {
    closeClients()
    await server?.stop()
  })

  it('reports idle and blocked clients, mixed protocols and a namespace in use; figures for dashboards', async () => {
    const {section, family, findings} = await doctor()
    // Namespace detection is served by the shared pass.
    expect(section.keyspace).toMatchObject({patterns: 1, keysMatched: 1})
    expect(family.status).toBe('warn')
    const names = (check: string) => findings.filter((f) => f.check === check).map((f) => f.subject?.name)
    expect(names('connection/idle')).toEqual(expect.arrayContaining(['idle-a', 'idle-b', 'resp3']))
    expect(names('connection/idle')).not.toContain('blocker')
    expect(names('connection/blocked')).toEqual(['blocker'])
    const mixed = findings.filter((f) => f.check === 'connection/mixed-client-libs')
    expect(mixed.map((f) => f.subject)).toEqual([{host: '127.0.0.1'}])
    expect(mixed[0]!.evidence).toMatchObject({byProtocol: {RESP2: 3, RESP3: 1}})
    expect(findings.find((f) => f.check === 'redis/namespace-in-use')).toMatchObject({severity: 'info', subject: {namespace: 'myapp'}})
    const declared = new Set(connectionsFamily.checks.map((c) => c.id))
    expect(findings.every((f) => declared.has(f.check))).toBe(true)

    const s = family.summary as {connected: number; listed: number}
    const figures = family.figures
    expect(figure(figures, 'connections_clients')).toBe(s.connected)
    expect(figure(figures, 'connections_by_kind', {kind: 'blocked'})).toBe(1)
    expect(figure(figures, 'connections_by_kind', {kind: 'self'})).toBe(1)
    expect(sum(figures, 'connections_by_idle')).toBe(s.listed)
    // Redis 7.0 reports no lib-name: every client counts under one label.
    expect(sum(figures, 'connections_by_lib')).toBe(s.listed)
  })

  it('its namespace detection is served by the shared pass: no SCAN of its own', async () => {
    const redis = server.client()
    const db = {url: server.url(), redis, db: 0, port: server.port, reset: async () => {}, close: async () => {}}
    const conn = new Connection({url: server.url(), timeoutMs: 5000, maxOps: 0})
    try {
      const settings = connectionsFamily.settings.parse({})
      const {scans, findings} = await runFamily(db, conn, new SidekiqKeys(), connectionsFamily, settings, {shared: true})
      expect(scans).toBe(0)
      expect(findings.map((f) => f.check)).toContain('redis/namespace-in-use')
    } finally {
      await conn.quit()
      redis.disconnect()
    }
  })

  it('settings are parsed like the flags', () => {
    expect(connectionsFamily.settings.parse({})).toEqual({'idle-after': 3_600_000, 'blocked-after': 60_000, 'big-buffer': 32 * 1024 * 1024})
    expect(connectionsFamily.settings.parse({'big-buffer': '64mb'})['big-buffer']).toBe(64 * 1024 * 1024)
    expect(connectionsFamily.settings.safeParse({'idle-after': 60}).success).toBe(false)
    expect(connectionsFamily.settings.safeParse({'storm-rate': 5}).success).toBe(false)
  })

  it('finds what `qdoctor connections --json` finds (one copy of the checking code)', async () => {
    const cli = await runCli(['connections', '--url', server.url(), '--json', '--idle-after', '1s', '--blocked-after', '1s'])
    expect(cli.code, cli.stderr).toBe(0)
    const {findings} = await doctor()
    // Client ids, idle times and qdoctor's own connection differ between two runs; what was found, and about whom, does not.
    const about = (list: Array<{check: string; severity: string; subject?: Record<string, unknown>}>) =>
      list.map((f) => `${f.check}:${f.severity} ${JSON.stringify(f.subject?.name ?? f.subject)}`).sort()
    expect(about(cli.json().findings)).toEqual(about(findings))
  })
})
