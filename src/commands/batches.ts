import {Flags} from '@oclif/core'

import {QdoctorError} from '../lib/command/base.js'
import {durationFlag} from '../lib/command/flags.js'
import {RepairCommand} from '../lib/command/repair-command.js'
import {parseDurationOrZeroMs} from '../lib/command/units.js'
import {BatchesJudge, type BatchesSummary, DEFAULT_BATCHES_OPTIONS, emptySummary, VERDICTS} from '../lib/checks/batches.js'
import {type BatchesRun, inspectBatches} from '../lib/checks/families/batches.js'
import {ownScan} from '../lib/redis/keyspace-index.js'
import type {LmoveAction, LpushAction, SremAction, UnlinkAction} from '../lib/repairs/actions.js'
import {BATCH_REPAIRS, type BatchPlan, planForget, planPurgeOrphans, planRecreate, planRescue} from '../lib/repairs/plans/batches.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {EXIT} from '../lib/report/exit-status.js'
import {kvTable, table} from '../lib/report/render.js'
import {humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {JOB_CLASS_PATTERN} from '../lib/sidekiq/new-job.js'
import {redisNow} from '../lib/sidekiq/queues.js'
import type {SidekiqFlavour} from '../lib/sidekiq/sidekiq-version.js'

/** A duration where a bare `0` (one pass) needs no unit. */
const settleFlag = Flags.custom<number>({parse: async (input) => parseDurationOrZeroMs(input), helpValue: '<duration>'})

const FORGET_WARNING =
  'CALLBACKS WILL NOT FIRE: --repair forget only removes the jid from the pending set and lowers the pending counter. The batch middleware fires complete/success callbacks while it processes a job, so a forgotten job never triggers them. Use --repair recreate (a no-op job with the same jid and bid) when the callbacks must run.'

export default class Batches extends RepairCommand<typeof Batches> {
  static override summary = 'Batch health (Sidekiq Pro b-<bid>, sidekiq-batch BID-<bid>); --ghosts finds every pending job'
  static override description = `Inventories every batch hash (SCAN for b-* and BID-*, recognised by type and fields; the Pro "batches" index is compared, not trusted): pending/total, age, TTL, nesting, dead batches, fragments, drifting counters and companion keys that outlived their batch.

--ghosts looks for every pending jid of every pending batch older than --min-age (or of --bid): in every queue:* list (registered or not), schedule, retry, dead, each process's in-progress work (<identity>:work / :workers), Sidekiq Pro super_fetch private queues (queue:sq|<identity>|<queue>), GitLab reliable-fetch working lists and the interrupted set. Each jid gets a verdict with the key it was found in: alive (queued, scheduled, running or fetched), waiting-on-retry, dead, stranded (in the private/working list of a process whose heartbeat is gone) or ghost (nowhere). Jids are read from the whole top-level payload, never from a jid nested in args. Missing jids are looked for again after --settle (two heartbeats) and are only called ghosts if the batch's pending count did not move meanwhile; otherwise they are "unconfirmed". Memory follows the number of pending jids, not the number of jobs.

Repairs (plan, confirm or --yes, journal, \`qdoctor undo\`):
  rescue         move stranded jobs back to their public queue (atomic LMOVE, only while the owner's heartbeat key is absent), as Pro's own orphan recovery would an hour later.
  recreate       push a job of --job-class (your no-op job) carrying the ghost's jid and bid, only while the jid is still pending, so the batch middleware counts it and fires the callbacks normally (the Sidekiq maintainer's advice). Timestamps follow the detected Sidekiq (float seconds ≤ 7, integer ms in 8).
  forget         remove the jid from the pending set and lower pending by one, atomically. CALLBACKS WILL NOT FIRE.
  purge-orphans  UNLINK companion keys (-jids, -failinfo, -died, …) whose batch hash is gone, only while it is still gone.

Confidence (Sidekiq Pro is closed source; see docs/sidekiq-data-model.md): the sidekiq-batch (BID-) layout is read from source (certain). For Pro, the b-<bid> hash and its pending/total/created_at fields, -jids, -died and -failinfo are "likely" facts and -failed's type is a "guess": reads tolerate anything, unknown fields and types are reported, and no repair writes on a guess. rescue rests on the super_fetch queue name (likely) and heartbeat-based recovery (certain); recreate on the maintainer's documented fix (certain); forget on the -jids/pending meaning (likely; certain for BID-); purge-orphans on "nothing reads a companion whose hash is gone" (likely), and only for keys of the expected type. recreate and forget need the settle pass (--settle > 0).`

  static override examples = [
    '<%= config.bin %> batches',
    '<%= config.bin %> batches --ghosts',
    '<%= config.bin %> batches --ghosts --bid Xy3_k9LmQp2a-w --json',
    '<%= config.bin %> batches --ghosts --repair rescue --dry-run',
    '<%= config.bin %> batches --ghosts --repair recreate --job-class BatchNoopJob --queue default',
    '<%= config.bin %> batches --ghosts --repair forget --bid Xy3_k9LmQp2a-w   # callbacks will NOT fire',
    '<%= config.bin %> batches --repair purge-orphans --yes',
    '<%= config.bin %> batches --namespace myapp --stale-after 12h',
  ]

  static override flags = {
    ghosts: Flags.boolean({summary: 'Find where every pending jid is, with a verdict per jid and per batch.'}),
    bid: Flags.string({summary: 'Only these batches (repeatable, or comma-separated).', multiple: true, delimiter: ','}),
    settle: settleFlag({summary: 'Wait between the two --ghosts passes (default: two heartbeats, 10s for Sidekiq 6, 20s for 7+ or unknown; 0 = one pass).'}),
    'min-age': durationFlag({summary: 'Batches younger than this are not judged (drift, ghosts).', default: DEFAULT_BATCHES_OPTIONS.minAgeSeconds * 1000}),
    'stale-after': durationFlag({summary: 'Report batches pending for longer than this (batch/stale).', default: DEFAULT_BATCHES_OPTIONS.staleAfterSeconds * 1000}),
    repair: Flags.option({summary: 'Plan a repair (rescue, recreate and forget imply --ghosts).', options: BATCH_REPAIRS, helpGroup: 'REPAIR'})(),
    'job-class': Flags.string({summary: 'With --repair recreate: your no-op job class (e.g. BatchNoopJob).', helpGroup: 'REPAIR', dependsOn: ['repair']}),
    queue: Flags.string({summary: 'With --repair recreate: the queue to push to.', default: 'default', helpGroup: 'REPAIR'}),
  }

  async run(): Promise<Report<BatchesSummary>> {
    const f = this.flags
    const step = f.repair
    if (step === 'recreate' && !f['job-class']) throw new QdoctorError('--repair recreate needs --job-class <Class>: a job class your app defines that does nothing (its run lets the batch count the job).', EXIT.usage)
    if (f['job-class'] && !JOB_CLASS_PATTERN.test(f['job-class'])) throw new QdoctorError(`--job-class "${f['job-class']}" is not a Ruby class name (e.g. BatchNoopJob or Ops::NoopJob).`, EXIT.usage)
    if ((step === 'recreate' || step === 'forget') && f.settle === 0)
      throw new QdoctorError(`--repair ${step} needs the settle pass: with --settle 0 a job being fetched right now can look like a ghost. Leave --settle out (two heartbeats) or give a positive duration.`, EXIT.usage)
    const ghosts = f.ghosts || step === 'rescue' || step === 'recreate' || step === 'forget'

    const report = this.startReport<BatchesSummary>(emptySummary())
    await this.collect(report, async () => {
      const progress = this.progress('Scanning for batches…')
      let run: BatchesRun
      try {
        run = await inspectBatches(
          {
            conn: this.conn,
            keys: this.keys,
            source: ownScan(this.conn),
            scanCount: f['scan-count'],
            settings: {ghosts, bid: f.bid, settle: f.settle, 'min-age': f['min-age'], 'stale-after': f['stale-after']},
            progress: (text) => progress.update(text),
          },
          report,
        )
      } finally {
        progress.stop()
      }
      if (step && report.incomplete.length === 0) await this.repair(report, run.judge, step, run.flavour)
    })
    return this.finish(report, renderBatches)
  }

  private async repair(report: ReportBuilder<BatchesSummary>, judge: BatchesJudge, step: (typeof BATCH_REPAIRS)[number], flavour?: SidekiqFlavour): Promise<void> {
    let plan: BatchPlan<LmoveAction | LpushAction | SremAction | UnlinkAction>
    const notes: string[] = []
    let verb = 'apply'
    let noun = 'actions'
    switch (step) {
      case 'rescue':
        plan = planRescue(this.keys, judge.stranded)
        verb = 'move back'
        noun = 'stranded jobs'
        break
      case 'recreate': {
        const unit = flavour?.major !== undefined && flavour.major >= 8 ? 'integer-milliseconds' : 'float-seconds'
        if (flavour?.major === undefined)
          report.warn('The Sidekiq version could not be told from heartbeats or payloads: the new jobs carry float-second timestamps, which every Sidekiq version reads as seconds.')
        plan = planRecreate(this.keys, judge.ghosts, {jobClass: this.flags['job-class']!, queue: this.flags.queue, nowMs: Math.round((await redisNow(this.conn)) * 1000), unit})
        verb = 'push'
        noun = `${this.flags['job-class']} jobs (one per ghost jid)`
        notes.push(`Each job runs ${this.flags['job-class']} with no arguments, in queue "${this.flags.queue}": the class must exist in your app and do nothing.`)
        break
      }
      case 'forget':
        plan = planForget(judge.ghosts)
        verb = 'forget'
        noun = 'ghost jids (callbacks will NOT fire)'
        notes.push(FORGET_WARNING)
        report.warn(FORGET_WARNING)
        // Loud on stderr even under --json (stdout carries only the JSON document).
        process.stderr.write(`${this.style.color.red.bold(FORGET_WARNING)}\n`)
        break
      case 'purge-orphans':
        plan = planPurgeOrphans(this.keys, judge.orphanKeys())
        verb = 'delete'
        noun = 'orphan companion keys'
        break
    }
    for (const line of plan.leftOut.slice(0, 20)) report.warn(line)
    if (plan.leftOut.length > 20) report.warn(`… and ${plan.leftOut.length - 20} more left out of the plan.`)
    if (plan.actions.length === 0) report.warn(`Nothing to ${step}: no ${step === 'purge-orphans' ? 'orphan companion key' : step === 'rescue' ? 'stranded job' : 'ghost job'} was found.`)
    const result = await this.executePlan(report, plan.actions, {verb, noun, notes})
    const records = result?.records ?? []
    report.summary.repair = {
      step,
      planned: plan.actions.length,
      ...(result ? {applied: records.filter((r) => r.status === 'applied').length, skipped: records.filter((r) => r.status === 'skipped').length} : {}),
    }
  }
}

function histogram(style: Style, title: string, rows: Array<{label: string; batches: number}>): string {
  const max = Math.max(1, ...rows.map((r) => r.batches))
  return kvTable(
    style,
    title,
    rows.map((r) => [r.label, `${style.color.cyan('█'.repeat(Math.round((r.batches / max) * 20)).padEnd(20))} ${humanCount(r.batches)}`]),
  )
}

export function renderBatches(report: Report<BatchesSummary>, style: Style): string {
  const s = report.summary
  const warnIf = (n: number) => (n ? style.color.yellow(humanCount(n)) : '0')
  const parts = [
    kvTable(style, 'batches', [
      ['batches', `${humanCount(s.batches)} (Pro b-: ${humanCount(s.layouts.pro)}, sidekiq-batch BID-: ${humanCount(s.layouts['sidekiq-batch'])})`],
      ['pending batches', humanCount(s.pendingBatches)],
      ['pending jobs (counters)', humanCount(s.pendingJobs)],
      ['pending jids (-jids sets)', humanCount(s.pendingJids)],
      ['stale', warnIf(s.stale)],
      ['dead', warnIf(s.dead)],
      ['negative pending', warnIf(s.negativePending)],
      ['counter drift', warnIf(s.counterDrift)],
      ['fragments', warnIf(s.fragments)],
      ['orphan companion keys', warnIf(s.orphanKeys)],
      ['companions without TTL', warnIf(s.companionsWithoutTtl)],
      ['batches without TTL', warnIf(s.noTtl)],
      ['nested (with parent / with kids)', `${humanCount(s.nesting.withParent)} / ${humanCount(s.nesting.withKids)}`],
      ['Pro index (members / without hash)', `${humanCount(s.index.members)} / ${humanCount(s.index.withoutHash)}`],
    ]),
  ]
  if (s.batches > 0) parts.push(histogram(style, 'pending', s.pendingHistogram), histogram(style, 'age', s.ageHistogram))
  if (s.verdicts) {
    const passes = s.passes === 2 ? `2 passes, ${humanSeconds((s.settleMs ?? 0) / 1000)} apart` : 'one pass'
    parts.push(
      table(
        style,
        ['verdict', 'jids', 'batches'],
        VERDICTS.map((v) => [v, humanCount(s.verdicts![v]), humanCount(s.batchVerdicts?.[v] ?? 0)]),
      ),
      `${humanCount(s.judgedBatches)} batches judged (${passes}; ${humanCount(s.tooYoung ?? 0)} younger than --min-age left alone), ${humanCount(Object.values(s.jobsRead ?? {}).reduce((a, b) => a + b, 0))} jobs read${s.corruptMembers ? `, ${humanCount(s.corruptMembers)} unreadable` : ''}.`,
    )
    if (s.worst?.length)
      parts.push(
        table(
          style,
          ['batch', 'layout', 'pending', 'verdict', ...VERDICTS],
          s.worst.map((r) => [r.bid, r.layout, r.pending ?? '?', r.verdict, ...VERDICTS.map((v) => r.counts[v] ?? 0)]),
        ),
      )
  }
  return parts.join('\n')
}
