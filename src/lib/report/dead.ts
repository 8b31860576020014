// The `qdoctor dead` report: its JSON summary (a stable contract) and the human rendering.
import type {DeadSummary} from '../checks/dead.js'
import type {WatchSummary} from '../checks/dead-loops.js'
import type {SkipReason} from '../repairs/plans/dead-walk.js'
import {kvTable, table} from './render.js'
import {humanCount, humanSeconds, type Style} from './style.js'
import type {ActionRecord, Report} from './types.js'

export interface StopLoopSummary {
  /** Where the dead set was held. */
  quarantineKey: string
  /** Jobs set aside by the first RENAME. */
  quarantined: number
  /** Later re-deaths swept into the quarantine while it was held. */
  swept: number
  heldSeconds: number
  /** true: every driving client went quiet; false: one was still active; null: none was identified. */
  driversStopped: boolean | null
  drivers: WatchSummary['drivers']
  /** The quarantine was merged back into dead (ZUNIONSTORE … AGGREGATE MAX). */
  mergedBack: boolean
  /** ZCARD dead after the merge. */
  sizeAfter?: number
}

export interface DeadReportSummary extends DeadSummary {
  /** What the heartbeats say about the Sidekiq version (retry_all loops only up to 7.3.4). */
  sidekiq?: {versions: string[]; major?: number; retryAllMayLoop: boolean}
  /** --loops: the live watch. */
  watch?: WatchSummary
  /** --retry / --purge: entries moved (in a dry run: planned). */
  retried?: number
  purged?: number
  /** --retry / --purge: entries within the bound left in place, and why. */
  skipped?: number
  skippedBy?: Record<SkipReason, number>
  /** --retry / --purge: the snapshot the walk was bounded by. */
  bound?: {score: string; at: string; count: number}
  exported?: number
  exportFile?: string
  stopLoop?: StopLoopSummary
}

/** A --retry / --purge action: the job it moved and the queue it went to. */
export interface DeadActionRecord extends ActionRecord {
  subject?: {jid: string; class?: string}
  queue?: string
}

const BAR = 24

export function renderDead(report: Report<DeadReportSummary>, style: Style): string {
  const s = report.summary
  const parts: string[] = []
  const rows: Array<[string, string]> = [
    ['size', `${humanCount(s.size)} jobs (${(s.capacityUsed * 100).toFixed(1)}% of dead_max_jobs ${humanCount(s.maxJobs)}; Sidekiq keeps ${humanCount(s.maxJobs - 1)})`],
    ['oldest', s.oldest ? `${s.oldest.at} (${humanSeconds(s.oldest.ageSeconds)} ago)${s.oldest.class ? ` ${s.oldest.class}` : ''}` : '-'],
    ['newest', s.newest ? `${s.newest.at} (${humanSeconds(s.newest.ageSeconds)} ago)${s.newest.class ? ` ${s.newest.class}` : ''}` : '-'],
    ['past dead_timeout', `${humanCount(s.pastTimeout)} (older than ${humanSeconds(s.timeoutSeconds)}: the next death removes them)`],
    ['unreadable', s.corrupt ? style.color.red(humanCount(s.corrupt)) : '0'],
    ['duplicate jids', s.duplicateJids ? style.color.yellow(humanCount(s.duplicateJids)) : '0'],
  ]
  if (s.quarantined) rows.push(['in quarantine', style.color.red(humanCount(s.quarantined))])
  if (s.sidekiq) rows.push(['sidekiq', `${s.sidekiq.versions.join(', ') || (s.sidekiq.major ? `${s.sidekiq.major}.x` : 'unknown')}${s.sidekiq.retryAllMayLoop ? ' (retry_all can loop: ≤ 7.3.4)' : ' (retry_all is bounded: ≥ 7.3.5)'}`])
  parts.push(kvTable(style, s.key, rows))
  if (s.read > 0) {
    const max = Math.max(1, ...s.ageHistogram.map((b) => b.count))
    parts.push(kvTable(style, 'died', s.ageHistogram.map((b) => [b.label, `${style.color.cyan('█'.repeat(Math.round((b.count / max) * BAR)).padEnd(BAR))} ${humanCount(b.count)}`])))
    parts.push(table(style, ['class', 'dead', 'queue', 'dead'], zipTop(s)))
    if (s.topErrors.length)
      parts.push(table(style, ['error', 'count', 'first seen', 'last seen'], s.topErrors.map((e) => [`${e.errorClass}: ${e.message.slice(0, 80)}`, humanCount(e.count), e.firstSeen, e.lastSeen])))
  }
  const ls = s.loopSignals
  if (ls.retriedRetry0 || ls.queuedManualRetry || ls.duplicateJids)
    parts.push(
      kvTable(style, 'retry-loop signs', [
        ['retry: 0 jobs retried by hand that died again', humanCount(ls.retriedRetry0)],
        ['queued copies with retry_count -1', `${humanCount(ls.queuedManualRetry)} (${humanCount(ls.queuedRepeatedRetry)} retried again after dying again)`],
        ['jids in dead more than once', humanCount(ls.duplicateJids)],
      ]),
    )
  if (s.watch) parts.push(renderWatch(s.watch, style))
  if (s.stopLoop) parts.push(renderStopLoop(s.stopLoop, style))
  const repair = renderRepairTally(s)
  if (repair) parts.push(repair)
  if (s.exported !== undefined) parts.push(`Exported ${humanCount(s.exported)} entries to ${s.exportFile}`)
  return parts.join('\n')
}

function zipTop(s: DeadSummary): string[][] {
  const n = Math.max(s.topClasses.length, s.topQueues.length)
  return Array.from({length: n}, (_, i) => [
    s.topClasses[i]?.class ?? '',
    s.topClasses[i] ? humanCount(s.topClasses[i]!.count) : '',
    s.topQueues[i]?.queue ?? '',
    s.topQueues[i] ? humanCount(s.topQueues[i]!.count) : '',
  ])
}

function renderWatch(w: WatchSummary, style: Style): string {
  const lines = [
    kvTable(style, `watched ${w.seconds}s`, [
      ['samples', `${w.samples} × newest ${humanCount(w.sampleSize)} entries`],
      ['jobs that died again', w.loopingJobs ? style.color.red(`${humanCount(w.loopingJobs)} jobs, ${humanCount(w.reDeaths)} re-deaths`) : '0'],
      ['dead size', `${humanCount(w.deadSize.start)} → ${humanCount(w.deadSize.end)} (min ${humanCount(w.deadSize.min)}, max ${humanCount(w.deadSize.max)})`],
      ['stat:failed growth', w.failedGrowth === undefined ? '-' : humanCount(w.failedGrowth)],
      ...(w.clientsUnavailable ? ([['CLIENT LIST', `unavailable: ${w.clientsUnavailable}`]] as Array<[string, string]>) : []),
    ]),
  ]
  if (w.drivers.length)
    lines.push(
      table(
        style,
        ['driving client', 'name', 'connected', 'commands seen', 'active'],
        w.drivers.map((d) => [d.addr, d.name || '-', humanSeconds(d.ageSeconds), d.commands.join(' '), `${d.activeSamples}/${d.samples} samples`]),
      ),
    )
  return lines.join('\n')
}

function renderStopLoop(q: StopLoopSummary, style: Style): string {
  return kvTable(style, 'stop-loop', [
    ['quarantined', `${humanCount(q.quarantined)} jobs in ${q.quarantineKey}`],
    ['re-deaths swept in', humanCount(q.swept)],
    ['held', humanSeconds(q.heldSeconds)],
    ['driving clients', q.driversStopped === null ? 'none identified' : q.driversStopped ? style.color.green('stopped') : style.color.red('STILL ACTIVE')],
    ['merged back', q.mergedBack ? `yes (dead now holds ${humanCount(q.sizeAfter)})` : style.color.red('no: still quarantined')],
  ])
}

function renderRepairTally(s: DeadReportSummary): string | undefined {
  const done = s.retried !== undefined ? `retried ${humanCount(s.retried)}` : s.purged !== undefined ? `purged ${humanCount(s.purged)}` : undefined
  if (!done) return undefined
  const by = Object.entries(s.skippedBy ?? {})
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${humanCount(n)} ${why}`)
    .join(', ')
  const bound = s.bound ? ` (bounded by the ${humanCount(s.bound.count)} entries up to ${s.bound.at})` : ''
  return `${done}, left ${humanCount(s.skipped ?? 0)}${by ? ` (${by})` : ''}${bound}`
}
