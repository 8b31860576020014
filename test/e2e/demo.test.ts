// `qdoctor demo` as a newcomer runs it: a throwaway redis-server, a broken Sidekiq, doctor's report,
// the commands to try next; the server gone afterwards (or, with --keep, still there).
import {existsSync, rmSync} from 'node:fs'
import {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {checkDoctorReport} from '../helpers/report-contract.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function ping(port: number): Promise<string> {
  const client = new Redis({port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0})
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.ping()
  } catch (err) {
    return (err as Error).message
  } finally {
    client.disconnect()
  }
}

interface DemoInfo {
  url: string
  port: number
  pid: number
  dir: string
  kept: boolean
  next: Array<{command: string}>
}

describe('qdoctor demo', () => {
  it('seeds a broken Sidekiq, reports it, suggests repairs, and removes its server', async () => {
    const r = await runCli(['demo', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const doc = checkDoctorReport(r.json())
    expect(doc.command).toBe('demo')
    expect(doc.complete).toBe(true)
    const demo = doc.summary.demo as unknown as DemoInfo
    expect(demo.port).not.toBe(6379)
    expect(doc.target).toBe(demo.url)
    const checks = new Set(doc.findings.map((f) => f.check))
    for (const c of ['queue/latency', 'queue/corrupt-payload', 'queue/unregistered', 'failinfo/oversized-key', 'failinfo/orphan']) expect(checks).toContain(c)
    expect(demo.next.map((s) => s.command)).toContain(`qdoctor failinfo --purge --orphans-only --dry-run --url ${demo.url}`)
    expect(demo.kept).toBe(false)
    // Cleaned up: the process is gone, nothing listens on the port, the directory is removed.
    expect(alive(demo.pid)).toBe(false)
    expect(await ping(demo.port)).toMatch(/ECONNREFUSED|Connection is closed/)
    expect(existsSync(demo.dir)).toBe(false)
  })

  it('--keep leaves the seeded server running for the repairs, and says how to stop it', async () => {
    const r = await runCli(['demo', '--keep'])
    expect(r.code, r.stderr).toBe(0)
    const port = Number(/still running[\s\S]*at redis:\/\/127\.0\.0\.1:(\d+)\/0 \(pid (\d+)\)/.exec(r.stdout)?.[1])
    const pid = Number(/\(pid (\d+)\)/.exec(r.stdout)?.[1])
    const dir = /Then remove its directory: rm -r (\S+)/.exec(r.stdout)?.[1]
    expect(dir).toMatch(/qdoctor-demo-/)
    expect(existsSync(dir!)).toBe(true)
    expect(port).toBeGreaterThan(0)
    expect(r.stdout).toContain(`Stop it with: redis-cli -p ${port} shutdown nosave`)
    expect(r.stdout).toMatch(/Errors \(\d+\)[\s\S]*queue\/corrupt-payload/)
    expect(r.stdout).toContain(`qdoctor queues --deep --url redis://127.0.0.1:${port}/0`)
    const client = new Redis({port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null})
    client.on('error', () => {})
    try {
      expect(alive(pid)).toBe(true)
      expect(await client.llen('queue:default')).toBeGreaterThan(100)
      await client.shutdown('NOSAVE').catch(() => {})
    } finally {
      client.disconnect()
    }
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100))
    expect(alive(pid)).toBe(false)
    rmSync(dir!, {recursive: true, force: true})
  })

  it('says how to install redis-server when it is not on PATH (exit 3)', async () => {
    const r = await runCli(['demo'], {env: {PATH: '/nonexistent'}})
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/redis-server is not on PATH/)
    expect(r.stderr).toMatch(/apt-get install redis-server/)
  })
})
