// The bench redis-server and the bench's lifecycle: a throwaway server on a free port (never 6379,
// no persistence), stopped with every child process when the bench ends, fails or gets Ctrl-C.
import {execFileSync} from 'node:child_process'

import type {Redis} from 'ioredis'

import {type RedisServer, startRedis} from '../../test/helpers/redis-server.js'
import {killChildren} from './process.js'

export interface BenchServer {
  server: RedisServer
  /** A client on db 0 for loading and INFO. */
  client: Redis
  /** `redis-server --version`. */
  version: string
}

/** `redis-server --version`, trimmed. */
export function redisServerVersion(): string {
  return execFileSync('redis-server', ['--version'], {encoding: 'utf8'}).trim()
}

/** `redis-cli --version`, trimmed. */
export function redisCliVersion(): string {
  return execFileSync('redis-cli', ['--version'], {encoding: 'utf8'}).trim()
}

let server: RedisServer | undefined
let client: Redis | undefined
let stopping: Promise<void> | undefined

/** Start the bench's redis-server (`--save ''`, `--appendonly no`; DEBUG enabled on Redis 7+ for DEBUG POPULATE). */
export async function startBenchServer(): Promise<BenchServer> {
  const version = redisServerVersion()
  const major = Number(/v=(\d+)/.exec(version)?.[1] ?? 0)
  // DEBUG is off by default since Redis 7.0 (and the option does not exist before it).
  server = await startRedis(major >= 7 ? ['--enable-debug-command', 'yes'] : [])
  if (server.port === 6379) throw new Error('refusing to benchmark against port 6379')
  client = server.client(0)
  return {server, client, version}
}

/** Stop children, client and redis-server; every caller (signal handler, normal exit) awaits the same stop. */
export function cleanup(): Promise<void> {
  stopping ??= (async () => {
    killChildren()
    client?.disconnect()
    await server?.stop()
  })()
  return stopping
}

/**
 * Run a bench: `main` returns the exit code. The redis-server and the children are stopped whatever
 * happens, Ctrl-C included (exit 130); an error prints "bench failed" and exits 1.
 */
export async function runBench(main: () => Promise<number>): Promise<never> {
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      console.error(`\n${signal}: stopping the bench redis-server`)
      void cleanup().finally(() => process.exit(130))
    })
  }
  let code = 1
  try {
    code = await main()
  } catch (err) {
    if (interrupted) await new Promise(() => {}) // the signal handler exits once redis-server is down
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    code = 1
  } finally {
    await cleanup()
  }
  process.exit(code)
}
