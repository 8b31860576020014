import {Flags} from '@oclif/core'

import {QdoctorCommand} from '../lib/command/base.js'
import {durationFlag} from '../lib/command/flags.js'
import {corruptFinding, evaluateQueues, MAX_CORRUPT_FINDINGS_PER_QUEUE} from '../lib/checks/queues.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {table} from '../lib/report/render.js'
import {humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {detectNamespaces} from '../lib/sidekiq/namespaces.js'
import {type QueueState, readQueues, scanQueueJobs} from '../lib/sidekiq/queues.js'

export interface QueueRow {
  name: string
  size: number
  latencySeconds: number | null
  registered: boolean
  paused: boolean
  corrupt?: number
}

export interface QueuesSummary {
  queues: QueueRow[]
  totalJobs: number
  /** With --deep: jobs parsed and corrupt ones found. */
  jobsParsed?: number
  corruptJobs?: number
  namespacesDetected?: string[]
}

export default class Queues extends QdoctorCommand<typeof Queues> {
  static override summary = 'Every queue with size and latency; unregistered, paused and corrupt queues'
  static override description = `Lists every Sidekiq queue: names in the "queues" set and every queue:* list (registered or not), with size and latency (now minus enqueued_at of the oldest job, measured on the Redis clock).
--deep parses every job page by page and reports unreadable payloads (queue/corrupt-payload) with key and index, without loading a whole list at once.`

  static override examples = [
    '<%= config.bin %> queues',
    '<%= config.bin %> queues --json',
    '<%= config.bin %> queues --deep --queue default --queue mailers',
    '<%= config.bin %> queues --namespace myapp --latency-warn 1m',
  ]

  static override flags = {
    deep: Flags.boolean({summary: 'Parse every job of every queue (page by page) to find corrupt payloads.'}),
    queue: Flags.string({summary: 'Only these queues (repeatable, or comma-separated).', multiple: true, delimiter: ','}),
    'latency-warn': durationFlag({summary: 'Warn when a queue’s oldest job has waited this long.', default: 300_000}),
    'latency-error': durationFlag({summary: 'Error when a queue’s oldest job has waited this long.', default: 3_600_000}),
    'page-size': Flags.integer({summary: 'Jobs per LRANGE page with --deep.', default: 500, min: 1, max: 10_000}),
  }

  async run(): Promise<Report<QueuesSummary>> {
    const report = this.startReport<QueuesSummary>({queues: [], totalJobs: 0})
    await this.collect(report, async () => {
      const progress = this.progress('Scanning for queues…')
      await this.noticeNamespaces(report)
      const read = await readQueues(this.conn, this.keys, {
        scanCount: this.flags['scan-count'],
        onProgress: (p) => progress.update(`Scanning for queues… ${p.calls} SCAN calls, ${p.keys} lists`),
      })
      const only = this.flags.queue ? new Set(this.flags.queue) : undefined
      read.queues = read.queues.filter((q) => !only || only.has(q.name))
      report.summary.queues = read.queues.map(toRow)
      report.summary.totalJobs = read.queues.reduce((sum, q) => sum + q.size, 0)
      const thresholds = {latencyWarnSeconds: this.flags['latency-warn'] / 1000, latencyErrorSeconds: this.flags['latency-error'] / 1000}
      report.add(...evaluateQueues(read, thresholds, this.flags.deep))
      if (this.flags.deep) await this.deepScan(report, read.queues, (text) => progress.update(text))
      progress.stop()
    })
    return this.finish(report, renderQueues)
  }

  private async noticeNamespaces(report: ReportBuilder<QueuesSummary>): Promise<void> {
    const found = await detectNamespaces(this.conn, this.keys, this.flags['scan-count'])
    if (found.length === 0) return
    report.summary.namespacesDetected = found
    report.add({
      check: 'sidekiq/namespace-detected',
      severity: 'warn',
      message: `No Sidekiq keys at the top level, but namespaced Sidekiq data exists under: ${found.join(', ')}. Without --namespace this report is empty.`,
      subject: {namespaces: found},
      fix: `qdoctor queues --namespace ${found[0]}`,
    })
  }

  private async deepScan(report: ReportBuilder<QueuesSummary>, queues: QueueState[], update: (text: string) => void): Promise<void> {
    let parsed = 0
    let corrupt = 0
    for (const q of queues) {
      if (!q.listExists) continue
      let corruptHere = 0
      parsed += await scanQueueJobs(
        this.conn,
        q,
        (c) => {
          corrupt++
          corruptHere++
          if (corruptHere <= MAX_CORRUPT_FINDINGS_PER_QUEUE) report.add(corruptFinding(c))
          update(`Parsing ${q.key}… ${humanCount(parsed)} jobs, ${corrupt} corrupt`)
        },
        this.flags['page-size'],
      )
      const row = report.summary.queues.find((r) => r.name === q.name)
      if (row) row.corrupt = corruptHere
      if (corruptHere > MAX_CORRUPT_FINDINGS_PER_QUEUE)
        report.warn(`${q.key}: ${corruptHere} corrupt payloads, only the first ${MAX_CORRUPT_FINDINGS_PER_QUEUE} are listed as findings.`)
      update(`Parsed ${humanCount(parsed)} jobs`)
    }
    report.summary.jobsParsed = parsed
    report.summary.corruptJobs = corrupt
  }
}

function toRow(q: QueueState): QueueRow {
  return {name: q.name, size: q.size, latencySeconds: q.latencySeconds ?? null, registered: q.registered, paused: q.paused}
}

function renderQueues(report: Report<QueuesSummary>, style: Style): string {
  const s = report.summary
  const deep = s.jobsParsed !== undefined
  const head = ['queue', 'size', 'latency', 'registered', 'paused', ...(deep ? ['corrupt'] : [])]
  const rows = s.queues.map((q) => [
    q.name,
    humanCount(q.size),
    q.latencySeconds === null ? '-' : humanSeconds(q.latencySeconds),
    q.registered ? 'yes' : style.color.yellow('no'),
    q.paused ? style.color.yellow('paused') : '',
    ...(deep ? [q.corrupt ? style.color.red(String(q.corrupt)) : '0'] : []),
  ])
  const lines = [table(style, head, rows), `${s.queues.length} queues, ${humanCount(s.totalJobs)} jobs`]
  if (deep) lines.push(`${humanCount(s.jobsParsed)} jobs parsed, ${humanCount(s.corruptJobs)} corrupt`)
  return lines.join('\n')
}
