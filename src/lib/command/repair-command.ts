// The base of every command that writes: plan → (dry-run | guard → confirm → journal → apply).
// A repair command computes its Action[] and hands them to executePlan(); everything else (the
// flags, --limit, the prompt or the refusal off a TTY, the replica/loading guard, the journal,
// the report's actions and exit code 4) is done here, the same way for every repair.
import {type Command, Flags} from '@oclif/core'

import {type Action, writesKeys} from '../repairs/actions.js'
import {type ApplyResult, applyActions, applyPipelined, baseRecord} from '../repairs/apply.js'
import {assertWritable, WriteRefusedError} from '../repairs/guard.js'
import {JournalWriter} from '../repairs/journal.js'
import {renderActions} from '../report/actions.js'
import type {ReportBuilder} from '../report/builder.js'
import {EXIT} from '../report/exit-status.js'
import type {Style} from '../report/style.js'
import type {ActionRecord, ActionStatus, Report} from '../report/types.js'
import {QdoctorCommand, QdoctorError} from './base.js'
import {confirm, type ConfirmRequest} from './confirm.js'

export const repairFlags = {
  'dry-run': Flags.boolean({
    helpGroup: 'REPAIR',
    summary: 'Print the plan and change nothing.',
  }),
  yes: Flags.boolean({
    helpGroup: 'REPAIR',
    char: 'y',
    summary: 'Apply without asking (required when not on a terminal, e.g. in CI).',
    exclusive: ['dry-run'],
  }),
  limit: Flags.integer({
    helpGroup: 'REPAIR',
    summary: 'Plan at most N actions.',
    min: 1,
  }),
}

export const journalFlags = {
  journal: Flags.string({
    helpGroup: 'REPAIR',
    summary: 'Journal file for `qdoctor undo` (default: qdoctor-journal-<UTC timestamp>.jsonl in the working directory).',
    helpValue: '<path>',
  }),
  'no-journal': Flags.boolean({
    helpGroup: 'REPAIR',
    summary: 'Write no journal: the changes cannot be undone. Only together with --yes.',
    dependsOn: ['yes'],
    exclusive: ['journal'],
  }),
}

export interface RepairFlagValues {
  dryRun: boolean
  yes: boolean
  limit?: number
  journal?: string
  noJournal: boolean
}

export interface ExecutePlanOptions {
  /** Bytes the whole plan frees (defaults to the sum of the actions' bytes). */
  bytes?: number
  /** Prompt wording: "About to <verb> <count> <noun> …" (default "apply … actions"). */
  verb?: string
  noun?: string
  /** Lines shown above the prompt (e.g. a target mismatch). */
  notes?: string[]
  /** With --dry-run, ask Redis (read-only) what each undo action would do. */
  precheck?: boolean
}

/** What the prompt of a streaming plan shows: an upper bound on the actions, and the first ones. */
export interface StreamRequest extends Omit<ExecutePlanOptions, 'precheck'> {
  count: number
  preview?: readonly ActionRecord[]
}

/** Applies one batch of a streaming plan (journaled, numbered after the batches before it). */
export type StreamApply = (actions: readonly Action[]) => Promise<ApplyResult>

/** Produces a plan batch by batch, handing each to `apply`; stops when `signal` aborts or a batch comes back stopped. */
export type PlanStream = (apply: StreamApply, signal: AbortSignal) => Promise<void>

export interface StreamResult {
  records: ActionRecord[]
  counts: Record<ActionStatus, number>
  stopped?: ApplyResult['stopped']
}

export abstract class RepairCommand<T extends typeof Command> extends QdoctorCommand<T> {
  /** Repair flags for every repair; journalFlags are optional so that undo can leave them out. */
  static override baseFlags: typeof QdoctorCommand.baseFlags & typeof repairFlags & Partial<typeof journalFlags> = {
    ...QdoctorCommand.baseFlags,
    ...repairFlags,
    ...journalFlags,
  }
  /** A command that writes no journal of its own (undo) sets this to false and leaves out journalFlags. */
  static journaled = true

  private repairFailure?: string

  protected get repairOptions(): RepairFlagValues {
    const f = this.flags as unknown as Record<string, unknown>
    return {
      dryRun: Boolean(f['dry-run']),
      yes: Boolean(f.yes),
      ...(typeof f.limit === 'number' ? {limit: f.limit} : {}),
      ...(typeof f.journal === 'string' ? {journal: f.journal} : {}),
      noJournal: Boolean(f['no-journal']),
    }
  }

  /** Both ends a person uses: the question can be seen and an answer typed. */
  protected isInteractive(): boolean {
    return Boolean(process.stdin.isTTY && process.stderr.isTTY)
  }

  /** Where the prompt reads the answer and shows the question (stderr: stdout stays for the report). */
  protected promptStreams(): {input: NodeJS.ReadableStream; output: NodeJS.WritableStream} {
    return {input: process.stdin, output: process.stderr}
  }

  /** The run was refused or failed: the report is still printed, with this warning, and the exit code is 4. */
  protected markRepairFailed(reason: string): void {
    this.repairFailure = reason
  }

  /**
   * Run a plan: --limit, then --dry-run (report the plan, change nothing), else refuse a replica or
   * a loading server, confirm (prompt on a TTY, --yes otherwise), open the journal, apply. Sets
   * report.actions (and report.journal). Refusals throw QdoctorError with exit code 4; a run that
   * stops part-way is reported in full and exits 4 as well.
   */
  protected async executePlan(report: ReportBuilder<object>, planned: readonly Action[], options: ExecutePlanOptions = {}): Promise<ApplyResult | undefined> {
    const opts = this.repairOptions
    let actions = [...planned]
    if (opts.limit !== undefined && actions.length > opts.limit) {
      report.warn(`--limit ${opts.limit}: ${actions.length - opts.limit} more planned actions were left out.`)
      actions = actions.slice(0, opts.limit)
    }
    report.actions = actions.map((a) => baseRecord(a, 'planned'))
    if (actions.length === 0) return undefined

    if (opts.dryRun) {
      if (!options.precheck) return undefined
      const result = await applyActions(this.conn, actions, {mode: 'check'})
      report.actions = result.records
      if (result.stopped) this.markRepairFailed(`The dry run could not check everything: ${result.stopped.reason}`)
      return result
    }

    try {
      await assertWritable(this.conn, {keyless: !actions.some(writesKeys)})
    } catch (err) {
      if (err instanceof WriteRefusedError) throw this.refuse(err.message)
      throw err
    }

    if (!opts.yes) {
      if (!this.isInteractive())
        throw this.refuse(
          `Refusing to change ${this.conn.target} without confirmation: this is not a terminal, so re-run with --yes to apply these ${actions.length} actions (or with --dry-run to see the plan).`,
        )
      const request: ConfirmRequest = {
        target: this.conn.target,
        count: actions.length,
        bytes: options.bytes ?? actions.reduce((sum, a) => sum + (a.bytes ?? 0), 0),
        ...(options.verb ? {verb: options.verb} : {}),
        ...(options.noun ? {noun: options.noun} : {}),
        ...(options.notes ? {notes: options.notes} : {}),
      }
      const io = this.promptStreams()
      io.output.write(renderActions(this.style, report.actions, 20) + '\n')
      if (!(await confirm(request, io))) throw this.refuse('Not confirmed: nothing was changed.')
    }

    const journal = this.openJournal()
    if (journal) report.journal = journal.path
    else if ((this.ctor as typeof RepairCommand).journaled) {
      const loud = 'NO JOURNAL (--no-journal): these changes are not recorded anywhere and cannot be undone.'
      report.warn(loud)
      if (!this.jsonEnabled()) this.logToStderr(this.style.color.red.bold(loud))
    }

    const interrupt = new AbortController()
    const onSigint = () => {
      interrupt.abort()
      process.stderr.write('\nInterrupted: stopping after the current action (Ctrl-C again quits at once)…\n')
    }
    process.once('SIGINT', onSigint)
    let result: ApplyResult | undefined
    try {
      result = await applyActions(this.conn, actions, {...(journal ? {journal} : {}), signal: interrupt.signal})
    } finally {
      process.off('SIGINT', onSigint)
      // Without an end line (a crash, a Redis failure) the journal still reads: undo handles it.
      if (journal) this.closeJournal(journal, report, result && !result.stopped ? result.counts : undefined)
    }
    report.actions = result.records
    if (result.stopped) {
      const where = journal ? ` The journal ${journal.path} records what was applied; \`qdoctor undo ${journal.path}\` puts it back.` : ''
      this.markRepairFailed(`Stopped part-way at action ${result.stopped.index + 1} of ${actions.length}: ${result.stopped.reason}.${where}`)
    } else if (result.counts.failed > 0) this.markRepairFailed(`${result.counts.failed} actions failed.`)
    return result
  }

  // ---------------------------------------------------------------- streaming plans
  // Added for `qdoctor dead --retry/--purge/--stop-loop`: a plan produced while it runs (the repair
  // walks a live set page by page and applies as it goes, so the whole plan is never held). The
  // guarantees are executePlan's: the replica/loading guard, confirmation (the prompt names an upper
  // bound; off a terminal --yes is required), one journal for the whole run, Ctrl-C stopping after
  // the current action, report.actions, and exit code 4 when the run stops part-way or an action
  // fails. --dry-run and --limit belong to the caller: it plans read-only, and bounds its own walk.

  protected async executeStream(report: ReportBuilder<object>, request: StreamRequest, stream: PlanStream): Promise<StreamResult> {
    try {
      await assertWritable(this.conn)
    } catch (err) {
      if (err instanceof WriteRefusedError) throw this.refuse(err.message)
      throw err
    }
    if (!this.repairOptions.yes) {
      if (!this.isInteractive())
        throw this.refuse(
          `Refusing to change ${this.conn.target} without confirmation: this is not a terminal, so re-run with --yes to apply up to ${request.count} actions (or with --dry-run to see the plan).`,
        )
      const {preview, count, ...wording} = request
      const io = this.promptStreams()
      if (preview?.length) io.output.write(renderActions(this.style, preview, 20) + '\n')
      if (!(await confirm({target: this.conn.target, count, ...wording}, io))) throw this.refuse('Not confirmed: nothing was changed.')
    }
    const journal = this.openJournal()
    if (journal) report.journal = journal.path
    else report.warn('NO JOURNAL (--no-journal): these changes are not recorded anywhere and cannot be undone.')
    const interrupt = new AbortController()
    const onSigint = () => interrupt.abort()
    process.once('SIGINT', onSigint)
    const result: StreamResult = {records: [], counts: {planned: 0, applied: 0, skipped: 0, failed: 0, 'not-reached': 0}}
    const apply: StreamApply = async (actions) => {
      const first = result.records.length
      const applied = await applyPipelined(this.conn, actions, {...(journal ? {journal} : {}), signal: interrupt.signal, firstSeq: first + 1})
      result.records.push(...applied.records)
      for (const r of applied.records) result.counts[r.status]++
      if (applied.stopped && !result.stopped) result.stopped = {...applied.stopped, index: first + applied.stopped.index}
      return applied
    }
    let finished = false
    try {
      await stream(apply, interrupt.signal)
      finished = true
    } finally {
      process.off('SIGINT', onSigint)
      report.actions = result.records
      // No end line unless the whole stream ran: undo reads a journal without one just as well.
      if (journal) this.closeJournal(journal, report, finished && !result.stopped ? result.counts : undefined)
    }
    const where = journal ? ` The journal ${journal.path} records what was applied; \`qdoctor undo ${journal.path}\` puts it back.` : ''
    if (result.stopped) this.markRepairFailed(`Stopped part-way at action ${result.stopped.index + 1}: ${result.stopped.reason}.${where}`)
    else if (result.counts.failed > 0) this.markRepairFailed(`${result.counts.failed} actions failed.${where}`)
    return result
  }

  private refuse(message: string): QdoctorError {
    this.markRepairFailed(message)
    return new QdoctorError(message, EXIT.repair)
  }

  private openJournal(): JournalWriter | undefined {
    if (!(this.ctor as typeof RepairCommand).journaled || this.repairOptions.noJournal) return undefined
    const path = this.repairOptions.journal
    try {
      return JournalWriter.create(
        {
          qdoctor: this.config.version,
          command: this.redact(['qdoctor', ...(this.id ? this.id.split(':') : []), ...this.argv].join(' ')),
          target: this.conn.target,
          startedAt: new Date().toISOString(),
          ...(this.conn.runId ? {runId: this.conn.runId} : {}),
        },
        path,
      )
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'EEXIST')
        throw new QdoctorError(`The journal ${path} already exists: choose another --journal path (qdoctor never overwrites a journal). Nothing was changed.`, EXIT.usage)
      throw this.refuse(`Could not create the journal ${path ?? 'in the working directory'}: ${e.message}. Nothing was changed.`)
    }
  }

  private closeJournal(journal: JournalWriter, report: ReportBuilder<object>, counts?: Record<string, number>): void {
    try {
      if (counts) journal.end(counts)
      journal.close()
    } catch (err) {
      report.warn(`Could not finish the journal ${journal.path}: ${(err as Error).message}`)
    }
  }

  protected override finish<S extends object>(builder: ReportBuilder<S>, renderSummary: (report: Report<S>, style: Style) => string): Report<S> {
    if (this.repairFailure) builder.warn(this.redact(this.repairFailure))
    const dryRun = this.repairOptions.dryRun
    const report = super.finish(builder, (r, style) => {
      const parts = [renderSummary(r, style)]
      if (r.actions) {
        parts.push(renderActions(style, r.actions))
        if (dryRun && r.actions.length) parts.push(style.color.bold('Dry run: nothing was changed. Re-run with --yes to apply (on a terminal, without it to be asked first).'))
        if (r.journal) parts.push(`Undo with: qdoctor undo ${r.journal}`)
      }
      return parts.filter(Boolean).join('\n\n')
    })
    if (this.repairFailure) process.exitCode = EXIT.repair
    return report
  }
}
