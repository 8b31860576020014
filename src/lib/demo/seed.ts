// The demo's broken Sidekiq: queued, scheduled, retrying and dead jobs with genuine-looking
// payloads, and the problems qdoctor exists for: Pro batches with ghost and stranded jids, bloated
// failinfo, dead-set retry-loop traces, a stale process, a stuck job, a late queue, a corrupt
// payload. It writes only to an empty database (the throwaway server `qdoctor demo` starts, or a
// test's own database) and refuses anything else.
import type {Redis} from 'ioredis'

import {SidekiqKeys} from '../sidekiq/keys.js'
import {failed, failinfoValue, job, newBid, newJid, type Payload, SIDEKIQ_VERSION} from './payloads.js'

const HOUR = 3600
const DAY = 86_400

export interface DemoSeed {
  /** Redis TIME when seeding started (epoch seconds): every age is relative to it. */
  now: number
  queues: Record<string, number>
  scheduled: number
  retries: number
  dead: number
  /** Alive process identity, and the stale one (in `processes`, heartbeat gone). */
  liveProcess: string
  staleProcess: string
  stuckJid: string
  corruptQueue: string
  unregisteredQueue: string
  pausedQueue: string
  lateQueue: string
  batches: {
    healthy: string
    /** Batch whose pending jids include ghosts (nowhere in Redis). */
    ghosts: {bid: string; ghostJids: string[]; queuedJids: string[]; retryingJids: string[]}
    /** Batch whose pending jids sit in the stale process's super_fetch private queue. */
    stranded: {bid: string; jids: string[]; privateQueue: string}
    /** Finished batch with a bloated failinfo hash. */
    bloated: {bid: string; failinfoKey: string; entries: number}
    /** failinfo whose batch hash is gone, without TTL. */
    orphanFailinfoKey: string
  }
  /** A retry: 0 job retried by hand that keeps dying (dead-set loop traces). */
  loopingJid: string
  /** A jid present twice in the dead set. */
  duplicateDeadJid: string
}

export class DemoSeedRefused extends Error {}

const CLASSES = [
  {class: 'OrderConfirmationJob', queue: 'mailers', activeJob: true, args: (i: number) => [{_aj_globalid: `gid://shop/Order/${48_210 + i}`}]},
  {class: 'WebhookDeliveryJob', queue: 'default', args: (i: number) => [`wh_${(9_000_000 + i * 37).toString(36)}`, 'order.paid', 3]},
  {class: 'SyncInventoryJob', queue: 'default', args: (i: number) => [1200 + (i % 90), {warehouse: ['ams', 'fra', 'iad'][i % 3], full: false}]},
  {class: 'GenerateInvoicePdfJob', queue: 'low', args: (i: number) => [73_000 + i, 'eur']},
  {class: 'ImportCsvRowJob', queue: 'imports', args: (i: number) => ['uploads/2026-11-22/customers.csv', i + 2]},
  {class: 'PushNotificationJob', queue: 'critical', args: (i: number) => [`user:${31_337 + i}`, 'Your order has shipped']},
]

const ERRORS = [
  {errorClass: 'Net::ReadTimeout', errorMessage: 'Net::ReadTimeout with #<TCPSocket:(closed)>'},
  {errorClass: 'ActiveRecord::RecordNotFound', errorMessage: "Couldn't find Order with 'id'=48231"},
  {errorClass: 'Faraday::ConnectionFailed', errorMessage: 'Failed to open TCP connection to hooks.partner.example:443 (Connection refused - connect(2))'},
  {errorClass: 'Stripe::RateLimitError', errorMessage: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.'},
]

function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length]!
}

/** Seed the demo dataset into `redis` (an empty database). */
export async function seedDemo(redis: Redis, options: {namespace?: string} = {}): Promise<DemoSeed> {
  const size = await redis.dbsize()
  if (size !== 0) throw new DemoSeedRefused(`the demo only seeds an empty database (this one holds ${size} keys)`)
  const keys = new SidekiqKeys(options.namespace)
  const [sec, usec] = await redis.time()
  const now = Number(sec) + Number(usec) / 1e6
  const p = redis.pipeline()
  const enqueue = (queue: string, payload: Payload) => p.lpush(keys.queue(queue), JSON.stringify(payload))
  const queues: Record<string, number> = {}
  const count = (queue: string, n = 1) => (queues[queue] = (queues[queue] ?? 0) + n)

  // Queues: oldest first (LPUSH in, BRPOP out). default has waited 2h (queue/latency error),
  // low 12 minutes (warn); imports' oldest job is unreadable (queue/corrupt-payload).
  for (const [queue, jobs, oldestAge] of [
    ['default', 140, 2 * HOUR],
    ['mailers', 18, 40],
    ['critical', 4, 5],
    ['low', 45, 12 * 60],
  ] as const) {
    for (let i = 0; i < jobs; i++) {
      const kind = CLASSES.find((c) => c.queue === queue) ?? pick(CLASSES, i)
      enqueue(queue, job({class: kind.class, queue, args: kind.args(i), activeJob: 'activeJob' in kind, enqueuedAt: now - oldestAge + (i * oldestAge) / jobs}))
    }
    count(queue, jobs)
  }
  // Pushed first, so it is the oldest (LINDEX -1): a payload cut short by a client that died mid-write.
  p.lpush(keys.queue('imports'), '{"class":"ImportCsvRowJob","queue":"imports","args":["uploads/2026-11-22/customers.csv",2],"jid":"9f2c41')
  for (let i = 0; i < 30; i++) enqueue('imports', job({class: 'ImportCsvRowJob', queue: 'imports', args: ['uploads/2026-11-22/customers.csv', i + 3], enqueuedAt: now - 30 + i}))
  count('imports', 31)
  // A queue list nobody registered (invisible in the Web UI) and a paused one (Pro/Enterprise).
  for (let i = 0; i < 7; i++) enqueue('legacy_reports', job({class: 'LegacyReportJob', queue: 'legacy_reports', args: [2019 + (i % 5)], enqueuedAt: now - 20 * 60 + i}))
  count('legacy_reports', 7)
  for (let i = 0; i < 25; i++) enqueue('bulk_exports', job({class: 'BulkExportJob', queue: 'bulk_exports', args: [`export-${i}`], enqueuedAt: now - 90 + i}))
  count('bulk_exports', 25)
  p.sadd(keys.queues, 'default', 'mailers', 'critical', 'low', 'imports', 'bulk_exports')
  p.sadd(keys.paused, 'bulk_exports')

  // Scheduled jobs (score = when they run).
  for (let i = 0; i < 30; i++) {
    const kind = pick(CLASSES, i)
    const at = now + 300 + i * 600
    p.zadd(keys.schedule, at.toFixed(6), JSON.stringify(job({class: kind.class, queue: kind.queue, args: kind.args(i), activeJob: 'activeJob' in kind, enqueuedAt: now - 60, createdAt: now - 60})))
  }

  // Retries (score = next attempt).
  const retrying: string[] = []
  for (let i = 0; i < 24; i++) {
    const kind = pick(CLASSES, i + 1)
    const err = pick(ERRORS, i)
    const payload = failed(job({class: kind.class, queue: kind.queue, args: kind.args(i), activeJob: 'activeJob' in kind, enqueuedAt: now - HOUR - i * 60}), {
      ...err,
      failedAt: now - HOUR - i * 60,
      retryCount: i % 6,
      retriedAt: i % 6 ? now - 600 : undefined,
    })
    retrying.push(payload.jid as string)
    p.zadd(keys.retry, (now + 60 + i * 120).toFixed(6), JSON.stringify(payload))
  }

  // Dead jobs: weeks of failures, plus retry-loop traces (a retry: 0 job retried by hand that died
  // again, and its copy queued again with retry_count -1) and a jid that died twice.
  let dead = 0
  for (let i = 0; i < 60; i++) {
    const kind = pick(CLASSES, i + 2)
    const err = pick(ERRORS, i + 1)
    const diedAt = now - (i + 1) * 9 * HOUR
    const payload = failed(job({class: kind.class, queue: kind.queue, args: kind.args(i), activeJob: 'activeJob' in kind, enqueuedAt: diedAt - 3 * DAY}), {...err, failedAt: diedAt - 3 * DAY, retryCount: 25})
    p.zadd(keys.dead, diedAt.toFixed(6), JSON.stringify(payload))
    dead++
  }
  const loopingJid = newJid()
  const loopBase = job({class: 'ChargeCustomerJob', queue: 'default', args: [88_412, 'sub_1Q2w3e'], jid: loopingJid, retry: 0, enqueuedAt: now - 2 * HOUR})
  const loopErr = {errorClass: 'Stripe::CardError', errorMessage: 'Your card was declined.'}
  for (const lap of [3, 2, 1]) {
    const diedAt = now - lap * 240
    p.zadd(keys.dead, diedAt.toFixed(6), JSON.stringify(failed(loopBase, {...loopErr, failedAt: now - 2 * HOUR, retryCount: 0, retriedAt: diedAt - 5})))
    dead++
  }
  enqueue('default', {...failed(loopBase, {...loopErr, failedAt: now - 2 * HOUR, retryCount: -1, retriedAt: now - 30}), enqueued_at: now - 30})
  count('default')
  const duplicateDeadJid = newJid()
  const dup = job({class: 'WebhookDeliveryJob', queue: 'default', args: ['wh_dup', 'order.refunded', 3], jid: duplicateDeadJid, enqueuedAt: now - 5 * DAY})
  for (const age of [4 * DAY, 2 * DAY]) {
    p.zadd(keys.dead, (now - age).toFixed(6), JSON.stringify(failed(dup, {...pick(ERRORS, 2), failedAt: now - age - 3 * DAY, retryCount: 25})))
    dead++
  }

  // Processes: one alive (heartbeat now, a job stuck for 3 hours), one stale (member of `processes`
  // whose heartbeat hash expired: it was killed -9 and never cleaned up).
  const liveProcess = `web-7f9c:1:${newJid().slice(0, 12)}`
  const staleProcess = `worker-5d2a:1:${newJid().slice(0, 12)}`
  const stuckJid = newJid()
  const info = (identity: string, startedAt: number) =>
    JSON.stringify({hostname: identity.split(':')[0], started_at: startedAt, pid: 1, tag: 'shop', concurrency: 10, queues: ['critical', 'default', 'mailers', 'low', 'imports'], weights: [{critical: 0, default: 0, mailers: 0, low: 0, imports: 0}], labels: [], identity, version: SIDEKIQ_VERSION, embedded: false})
  p.sadd(keys.processes, liveProcess, staleProcess)
  p.hset(keys.process(liveProcess), {info: info(liveProcess, now - DAY), busy: '1', beat: now.toFixed(6), quiet: 'false', rss: '412348', rtt_us: '612'})
  p.expire(keys.process(liveProcess), 60)
  const stuck = job({class: 'SyncInventoryJob', queue: 'default', args: [1207, {warehouse: 'fra', full: true}], jid: stuckJid, enqueuedAt: now - 3 * HOUR - 2})
  p.hset(keys.work(liveProcess), 'd4k9x', JSON.stringify({queue: 'default', payload: JSON.stringify(stuck), run_at: Math.floor(now - 3 * HOUR)}))
  p.expire(keys.work(liveProcess), 60)

  // Batches (Sidekiq Pro layout, docs/sidekiq-data-model.md §6.1).
  const batch = (bid: string, fields: Record<string, string>, jids: string[], ttl = 30 * DAY) => {
    p.hset(keys.batchHash('pro', bid), {kids: '0', description: '', ...fields})
    p.expire(keys.batchHash('pro', bid), ttl)
    if (jids.length) {
      p.sadd(keys.batchCompanion('pro', bid, 'jids'), ...jids)
      p.expire(keys.batchCompanion('pro', bid, 'jids'), ttl)
    }
    p.zadd(keys.batchesIndex, fields.created_at ?? now.toFixed(6), bid)
  }
  // Healthy: created a minute ago, all five jobs queued.
  const healthy = newBid()
  const healthyJids: string[] = []
  for (let i = 0; i < 5; i++) {
    const payload = job({class: 'ResizeImageJob', queue: 'default', args: [`products/9${i}.jpg`, [320, 640, 1280]], bid: healthy, enqueuedAt: now - 60 + i})
    healthyJids.push(payload.jid as string)
    enqueue('default', payload)
  }
  count('default', 5)
  batch(healthy, {created_at: (now - 60).toFixed(6), total: '5', pending: '5', description: 'Resize product images'}, healthyJids)
  // Ghosts: 8 pending, 3 queued, 2 waiting on retry, 3 nowhere (lost with a crashed process).
  const ghostBid = newBid()
  const queuedJids: string[] = []
  for (let i = 0; i < 3; i++) {
    const payload = job({class: 'SendNewsletterJob', queue: 'low', args: [`segment-${i}`], bid: ghostBid, enqueuedAt: now - 4 * 60 + i})
    queuedJids.push(payload.jid as string)
    enqueue('low', payload)
  }
  count('low', 3)
  const retryingJids: string[] = []
  for (let i = 0; i < 2; i++) {
    const payload = failed(job({class: 'SendNewsletterJob', queue: 'low', args: [`segment-${3 + i}`], bid: ghostBid, enqueuedAt: now - 3 * HOUR}), {...pick(ERRORS, 3), failedAt: now - 2 * HOUR, retryCount: 1, retriedAt: now - HOUR})
    retryingJids.push(payload.jid as string)
    p.zadd(keys.retry, (now + 900 + i).toFixed(6), JSON.stringify(payload))
  }
  const ghostJids = [newJid(), newJid(), newJid()]
  batch(ghostBid, {created_at: (now - 3 * HOUR).toFixed(6), total: '40', pending: '8', description: 'November newsletter'}, [...queuedJids, ...retryingJids, ...ghostJids])
  // Stranded: 4 pending jobs in the stale process's super_fetch private queue.
  const strandedBid = newBid()
  const privateQueue = keys.queue(`sq|${staleProcess}|default`)
  const strandedJids: string[] = []
  for (let i = 0; i < 4; i++) {
    const payload = job({class: 'CaptureFundsJob', queue: 'default', args: [91_000 + i], bid: strandedBid, enqueuedAt: now - 2 * HOUR - i})
    strandedJids.push(payload.jid as string)
    p.lpush(privateQueue, JSON.stringify(payload))
  }
  batch(strandedBid, {created_at: (now - 2 * HOUR - 10).toFixed(6), total: '4', pending: '4', description: 'Capture funds for settled orders'}, strandedJids)
  // Bloated failinfo: a finished import batch that kept 3,200 failure records (~12 MB).
  const bloatedBid = newBid()
  batch(bloatedBid, {created_at: (now - 6 * DAY).toFixed(6), total: '48000', pending: '0', description: 'Customer CSV import'}, [])
  const failinfoKey = keys.batchCompanion('pro', bloatedBid, 'failinfo')
  const entries = 3200
  const value = failinfoValue('ActiveRecord::RecordInvalid', 'Validation failed: Email has already been taken', 60)
  for (let i = 0; i < entries; i += 400) {
    const fields: Record<string, string> = {}
    for (let j = i; j < Math.min(entries, i + 400); j++) fields[newJid()] = value
    p.hset(failinfoKey, fields)
  }
  p.expire(failinfoKey, 24 * DAY)
  // failinfo of a batch that is gone, without TTL (stays forever).
  const orphanBid = newBid()
  const orphanFailinfoKey = keys.batchCompanion('pro', orphanBid, 'failinfo')
  p.hset(orphanFailinfoKey, Object.fromEntries(Array.from({length: 40}, () => [newJid(), failinfoValue('Net::ReadTimeout', 'Net::ReadTimeout with #<TCPSocket:(closed)>', 12)])))

  // Counters the Web UI shows.
  p.set(keys.key('stat:processed'), '1874221')
  p.set(keys.key('stat:failed'), '23114')

  const results = await p.exec()
  const failure = results?.find(([err]) => err)
  if (failure) throw failure[0]!
  return {
    now,
    queues,
    scheduled: 30,
    retries: 26,
    dead,
    liveProcess,
    staleProcess,
    stuckJid,
    corruptQueue: 'imports',
    unregisteredQueue: 'legacy_reports',
    pausedQueue: 'bulk_exports',
    lateQueue: 'default',
    batches: {
      healthy,
      ghosts: {bid: ghostBid, ghostJids, queuedJids, retryingJids},
      stranded: {bid: strandedBid, jids: strandedJids, privateQueue},
      bloated: {bid: bloatedBid, failinfoKey, entries},
      orphanFailinfoKey,
    },
    loopingJid,
    duplicateDeadJid,
  }
}
