import {openSync, writeSync, closeSync} from 'node:fs'

import {Flags} from '@oclif/core'

import {QdoctorError} from '../../lib/command/base.js'
import {durationFlag} from '../../lib/command/flags.js'
import {RepairCommand} from '../../lib/command/repair-command.js'
import {DeadAggregator, DEFAULT_DEAD_THRESHOLDS, isoOf, wrongTypeFinding} from '../../lib/checks/dead.js'
import {watchDead} from '../../lib/checks/dead-loops.js'
import {ownScan} from '../../lib/redis/keyspace-index.js'
import type {ZmergeAction} from '../../lib/repairs/actions.js'
import {baseRecord} from '../../lib/repairs/apply.js'
import {boundedWalk, type PlannedMove, purgePlanner, retryPlanner, type WalkTally} from '../../lib/repairs/plans/dead-walk.js'
import {mergeBackAction, quarantineAction, type StopLoopOutcome, stopLoop} from '../../lib/repairs/plans/dead-stop-loop.js'
import type {ReportBuilder} from '../../lib/report/builder.js'
import {type DeadActionRecord, type DeadReportSummary, renderDead} from '../../lib/report/dead.js'
import {EXIT} from '../../lib/report/exit-status.js'
import {humanCount, humanSeconds} from '../../lib/report/style.js'
import type {ActionRecord, Report} from '../../lib/report/types.js'
import {type DeadEntry, type DeadSnapshot, deadPages, deadSnapshot} from '../../lib/sidekiq/dead.js'
import {compileJobFilter, describeFilter, errorMatcher, FilterError, isEmptyFilter, type JobFilterSpec, type JobMatcher} from '../../lib/sidekiq/job-filter.js'
import {parseJob} from '../../lib/sidekiq/job.js'
import {redisNow} from '../../lib/sidekiq/queues.js'

export type DeadMode = 'report' | 'loops' | 'export' | 'retry' | 'purge' | 'stop-loop'

const MODES = ['loops', 'export', 'retry', 'purge', 'stop-loop']
const FILTERS = ['class', 'error', 'jid', 'older-than', 'newer-than', 'queue', 'corrupt'] as const
/** How long --stop-loop watches first, to name the client driving the loop. */
const IDENTIFY_MS = 2000
const DEFAULT_WATCH_MS = 10_000

export const filterFlags = {
  class: Flags.string({summary: 'Only jobs of this class (or Active Job class in `wrapped`); repeatable or comma-separated.', multiple: true, delimiter: ',', helpGroup: 'SELECT'}),
  error: Flags.string({summary: 'Only jobs whose "ErrorClass: message" contains this text (case-insensitive), or matches /regex/flags.', helpGroup: 'SELECT'}),
  jid: Flags.string({summary: 'Only these jids; repeatable or comma-separated.', multiple: true, delimiter: ',', helpGroup: 'SELECT'}),
  'older-than': durationFlag({summary: 'Only jobs that died at least this long ago.', helpGroup: 'SELECT'}),
  'newer-than': durationFlag({summary: 'Only jobs that died at most this long ago.', helpGroup: 'SELECT'}),
  queue: Flags.string({summary: 'Only jobs of these queues; repeatable or comma-separated.', multiple: true, delimiter: ',', helpGroup: 'SELECT'}),
  corrupt: Flags.boolean({summary: 'Only entries that are not a readable job (--purge, --export).', helpGroup: 'SELECT'}),
}

export const walkFlags = {
  rate: Flags.integer({summary: 'At most this many jobs per second (--retry, --purge); by default only --max-ops limits it.', min: 1, helpGroup: 'REPAIR'}),
  'page-size': Flags.integer({summary: 'Entries read per page.', default: 1000, min: 10, max: 10_000}),
}

export default class Dead extends RepairCommand<typeof Dead> {
  static override summary = 'Dead-set health, retry-loop detection, and a retry that cannot loop'
  static override description = `Reads the dead set (the morgue) page by page, never at once: size against dead_max_jobs (Sidekiq keeps max − 1 and evicts the oldest at every death), entries past dead_timeout, when jobs died, the top classes (the Active Job class for wrapped jobs), queues and errors (first and last seen), unreadable entries, jids present more than once, and signs of a retry loop.

--loops looks for a retry loop: the static signs (retry: 0 jobs carrying retried_at, queued copies with retry_count -1), then --watch samples the newest entries for jobs that die again while it watches, and names the connection driving the loop from CLIENT LIST (a client that never blocks and cycles zrange/multi/exec/lpush). Sidekiq up to 7.3.4 loops in DeadSet#retry_all (also the Web UI "Retry All") when retried jobs die again before the set empties.

--stop-loop sets the dead set aside (RENAME to dead:qdoctor-quarantine) so a running retry_all sees size 0 and returns, sweeps re-deaths into the quarantine until the driving client goes quiet (at most --hold), then merges everything back (ZUNIONSTORE … AGGREGATE MAX). Journaled: qdoctor undo merges a quarantine left behind.

--retry (or \`qdoctor dead retry\`) retries the selected jobs the way Sidekiq does (retry_count − 1, a fresh enqueued_at in the payload's own unit, every other byte unchanged), bounded by a snapshot (highest score and count at the start) so jobs that die again during the run are never picked up again: it always ends. Each job moves with one atomic script (ZREM from dead, LPUSH to its queue, SADD queues) only if it is still there: exactly once, even next to live workers or a Web UI retry. --rate throttles it.
--purge removes the selected entries (journaled, undoable). --export FILE writes them as JSON lines, streamed.`

  static override examples = [
    '<%= config.bin %> dead',
    '<%= config.bin %> dead --json --max-jobs 50000',
    '<%= config.bin %> dead --loops                    # static signs, then 10s of live watching',
    '<%= config.bin %> dead --loops --watch 30s --json',
    '<%= config.bin %> dead --stop-loop                # a retry_all is looping: make it return, keep every job',
    '<%= config.bin %> dead --retry --class HardJob --dry-run',
    '<%= config.bin %> dead retry --error /Timeout/ --newer-than 1h --rate 50 --yes',
    '<%= config.bin %> dead --purge --older-than 90d',
    '<%= config.bin %> dead --purge --corrupt --yes',
    '<%= config.bin %> dead --export dead.jsonl --queue mailers',
  ]

  static override flags = {
    'max-jobs': Flags.integer({summary: "Sidekiq's dead_max_jobs (it keeps max − 1).", default: DEFAULT_DEAD_THRESHOLDS.maxJobs, min: 1}),
    'dead-timeout': durationFlag({summary: "Sidekiq's dead_timeout_in_seconds.", default: DEFAULT_DEAD_THRESHOLDS.timeoutSeconds * 1000}),
    top: Flags.integer({summary: 'Length of the top classes, queues and errors lists.', default: DEFAULT_DEAD_THRESHOLDS.top, min: 1, max: 1000}),
    ...walkFlags,
    loops: Flags.boolean({summary: 'Only retry-loop signs: static ones, then --watch live.', helpGroup: 'LOOPS', exclusive: MODES.filter((m) => m !== 'loops')}),
    watch: durationFlag({
      summary: 'With --loops: how long to watch for jobs dying again (default 10s; 0s: static signs only). With --stop-loop: how long to look for the driving client first (default 2s).',
      helpGroup: 'LOOPS',
    }),
    sample: Flags.integer({summary: 'With --loops: newest entries read per sample.', default: 500, min: 10, max: 10_000, helpGroup: 'LOOPS'}),
    'stop-loop': Flags.boolean({summary: 'Set the dead set aside until a looping retry_all returns, then merge it back.', helpGroup: 'REPAIR', exclusive: MODES.filter((m) => m !== 'stop-loop')}),
    hold: durationFlag({summary: 'With --stop-loop: the longest the dead set stays set aside.', default: 10_000, helpGroup: 'REPAIR'}),
    retry: Flags.boolean({summary: 'Retry the selected jobs (bounded, exactly once); same as `qdoctor dead retry`.', helpGroup: 'REPAIR', exclusive: MODES.filter((m) => m !== 'retry')}),
    purge: Flags.boolean({summary: 'Remove the selected entries (journaled).', helpGroup: 'REPAIR', exclusive: MODES.filter((m) => m !== 'purge')}),
    export: Flags.string({summary: 'Write the selected entries to this file as JSON lines (never overwrites).', helpValue: '<file>', exclusive: MODES.filter((m) => m !== 'export')}),
    ...filterFlags,
  }

  /** Which mode this run is in (`qdoctor dead retry` says retry). */
  protected mode(): DeadMode {
    const f = this.flags
    if (f['stop-loop']) return 'stop-loop'
    if (f.retry) return 'retry'
    if (f.purge) return 'purge'
    if (f.export !== undefined) return 'export'
    if (f.loops) return 'loops'
    return 'report'
  }

  async run(): Promise<Report<DeadReportSummary>> {
    const mode = this.mode()
    const spec = this.filterSpec(mode)
    // (`dead retry` has no report flags: the defaults then.)
    const f = this.flags
    const thresholds = {
      ...DEFAULT_DEAD_THRESHOLDS,
      ...(f['max-jobs'] !== undefined ? {maxJobs: f['max-jobs']} : {}),
      ...(f['dead-timeout'] !== undefined ? {timeoutSeconds: f['dead-timeout'] / 1000} : {}),
      ...(f.top !== undefined ? {top: f.top} : {}),
    }
    const report = this.startReport<DeadReportSummary>(new DeadAggregator(thresholds, 0, this.keys.dead, 0).summary)
    await this.collect(report, async () => {
      if (mode === 'report' || mode === 'loops') return this.inspect(report, mode === 'loops')
      const nowSeconds = await redisNow(this.conn)
      const matcher = compileJobFilter(spec, nowSeconds)
      const agg = new DeadAggregator(thresholds, nowSeconds, this.keys.dead, 0)
      report.summary = agg.summary
      if (mode === 'export') await this.exportEntries(report, agg, matcher)
      else if (mode === 'stop-loop') await this.stopTheLoop(report, agg)
      else await this.walk(report, agg, mode, matcher, spec, nowSeconds)
    })
    return this.finish(report, renderDead)
  }

  /** The filters, checked against the mode (usage errors exit 2). */
  private filterSpec(mode: DeadMode): JobFilterSpec {
    const f = this.flags
    const usage = (message: string) => new QdoctorError(message, EXIT.usage)
    const spec: JobFilterSpec = {
      ...(f.class?.length ? {classes: f.class} : {}),
      ...(f.error !== undefined ? {error: f.error} : {}),
      ...(f.jid?.length ? {jids: f.jid} : {}),
      ...(f['older-than'] !== undefined ? {olderThanSeconds: f['older-than'] / 1000} : {}),
      ...(f['newer-than'] !== undefined ? {newerThanSeconds: f['newer-than'] / 1000} : {}),
      ...(f.queue?.length ? {queues: f.queue} : {}),
      ...(f.corrupt ? {corrupt: true} : {}),
    }
    const selecting = mode === 'retry' || mode === 'purge' || mode === 'export'
    if (!selecting && !isEmptyFilter(spec))
      throw usage(`${FILTERS.filter((k) => f[k] !== undefined && f[k] !== false).map((k) => `--${k}`).join(', ')} select what --retry, --purge or --export act on; add one of them.`)
    if (spec.error !== undefined) {
      try {
        errorMatcher(spec.error)
      } catch (err) {
        if (err instanceof FilterError) throw usage(err.message)
        throw err
      }
    }
    if (mode === 'retry' && spec.corrupt) throw usage('--corrupt cannot go with --retry: an unreadable entry has no queue to go back to (use --purge --corrupt, or --export --corrupt first).')
    if (f.rate !== undefined && mode !== 'retry' && mode !== 'purge') throw usage('--rate goes with --retry or --purge.')
    if (f.watch !== undefined && mode !== 'loops' && mode !== 'stop-loop') throw usage('--watch goes with --loops or --stop-loop.')
    const given: Record<string, boolean> = {loops: Boolean(f.loops), export: f.export !== undefined, retry: Boolean(f.retry), purge: Boolean(f.purge), 'stop-loop': Boolean(f['stop-loop'])}
    const other = Object.keys(given).find((m) => given[m] && m !== mode)
    if (other) throw usage(`--${other} cannot be combined with ${mode === 'retry' ? '`dead retry`' : `--${mode}`}.`)
    return spec
  }

  // ---------------------------------------------------------------- report and --loops

  /** The report and --loops: the dead family's code, with --loops' live watch. */
  private async inspect(report: ReportBuilder<DeadReportSummary>, loops: boolean): Promise<void> {
    const f = this.flags
    const progress = this.progress(`Reading ${this.keys.dead}…`)
    // Imported here: the family brings zod and its settings schemas, which --retry, --purge and
    // --export never need (~60 ms of every start).
    const {inspectDead} = await import('../../lib/checks/families/dead.js')
    try {
      await inspectDead(
        {
          conn: this.conn,
          keys: this.keys,
          source: ownScan(this.conn),
          scanCount: f['scan-count'],
          settings: {'max-jobs': f['max-jobs'], 'dead-timeout': f['dead-timeout'], top: f.top, 'page-size': f['page-size'], loops},
          progress: (text) => progress.update(text),
        },
        report,
        loops
          ? {
              windowMs: f.watch ?? DEFAULT_WATCH_MS,
              sample: f.sample,
              onSample: (w) => progress.update(`Watching ${this.keys.dead} for jobs that die again… ${w.samples} samples, ${w.loopingJobs().length} died again`),
            }
          : undefined,
      )
    } finally {
      progress.stop()
    }
  }

  private wrongType(report: ReportBuilder<DeadReportSummary>, snap: DeadSnapshot): boolean {
    if (snap.type === 'zset' || snap.type === 'none') return false
    report.add(wrongTypeFinding(this.keys.dead, snap.type))
    return true
  }

  // ---------------------------------------------------------------- --export

  private async exportEntries(report: ReportBuilder<DeadReportSummary>, agg: DeadAggregator, matches: JobMatcher): Promise<void> {
    const file = this.flags.export!
    const snap = await deadSnapshot(this.conn, this.keys.dead)
    this.fromSnapshot(agg, snap)
    if (this.wrongType(report, snap)) return
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new QdoctorError(e.code === 'EEXIST' ? `${file} already exists: choose another --export file (qdoctor never overwrites one).` : `Cannot create ${file}: ${e.message}`, EXIT.usage)
    }
    const s = report.summary
    s.exported = 0
    s.exportFile = file
    const progress = this.progress(`Exporting ${this.keys.dead}…`)
    try {
      for await (const page of deadPages(this.conn, this.keys.dead, this.flags['page-size'])) {
        const lines: string[] = []
        for (const entry of page) if (matches(entry)) lines.push(exportLine(entry))
        if (lines.length) writeSync(fd, lines.join('\n') + '\n')
        s.exported += lines.length
        s.read += page.length
        progress.update(`Exporting ${this.keys.dead}… ${humanCount(s.exported)} of ${humanCount(s.read)} read`)
      }
    } finally {
      closeSync(fd)
      progress.stop()
    }
  }

  /** Size and both ends from the snapshot (modes that do not read the whole set). */
  private fromSnapshot(agg: DeadAggregator, snap: DeadSnapshot): void {
    const s = agg.summary
    s.size = snap.size
    s.capacityUsed = snap.size / agg.t.maxJobs
    const edge = (m: DeadSnapshot['min']) => {
      if (!m) return null
      const p = parseJob(m.member)
      return {score: m.score, at: isoOf(m.score), ageSeconds: Math.max(0, agg.nowSeconds - m.score), ...(p.ok ? {jid: p.job.jid, class: p.job.displayClass} : {})}
    }
    s.oldest = edge(snap.min)
    s.newest = edge(snap.max)
  }

  // ---------------------------------------------------------------- --retry / --purge

  private async walk(report: ReportBuilder<DeadReportSummary>, agg: DeadAggregator, mode: 'retry' | 'purge', matches: JobMatcher, spec: JobFilterSpec, nowSeconds: number): Promise<void> {
    const key = this.keys.dead
    const snap = await deadSnapshot(this.conn, key)
    this.fromSnapshot(agg, snap)
    const s = report.summary
    if (this.wrongType(report, snap)) return
    const tallyInto = (t: WalkTally) => {
      s[mode === 'retry' ? 'retried' : 'purged'] = t.moved
      s.skippedBy = t.skipped
      s.skipped = Object.values(t.skipped).reduce((a, b) => a + b, 0)
    }
    tallyInto({moved: 0, pages: 0, skipped: {filtered: 0, unreadable: 0, 'already-moved': 0, gone: 0, refused: 0}, end: 'exhausted'})
    report.actions = []
    if (!snap.max) return
    s.bound = {score: snap.max.scoreText, at: isoOf(snap.max.score), count: snap.size}
    const opts = this.repairOptions
    const localStart = Date.now()
    const nowMs = () => nowSeconds * 1000 + (Date.now() - localStart)
    const plan = mode === 'retry' ? retryPlanner(this.keys, matches, nowMs) : purgePlanner(this.keys, matches)
    const progress = this.progress(`${mode === 'retry' ? 'Retrying' : 'Purging'} dead jobs…`)
    const walkOptions = {
      key,
      bound: snap.max.scoreText,
      maxMoves: Math.min(snap.size, opts.limit ?? Number.POSITIVE_INFINITY),
      pageSize: this.flags['page-size'],
      ...(this.flags.rate ? {rate: this.flags.rate} : {}),
      onPage: (t: WalkTally) => progress.update(`${mode === 'retry' ? 'Retried' : 'Purged'} ${humanCount(t.moved)} of at most ${humanCount(snap.size)} (${humanCount(Object.values(t.skipped).reduce((a, b) => a + b, 0))} left in place)…`),
    }
    const dryWalk = async (max: number) => {
      const planned: DeadActionRecord[] = []
      const tally = await boundedWalk(this.conn, {...walkOptions, maxMoves: Math.min(walkOptions.maxMoves, max), dryRun: true}, plan, async (moves) => {
        for (const m of moves) planned.push(decorate(baseRecord(m.action, 'planned'), m))
        return undefined
      })
      return {planned, tally}
    }
    try {
      if (opts.dryRun) {
        const {planned, tally} = await dryWalk(Number.POSITIVE_INFINITY)
        report.actions = planned
        tallyInto(tally)
        return
      }
      // At a terminal, a read-only pass first: the prompt shows the exact count and the first jobs.
      const preview = !opts.yes && this.isInteractive() ? await dryWalk(Number.POSITIVE_INFINITY) : undefined
      if (preview && preview.planned.length === 0) {
        tallyInto(preview.tally)
        return
      }
      const notes = [`Selection: ${describeFilter(spec, humanSeconds)}; bounded by the ${humanCount(snap.size)} entries up to ${isoOf(snap.max.score)} (later deaths are never touched).`]
      await this.executeStream(
        report,
        {
          count: preview?.planned.length ?? walkOptions.maxMoves,
          ...(preview ? {preview: preview.planned.slice(0, 20)} : {}),
          verb: mode === 'retry' ? 'retry' : 'remove',
          noun: preview ? 'dead jobs' : 'dead jobs at most',
          notes,
        },
        async (apply) => {
          const tally = await boundedWalk(this.conn, {...walkOptions, dryRun: false}, plan, async (moves) => {
            const result = await apply(moves.map((m) => m.action))
            result.records.forEach((r, i) => decorate(r, moves[i]!))
            return result
          })
          tallyInto(tally)
        },
      )
    } finally {
      progress.stop()
    }
  }

  // ---------------------------------------------------------------- --stop-loop

  private async stopTheLoop(report: ReportBuilder<DeadReportSummary>, agg: DeadAggregator): Promise<void> {
    const snap = await deadSnapshot(this.conn, this.keys.dead)
    this.fromSnapshot(agg, snap)
    if (this.wrongType(report, snap)) return
    const s = report.summary
    const holdMs = this.flags.hold
    const base = {deadKey: this.keys.dead, quarantineKey: this.keys.deadQuarantine, holdMs}
    if (this.repairOptions.dryRun) {
      const steps: ZmergeAction[] = [quarantineAction({...base, drivers: []}, 'stop-loop/quarantine', snap.size), mergeBackAction({...base, drivers: []}, snap.size)]
      report.actions = steps.map((a) => baseRecord(a, 'planned'))
      return
    }
    const identifying = this.progress('Looking for the client driving the loop…')
    let watch
    try {
      watch = await watchDead(this.conn, this.keys, {windowMs: this.flags.watch ?? IDENTIFY_MS, intervalMs: 100, sample: this.flags.sample})
    } finally {
      identifying.stop()
    }
    s.watch = watch.summary
    const drivers = watch.summary.drivers
    const progress = this.progress('Setting the dead set aside…')
    let outcome: StopLoopOutcome | undefined
    try {
      await this.executeStream(
        report,
        {
          count: snap.size,
          verb: 'set aside',
          noun: `dead jobs (for at most ${humanSeconds(holdMs / 1000)}, until the loop stops) and then merge them back`,
          notes: [drivers.length ? `Driving client: ${drivers.map((d) => `${d.addr}${d.name ? ` "${d.name}"` : ''}`).join(', ')}.` : 'No client was seen driving a loop; the set is held briefly and merged back.'],
        },
        async (apply, signal) => {
          outcome = await stopLoop(this.conn, {...base, drivers, onProgress: (t) => progress.update(t)}, apply, signal)
        },
      )
    } finally {
      progress.stop()
    }
    if (!outcome) return
    s.stopLoop = {
      quarantineKey: base.quarantineKey,
      quarantined: outcome.quarantined,
      swept: outcome.swept,
      heldSeconds: Number((outcome.heldMs / 1000).toFixed(1)),
      driversStopped: outcome.driversStopped,
      drivers,
      mergedBack: outcome.mergedBack,
      ...(outcome.sizeAfter !== undefined ? {sizeAfter: outcome.sizeAfter} : {}),
    }
    if (outcome.leftOver) report.warn(`${base.quarantineKey} already held ${outcome.leftOver} jobs from an earlier run; they were merged back too.`)
    if (!outcome.mergedBack && !outcome.stopped)
      this.markRepairFailed(
        `The driving client ${drivers.map((d) => d.addr).join(', ')} was still retrying after ${humanSeconds(outcome.heldMs / 1000)}: the dead set stays in ${base.quarantineKey} so it cannot loop again. Stop that process (console, script or web process), then merge the jobs back: qdoctor undo ${report.journal ?? '<journal>'}`,
      )
  }
}

/** The job and queue a --retry/--purge action is about, on its report line. */
function decorate(record: ActionRecord, move: PlannedMove): DeadActionRecord {
  const r = record as DeadActionRecord
  if (move.jid) r.subject = move.class ? {jid: move.jid, class: move.class} : {jid: move.jid}
  if (move.queue && move.action.kind === 'zmove') r.queue = move.queue
  return r
}

/** One JSON line: where and when it died, and the payload verbatim (big integers intact). */
function exportLine(entry: DeadEntry): string {
  const score = Number.isFinite(entry.score) ? entry.scoreText : JSON.stringify(entry.scoreText)
  const head = `{"score":${score},"diedAt":${JSON.stringify(isoOf(entry.score))}`
  if (!entry.parsed.ok) return `${head},"corrupt":true,"reason":${JSON.stringify(entry.parsed.reason)},"member":${JSON.stringify(entry.member)}}`
  const job = entry.parsed.job
  const fields = {jid: job.jid, class: job.displayClass, queue: job.queue ?? 'default', error: job.errorClass ? `${job.errorClass}: ${job.errorMessage ?? ''}` : null}
  // A literal line break in valid JSON can only be whitespace between tokens: safe to flatten.
  return `${head},${JSON.stringify(fields).slice(1, -1)},"job":${entry.member.replace(/[\r\n]+/g, ' ')}}`
}
