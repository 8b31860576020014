// The `dead` family (qdoctor dead): the dead set read page by page and judged (size against
// dead_max_jobs, unreadable entries, jids present more than once, a quarantine left behind) plus
// the signs of a retry loop a single look can see. `qdoctor dead --loops` narrows the report to loop
// signs and adds a live watch (inspectDead's `loopsMode`); doctor never watches.
import {z} from 'zod'

import type {Figure} from '../../report/doctor.js'
import type {DeadReportSummary} from '../../report/dead.js'
import {humanCount} from '../../report/style.js'
import {deadPages, deadSnapshot, queueHeads} from '../../sidekiq/dead.js'
import {redisNow} from '../../sidekiq/queues.js'
import {detectSidekiq, retryAllMayLoop} from '../../sidekiq/sidekiq-version.js'
import {DeadAggregator, DEFAULT_DEAD_THRESHOLDS, wrongTypeFinding} from '../dead.js'
import {type LoopingJob, loopFindings, type LoopWatch, queuedRetrySignals, watchDead, type WatchSummary} from '../dead-loops.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {count, duration} from './settings.js'

const deadSettings = z.strictObject({
  'max-jobs': count(1).default(DEFAULT_DEAD_THRESHOLDS.maxJobs),
  'dead-timeout': duration().default(DEFAULT_DEAD_THRESHOLDS.timeoutSeconds * 1000),
  top: count(1, 1000).default(DEFAULT_DEAD_THRESHOLDS.top),
  'page-size': count(10, 10_000).default(1000),
  /** Also the weaker static loop signs (a retried retry: 0 job that died again, a manual retry in flight). */
  loops: z.boolean().default(false),
})

export type DeadSettings = z.output<typeof deadSettings>

/** `qdoctor dead --loops`: only loop signs are reported, after watching the set for `windowMs` (0: none). */
export interface LoopsMode {
  windowMs: number
  /** Newest entries read per sample. */
  sample: number
  onSample?: (watch: LoopWatch) => void
}

/** Queues whose newest jobs are looked at for manually retried copies (retry_count -1). */
const QUEUES_SAMPLED = 20
const QUEUE_HEAD = 200
/** dead/retry-loop findings listed with loop signs on; the rest are counted in a warning. */
const MAX_LOOP_FINDINGS = 100
/** Checks that --loops leaves out: they say nothing about a loop. */
const NOT_LOOP_SIGNS = new Set(['dead/near-capacity', 'dead/corrupt-entry'])
const LOOP_FIX =
  'Stop whatever runs DeadSet#retry_all or the Web UI "Retry All" (the driving client, if named), or set the dead set aside until it stops: qdoctor dead --stop-loop. Then fix the failing job, or purge it: qdoctor dead --purge --class <Class>'

/** Read and judge the dead set into `out` (`qdoctor dead`, `--loops` and doctor run this). */
export async function inspectDead(ctx: FamilyContext<DeadSettings>, out: FamilyOutput<DeadReportSummary>, loopsMode?: LoopsMode): Promise<void> {
  const s = ctx.settings
  const key = ctx.keys.dead
  const thresholds = {...DEFAULT_DEAD_THRESHOLDS, maxJobs: s['max-jobs'], timeoutSeconds: s['dead-timeout'] / 1000, top: s.top}
  const agg = new DeadAggregator(thresholds, await redisNow(ctx.conn), key, 0)
  const summary: DeadReportSummary = agg.summary
  out.summary = summary
  const snap = await deadSnapshot(ctx.conn, key)
  summary.size = snap.size
  summary.capacityUsed = snap.size / thresholds.maxJobs
  if (snap.type !== 'zset' && snap.type !== 'none') {
    out.add(wrongTypeFinding(key, snap.type))
    return
  }
  await readEntries(ctx, agg, snap.size)
  const sampled = summary.topQueues.slice(0, QUEUES_SAMPLED).map((q) => ctx.keys.queue(q.queue))
  const queued = queuedRetrySignals(await queueHeads(ctx.conn, sampled, QUEUE_HEAD))
  summary.loopSignals.queuedManualRetry = queued.manual.length
  summary.loopSignals.queuedRepeatedRetry = queued.repeated.length
  if (summary.unlisted) for (const [check, n] of Object.entries(summary.unlisted)) out.warn(`${n} more ${check} findings not listed (the summary counts them all).`)
  if (!s.loops && !loopsMode) {
    // Without loop signs asked for, only the strong one: a copy retried again after dying again.
    out.add(...agg.findings, ...loopFindings({live: [], repeated: queued.repeated, diedAgain: [], inFlight: []}, LOOP_FIX))
    return
  }
  out.add(...(loopsMode ? agg.findings.filter((f) => !NOT_LOOP_SIGNS.has(f.check)) : agg.findings))
  await addLoopSigns(ctx, out, agg, queued, loopsMode)
}

/** Every static loop sign (and with --loops the live ones), with the Sidekiq version that says whether retry_all can loop. */
async function addLoopSigns(
  ctx: FamilyContext<DeadSettings>,
  out: FamilyOutput<DeadReportSummary>,
  agg: DeadAggregator,
  queued: ReturnType<typeof queuedRetrySignals>,
  loopsMode?: LoopsMode,
): Promise<void> {
  const summary: DeadReportSummary = agg.summary
  const flavour = await detectSidekiq(ctx.conn, ctx.keys)
  summary.sidekiq = {versions: flavour.versions, ...(flavour.major !== undefined ? {major: flavour.major} : {}), retryAllMayLoop: retryAllMayLoop(flavour)}
  let live: {summary: WatchSummary; looping: LoopingJob[]} | undefined
  if (loopsMode && loopsMode.windowMs > 0) {
    ctx.progress(`Watching ${ctx.keys.dead} for jobs that die again…`)
    live = await watchDead(ctx.conn, ctx.keys, {windowMs: loopsMode.windowMs, intervalMs: 200, sample: loopsMode.sample, ...(loopsMode.onSample ? {onSample: loopsMode.onSample} : {})})
    summary.watch = live.summary
    if (live.summary.clientsUnavailable) out.warn(`Could not read CLIENT LIST (${live.summary.clientsUnavailable}): the client driving a loop cannot be named.`)
  }
  const findings = loopFindings(
    {live: live?.looping ?? [], ...(live ? {watch: live.summary} : {}), repeated: queued.repeated, diedAgain: agg.manualRetries, inFlight: queued.manual},
    LOOP_FIX,
  )
  const shown = findings.slice(0, MAX_LOOP_FINDINGS)
  out.add(...shown)
  if (findings.length > shown.length) out.warn(`${findings.length - shown.length} more dead/retry-loop findings not listed.`)
}

/** Every entry, page by page; the aggregator is finished even when a read fails part-way. */
async function readEntries(ctx: FamilyContext<DeadSettings>, agg: DeadAggregator, size: number): Promise<void> {
  const key = ctx.keys.dead
  const quarantine = await deadSnapshot(ctx.conn, ctx.keys.deadQuarantine)
  ctx.progress(`Reading ${key}…`)
  const started = Date.now()
  try {
    let shown = 0
    for await (const page of deadPages(ctx.conn, key, ctx.settings['page-size'])) {
      for (const entry of page) agg.add(entry)
      if (Date.now() - shown < 200) continue
      shown = Date.now()
      const rate = agg.summary.read / Math.max(0.001, (shown - started) / 1000)
      ctx.progress(`Reading ${key}… ${humanCount(agg.summary.read)} of ${humanCount(size)} (${humanCount(Math.round(rate))}/s)`)
    }
  } finally {
    agg.finish(quarantine.type === 'zset' ? quarantine.size : 0)
  }
}

/** The newest jobs of up to QUEUES_SAMPLED queues (where a manual retry lands). */

export const deadFamily: CheckFamily<DeadSettings, DeadReportSummary> = {
  name: 'dead',
  title: 'Dead set (morgue): size against dead_max_jobs, unreadable and duplicate entries, retry-loop signs',
  command: 'qdoctor dead',
  checks: [
    {id: 'dead/near-capacity', severities: ['error', 'warn'], title: 'the dead set is at or near dead_max_jobs: the oldest dead jobs are evicted'},
    {id: 'dead/corrupt-entry', severities: ['error'], title: 'a dead-set entry that is not a readable job'},
    {id: 'dead/duplicate-jid', severities: ['warn'], title: 'one jid in the dead set more than once'},
    {id: 'dead/retry-loop', severities: ['error'], title: 'a job retried by hand keeps dying again (a retry_all loop)'},
    {id: 'dead/quarantined', severities: ['error'], title: 'dead jobs left aside by an interrupted dead --stop-loop'},
    {id: 'dead/wrong-type', severities: ['error'], title: 'the dead key is not a sorted set: dying jobs are lost'},
  ],
  settings: deadSettings,
  // Fixed keys only (dead, its quarantine, queue heads): nothing from the shared pass.
  patterns: () => [],
  emptySummary: () => new DeadAggregator(DEFAULT_DEAD_THRESHOLDS, 0, 'dead', 0).summary,
  run: (ctx, out) => inspectDead(ctx, out),
  figures(s): Figure[] {
    const figures: Figure[] = [
      {name: 'dead_jobs', help: 'Jobs in the dead set (the morgue).', value: s.size},
      {name: 'dead_max_jobs', help: "Sidekiq's dead_max_jobs the dead set was judged against.", value: s.maxJobs},
      {name: 'dead_capacity_ratio', help: 'Dead-set size / dead_max_jobs (from about 1 on, every death evicts the oldest dead job).', value: s.capacityUsed},
      {name: 'dead_corrupt_entries', help: 'Dead-set entries that are not a readable job.', value: s.corrupt},
      {name: 'dead_duplicate_jids', help: 'Jids present more than once in the dead set.', value: s.duplicateJids},
      {name: 'dead_past_timeout_jobs', help: 'Dead jobs older than dead_timeout (the next death removes them).', value: s.pastTimeout},
    ]
    const loop = (signal: string, value: number) =>
      figures.push({name: 'dead_retry_loop_jobs', help: 'Jobs showing a sign of a retry loop, by sign.', value, labels: {signal}})
    loop('retried-again-after-re-death', s.loopSignals.queuedRepeatedRetry)
    loop('manual-retry-died-again', s.loopSignals.retriedRetry0)
    loop('manual-retry-in-flight', s.loopSignals.queuedManualRetry)
    if (s.watch) loop('re-died-in-window', s.watch.loopingJobs)
    if (s.quarantined) figures.push({name: 'dead_quarantined_jobs', help: 'Dead jobs in the quarantine key of an interrupted dead --stop-loop.', value: s.quarantined})
    return figures
  },
}
