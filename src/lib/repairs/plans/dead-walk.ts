// The bounded walk behind `qdoctor dead --retry` and `--purge` (sidekiq-data-model.md §10.3):
// 1. one snapshot at the start: the highest score (the bound) and the count;
// 2. pages of entries with score ≤ bound, ascending, planned and applied page by page. The offset
//    grows only by the entries the walk leaves in place (filtered out, unreadable, handled already,
//    refused by the script): moved entries leave the set, so the next page starts where this one
//    ended. Without that a filtered run would re-read its skipped page forever;
// 3. stop after N moves (the count at the start, or --limit), or at the first empty page.
// New deaths score above the bound and are never read, so the walk cannot loop even while the jobs
// it retries die again. A jid moved once is never moved again in the same run (a host with a lagging
// clock can re-kill a job below the bound).
import {LosslessNumber} from 'lossless-json'

import type {Connection} from '../../redis/connect.js'
import {pipelinedReads} from '../../redis/pipeline.js'
import {Budget} from '../../redis/budget.js'
import {type DeadEntry, deadPageByScore} from '../../sidekiq/dead.js'
import type {JobMatcher} from '../../sidekiq/job-filter.js'
import {rewriteJob, spliceTopLevel} from '../../sidekiq/job.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'
import {type TimestampUnit, timestampFor} from '../../sidekiq/new-job.js'
import {timestampUnit} from '../../sidekiq/time.js'
import type {ZmoveAction, ZremAction} from '../actions.js'
import type {ApplyResult} from '../apply.js'

export type DeadAction = ZmoveAction | ZremAction

/** Why an entry within the bound was not moved. */
export type SkipReason = 'filtered' | 'unreadable' | 'already-moved' | 'gone' | 'refused'

export interface PlannedMove {
  action: DeadAction
  jid?: string
  class?: string
  queue?: string
}

export type Planner = (entry: DeadEntry) => PlannedMove | SkipReason

export interface WalkOptions {
  key: string
  /** The highest score at the start, as Redis printed it. */
  bound: string
  /** Stop after this many moves (the count at the start, or --limit). */
  maxMoves: number
  pageSize: number
  /** Read-only (dry run): nothing leaves the set, so the offset advances over every entry read. */
  dryRun: boolean
  /** Moves per second (0 or undefined: only the connection's --max-ops budget). */
  rate?: number
  onPage?: (tally: WalkTally) => void
}

export interface WalkTally {
  /** Applied (or, in a dry run, planned) moves. */
  moved: number
  pages: number
  skipped: Record<SkipReason, number>
  /** Why the walk ended. */
  end: 'exhausted' | 'count' | 'stopped'
}

/** Apply a page's moves (journaled); undefined in a dry run. Moves come back in the same order. */
export type ApplyMoves = (moves: readonly PlannedMove[]) => Promise<ApplyResult | undefined>

export async function boundedWalk(conn: Connection, options: WalkOptions, plan: Planner, apply: ApplyMoves): Promise<WalkTally> {
  const tally: WalkTally = {moved: 0, pages: 0, skipped: {filtered: 0, unreadable: 0, 'already-moved': 0, gone: 0, refused: 0}, end: 'exhausted'}
  const movedJids = new Set<string>()
  const pace = options.rate ? new Budget(options.rate) : undefined
  const chunk = options.rate ? Math.max(1, Math.ceil(options.rate / 20)) : options.pageSize
  let offset = 0
  while (tally.moved < options.maxMoves) {
    const page = await deadPageByScore(conn, options.key, options.bound, offset, options.pageSize)
    if (page.length === 0) break
    tally.pages++
    const moves: PlannedMove[] = []
    let left = 0
    for (const entry of page) {
      if (tally.moved + moves.length >= options.maxMoves) break
      const planned = plan(entry)
      if (typeof planned === 'string') {
        tally.skipped[planned]++
        left++
      } else if (planned.jid !== undefined && movedJids.has(planned.jid)) {
        tally.skipped['already-moved']++
        left++
      } else {
        moves.push(planned)
        if (planned.jid !== undefined) movedJids.add(planned.jid)
      }
    }
    if (options.dryRun) {
      await apply(moves)
      tally.moved += moves.length
      offset += page.length
    } else {
      for (let i = 0; i < moves.length; i += chunk) {
        const part = moves.slice(i, i + chunk)
        await pace?.take(part.length)
        const result = await apply(part)
        if (!result) continue
        left += await settle(conn, part, result, tally)
        if (result.stopped) {
          tally.end = 'stopped'
          options.onPage?.(tally)
          return tally
        }
      }
      offset += left
    }
    options.onPage?.(tally)
  }
  if (tally.moved >= options.maxMoves) tally.end = 'count'
  return tally
}

/**
 * Count what a part did; returns how many of its entries are still in the set (refused by the
 * script, e.g. a queue key of the wrong type): the offset must pass over those.
 */
async function settle(conn: Connection, part: readonly PlannedMove[], result: ApplyResult, tally: WalkTally): Promise<number> {
  const refusedOrGone: DeadAction[] = []
  part.forEach((move, i) => {
    const status = result.records[i]?.status
    if (status === 'applied') tally.moved++
    else if (status === 'skipped') refusedOrGone.push(move.action)
  })
  if (refusedOrGone.length === 0) return 0
  const scores = await pipelinedReads(conn, refusedOrGone, (a) => [['zscore', a.kind === 'zmove' ? a.from : a.key, a.member]])
  let still = 0
  for (const [reply] of scores) {
    if (reply?.value !== null && reply?.value !== undefined) {
      still++
      tally.skipped.refused++
    } else tally.skipped.gone++
  }
  return still
}

/** The timestamp encoding of a payload: integer ms (Sidekiq 8) or float seconds (≤ 7). */
export function payloadUnit(fields: Record<string, unknown>): TimestampUnit {
  return timestampUnit(fields.enqueued_at ?? fields.created_at ?? fields.failed_at) === 'milliseconds' ? 'integer-milliseconds' : 'float-seconds'
}

/**
 * `--retry`: move a selected job from dead to the head of its queue, as Sidekiq's own retry does
 * (retry_count − 1 when present, a fresh enqueued_at in the payload's own unit), every other byte of
 * the payload unchanged; and register the queue. `nowMs` gives the Redis clock in ms.
 */
export function retryPlanner(keys: SidekiqKeys, matches: JobMatcher, nowMs: () => number): Planner {
  return (entry) => {
    if (!entry.parsed.ok) return 'unreadable'
    if (!matches(entry)) return 'filtered'
    const job = entry.parsed.job
    const queue = job.queue ?? 'default'
    const changes: Record<string, string> = {enqueued_at: timestampFor(nowMs(), payloadUnit(job.fields)).toString()}
    if (job.retryCount !== undefined) changes.retry_count = String(job.retryCount - 1)
    let pushValue: string
    try {
      pushValue = spliceTopLevel(entry.member, changes, job.fields) ?? rewriteJob(entry.member, mapValues(changes, (v) => new LosslessNumber(v)))
    } catch {
      return 'unreadable'
    }
    return {
      jid: job.jid,
      class: job.displayClass,
      queue,
      action: {
        kind: 'zmove',
        step: 'retry',
        from: keys.dead,
        to: keys.queue(queue),
        member: entry.member,
        expectScore: entry.scoreText,
        pushValue,
        registerSet: keys.queues,
        registerMember: queue,
        detail: `retry jid ${job.jid} ${job.displayClass} → ${keys.queue(queue)}`,
        bytes: entry.member.length,
      },
    }
  }
}

/** `--purge`: ZREM a selected entry (unreadable ones too, when selected). */
export function purgePlanner(keys: SidekiqKeys, matches: JobMatcher): Planner {
  return (entry) => {
    if (!matches(entry)) return 'filtered'
    const job = entry.parsed.ok ? entry.parsed.job : undefined
    return {
      ...(job ? {jid: job.jid, class: job.displayClass, queue: job.queue ?? 'default'} : {}),
      action: {
        kind: 'zrem',
        step: 'purge',
        key: keys.dead,
        member: entry.member,
        expectScore: entry.scoreText,
        detail: job ? `purge jid ${job.jid} ${job.displayClass}` : `purge an unreadable entry (score ${entry.scoreText})`,
        bytes: entry.member.length,
      },
    }
  }
}

function mapValues<T, U>(record: Record<string, T>, f: (v: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]))
}
