// The `batches` family (qdoctor batches): the batch inventory (Pro b-<bid>, sidekiq-batch BID-<bid>)
// judged as it streams past, then the ghost hunt: where every pending jid of every old pending batch
// is. Doctor hunts ghosts unless `ghosts: false` (they are the finding that matters: a batch waiting
// forever); the topic command only with --ghosts, its cheaper default.
import {z} from 'zod'

import type {Figure} from '../../report/doctor.js'
import type {Finding} from '../../report/types.js'
import {humanCount, humanSeconds} from '../../report/style.js'
import {batchKeyPatterns, readBatchIndexes, scanBatches} from '../../sidekiq/batches.js'
import {huntGhosts} from '../../sidekiq/ghost-hunt.js'
import {containerKeyPatterns} from '../../sidekiq/job-locator.js'
import {redisNow} from '../../sidekiq/queues.js'
import {defaultSettleMs, detectSidekiq, type SidekiqFlavour, withPayloadUnits} from '../../sidekiq/sidekiq-version.js'
import {BatchesJudge, type BatchesSummary, DEFAULT_BATCHES_OPTIONS, emptySummary, VERDICTS} from '../batches.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {duration, durationOrZero, names} from './settings.js'

const batchesSettings = z.strictObject({
  /** Hunt ghosts. Default true here (doctor); the topic command's --ghosts is off unless given. */
  ghosts: z.boolean().default(true),
  bid: names().optional(),
  /** Between the two hunt passes; absent = two heartbeats of the detected Sidekiq; 0 = one pass. */
  settle: durationOrZero().optional(),
  'min-age': duration().default(DEFAULT_BATCHES_OPTIONS.minAgeSeconds * 1000),
  'stale-after': duration().default(DEFAULT_BATCHES_OPTIONS.staleAfterSeconds * 1000),
})

export type BatchesSettings = z.output<typeof batchesSettings>

/** What the repairs need from a run: the judge's conclusions and the Sidekiq the data shows. */
export interface BatchesRun {
  judge: BatchesJudge
  /** Set when the ghost hunt ran. */
  flavour?: SidekiqFlavour
}

type Ctx = FamilyContext<BatchesSettings>
type Out = FamilyOutput<BatchesSummary>

/** Inventory and judge every batch into `out`, then hunt ghosts (the batches command and doctor run this). */
export async function inspectBatches(ctx: Ctx, out: Out): Promise<BatchesRun> {
  const s = ctx.settings
  const judge = new BatchesJudge(
    {
      nowSeconds: await redisNow(ctx.conn),
      staleAfterSeconds: s['stale-after'] / 1000,
      minAgeSeconds: s['min-age'] / 1000,
      maxFindingsPerCheck: DEFAULT_BATCHES_OPTIONS.maxFindingsPerCheck,
    },
    s.bid ? new Set(s.bid) : undefined,
  )
  out.summary = judge.summary
  let flavour: SidekiqFlavour | undefined
  let findings: Finding[] = []
  try {
    await inventory(ctx, out, judge)
    if (s.ghosts) flavour = await hunt(ctx, out, judge)
  } finally {
    // Even a run cut short reports what it judged.
    findings = judge.finish()
    out.add(...findings)
  }
  for (const bid of s.bid ?? [])
    if (!judge.judged.some((b) => b.bid === bid) && !findings.some((f) => f.subject?.bid === bid)) out.warn(`Batch ${bid} was not found, is not pending, or is younger than --min-age.`)
  return {judge, ...(flavour ? {flavour} : {})}
}

async function inventory(ctx: Ctx, out: Out, judge: BatchesJudge): Promise<void> {
  ctx.progress('Scanning for batches…')
  const indexes = await readBatchIndexes(ctx.conn, ctx.keys)
  for (const anomaly of indexes.anomalies) out.warn(`${anomaly}: it was not read (Sidekiq Pro writes it; nothing else should).`)
  for await (const items of scanBatches(ctx.conn, ctx.keys, indexes, {source: ctx.source, scanCount: ctx.scanCount})) {
    for (const item of items) judge.add(item)
    ctx.progress(`Scanning for batches… ${humanCount(judge.summary.batches)} batches, ${humanCount(judge.summary.pendingJobs)} pending jobs`)
  }
  judge.indexMembers(indexes.indexed)
}

async function hunt(ctx: Ctx, out: Out, judge: BatchesJudge): Promise<SidekiqFlavour> {
  const detected = await detectSidekiq(ctx.conn, ctx.keys)
  const settleMs = ctx.settings.settle ?? defaultSettleMs(detected)
  ctx.progress(`Looking for the pending jids of ${humanCount(judge.judged.length)} batches…`)
  const result = await huntGhosts(ctx.conn, ctx.keys, judge.judged, {
    settleMs,
    source: ctx.source,
    scanCount: ctx.scanCount,
    hooks: {
      onProgress: ctx.progress,
      onSettle: (jids, ms) => ctx.progress(`${humanCount(jids)} jids not found yet: waiting ${humanSeconds(ms / 1000)} for the next heartbeats before looking again…`),
    },
  })
  const flavour = withPayloadUnits(detected, result.first.timestampUnits)
  const passes = result.second ? 2 : 1
  judge.addObservations(result.observations, {passes, settleMs})
  judge.addCorrupt(result.first.corrupt)
  const s = out.summary
  s.passes = passes
  s.settleMs = settleMs
  s.rechecked = result.rechecked
  s.jobsRead = result.first.members
  s.containers = result.first.containers
  s.sidekiq = {...(flavour.major !== undefined ? {major: flavour.major} : {}), source: flavour.source, versions: flavour.versions}
  if (settleMs === 0 && (s.verdicts?.ghost ?? 0) > 0)
    out.warn('One pass only (--settle 0): a job fetched just before the scan is invisible until its process heartbeats, so some of these ghosts may be alive. Re-run without --settle 0 before repairing.')
  return flavour
}

export const batchesFamily: CheckFamily<BatchesSettings, BatchesSummary> = {
  name: 'batches',
  title: 'Batches (Pro b-<bid>, sidekiq-batch BID-<bid>): ghost and stranded jobs, drifting counters, dead, stale and orphaned batch data',
  command: 'qdoctor batches --ghosts',
  checks: [
    {id: 'batch/ghost-job', severities: ['error'], title: 'a pending job that exists nowhere: its batch never completes (with ghosts)'},
    {id: 'batch/stranded-job', severities: ['warn'], title: "a pending job in a dead process's private/working list (with ghosts)"},
    {id: 'batch/dead', severities: ['warn'], title: 'a batch with dead jobs: it cannot succeed until they are retried'},
    {id: 'batch/corrupt-member', severities: ['warn'], title: 'unreadable jobs met while hunting (with ghosts)'},
    {id: 'batch/negative-pending', severities: ['warn'], title: 'a pending counter below zero (a job ran twice)'},
    {id: 'batch/counter-drift', severities: ['warn'], title: 'the pending counter disagrees with the pending-jid set'},
    {id: 'batch/fragment', severities: ['warn'], title: 'a batch hash re-created by a late counter update'},
    {id: 'batch/stale', severities: ['warn'], title: 'a batch pending longer than stale-after'},
    {id: 'batch/orphan-keys', severities: ['warn'], title: 'companion keys that outlived (or will outlive) their batch'},
    {id: 'batch/unrecognized', severities: ['info'], title: 'batch keys or fields qdoctor does not know'},
    {id: 'batch/findings-capped', severities: ['info'], title: 'more findings of a check than are listed'},
  ],
  settings: batchesSettings,
  patterns: (keys, s) => [...batchKeyPatterns(keys), ...(s.ghosts ? containerKeyPatterns(keys) : [])],
  emptySummary,
  async run(ctx, out) {
    await inspectBatches(ctx, out)
  },
  figures(s): Figure[] {
    const figures: Figure[] = [
      {name: 'batches', help: 'Batch hashes (Pro b-<bid> and sidekiq-batch BID-<bid>).', value: s.batches},
      {name: 'batches_pending', help: 'Batches with jobs pending.', value: s.pendingBatches},
      {name: 'batch_pending_jobs', help: 'Jobs pending over all batches (their counters).', value: s.pendingJobs},
      {name: 'batches_stale', help: 'Batches pending longer than stale-after.', value: s.stale},
      {name: 'batches_dead', help: 'Batches with dead jobs.', value: s.dead},
      {name: 'batch_orphan_keys', help: 'Batch companion keys whose batch hash is gone.', value: s.orphanKeys},
    ]
    // Only when the hunt ran: an absent series is not "no ghosts".
    if (s.verdicts)
      for (const verdict of VERDICTS)
        figures.push({name: 'batch_pending_jids', help: 'Pending jids of judged batches by verdict (ghost: found nowhere).', value: s.verdicts[verdict], labels: {verdict}})
    return figures
  },
}
