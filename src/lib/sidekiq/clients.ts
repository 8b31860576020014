// What Sidekiq's own Redis connections look like from the server side (sidekiq-data-model.md §2.9,
// §3, §10.5): which blocking commands are fetches and how long they block, how many connections a
// process's pools may hold, and what kind of connection each CLIENT LIST line is.
import {type ClientInfo, hasFlag} from '../redis/client-list.js'
import type {ProcessState} from './processes.js'

/**
 * Blocking fetch commands: OSS BasicFetch (`brpop`, 2 s), Pro super_fetch (`brpoplpush` up to Pro 7.0,
 * `blmove` from 7.1, 1 s), GitLab semi-reliable fetch (`brpop`, 5 s), and `blmpop` for newer fetchers.
 */
export const FETCH_COMMANDS: readonly string[] = ['brpop', 'brpoplpush', 'blmove', 'blmpop']

/** The longest fetch timeout (GitLab's 5 s) plus the client's read-timeout slack: a fetch blocked longer is not a fetch. */
export const FETCH_GRACE_SECONDS = 10

/** Is a client blocked in this command, this long, what an idle Sidekiq processor thread looks like? */
export function isHealthyFetch(cmd: string, idleSeconds: number): boolean {
  return FETCH_COMMANDS.includes(cmd.toLowerCase()) && idleSeconds <= FETCH_GRACE_SECONDS
}

/**
 * The most connections a live server process's pools may hold: concurrency + 5 in 6.x; the capsule
 * pools (Σ concurrency) plus an internal pool of 10 from 7.1 (5 in 7.0). A process without a
 * version in its heartbeat is 6.x or 7.0.0/7.0.1: it gets the lenient + 10.
 */
export function poolBudget(p: Pick<ProcessState, 'concurrency' | 'version'>): number {
  const major = Number(/^(\d+)\./.exec(p.version ?? '')?.[1])
  const extra = Number.isFinite(major) && major < 7 ? 5 : 10
  return (p.concurrency ?? 0) + extra
}

/**
 * What a connection is: qdoctor itself, replication links (`S` replica, `M` master), MONITOR,
 * pub/sub listeners, Sidekiq fetchers blocked within their timeout (healthy), other blocked clients,
 * clients inside MULTI, and everything else (`normal`).
 */
export type ClientKind = 'self' | 'replica' | 'master' | 'monitor' | 'pubsub' | 'fetcher' | 'blocked' | 'multi' | 'normal'

export function classifyClient(c: ClientInfo, ownId?: string): ClientKind {
  if (ownId !== undefined && c.id === ownId) return 'self'
  if (hasFlag(c, 'S')) return 'replica'
  if (hasFlag(c, 'M')) return 'master'
  if (hasFlag(c, 'O')) return 'monitor'
  if (hasFlag(c, 'P') || c.subscriptions > 0) return 'pubsub'
  if (hasFlag(c, 'b')) return isHealthyFetch(c.cmd, c.idleSeconds) ? 'fetcher' : 'blocked'
  if (hasFlag(c, 'x') || c.multi >= 0) return 'multi'
  return 'normal'
}

/** Connections that are never judged per host or killed: qdoctor and replication links. */
export const INFRASTRUCTURE_KINDS: readonly ClientKind[] = ['self', 'replica', 'master']
