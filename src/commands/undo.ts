import {existsSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {QdoctorCommand, QdoctorError} from '../lib/command/base.js'
import {RepairCommand, repairFlags} from '../lib/command/repair-command.js'
import type {Outcome} from '../lib/repairs/apply.js'
import {type Journal, JournalError, readJournal} from '../lib/repairs/journal.js'
import {planUndo} from '../lib/repairs/undo.js'
import {EXIT} from '../lib/report/exit-status.js'
import {kvTable} from '../lib/report/render.js'
import {humanCount, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'

export interface UndoSummary {
  journal: string
  /** The run that wrote the journal. */
  journalCommand?: string
  journalTarget?: string
  journalStartedAt?: string
  /** The run wrote its end line (false after a crash or a Redis failure). */
  journalFinished?: boolean
  /** Its last line was cut short and ignored. */
  journalTruncated?: boolean
  dryRun: boolean
  /** Intent lines in the journal. */
  entries: number
  /** Entries recorded as applied, and entries whose outcome was never recorded. */
  applied: number
  inDoubt: number
  /** Entries the run skipped (nothing to undo). */
  notApplied: number
  /** Per outcome of this undo (with --dry-run: what it would be). */
  restored: number
  alreadyBack: number
  conflicts: number
  expired: number
  notRestorable: number
  failed: number
  notReached: number
}

export default class Undo extends RepairCommand<typeof Undo> {
  static override summary = 'Put back what a repair changed, from its journal'
  static override description = `Reads a journal written by a qdoctor repair and puts back, newest first, what it removed or overwrote: RESTORE of unlinked keys (with the TTL they had left), ZADD/SADD of removed members, old hash values and counters, pushed jobs taken back, moved jobs moved back.
Every step is conditional: an entry that is already back is reported and left alone, and newer data (a key re-created since, a field changed since, a job a worker already took) is never overwritten unless --force. Killed connections cannot be restored. Entries the run recorded as skipped changed nothing and are not undone; entries whose outcome it never recorded (a crash) are checked like the others.
Asks for confirmation on a terminal; elsewhere needs --yes. Refuses replicas and servers still loading. This run writes no journal of its own. Exit code 4 when an entry conflicts (use --force) or Redis fails part-way.`

  static override examples = [
    '<%= config.bin %> undo qdoctor-journal-20261122T080000Z.jsonl --dry-run   # what would be put back, what conflicts',
    '<%= config.bin %> undo qdoctor-journal-20261122T080000Z.jsonl              # asks first on a terminal',
    '<%= config.bin %> undo qdoctor-journal-20261122T080000Z.jsonl --yes --json',
    '<%= config.bin %> undo qdoctor-journal-20261122T080000Z.jsonl --yes --force   # also overwrite data re-created since',
  ]

  static override baseFlags = {...QdoctorCommand.baseFlags, ...repairFlags}
  static override journaled = false

  static override args = {
    journal: Args.string({description: 'A journal written by a qdoctor repair (qdoctor-journal-<timestamp>.jsonl).', required: true}),
  }

  static override flags = {
    force: Flags.boolean({
      helpGroup: 'REPAIR',
      summary: 'Overwrite newer data that conflicts with the journal (a re-created key, a changed field, a job already taken).',
    }),
  }

  async run(): Promise<Report<UndoSummary>> {
    const path = this.args.journal
    const dryRun = this.repairOptions.dryRun
    const report = this.startReport<UndoSummary>(emptySummary(path, dryRun))
    const journal = this.read(path)
    for (const w of journal.warnings) report.warn(w)
    const plan = planUndo(journal, {force: this.flags.force})
    Object.assign(report.summary, {
      journalCommand: journal.header.command,
      journalTarget: journal.header.target,
      journalStartedAt: journal.header.startedAt,
      journalFinished: journal.ended,
      journalTruncated: Boolean(journal.truncated),
      entries: plan.entries,
      applied: plan.applied,
      inDoubt: plan.inDoubt,
      notApplied: plan.notApplied,
    })
    const notes: string[] = []
    if (!sameTarget(journal.header.target, this.conn.target)) {
      const note = `This journal was written against ${journal.header.target}; it is being undone on ${this.conn.target}.`
      report.warn(note)
      notes.push(note)
    }
    if (this.flags.force) notes.push('--force: newer data that conflicts with the journal will be overwritten.')
    const result = await this.executePlan(report, plan.actions, {bytes: plan.bytes, verb: 'undo', noun: plan.actions.length === 1 ? 'journal entry' : 'journal entries', notes, precheck: true})
    if (result) tally(report.summary, result.outcomes)
    const s = report.summary
    if (!dryRun && s.conflicts > 0)
      this.markRepairFailed(`${s.conflicts} journal entries conflict with newer data and were left alone; look at them, then re-run with --force to overwrite.`)
    return this.finish(report, renderUndo)
  }

  private read(path: string): Journal {
    if (!existsSync(path)) throw new QdoctorError(`No journal at ${path}.`, EXIT.usage)
    try {
      return readJournal(path)
    } catch (err) {
      if (err instanceof JournalError) throw new QdoctorError(`Refusing to undo: ${err.message}`, EXIT.repair)
      throw new QdoctorError(`Could not read the journal ${path}: ${(err as Error).message}`, EXIT.usage)
    }
  }
}

function emptySummary(journal: string, dryRun: boolean): UndoSummary {
  return {
    journal,
    dryRun,
    entries: 0,
    applied: 0,
    inDoubt: 0,
    notApplied: 0,
    restored: 0,
    alreadyBack: 0,
    conflicts: 0,
    expired: 0,
    notRestorable: 0,
    failed: 0,
    notReached: 0,
  }
}

function tally(s: UndoSummary, outcomes: readonly Outcome[]): void {
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length
  s.restored = count('restored')
  s.alreadyBack = count('already-back')
  s.conflicts = count('conflict')
  s.expired = count('expired')
  s.notRestorable = count('not-restorable')
  s.failed = count('failed')
  s.notReached = count('not-reached')
}

/** host:port/db of two redacted URLs. */
function sameTarget(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const url = new URL(u)
      return `${url.hostname}:${url.port || '6379'}/${url.pathname.replace(/^\//, '') || '0'}`
    } catch {
      return u
    }
  }
  return norm(a) === norm(b)
}

function renderUndo(report: Report<UndoSummary>, style: Style): string {
  const s = report.summary
  const would = s.dryRun ? 'would be ' : ''
  const rows: Array<[string, string]> = [
    ['journal', s.journal],
    ['written by', `${s.journalCommand ?? '?'} at ${s.journalStartedAt ?? '?'}`],
    ['against', s.journalTarget ?? '?'],
    ['run finished', s.journalFinished ? 'yes' : style.color.yellow('no (crash or Redis failure: entries without an outcome are checked too)')],
    ['entries', `${humanCount(s.entries)} (${humanCount(s.applied)} applied, ${humanCount(s.inDoubt)} in doubt, ${humanCount(s.notApplied)} skipped by the run)`],
    [`${would}restored`, humanCount(s.restored)],
    ['already back', humanCount(s.alreadyBack)],
    ['conflicts', s.conflicts ? style.color.red.bold(humanCount(s.conflicts)) : '0'],
  ]
  if (s.expired) rows.push(['expired since', humanCount(s.expired)])
  if (s.notRestorable) rows.push(['not restorable', humanCount(s.notRestorable)])
  if (s.failed || s.notReached) rows.push(['failed / not reached', `${s.failed} / ${s.notReached}`])
  return kvTable(style, 'Undo', rows)
}
