// `qdoctor server --preflight --target <url>` against real redis-servers: a replica before its first
// sync (pointed at a port nobody listens on), the same replica after REPLICAOF the primary and a
// full sync, and a standalone server that is no replica at all.
import type {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {freePort, type RedisServer, startRedis} from '../helpers/redis-server.js'
import {seedSidekiq} from '../helpers/sidekiq.js'

let primary: RedisServer
let replica: RedisServer
let standalone: RedisServer
let nobody: number

interface Item {
  item: string
  status: 'pass' | 'fail' | 'unknown'
  fix?: string
}

async function preflight(targetUrl: string, ...extra: string[]) {
  const r = await runCli(['server', '--preflight', '--target', targetUrl, '--url', primary.url(0), '--json', ...extra])
  const doc = r.json()
  const status = Object.fromEntries((doc.summary.items ?? []).map((i: Item) => [i.item, i.status]))
  return {r, doc, status, item: (id: string) => (doc.summary.items as Item[]).find((i) => i.item === id)!}
}

async function waitForSync(r: Redis): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    const info = await r.info('replication')
    if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) return
    await new Promise((res) => setTimeout(res, 50))
  }
  throw new Error('the replica did not sync')
}

beforeAll(async () => {
  primary = await startRedis(['--repl-diskless-sync-delay', '0'])
  await seedSidekiq(primary.url(0), 'base')
  await primary.client(0).set('stat:processed', '12')
  nobody = await freePort()
  replica = await startRedis(['--replicaof', '127.0.0.1', String(nobody), '--appendonly', 'yes'])
  standalone = await startRedis()
}, 60_000)

afterAll(async () => {
  await replica?.stop()
  await standalone?.stop()
  await primary?.stop()
})

describe('server --preflight', () => {
  it('before the first sync: not a replica of this primary, link down, not caught up, counts differ (exit 1)', async () => {
    const {r, doc, status, item} = await preflight(replica.url(0))
    expect(r.code, r.stderr).toBe(1)
    expect(status).toEqual({
      'replica-of-source': 'fail',
      'link-up': 'fail',
      'caught-up': 'fail',
      version: 'pass',
      'maxmemory-policy': 'pass',
      maxmemory: 'pass',
      persistence: 'pass',
      'key-counts': 'fail',
    })
    expect(doc.summary.safe).toBe(false)
    expect(item('replica-of-source').fix).toBe(`redis-cli -u ${replica.url(0)} REPLICAOF 127.0.0.1 ${primary.port}`)
    expect(doc.summary.target).toMatchObject({role: 'slave', masterPort: nobody, linkStatus: 'down'})
    expect(doc.findings.map((f: {check: string}) => f.check).sort()).toEqual(['preflight/caught-up', 'preflight/key-counts', 'preflight/link-up', 'preflight/replica-of-source'])
    expect(doc.summary.counts.source.queues).toEqual({keys: 4, items: 10})
    expect(doc.summary.counts.target.queues).toEqual({keys: 0, items: 0})
  })

  it('after REPLICAOF the primary and a full sync: every item passes (exit 0)', async () => {
    const r0 = replica.client(0)
    await r0.replicaof('127.0.0.1', primary.port)
    await waitForSync(r0)
    const {r, doc, status} = await preflight(replica.url(0))
    expect(r.code, JSON.stringify(doc.summary.items, null, 1)).toBe(0)
    expect(Object.values(status).every((s) => s === 'pass')).toBe(true)
    expect(Object.keys(status)).toHaveLength(8)
    expect(doc.summary.safe).toBe(true)
    expect(doc.summary.lag.bytes).toBe(0)
    expect(doc.summary.target.replid).toBe(doc.summary.source.replid)
    expect(doc.summary.counts.target).toEqual(doc.summary.counts.source)
    expect(doc.findings).toEqual([])
  })

  it('fails the cutover on an evicting maxmemory-policy or too little maxmemory, with the fixing command', async () => {
    const r0 = replica.client(0)
    await r0.config('SET', 'maxmemory-policy', 'allkeys-lru')
    await r0.config('SET', 'maxmemory', '1mb')
    try {
      const {r, status, item} = await preflight(replica.url(0))
      expect(r.code).toBe(1)
      expect(status['maxmemory-policy']).toBe('fail')
      expect(status.maxmemory).toBe('fail')
      expect(item('maxmemory-policy').fix).toContain('CONFIG SET maxmemory-policy noeviction')
      expect(item('maxmemory').fix).toMatch(/CONFIG SET maxmemory \d+mb/)
    } finally {
      await r0.config('SET', 'maxmemory-policy', 'noeviction')
      await r0.config('SET', 'maxmemory', '0')
    }
  })

  it('against a server that is no replica: not safe (exit 1), and the human output says why', async () => {
    const {r, status} = await preflight(standalone.url(0))
    expect(r.code).toBe(1)
    expect(status['replica-of-source']).toBe('fail')
    expect(status['link-up']).toBe('fail')
    expect(status.persistence).toBe('fail')
    const human = await runCli(['server', '--preflight', '--target', standalone.url(0), '--url', primary.url(0)])
    expect(human.code).toBe(1)
    expect(human.stdout).toMatch(/NOT safe \(replica-of-source, link-up, caught-up, persistence, key-counts\)/)
    expect(human.stdout).toContain('not a replica')
  })

  it('exits 3 when the target cannot be reached, and 2 without --target', async () => {
    const r = await runCli(['server', '--preflight', '--target', `redis://127.0.0.1:${nobody}/0`, '--url', primary.url(0), '--json'])
    expect(r.code).toBe(3)
    expect(r.json().incomplete).toEqual([`Connection refused by redis://127.0.0.1:${nobody}/0: is Redis running and listening there?`])
    const usage = await runCli(['server', '--preflight', '--url', primary.url(0)])
    expect(usage.code).toBe(2)
  })
})
