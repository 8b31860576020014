// TLS (rediss://, --tls-ca, --tls-insecure), Sentinel, and a server that never answers.
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {freePort, type RedisServer, startRedis} from '../helpers/redis-server.js'

function makeCerts(dir: string): {ca: string; cert: string; key: string} {
  const ca = join(dir, 'ca.crt')
  const caKey = join(dir, 'ca.key')
  const key = join(dir, 'server.key')
  const csr = join(dir, 'server.csr')
  const cert = join(dir, 'server.crt')
  const ext = join(dir, 'ext.cnf')
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  const run = (...args: string[]) => execFileSync('openssl', args, {stdio: 'ignore'})
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=qdoctor-test-ca')
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1')
  run('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext)
  return {ca, cert, key}
}

describe('TLS', () => {
  let server: RedisServer
  let tlsPort: number
  let certs: {ca: string; cert: string; key: string}
  beforeAll(async () => {
    certs = makeCerts(mkdtempSync(join(tmpdir(), 'qdoctor-tls-')))
    tlsPort = await freePort()
    server = await startRedis(['--tls-port', String(tlsPort), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no'])
  })
  afterAll(async () => server.stop())

  it('connects over rediss:// with --tls-ca', async () => {
    const r = await runCli(['server', '--url', `rediss://127.0.0.1:${tlsPort}/0`, '--tls-ca', certs.ca, '--json'])
    expect(r.json().summary.version).toMatch(/^7\./)
    expect(r.code).toBe(0)
  })

  it('refuses an unknown certificate authority with exit 3 and says it is TLS', async () => {
    const r = await runCli(['server', '--url', `rediss://127.0.0.1:${tlsPort}/0`])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/TLS handshake .* failed/)
  })

  it('connects with --tls-insecure', async () => {
    const r = await runCli(['server', '--url', `rediss://127.0.0.1:${tlsPort}/0`, '--tls-insecure', '--json'])
    expect(r.code).toBe(0)
  })
})

describe('Sentinel', () => {
  let primary: RedisServer
  let sentinelPort: number
  let sentinel: ReturnType<typeof spawn>
  beforeAll(async () => {
    primary = await startRedis()
    sentinelPort = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'qdoctor-sentinel-'))
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor qdmaster 127.0.0.1 ${primary.port} 1\n`)
    sentinel = spawn('redis-server', [conf, '--sentinel'], {stdio: 'ignore'})
    // Wait until the sentinel answers for the primary.
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        const out = execFileSync('redis-cli', ['-p', String(sentinelPort), 'SENTINEL', 'get-master-addr-by-name', 'qdmaster'], {encoding: 'utf8'})
        if (out.includes(String(primary.port))) break
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error('sentinel did not come up')
      await new Promise((r) => setTimeout(r, 100))
    }
    await primary.client(5).rpush('queue:viasentinel', JSON.stringify({class: 'A', jid: 'a'.repeat(24), enqueued_at: Date.now() / 1000}))
  })
  afterAll(async () => {
    sentinel.kill('SIGKILL')
    await primary.stop()
  })

  it('finds the primary through --sentinel and reads the db from the URL', async () => {
    const r = await runCli(['queues', '--sentinel', `127.0.0.1:${sentinelPort}`, '--sentinel-name', 'qdmaster', '--url', 'redis://ignored:6379/5', '--json'])
    expect(r.code).toBe(0)
    expect(r.json().summary.queues.map((q: {name: string}) => q.name)).toEqual(['viasentinel'])
    expect(r.json().target).toContain('sentinel')
  })

  it('says so when the sentinel does not know the name', async () => {
    const r = await runCli(['server', '--sentinel', `127.0.0.1:${sentinelPort}`, '--sentinel-name', 'nosuch', '--timeout', '2s'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/Could not get the primary from sentinel/)
  })
})

describe('a server that accepts but never answers', () => {
  let silent: Server
  let port: number
  const sockets = new Set<import('node:net').Socket>()
  beforeAll(async () => {
    port = await freePort()
    silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
    })
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', () => r()))
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => silent.close(() => r()))
  })

  it('times out with exit 3 after --timeout', async () => {
    const r = await runCli(['server', '--url', `redis://127.0.0.1:${port}/0`, '--timeout', '500ms'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/Timed out/)
  })
})
