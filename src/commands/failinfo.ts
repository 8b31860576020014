import {Flags} from '@oclif/core'

import {QdoctorCommand} from '../lib/command/base.js'
import {sizeFlag} from '../lib/command/flags.js'
import {DEFAULT_FAILINFO_THRESHOLDS, FailinfoAggregator, type FailinfoSummary, type Histogram} from '../lib/checks/failinfo.js'
import {parseInfo} from '../lib/redis/server-info.js'
import {resilient} from '../lib/redis/resilient.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {kvTable, table} from '../lib/report/render.js'
import {humanBytes, humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {readFailinfo, sampleFailures} from '../lib/sidekiq/failinfo.js'
import {redisNow} from '../lib/sidekiq/queues.js'

export default class Failinfo extends QdoctorCommand<typeof Failinfo> {
  static override summary = 'Measure and rank Sidekiq Pro b-*-failinfo keys (batch failure data)'
  static override description = `Sidekiq Pro keeps, per batch, a hash b-<bid>-failinfo (field = jid, value = failure JSON) for about 30 days. When millions of batch jobs fail these grow to gigabytes; Pro 8 no longer writes them.
Scans with SCAN MATCH b-*-failinfo (never KEYS), measures entries, TTL and bytes (MEMORY USAGE, sampled unless --exact), ranks the biggest keys with their batch state and samples the most common error classes.`

  static override examples = [
    '<%= config.bin %> failinfo',
    '<%= config.bin %> failinfo --top 25 --exact',
    '<%= config.bin %> failinfo --upgrade-check      # Pro 8 readiness: every failinfo key has a -failed key',
    '<%= config.bin %> failinfo --json --warn-bytes 50mb --error-bytes 500mb',
  ]

  static override flags = {
    top: Flags.integer({summary: 'How many of the biggest keys to list.', default: 10, min: 1, max: 1000}),
    exact: Flags.boolean({summary: 'Exact sizes (MEMORY USAGE … SAMPLES 0); slower on big hashes.'}),
    'warn-bytes': sizeFlag({summary: 'Warn when all failinfo keys together exceed this size.', default: DEFAULT_FAILINFO_THRESHOLDS.warnBytes}),
    'error-bytes': sizeFlag({summary: 'Error when all failinfo keys together exceed this size.', default: DEFAULT_FAILINFO_THRESHOLDS.errorBytes}),
    'key-warn-bytes': sizeFlag({summary: 'Report a single key bigger than this (failinfo/oversized-key).', default: DEFAULT_FAILINFO_THRESHOLDS.keyWarnBytes}),
    'upgrade-check': Flags.boolean({summary: 'Pro 8 readiness: report failinfo keys without a matching b-<bid>-failed key.'}),
    'error-samples': Flags.integer({summary: 'Failure values sampled from each of the biggest keys (0 = none).', default: 20, min: 0, max: 500}),
  }

  async run(): Promise<Report<FailinfoSummary>> {
    const report = this.startReport<FailinfoSummary>(new FailinfoAggregator(DEFAULT_FAILINFO_THRESHOLDS, 0).summary)
    await this.collect(report, async () => {
      await this.measure(report)
    })
    return this.finish(report, renderFailinfo)
  }

  /** Scan, measure and judge every failinfo key; returns the aggregator for repairs to reuse. */
  protected async measure(report: ReportBuilder<FailinfoSummary>): Promise<FailinfoAggregator> {
    const f = this.flags
    const agg = new FailinfoAggregator(
      {warnBytes: f['warn-bytes'], errorBytes: f['error-bytes'], keyWarnBytes: f['key-warn-bytes'], top: f.top, upgradeCheck: f['upgrade-check']},
      await redisNow(this.conn),
    )
    report.summary = agg.summary
    const progress = this.progress('Scanning for b-*-failinfo…')
    const started = Date.now()
    try {
      for await (const batch of readFailinfo(this.conn, this.keys, {exact: f.exact, scanCount: f['scan-count']})) {
        for (const key of batch) agg.add(key)
        const rate = agg.summary.keys / Math.max(0.001, (Date.now() - started) / 1000)
        progress.update(`Measured ${humanCount(agg.summary.keys)} failinfo keys, ${humanBytes(agg.summary.bytes)} (${humanCount(Math.round(rate))} keys/s)`)
      }
    } finally {
      // Even a partial scan reports what it saw.
      const info = parseInfo(await resilient(this.conn, 'reading INFO memory', (redis) => redis.info('memory')).catch(() => ''))
      agg.finish(info.used_memory ? Number(info.used_memory) : undefined)
      report.add(...agg.findings)
      if (agg.summary.unlisted)
        for (const [check, n] of Object.entries(agg.summary.unlisted)) report.warn(`${n} more ${check} findings not listed (see summary counts).`)
      progress.stop()
    }
    if (f['error-samples'] > 0) agg.summary.errorClasses = await this.errorClasses(agg)
    return agg
  }

  private async errorClasses(agg: FailinfoAggregator): Promise<FailinfoSummary['errorClasses']> {
    const counts = new Map<string, {count: number; example?: string}>()
    for (const top of agg.summary.top) {
      for (const sample of await sampleFailures(this.conn, top.key, this.flags['error-samples'])) {
        const name = sample.errorClass ?? (sample.unknownFields ? `unknown format (${sample.unknownFields.join(',')})` : 'unknown')
        const entry = counts.get(name) ?? {count: 0, example: sample.message}
        entry.count++
        counts.set(name, entry)
      }
    }
    return [...counts].map(([errorClass, v]) => ({errorClass, ...v})).sort((a, b) => b.count - a.count).slice(0, 10)
  }
}

const BAR_WIDTH = 24

function bars(style: Style, hist: Histogram[]): Array<[string, string]> {
  const max = Math.max(1, ...hist.map((h) => h.bytes))
  return hist.map((h) => [h.label, `${style.color.cyan('█'.repeat(Math.round((h.bytes / max) * BAR_WIDTH)).padEnd(BAR_WIDTH))} ${humanCount(h.keys)} keys, ${humanBytes(h.bytes)}`])
}

export function renderFailinfo(report: Report<FailinfoSummary>, style: Style): string {
  const s = report.summary
  const share = s.shareOfUsedMemory === undefined ? '' : ` (${(s.shareOfUsedMemory * 100).toFixed(1)}% of used memory)`
  const parts = [
    kvTable(style, 'failinfo', [
      ['keys', humanCount(s.keys)],
      ['failure records', humanCount(s.entries)],
      ['memory', `${humanBytes(s.bytes)}${share}`],
      ['without TTL', humanCount(s.noTtl)],
      ['orphans (no batch)', humanCount(s.orphans)],
      ['wrong type (not hashes)', humanCount(s.wrongType)],
      ...(s.upgrade ? ([['Pro 8 ready', s.upgrade.ready ? 'yes' : `no: ${s.upgrade.missingFailed} keys lack -failed`]] as Array<[string, string]>) : []),
    ]),
  ]
  if (s.keys > 0) {
    parts.push(kvTable(style, 'size', bars(style, s.sizeHistogram)))
    parts.push(kvTable(style, 'TTL', bars(style, s.ttlHistogram)))
    parts.push(kvTable(style, 'batch age', bars(style, s.ageHistogram)))
    parts.push(
      table(
        style,
        ['key', 'bytes', 'entries', 'TTL', 'batch', '-failed'],
        s.top.map((t) => [
          t.key,
          humanBytes(t.bytes),
          humanCount(t.entries),
          t.ttl < 0 ? style.color.yellow('none') : humanSeconds(t.ttl),
          t.batch?.exists ? `pending ${t.batch.pending ?? '?'} / ${t.batch.total ?? '?'}` : style.color.yellow('gone'),
          t.failedKey ? 'yes' : 'no',
        ]),
      ),
    )
  }
  if (s.errorClasses?.length) parts.push(table(style, ['error class (sampled)', 'count', 'example'], s.errorClasses.map((e) => [e.errorClass, e.count, e.example ?? ''])))
  return parts.join('\n')
}
