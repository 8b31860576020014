// Batches for tests: the batch keys are hand-built to the documented layouts (Sidekiq Pro is closed
// source: sidekiq-data-model.md §6.1; the sidekiq-batch gem: §8); the jobs are pushed by the real
// Sidekiq::Client (test/fixtures/sidekiq/push.rb), so their payloads are genuine.
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {promisify} from 'node:util'
import type {Redis} from 'ioredis'

import {ROOT} from './cli.js'
import {requireSidekiq, SIDEKIQ_FIXTURES} from './sidekiq.js'

const execFileAsync = promisify(execFile)

/** Bids that trip naive parsing, and fetcher identities, shared by the ghost-hunt tests. */
export const AWKWARD = {
  /** Pro layout, a '-' inside. */
  pro: 'Pro-Batch_0001',
  /** sidekiq-batch layout, starts and ends with '-'. */
  sidekiqBatch: '-sidekiqBatch1-',
  /** Created just now: not judged. */
  young: 'YoungBatch0001',
  /** A bid that ends like a companion key. */
  companionLike: 'Batch0004-jids',
  deadHost: 'deadhost:111:aaaaaaaaaaaa',
  deadGitlab: 'deadhost:222:bbbbbbbbbbbb',
  liveHost: 'livehost:333:cccccccccccc',
} as const

export interface BatchSpec {
  bid: string
  layout?: 'pro' | 'sidekiq-batch'
  namespace?: string
  /** Epoch seconds, written as Pro ≤ 7 / sidekiq-batch do (float seconds); a string is written as is. */
  createdAt?: number | string
  jids: string[]
  /** Default: jids.length. */
  pending?: number
  total?: number
  parent?: string
  kids?: number
  /** Default 30 days; 0 = no TTL. */
  ttlSeconds?: number
  /** Pro `-died` members. */
  died?: string[]
  /** Pro `-failinfo` fields / sidekiq-batch `-failed` members. */
  failed?: string[]
  fields?: Record<string, string>
}

/** Write a batch hash and its companions; returns the hash key. */
export async function writeBatch(redis: Redis, spec: BatchSpec): Promise<string> {
  const p = spec.namespace ? `${spec.namespace}:` : ''
  const pro = (spec.layout ?? 'pro') === 'pro'
  const key = `${p}${pro ? 'b-' : 'BID-'}${spec.bid}`
  const part = (name: string) => `${key}-${name}`
  const ttl = spec.ttlSeconds ?? 30 * 86400
  const fields: Record<string, string> = {
    total: String(spec.total ?? spec.jids.length),
    pending: String(spec.pending ?? spec.jids.length),
    [pro ? 'kids' : 'children']: String(spec.kids ?? 0),
    description: `test batch ${spec.bid}`,
    ...(spec.createdAt !== undefined ? {created_at: typeof spec.createdAt === 'number' ? spec.createdAt.toFixed(4) : spec.createdAt} : {}),
    ...(spec.parent ? {[pro ? 'parent' : 'parent_bid']: spec.parent} : {}),
    ...spec.fields,
  }
  await redis.hset(key, fields)
  const written = [key]
  if (spec.jids.length) {
    await redis.sadd(part('jids'), ...spec.jids)
    written.push(part('jids'))
  }
  if (spec.died?.length) {
    await redis.sadd(part('died'), ...spec.died)
    written.push(part('died'))
  }
  if (spec.failed?.length) {
    if (pro) await redis.hset(part('failinfo'), Object.fromEntries(spec.failed.map((j) => [j, '{"errtype":"RuntimeError","errmsg":"boom"}'])))
    else await redis.sadd(part('failed'), ...spec.failed)
    written.push(part(pro ? 'failinfo' : 'failed'))
  }
  if (ttl > 0) for (const k of written) await redis.expire(k, ttl)
  return key
}

export interface JobSpec {
  class: string
  queue: string
  args?: unknown[]
  bid?: string
  /** Schedule this many seconds ahead. */
  in?: number
  [extra: string]: unknown
}

/** Push jobs through the real Sidekiq::Client; returns their jids in order. */
export async function pushJobs(url: string, jobs: JobSpec[]): Promise<string[]> {
  requireSidekiq()
  if (/:6379(\/|$)/.test(url)) throw new Error('refusing port 6379')
  try {
    const {stdout} = await execFileAsync('ruby', [join(SIDEKIQ_FIXTURES, 'push.rb'), JSON.stringify(jobs)], {cwd: ROOT, env: {...process.env, REDIS_URL: url}, timeout: 30_000})
    return JSON.parse(stdout.trim().split('\n').pop()!) as string[]
  } catch (err) {
    const e = err as Error & {stderr?: string}
    throw new Error(`push.rb failed: ${e.message}\n${e.stderr ?? ''}`)
  }
}

/** A fresh 24-hex jid (tests that need one nothing pushed). */
export function fakeJid(n: number): string {
  return n.toString(16).padStart(24, '0')
}
