// Throwaway redis-servers for tests: a free port (never 6379), no persistence, stopped afterwards.
// A missing redis-server binary fails loudly: tests never skip silently.
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Redis} from 'ioredis'

import {freeLocalPort} from '../../src/lib/demo/redis-server.js'

export interface RedisServer {
  port: number
  url: (db?: number, password?: string) => string
  client: (db?: number, password?: string) => Redis
  stop: () => Promise<void>
  /** Kill -9 (no shutdown save), as a crash would. */
  kill: () => Promise<void>
  process: ChildProcess
  dir: string
}

export function requireRedisServer(): string {
  try {
    return execFileSync('redis-server', ['--version'], {encoding: 'utf8'}).trim()
  } catch {
    throw new Error('redis-server is not installed or not on PATH: the test suite needs it (apt-get install -y redis-server).')
  }
}

/** A free port on 127.0.0.1, never 6379 (the product's own helper, also used by `qdoctor demo`). */
export const freePort = freeLocalPort

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  requireRedisServer()
  const chosen = port ?? (await freePort())
  if (chosen === 6379) throw new Error('refusing to start a test redis on 6379')
  const dir = mkdtempSync(join(tmpdir(), 'qdoctor-redis-'))
  const proc = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--databases', '64', ...extraArgs],
    {stdio: ['ignore', 'pipe', 'pipe']},
  )
  let output = ''
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const password = extraArgs.includes('--requirepass') ? extraArgs[extraArgs.indexOf('--requirepass') + 1] : undefined
  const url = (db = 0, pw = password) => `redis://${pw ? `:${encodeURIComponent(pw)}@` : ''}127.0.0.1:${chosen}/${db}`
  await waitForPing(chosen, password, () => output, proc)
  const clients: Redis[] = []
  const server: RedisServer = {
    port: chosen,
    dir,
    process: proc,
    url,
    client: (db = 0, pw = password) => {
      const c = new Redis({port: chosen, host: '127.0.0.1', db, password: pw, lazyConnect: false, maxRetriesPerRequest: 1})
      c.on('error', () => {})
      clients.push(c)
      return c
    },
    stop: async () => {
      for (const c of clients) c.disconnect()
      await stopProcess(proc)
      rmSync(dir, {recursive: true, force: true})
    },
    kill: async () => {
      await stopProcess(proc, 'SIGKILL')
    },
  }
  return server
}

async function waitForPing(port: number, password: string | undefined, output: () => string, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited early: ${output()}`)
    const c = new Redis({port, host: '127.0.0.1', password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0})
    c.on('error', () => {})
    try {
      await c.connect()
      if ((await c.ping()) === 'PONG') {
        c.disconnect()
        return
      }
    } catch {
      // not up yet
    }
    c.disconnect()
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`redis-server on ${port} did not answer PING: ${output()}`)
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve())
    proc.kill(signal)
  })
}
