// The `queues` family (qdoctor queues): every queue with size and latency; unregistered, paused,
// wrong-type and corrupt queues; namespaced data when no --namespace was given.
import {z} from 'zod'

import type {Figure} from '../../report/doctor.js'
import {humanCount} from '../../report/style.js'
import {detectNamespaces, NAMESPACE_MARKER_PATTERN} from '../../sidekiq/namespaces.js'
import {type QueueState, queueListPattern, readQueues, scanQueueJobs} from '../../sidekiq/queues.js'
import {corruptFinding, DEFAULT_QUEUE_THRESHOLDS, evaluateQueues, MAX_CORRUPT_FINDINGS_PER_QUEUE} from '../queues.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {count, duration, names} from './settings.js'

export interface QueueRow {
  name: string
  size: number
  latencySeconds: number | null
  registered: boolean
  paused: boolean
  corrupt?: number
}

export interface QueuesSummary {
  queues: QueueRow[]
  totalJobs: number
  /** With --deep: jobs parsed and corrupt ones found. */
  jobsParsed?: number
  corruptJobs?: number
  namespacesDetected?: string[]
}

const queuesSettings = z.strictObject({
  'latency-warn': duration().default(DEFAULT_QUEUE_THRESHOLDS.latencyWarnSeconds * 1000),
  'latency-error': duration().default(DEFAULT_QUEUE_THRESHOLDS.latencyErrorSeconds * 1000),
  deep: z.boolean().default(false),
  'page-size': count(1, 10_000).default(500),
  queue: names().optional(),
})

export type QueuesSettings = z.output<typeof queuesSettings>

/** Queues with their own metric series (the biggest). */
export const MAX_QUEUE_FIGURES = 100

/** Read and judge the queues into `out` (the queues command and doctor run this). */
export async function inspectQueues(ctx: FamilyContext<QueuesSettings>, out: FamilyOutput<QueuesSummary>): Promise<void> {
  const s = ctx.settings
  ctx.progress('Scanning for queues…')
  await noticeNamespaces(ctx, out)
  const read = await readQueues(ctx.conn, ctx.keys, {
    scanCount: ctx.scanCount,
    source: ctx.source,
    onProgress: (p) => ctx.progress(`Scanning for queues… ${p.calls} SCAN calls, ${p.keys} lists`),
  })
  const only = s.queue ? new Set(s.queue) : undefined
  read.queues = read.queues.filter((q) => !only || only.has(q.name))
  out.summary.queues = read.queues.map(toRow)
  out.summary.totalJobs = read.queues.reduce((sum, q) => sum + q.size, 0)
  const thresholds = {latencyWarnSeconds: s['latency-warn'] / 1000, latencyErrorSeconds: s['latency-error'] / 1000}
  out.add(...evaluateQueues(read, thresholds, s.deep))
  if (s.deep) await deepScan(ctx, out, read.queues)
}

async function noticeNamespaces(ctx: FamilyContext<QueuesSettings>, out: FamilyOutput<QueuesSummary>): Promise<void> {
  const found = await detectNamespaces(ctx.conn, ctx.keys, ctx.scanCount, ctx.source)
  if (found.length === 0) return
  out.summary.namespacesDetected = found
  out.add({
    check: 'sidekiq/namespace-detected',
    severity: 'warn',
    message: `No Sidekiq keys at the top level, but namespaced Sidekiq data exists under: ${found.join(', ')}. Without --namespace this report is empty.`,
    subject: {namespaces: found},
    fix: `qdoctor queues --namespace ${found[0]}`,
  })
}

async function deepScan(ctx: FamilyContext<QueuesSettings>, out: FamilyOutput<QueuesSummary>, queues: QueueState[]): Promise<void> {
  let parsed = 0
  let corrupt = 0
  for (const q of queues) {
    if (!q.listExists) continue
    let corruptHere = 0
    parsed += await scanQueueJobs(
      ctx.conn,
      q,
      (c) => {
        corrupt++
        corruptHere++
        if (corruptHere <= MAX_CORRUPT_FINDINGS_PER_QUEUE) out.add(corruptFinding(c))
        ctx.progress(`Parsing ${q.key}… ${humanCount(parsed)} jobs, ${corrupt} corrupt`)
      },
      ctx.settings['page-size'],
    )
    const row = out.summary.queues.find((r) => r.name === q.name)
    if (row) row.corrupt = corruptHere
    if (corruptHere > MAX_CORRUPT_FINDINGS_PER_QUEUE)
      out.warn(`${q.key}: ${corruptHere} corrupt payloads, only the first ${MAX_CORRUPT_FINDINGS_PER_QUEUE} are listed as findings.`)
    ctx.progress(`Parsed ${humanCount(parsed)} jobs`)
  }
  out.summary.jobsParsed = parsed
  out.summary.corruptJobs = corrupt
}

function toRow(q: QueueState): QueueRow {
  return {name: q.name, size: q.size, latencySeconds: q.latencySeconds ?? null, registered: q.registered, paused: q.paused}
}

export const queuesFamily: CheckFamily<QueuesSettings, QueuesSummary> = {
  name: 'queues',
  title: 'Queue sizes and latency; unregistered, paused, wrong-type and corrupt queues',
  command: 'qdoctor queues',
  checks: [
    {id: 'queue/latency', severities: ['error', 'warn'], title: 'the oldest job has waited too long'},
    {id: 'queue/unregistered', severities: ['warn'], title: 'a queue list missing from the queues set (invisible in the Web UI)'},
    {id: 'queue/paused', severities: ['info'], title: 'a paused queue with jobs waiting'},
    {id: 'queue/wrong-type', severities: ['warn'], title: 'a Sidekiq key of the wrong type'},
    {id: 'queue/corrupt-payload', severities: ['error'], title: 'a job payload that cannot be read'},
    {id: 'sidekiq/namespace-detected', severities: ['warn'], title: 'Sidekiq data under a namespace that was not given'},
  ],
  settings: queuesSettings,
  patterns: (keys) => [queueListPattern(keys), ...(keys.namespace ? [] : [NAMESPACE_MARKER_PATTERN])],
  emptySummary: () => ({queues: [], totalJobs: 0}),
  run: inspectQueues,
  figures(s) {
    const figures: Figure[] = [{name: 'enqueued_jobs', help: 'Jobs waiting in all queues.', value: s.totalJobs}]
    // Per-queue series for the biggest queues only: a keyspace with thousands of queues must not
    // flood a metrics store.
    for (const q of [...s.queues].sort((a, b) => b.size - a.size).slice(0, MAX_QUEUE_FIGURES)) {
      figures.push({name: 'queue_jobs', help: 'Jobs waiting in a queue (the biggest queues).', value: q.size, labels: {queue: q.name}})
      if (q.latencySeconds !== null)
        figures.push({name: 'queue_latency_seconds', help: 'How long the oldest job of a queue has waited.', value: q.latencySeconds, labels: {queue: q.name}})
    }
    return figures
  },
}
