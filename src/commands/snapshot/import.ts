import {existsSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {QdoctorError} from '../../lib/command/base.js'
import {RepairCommand} from '../../lib/command/repair-command.js'
import {parseInfo, parseVersion} from '../../lib/redis/server-info.js'
import {resilient} from '../../lib/redis/resilient.js'
import {type FamilyTally, SnapshotImportPlanner, step} from '../../lib/repairs/plans/snapshot-import.js'
import type {ReportBuilder} from '../../lib/report/builder.js'
import {EXIT} from '../../lib/report/exit-status.js'
import {table} from '../../lib/report/render.js'
import {humanCount, type Style} from '../../lib/report/style.js'
import type {Report} from '../../lib/report/types.js'
import {readRecords, type SnapshotHeader, SnapshotFormatError, spoolStdin, STDIO, validateSnapshot} from '../../lib/snapshot/format.js'
import {
  checkRecord,
  DEFAULT_IMPORT_FAMILIES,
  type FamilyRecord,
  NEVER_IMPORTED,
  readImportTarget,
  SNAPSHOT_FAMILIES,
  type SnapshotFamily,
} from '../../lib/sidekiq/snapshot-families.js'

export interface FamilyImport extends FamilyTally {
  applied: number
  skipped: number
  failed: number
}

export interface ImportSummary {
  file: string
  dryRun: boolean
  /** From the snapshot's header. */
  snapshot?: Pick<SnapshotHeader, 'createdAt' | 'qdoctor' | 'source' | 'families' | 'records'>
  /** The families this run imports. */
  families: SnapshotFamily[]
  perFamily: Partial<Record<SnapshotFamily, FamilyImport>>
  planned: number
  applied: number
  skipped: number
  failed: number
}

export default class SnapshotImport extends RepairCommand<typeof SnapshotImport> {
  static override summary = 'Restore a snapshot into a Redis, adding only what is missing'
  static override description = `Reads a file written by \`qdoctor snapshot export\` and restores it through the repair engine: the plan is shown, confirmed (or --yes), journaled, and \`qdoctor undo <journal>\` takes it back.
The whole file is checked first: a truncated or corrupt file (no trailer, a damaged line, counts that do not add up) is refused with its line number and nothing is changed.
Idempotent: a job whose jid is already in the same queue, schedule, retry or dead set is not added again; a batch key or counter that exists is left alone (never overwritten). Importing twice, or after a partial failover, adds only what is missing. Queue jobs are RPUSHed in their original order (an empty queue is rebuilt exactly; in a live queue the missing jobs run next). Batch keys are RESTOREd from their DUMP with the TTL they had left (a Redis older than the source may refuse those payloads: they fail, the rest goes on, exit 4).
Imports batches, stats, schedule, retry, dead and queues by default. In-progress work is re-enqueued only with --only work (those jobs may already have run). Processes (heartbeats) are never imported.`

  static override examples = [
    '<%= config.bin %> snapshot import sidekiq-before-upgrade.jsonl.gz --dry-run',
    '<%= config.bin %> snapshot import sidekiq-before-upgrade.jsonl.gz --url redis://new-redis:6379/0',
    '<%= config.bin %> snapshot import jobs.jsonl --queues-only --yes   # backfill just the queued jobs',
    '<%= config.bin %> snapshot import jobs.jsonl --only work --yes     # re-enqueue jobs that were in progress',
  ]

  static override args = {
    file: Args.string({description: 'A snapshot written by `qdoctor snapshot export` (gzip or not), or - for stdin.', required: true}),
  }

  static override flags = {
    only: Flags.string({
      summary: `Import only these families (default: ${DEFAULT_IMPORT_FAMILIES.join(',')}).`,
      multiple: true,
      delimiter: ',',
      options: [...SNAPSHOT_FAMILIES],
      exclusive: ['queues-only'],
    }),
    'queues-only': Flags.boolean({summary: 'Backfill just the jobs waiting in queues (same as --only queues).', exclusive: ['only']}),
  }

  async run(): Promise<Report<ImportSummary>> {
    const file = this.args.file
    const families = this.families()
    const report = this.startReport<ImportSummary>({file, dryRun: this.repairOptions.dryRun, families, perFamily: {}, planned: 0, applied: 0, skipped: 0, failed: 0})
    if (file !== STDIO && !existsSync(file)) throw new QdoctorError(`No snapshot at ${file}.`, EXIT.usage)
    const spooled = file === STDIO ? await spoolStdin() : undefined
    try {
      const path = spooled?.path ?? file
      const header = await this.validate(path, file)
      report.summary.snapshot = {createdAt: header.createdAt, qdoctor: header.qdoctor, source: header.source, families: header.families, records: header.records}
      const missing = families.filter((f) => !header.families.includes(f))
      if (missing.length) report.warn(`This snapshot does not hold ${missing.join(', ')} (it was exported with ${header.families.join(',')}).`)
      const inProgress = header.counts.work ?? 0
      if (inProgress > 0 && !families.includes('work'))
        report.warn(`${inProgress} in-progress jobs in this snapshot were not re-enqueued (they may have finished): --only work re-enqueues them.`)
      await this.collect(report, () => this.importFrom(report, path, header))
    } finally {
      spooled?.remove()
    }
    return this.finish(report, renderImport)
  }

  private families(): SnapshotFamily[] {
    if (this.flags['queues-only']) return ['queues']
    const asked = (this.flags.only ?? DEFAULT_IMPORT_FAMILIES) as SnapshotFamily[]
    const never = asked.filter((f) => NEVER_IMPORTED.includes(f))
    if (never.length)
      throw new QdoctorError(
        `${never.join(', ')} cannot be imported: heartbeats of processes that are not running would show as live in the Web UI and slow the scheduler, and would block super_fetch's orphan recovery. They are in the snapshot for the record only.`,
        EXIT.usage,
      )
    return SNAPSHOT_FAMILIES.filter((f) => asked.includes(f))
  }

  /** The whole file, before anything is planned or written. */
  private async validate(path: string, shown: string): Promise<SnapshotHeader> {
    const progress = this.progress(`Checking ${shown}…`)
    try {
      const v = await validateSnapshot(path, checkRecord, (n) => progress.update(`Checking ${shown}: ${humanCount(n)} lines`))
      return v.header
    } catch (err) {
      if (err instanceof SnapshotFormatError) throw new QdoctorError(`Refusing to import ${shown}: ${err.message}. Nothing was changed.`, EXIT.repair)
      throw new QdoctorError(`Could not read ${shown}: ${(err as Error).message}`, EXIT.usage)
    } finally {
      progress.stop()
    }
  }

  private async importFrom(report: ReportBuilder<ImportSummary>, path: string, header: SnapshotHeader): Promise<void> {
    const summary = report.summary
    const planner = new SnapshotImportPlanner(this.keys, new Set(summary.families), await readImportTarget(this.conn))
    const progress = this.progress('Planning…')
    let n = 0
    for await (const {record} of readRecords(path)) {
      await planner.add(record as FamilyRecord)
      if (++n % 1000 === 0) progress.update(`Planning: ${humanCount(n)} of ${humanCount(header.records)} records compared with ${this.conn.target}`)
    }
    const plan = await planner.finish()
    progress.stop()
    for (const line of plan.leftOut) report.warn(line)
    for (const [family, t] of Object.entries(plan.tally)) summary.perFamily[family as SnapshotFamily] = {...t, applied: 0, skipped: 0, failed: 0}
    summary.planned = plan.actions.length
    const notes = [`Snapshot of ${header.source.target} taken ${header.createdAt} (${humanCount(header.records)} records).`]
    const downgrade = summary.families.includes('batches') ? await this.dumpWarning(header) : undefined
    if (downgrade) {
      report.warn(downgrade)
      notes.push(downgrade)
    }
    const result = await this.executePlan(report, plan.actions, {verb: 'import', noun: plan.actions.length === 1 ? 'record' : 'records', notes})
    const byStep = new Map(summary.families.map((f) => [step(f), summary.perFamily[f]]))
    for (const r of result?.records ?? []) {
      const f = byStep.get(r.step)
      if (!f) continue
      if (r.status === 'applied') f.applied++
      else if (r.status === 'skipped') f.skipped++
      else if (r.status === 'failed') f.failed++
    }
    for (const f of Object.values(summary.perFamily)) {
      summary.applied += f.applied
      summary.skipped += f.skipped
      summary.failed += f.failed
    }
  }

  /** DUMP payloads only RESTORE into the same or a newer Redis. */
  private async dumpWarning(header: SnapshotHeader): Promise<string | undefined> {
    const from = parseVersion(header.source.redisVersion)
    const info = parseInfo(await resilient(this.conn, 'reading INFO server', (redis) => redis.info('server')))
    const to = parseVersion(info.redis_version)
    if (!from || !to || to[0] > from[0] || (to[0] === from[0] && to[1] >= from[1])) return undefined
    return `The snapshot comes from Redis ${header.source.redisVersion}; this Redis is ${info.redis_version}. An older Redis may refuse DUMP payloads of a newer one: such batch keys fail and are reported (the rest is imported).`
  }
}

function renderImport(report: Report<ImportSummary>, style: Style): string {
  const s = report.summary
  const lines = [
    s.snapshot ? `Snapshot of ${s.snapshot.source.target} (Redis ${s.snapshot.source.redisVersion ?? '?'}) taken ${s.snapshot.createdAt}, ${humanCount(s.snapshot.records)} records.` : '',
  ]
  const rows = s.families.map((f) => {
    const t = s.perFamily[f]
    return [f, humanCount(t?.items ?? 0), humanCount(t?.present ?? 0), humanCount((t?.expired ?? 0) + (t?.notImported ?? 0)), humanCount(t?.planned ?? 0), humanCount(t?.applied ?? 0), humanCount(t?.skipped ?? 0), humanCount(t?.failed ?? 0)]
  })
  lines.push(table(style, ['family', 'in file', 'already there', 'expired / left out', 'planned', 'applied', 'skipped', 'failed'], rows))
  return lines.filter(Boolean).join('\n')
}
