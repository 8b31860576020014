// The CLI as a user runs it: exit codes (design.md §5), JSON on stdout only, secrets never printed.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runCli} from '../helpers/cli.js'
import {startSlowLoadingRedis} from '../helpers/repairs.js'
import {freePort, type RedisServer, startRedis} from '../helpers/redis-server.js'

let server: RedisServer
const PASSWORD = 'hunter2-S3cr3t'

beforeAll(async () => {
  server = await startRedis(['--requirepass', PASSWORD])
})
afterAll(async () => {
  await server.stop()
})

function noSecret(...texts: string[]): void {
  for (const t of texts) expect(t).not.toContain(PASSWORD)
}

describe('exit codes', () => {
  it('0: ran completely, nothing at or above --fail-on', async () => {
    const r = await runCli(['queues', '--url', server.url(1), '--json'])
    expect(r.code).toBe(0)
    const report = r.json()
    expect(report.complete).toBe(true)
    expect(report.target).toBe(`redis://:***@127.0.0.1:${server.port}/1`)
    expect(report.summary).toEqual({queues: [], totalJobs: 0})
    noSecret(r.stdout, r.stderr)
  })

  it('1: findings at or above --fail-on (and 0 when --fail-on never)', async () => {
    const admin = server.client(2)
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
    try {
      const r = await runCli(['server', '--url', server.url(2), '--json'])
      expect(r.code).toBe(1)
      expect(r.json().findings.map((f: {check: string}) => f.check)).toContain('redis/maxmemory-policy')
      const never = await runCli(['server', '--url', server.url(2), '--json', '--fail-on', 'never'])
      expect(never.code).toBe(0)
      // persistence is off on the test server: a warning, so --fail-on warn fails too
      await admin.config('SET', 'maxmemory-policy', 'noeviction')
      expect((await runCli(['server', '--url', server.url(2), '--json'])).code).toBe(0)
      expect((await runCli(['server', '--url', server.url(2), '--json', '--fail-on', 'warn'])).code).toBe(1)
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction')
    }
  })

  it('2: usage errors (bad flag value, unknown flag), also under --json', async () => {
    const bad = await runCli(['queues', '--latency-warn', 'soon', '--url', server.url()])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a duration/)
    const unknown = await runCli(['queues', '--bogus', '--json'])
    expect(unknown.code).toBe(2)
    expect(unknown.json().error.exitCode).toBe(2)
  })

  it('3: connection refused, with a plain sentence, as text and as JSON', async () => {
    const port = await freePort()
    const text = await runCli(['queues', '--url', `redis://:${PASSWORD}@127.0.0.1:${port}/0`])
    expect(text.code).toBe(3)
    expect(text.stderr).toMatch(/Connection refused by redis:\/\/:\*\*\*@127\.0\.0\.1/)
    noSecret(text.stdout, text.stderr)
    const json = await runCli(['server', '--url', `redis://:${PASSWORD}@127.0.0.1:${port}/0`, '--json'])
    expect(json.code).toBe(3)
    const doc = json.json()
    expect(doc.complete).toBe(false)
    expect(doc.error.exitCode).toBe(3)
    noSecret(json.stdout, json.stderr)
  })

  it('3: wrong password or none, never echoing the password', async () => {
    const wrong = await runCli(['server', '--url', server.url(0, 'not-the-password-xyz')])
    expect(wrong.code).toBe(3)
    expect(wrong.stderr).toMatch(/Authentication failed/)
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password-xyz')
    const none = await runCli(['server', '--url', `redis://127.0.0.1:${server.port}/0`, '--json'])
    expect(none.code).toBe(3)
    expect(none.json().error.message).toMatch(/Authentication failed/)
  })

  it('3: the password from REDIS_URL is redacted too', async () => {
    const r = await runCli(['queues', '--json'], {env: {REDIS_URL: server.url(3)}})
    expect(r.code).toBe(0)
    expect(r.json().target).toContain(':***@')
    noSecret(r.stdout, r.stderr)
  })

  it('3: an ACL user without permission gets a plain sentence', async () => {
    const admin = server.client(0)
    await admin.acl('SETUSER', 'noscan', 'on', '>pw', '~*', '+@all', '-scan')
    try {
      const r = await runCli(['queues', '--url', `redis://noscan:pw@127.0.0.1:${server.port}/4`, '--json'])
      expect(r.code).toBe(3)
      expect(r.json().error.message).toMatch(/permission.*NOPERM|NOPERM/)
    } finally {
      await admin.acl('DELUSER', 'noscan')
    }
  })

  it('3: a TLS handshake against a plain-text server fails cleanly', async () => {
    const r = await runCli(['server', '--url', `rediss://:${PASSWORD}@127.0.0.1:${server.port}/0`, '--timeout', '2s'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/TLS|closed|Timed out/)
    noSecret(r.stdout, r.stderr)
  })

  it('3: a host name that does not resolve', async () => {
    const r = await runCli(['server', '--url', 'redis://no-such-host.invalid:6379/0', '--timeout', '3s', '--json'])
    expect(r.code).toBe(3)
    expect(r.json().error.message).toMatch(/Could not resolve the host/)
  })

  it('3: a server still loading its dataset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qdoctor-loading-'))
    const loading = await startSlowLoadingRedis(dir)
    try {
      const r = await runCli(['queues', '--url', `redis://127.0.0.1:${loading.port}/0`])
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(/loading its dataset/)
    } finally {
      await loading.stop()
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('3: Redis killed mid-scan gives complete:false with the partial report', async () => {
    const victim = await startRedis()
    try {
      const admin = victim.client(0)
      const pipe = admin.pipeline()
      for (let i = 0; i < 20_000; i++) pipe.set(`filler:${i}`, 'x')
      pipe.rpush('queue:default', JSON.stringify({class: 'A', jid: 'a'.repeat(24), enqueued_at: Date.now() / 1000}))
      pipe.sadd('queues', 'default')
      await pipe.exec()
      // A slow scan (10 keys per SCAN, 100 commands/s) that the kill interrupts.
      const pending = runCli(['queues', '--url', victim.url(0), '--json', '--scan-count', '10', '--max-ops', '100'])
      // Kill only once the CLI is scanning (its connection shows SCAN as last command), however slow start-up is.
      const deadline = Date.now() + 30_000
      while (!/cmd=scan/.test(String(await admin.client('LIST')))) {
        if (Date.now() > deadline) throw new Error('the CLI never started scanning')
        await new Promise((r) => setTimeout(r, 50))
      }
      await victim.kill()
      const r = await pending
      expect(r.code).toBe(3)
      const doc = r.json()
      expect(doc.complete).toBe(false)
      expect(doc.incomplete.join(' ')).toMatch(/could not reconnect|Lost the connection|Gave up/)
    } finally {
      await victim.stop()
    }
  })
})
