import {Flags} from '@oclif/core'

import {durationFlag, sizeFlag} from '../lib/command/flags.js'
import {RepairCommand} from '../lib/command/repair-command.js'
import {DEFAULT_FAILINFO_THRESHOLDS, FailinfoAggregator, type FailinfoSummary, type Histogram} from '../lib/checks/failinfo.js'
import {measureFailinfo} from '../lib/checks/families/failinfo.js'
import {ownScan} from '../lib/redis/keyspace-index.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {kvTable, table} from '../lib/report/render.js'
import {humanBytes, humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {FailinfoPurgePlanner} from '../lib/repairs/plans/failinfo-purge.js'
import {type FailinfoKey, readFailinfo, sampleFailures} from '../lib/sidekiq/failinfo.js'
import {redisNow} from '../lib/sidekiq/queues.js'

export default class Failinfo extends RepairCommand<typeof Failinfo> {
  static override summary = 'Measure and rank Sidekiq Pro b-*-failinfo keys (batch failure data)'
  static override description = `Sidekiq Pro keeps, per batch, a hash b-<bid>-failinfo (field = jid, value = failure JSON) for about 30 days. When millions of batch jobs fail these grow to gigabytes; Pro 8 no longer writes them.
Scans with SCAN MATCH b-*-failinfo (never KEYS), measures entries, TTL and bytes (MEMORY USAGE, sampled unless --exact), ranks the biggest keys with their batch state and samples the most common error classes.
--purge plans the removal (UNLINK) of the failinfo hashes the filters select — every one without filters — shows count and bytes, asks for confirmation (or --yes), journals each key (DUMP + PTTL) so \`qdoctor undo\` can restore it, and only ever touches hashes named b-<bid>-failinfo (never b-<bid>, -jids or -failed). --expire sets a shorter TTL instead of deleting.
Pro <= 7.3.5 may still read failinfo of live batches (the failures count): prefer --older-than, --orphans-only or --expire there.`

  static override examples = [
    '<%= config.bin %> failinfo',
    '<%= config.bin %> failinfo --top 25 --exact',
    '<%= config.bin %> failinfo --upgrade-check      # Pro 8 readiness: every failinfo key has a -failed key',
    '<%= config.bin %> failinfo --json --warn-bytes 50mb --error-bytes 500mb',
    '<%= config.bin %> failinfo --purge                              # plan, confirm, delete every failinfo hash',
    '<%= config.bin %> failinfo --purge --older-than 7d --dry-run    # only batches created 7+ days ago; change nothing',
    '<%= config.bin %> failinfo --purge --orphans-only --yes         # parent batch gone; no prompt (CI)',
    '<%= config.bin %> failinfo --purge --min-bytes 100mb --expire 1d  # shorten the TTL of big keys instead',
  ]

  static override flags = {
    top: Flags.integer({summary: 'How many of the biggest keys to list.', default: 10, min: 1, max: 1000}),
    exact: Flags.boolean({summary: 'Exact sizes (MEMORY USAGE … SAMPLES 0); slower on big hashes.'}),
    'warn-bytes': sizeFlag({summary: 'Warn when all failinfo keys together exceed this size.', default: DEFAULT_FAILINFO_THRESHOLDS.warnBytes}),
    'error-bytes': sizeFlag({summary: 'Error when all failinfo keys together exceed this size.', default: DEFAULT_FAILINFO_THRESHOLDS.errorBytes}),
    'key-warn-bytes': sizeFlag({summary: 'Report a single key bigger than this (failinfo/oversized-key).', default: DEFAULT_FAILINFO_THRESHOLDS.keyWarnBytes}),
    'upgrade-check': Flags.boolean({summary: 'Pro 8 readiness: report failinfo keys without a matching b-<bid>-failed key.'}),
    'error-samples': Flags.integer({summary: 'Failure values sampled from each of the biggest keys (0 = none).', default: 20, min: 0, max: 500}),
    purge: Flags.boolean({summary: 'Plan and (after confirmation) remove the selected failinfo hashes.', helpGroup: 'PURGE'}),
    'older-than': durationFlag({summary: 'Only batches created at least this long ago (keys whose batch age is unknown are left).', helpGroup: 'PURGE', dependsOn: ['purge']}),
    'orphans-only': Flags.boolean({summary: 'Only keys whose parent b-<bid> hash is gone.', helpGroup: 'PURGE', dependsOn: ['purge']}),
    'min-bytes': sizeFlag({summary: 'Only keys at least this big.', helpGroup: 'PURGE', dependsOn: ['purge']}),
    bid: Flags.string({summary: 'Only these batches (repeatable, or comma-separated).', helpGroup: 'PURGE', multiple: true, delimiter: ',', dependsOn: ['purge']}),
    expire: durationFlag({summary: 'Set this TTL instead of deleting (gentler; undo restores the old TTL).', helpGroup: 'PURGE', dependsOn: ['purge']}),
  }

  async run(): Promise<Report<FailinfoSummary>> {
    const report = this.startReport<FailinfoSummary>(new FailinfoAggregator(DEFAULT_FAILINFO_THRESHOLDS, 0).summary)
    await this.collect(report, async () => {
      const nowSeconds = await redisNow(this.conn)
      const planner = this.flags.purge ? this.planner(nowSeconds) : undefined
      await this.measure(report, nowSeconds, planner ? (k) => planner.consider(k) : undefined)
      if (planner && report.incomplete.length === 0) await this.purge(report, planner)
    })
    return this.finish(report, renderFailinfo)
  }

  private planner(nowSeconds: number): FailinfoPurgePlanner {
    const f = this.flags
    return new FailinfoPurgePlanner(
      {
        ...(f['older-than'] !== undefined ? {olderThanSeconds: f['older-than'] / 1000} : {}),
        orphansOnly: f['orphans-only'],
        ...(f['min-bytes'] !== undefined ? {minBytes: f['min-bytes']} : {}),
        ...(f.bid ? {bids: f.bid} : {}),
        ...(f.expire !== undefined ? {expireMs: f.expire} : {}),
      },
      nowSeconds,
    )
  }

  private async purge(report: ReportBuilder<FailinfoSummary>, planner: FailinfoPurgePlanner): Promise<void> {
    const {plan} = planner
    if (plan.unknownAge) report.warn(`${plan.unknownAge} failinfo keys were left out: their batch age is unknown (parent gone or without created_at), so --older-than cannot judge them (use --orphans-only for those).`)
    if (plan.alreadyShorter) report.warn(`${plan.alreadyShorter} failinfo keys already expire sooner than --expire asks; left as they are.`)
    if (plan.actions.length === 0) report.warn('Nothing to purge: no failinfo key matches the filters.')
    const expiring = this.flags.expire !== undefined
    const result = await this.executePlan(report, plan.actions, {
      bytes: plan.bytes,
      verb: expiring ? 'set a shorter TTL on' : 'delete',
      noun: 'failinfo keys',
    })
    const applied = (result?.records ?? []).filter((r) => r.status === 'applied')
    report.summary.bytesFreed = expiring ? 0 : applied.reduce((sum, r) => sum + (r.bytes ?? 0), 0)
    if (expiring) report.summary.expired = applied.length
    else report.summary.deleted = applied.length
  }

  /** Scan, measure and judge every failinfo key, handing each one to `consider` (the purge planner). */
  protected async measure(report: ReportBuilder<FailinfoSummary>, nowSeconds: number, consider?: (k: FailinfoKey) => void): Promise<FailinfoAggregator> {
    const f = this.flags
    const progress = this.progress('Scanning for b-*-failinfo…')
    try {
      return await measureFailinfo(
        {
          conn: this.conn,
          keys: this.keys,
          source: ownScan(this.conn),
          scanCount: f['scan-count'],
          settings: {
            top: f.top,
            exact: f.exact,
            'warn-bytes': f['warn-bytes'],
            'error-bytes': f['error-bytes'],
            'key-warn-bytes': f['key-warn-bytes'],
            'upgrade-check': f['upgrade-check'],
            'error-samples': f['error-samples'],
          },
          progress: (text) => progress.update(text),
        },
        report,
        nowSeconds,
        consider,
      )
    } finally {
      progress.stop()
    }
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
      ...(s.deleted !== undefined ? ([['deleted', `${humanCount(s.deleted)} keys, ${humanBytes(s.bytesFreed)} freed`]] as Array<[string, string]>) : []),
      ...(s.expired !== undefined ? ([['TTL shortened', `${humanCount(s.expired)} keys`]] as Array<[string, string]>) : []),
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
