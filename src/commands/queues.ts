import {Flags} from '@oclif/core'

import {QdoctorCommand} from '../lib/command/base.js'
import {durationFlag} from '../lib/command/flags.js'
import {inspectQueues, type QueuesSummary} from '../lib/checks/families/queues.js'
import {ownScan} from '../lib/redis/keyspace-index.js'
import {table} from '../lib/report/render.js'
import {humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'

export type {QueueRow, QueuesSummary} from '../lib/checks/families/queues.js'

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
      const f = this.flags
      await inspectQueues(
        {
          conn: this.conn,
          keys: this.keys,
          source: ownScan(this.conn),
          scanCount: f['scan-count'],
          settings: {'latency-warn': f['latency-warn'], 'latency-error': f['latency-error'], deep: f.deep, 'page-size': f['page-size'], queue: f.queue},
          progress: (text) => progress.update(text),
        },
        report,
      )
      progress.stop()
    })
    return this.finish(report, renderQueues)
  }
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
