// One fail-fast connection for a one-shot CLI: lazy, bounded timeouts, no endless reconnect loop,
// and an explicit reconnect the scan layer can call when a long read loses its socket.
import {readFileSync} from 'node:fs'
import {Redis, type RedisOptions} from 'ioredis'

import {Budget} from './budget.js'
import {classifyRedisError, RedisUnavailableError} from './errors.js'
import {redactUrl, secretsOf} from './redact.js'

export interface ConnectionSpec {
  url: string
  /** `host:port` of each sentinel; when given, `url` supplies password and db only. */
  sentinels?: string[]
  sentinelName?: string
  tlsCa?: string
  tlsInsecure?: boolean
  timeoutMs: number
  /** Commands per second; 0 means unlimited. */
  maxOps: number
}

export class Connection {
  readonly target: string
  readonly secrets: string[]
  readonly budget: Budget
  /** The server's run_id when first connected: a different one later means Redis restarted under us. */
  runId?: string
  lastError?: Error
  private client?: Redis
  private readonly db: number

  constructor(readonly spec: ConnectionSpec) {
    this.db = dbOf(parseRedisUrl(spec.url))
    this.target = spec.sentinels?.length
      ? `sentinel ${spec.sentinels.join(',')} (${spec.sentinelName ?? 'mymaster'}) ${redactUrl(spec.url)}`
      : redactUrl(spec.url)
    this.secrets = secretsOf(spec.url)
    this.budget = new Budget(spec.maxOps)
  }

  /** The live client, connecting on first use. Throws RedisUnavailableError with a plain sentence. */
  async redis(): Promise<Redis> {
    if (this.client?.status === 'ready') return this.client
    // A socket lost after the first connect is a transport failure: reconnecting is resilient()'s
    // job, because it must check that the server did not restart under us.
    if (this.client) throw new RedisUnavailableError(`The connection to ${this.target} was closed.`, 'closed', this.lastError)
    await this.connect()
    return this.client!
  }

  private async connect(): Promise<void> {
    if (this.client) hangUp(this.client)
    const client = new Redis(buildOptions(this.spec))
    client.on('error', (err: Error) => {
      // Swallowed here (ioredis would print "Unhandled error event"); surfaced through the failing command.
      this.lastError = err
    })
    this.client = client
    try {
      await client.connect()
      // SELECT ourselves: ioredis only emits an error for a bad db and stays on db 0.
      if (this.db !== 0) await client.select(this.db)
      // A PING proves auth and that the server is not LOADING.
      await client.ping()
      if (!this.runId) this.runId = await this.fetchRunId().catch(() => undefined)
    } catch (err) {
      const cause = isGenericClose(err) && this.lastError ? this.lastError : err
      hangUp(client)
      throw classifyRedisError(cause, this.target)
    }
  }

  /** Drop the socket and connect again (bounded attempts). Returns true when the server's run_id changed. */
  async reconnect(attempts = 3, delayMs = 300): Promise<boolean> {
    let lastErr: unknown
    for (let i = 0; i < attempts; i++) {
      try {
        await this.connect()
        const runId = await this.fetchRunId()
        const restarted = Boolean(this.runId && runId && runId !== this.runId)
        return restarted
      } catch (err) {
        lastErr = err
        await sleep(delayMs * (i + 1))
      }
    }
    throw lastErr instanceof RedisUnavailableError ? lastErr : classifyRedisError(lastErr, this.target)
  }

  async fetchRunId(): Promise<string | undefined> {
    const info = await this.client!.info('server')
    return /run_id:(\w+)/.exec(info)?.[1]
  }

  async quit(): Promise<void> {
    const client = this.client
    this.client = undefined
    if (!client) return
    try {
      if (client.status === 'ready') await client.quit()
      else hangUp(client)
    } catch {
      hangUp(client)
    }
  }
}

/** disconnect() on an ended client arms a 2 s timer (disconnectTimeout) that keeps the CLI alive. */
function hangUp(client: Redis): void {
  if (client.status !== 'end') client.disconnect()
}

function isGenericClose(err: unknown): boolean {
  return err instanceof Error && /Connection is closed/.test(err.message)
}

export function buildOptions(spec: ConnectionSpec): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: spec.timeoutMs,
    commandTimeout: spec.timeoutMs,
    maxRetriesPerRequest: 0,
    // Default 2 s keeps a one-shot CLI alive after a failed connect to a silent peer.
    disconnectTimeout: 200,
    enableOfflineQueue: false,
    // Reconnection is the scan layer's decision (bounded, with a run_id check), never ioredis's.
    retryStrategy: () => null,
    reconnectOnError: () => false,
    // Our own PING (under commandTimeout) replaces ioredis's INFO ready check, which has no timeout.
    enableReadyCheck: false,
    connectionName: undefined,
  }
  const url = parseRedisUrl(spec.url)
  const tls = tlsOptions(spec, url.protocol === 'rediss:')
  if (spec.sentinels?.length) {
    return {
      ...common,
      sentinels: spec.sentinels.map(parseHostPort),
      name: spec.sentinelName ?? 'mymaster',
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      sentinelRetryStrategy: () => null,
      ...(tls ? {tls, enableTLSForSentinelMode: true} : {}),
    }
  }
  return {
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    ...(tls ? {tls} : {}),
  }
}

function tlsOptions(spec: ConnectionSpec, isTls: boolean): Record<string, unknown> | undefined {
  if (!isTls && !spec.tlsCa && !spec.tlsInsecure) return undefined
  const tls: Record<string, unknown> = {}
  if (spec.tlsCa) tls.ca = readFileSync(spec.tlsCa)
  if (spec.tlsInsecure) tls.rejectUnauthorized = false
  return tls
}

/** A usage problem with the URL itself (exit code 2, not 3). */
export class InvalidUrlError extends Error {}

export function parseRedisUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InvalidUrlError(`"${redactUrl(text)}" is not a Redis URL (expected redis://[:password@]host[:port][/db] or rediss://…).`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new InvalidUrlError(`Unsupported URL scheme "${url.protocol}" (use redis:// or rediss://).`)
  return url
}

function dbOf(url: URL): number {
  const path = url.pathname.replace(/^\//, '')
  if (path === '') return 0
  const db = Number(path)
  if (!Number.isInteger(db) || db < 0) throw new InvalidUrlError(`Invalid database number "${path}" in the Redis URL.`)
  return db
}

function parseHostPort(value: string): {host: string; port: number} {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(value.trim())
  if (!match?.[1]) throw new InvalidUrlError(`Invalid sentinel address "${value}" (expected host:port).`)
  return {host: match[1], port: match[2] ? Number(match[2]) : 26379}
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
