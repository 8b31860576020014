// A throwaway redis-server for `qdoctor demo`: the binary from PATH, a free port on 127.0.0.1 (never
// 6379), no persistence, its own temporary directory. Stopped (and the directory removed) at the
// end, or, with keep, left running on its own after qdoctor exits.
import {type ChildProcess, spawn} from 'node:child_process'
import {accessSync, constants, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'

import {Redis} from 'ioredis'

export const INSTALL_HINT =
  'redis-server is not on PATH. Install Redis, then run `qdoctor demo` again:\n' +
  '  Debian/Ubuntu:  sudo apt-get install redis-server\n' +
  '  Fedora/RHEL:    sudo dnf install redis\n' +
  '  macOS:          brew install redis\n' +
  '  (or point qdoctor at any Redis you can spare with `qdoctor doctor --url redis://…`)'

export class RedisServerMissing extends Error {
  constructor() {
    super(INSTALL_HINT)
  }
}

/** The redis-server executable on PATH, or undefined. */
export function findRedisServer(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, 'redis-server')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** A TCP port free on 127.0.0.1 right now (never 6379). */
export async function freeLocalPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.unref()
      srv.on('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address()
        srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
      })
    })
    if (port !== 6379) return port
  }
}

export interface ThrowawayRedis {
  port: number
  pid: number
  url: string
  dir: string
  /** Shut the server down and remove its directory (idempotent). */
  stop(): Promise<void>
  /** Leave it running after this process exits. */
  release(): void
}

async function waitForPing(port: number, proc: ChildProcess, output: () => string, timeoutMs: number, spawnError: () => Error | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const failed = spawnError()
    if (failed) throw new Error(`could not start redis-server: ${failed.message}`)
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited at once: ${output().trim() || `exit ${proc.exitCode}`}`)
    const client = new Redis({port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false})
    client.on('error', () => {})
    try {
      await client.connect()
      if ((await client.ping()) === 'PONG') return
    } catch {
      // not listening yet
    } finally {
      client.disconnect()
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms: ${output().trim()}`)
}

/** Start redis-server on a free port; throws RedisServerMissing when the binary is not on PATH. */
export async function startThrowawayRedis(options: {binary?: string; timeoutMs?: number} = {}): Promise<ThrowawayRedis> {
  const binary = options.binary ?? findRedisServer()
  if (!binary) throw new RedisServerMissing()
  const dir = mkdtempSync(join(tmpdir(), 'qdoctor-demo-'))
  const port = await freeLocalPort()
  // Detached, in its own process group, so --keep can leave it behind; until then this process
  // kills it on exit.
  const log = join(dir, 'redis.log')
  const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', log, '--databases', '1'], {
    detached: true,
    stdio: 'ignore',
  })
  let spawnError: Error | undefined
  proc.once('error', (err) => (spawnError = err))
  const output = () => {
    try {
      return readFileSync(log, 'utf8').slice(-2000)
    } catch {
      return ''
    }
  }
  const killOnExit = () => proc.kill('SIGKILL')
  process.once('exit', killOnExit)
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.removeListener('exit', killOnExit)
      if (proc.exitCode === null && proc.signalCode === null && !spawnError) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, {recursive: true, force: true})
    })())
  try {
    await waitForPing(port, proc, output, options.timeoutMs ?? 10_000, () => spawnError)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    port,
    pid: proc.pid!,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    stop,
    release: () => {
      process.removeListener('exit', killOnExit)
      proc.unref()
    },
  }
}
