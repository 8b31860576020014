import {Args, Flags} from '@oclif/core'

import {QdoctorCommand, QdoctorError} from '../../lib/command/base.js'
import {parseInfo} from '../../lib/redis/server-info.js'
import {resilient} from '../../lib/redis/resilient.js'
import {serverTimeMs} from '../../lib/redis/snapshot-reads.js'
import {kvTable} from '../../lib/report/render.js'
import {EXIT} from '../../lib/report/exit-status.js'
import {humanBytes, humanCount, type Style} from '../../lib/report/style.js'
import type {Report} from '../../lib/report/types.js'
import {isGzipName, SnapshotWriter, STDIO} from '../../lib/snapshot/format.js'
import {exportFamily, SNAPSHOT_FAMILIES, type SnapshotFamily} from '../../lib/sidekiq/snapshot-families.js'

export interface ExportSummary {
  /** The file written (`-` for stdout); absent when nothing was written. */
  file?: string
  gzip: boolean
  /** Size of the file; absent for stdout. */
  bytes?: number
  families: SnapshotFamily[]
  /** Records per family (queue descriptors included). */
  counts: Partial<Record<SnapshotFamily, number>>
  records: number
  redisVersion?: string
}

export default class SnapshotExport extends QdoctorCommand<typeof SnapshotExport> {
  static override summary = 'Copy every Sidekiq structure to a JSONL file (before maintenance, or to keep jobs safe)'
  static override description = `Streams queues (in order), schedule/retry/dead (with exact scores), batch keys (b-* and BID-*, as DUMP + expiry, plus Pro's batches index), in-progress work (<identity>:work(ers), super_fetch and reliable-fetch lists), processes (heartbeats) and stats counters to FILE, one JSON record a line, with a header (source, time, qdoctor and Redis versions, counts per family) and a trailer repeating the counts, so a truncated file is detected. FILE ending in .gz (or --gzip) is gzip-compressed; - writes to stdout.
Reads with SCAN and pages (never KEYS or whole collections); memory stays bounded. The records are spooled next to FILE and the file appears, complete, only when the export has finished. Key names are stored without the --namespace prefix. The password is never written.
Restore with \`qdoctor snapshot import FILE\`.`

  static override examples = [
    '<%= config.bin %> snapshot export sidekiq-before-upgrade.jsonl.gz',
    '<%= config.bin %> snapshot export jobs.jsonl --only queues,schedule,retry,dead',
    '<%= config.bin %> snapshot export - --gzip | aws s3 cp - s3://backups/sidekiq.jsonl.gz',
  ]

  static override args = {
    file: Args.string({description: 'Where to write: a path (.gz compresses) or - for stdout.', required: true}),
  }

  static override flags = {
    only: Flags.string({
      summary: 'Export only these families (repeatable or comma-separated).',
      multiple: true,
      delimiter: ',',
      options: [...SNAPSHOT_FAMILIES],
    }),
    gzip: Flags.boolean({summary: 'Compress with gzip (implied by a FILE ending in .gz).'}),
    force: Flags.boolean({summary: 'Overwrite FILE if it exists.'}),
  }

  private toStdout = false

  async run(): Promise<Report<ExportSummary>> {
    const file = this.args.file
    this.toStdout = file === STDIO
    if (this.toStdout && this.jsonEnabled())
      throw new QdoctorError('--json cannot be used with FILE "-": stdout carries the snapshot. Write to a file to get the JSON report.', EXIT.usage)
    const families = SNAPSHOT_FAMILIES.filter((f) => !this.flags.only || this.flags.only.includes(f))
    const gzip = this.flags.gzip || (!this.toStdout && isGzipName(file))
    const report = this.startReport<ExportSummary>({gzip, families, counts: {}, records: 0})
    const writer = await this.openWriter(file, gzip)
    try {
      let serverTime: number | undefined
      await this.collect(report, async () => {
        const info = parseInfo(await resilient(this.conn, 'reading INFO server', (redis) => redis.info('server')))
        report.summary.redisVersion = info.redis_version
        serverTime = await serverTimeMs(this.conn)
        await this.exportAll(report.summary, writer, (w) => report.warn(this.redact(w)))
      })
      if (report.incomplete.length > 0) {
        await writer.abort()
        report.warn(`The export did not finish: ${this.toStdout ? 'nothing was written to stdout' : `${file} was not written`}.`)
      } else {
        const written = await writer.finish({
          qdoctor: this.config.version,
          createdAt: new Date().toISOString(),
          source: {target: this.conn.target, namespace: this.flags.namespace ?? null, ...(report.summary.redisVersion ? {redisVersion: report.summary.redisVersion} : {}), ...(serverTime ? {serverTimeMs: serverTime} : {})},
          families,
        })
        Object.assign(report.summary, {file: written.path, ...(written.bytes !== undefined ? {bytes: written.bytes} : {})})
      }
    } catch (err) {
      await writer.abort()
      throw err
    }
    return this.finish(report, renderExport)
  }

  private async openWriter(file: string, gzip: boolean): Promise<SnapshotWriter> {
    try {
      return await SnapshotWriter.open(file, {gzip, overwrite: this.flags.force})
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'EEXIST') throw new QdoctorError(`${file} already exists: choose another FILE, or --force to overwrite it.`, EXIT.usage)
      throw new QdoctorError(`Cannot write next to ${file}: ${e.message}`, EXIT.usage)
    }
  }

  private async exportAll(summary: ExportSummary, writer: SnapshotWriter, warn: (message: string) => void): Promise<void> {
    const progress = this.progress('Exporting…')
    const started = Date.now()
    for (const family of summary.families) {
      for await (const records of exportFamily({conn: this.conn, keys: this.keys, scanCount: this.flags['scan-count'], warn}, family)) {
        await writer.write(records)
        summary.counts[family] = (summary.counts[family] ?? 0) + records.length
        summary.records += records.length
        const rate = Math.round(summary.records / Math.max(0.001, (Date.now() - started) / 1000))
        progress.update(`Exporting ${family}: ${humanCount(summary.records)} records so far (${humanCount(rate)}/s)`)
      }
    }
    progress.stop()
  }

  /** With FILE "-" stdout carries the snapshot: human output goes to stderr. */
  override log(message?: string, ...args: unknown[]): void {
    if (this.toStdout) this.logToStderr(message, ...args)
    else super.log(message, ...args)
  }
}

function renderExport(report: Report<ExportSummary>, style: Style): string {
  const s = report.summary
  const rows: Array<[string, string]> = [
    ['source', `${report.target} (Redis ${s.redisVersion ?? '?'})`],
    ['file', s.file === undefined ? 'not written' : s.file === STDIO ? 'stdout' : `${s.file}${s.bytes !== undefined ? ` (${humanBytes(s.bytes)}${s.gzip ? ', gzip' : ''})` : ''}`],
  ]
  for (const f of s.families) rows.push([f, humanCount(s.counts[f] ?? 0)])
  rows.push(['records', humanCount(s.records)])
  return kvTable(style, 'Snapshot export', rows)
}
