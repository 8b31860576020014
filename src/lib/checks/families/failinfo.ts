// The `failinfo` family (qdoctor failinfo): Sidekiq Pro b-<bid>-failinfo hashes measured and judged
// as they stream past, with the most common error classes of the biggest keys.
import {z} from 'zod'

import {resilient} from '../../redis/resilient.js'
import {parseInfo} from '../../redis/server-info.js'
import type {Figure} from '../../report/doctor.js'
import {humanBytes, humanCount} from '../../report/style.js'
import {batchStates, failinfoKeyPattern, type FailinfoKey, readFailinfo, sampleFailures} from '../../sidekiq/failinfo.js'
import {redisNow} from '../../sidekiq/queues.js'
import {DEFAULT_FAILINFO_THRESHOLDS, FailinfoAggregator, type FailinfoSummary} from '../failinfo.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {count, size} from './settings.js'

const failinfoSettings = z.strictObject({
  top: count(1, 1000).default(DEFAULT_FAILINFO_THRESHOLDS.top),
  exact: z.boolean().default(false),
  'warn-bytes': size().default(DEFAULT_FAILINFO_THRESHOLDS.warnBytes),
  'error-bytes': size().default(DEFAULT_FAILINFO_THRESHOLDS.errorBytes),
  'key-warn-bytes': size().default(DEFAULT_FAILINFO_THRESHOLDS.keyWarnBytes),
  'upgrade-check': z.boolean().default(false),
  'error-samples': count(0, 500).default(20),
})

export type FailinfoSettings = z.output<typeof failinfoSettings>

/**
 * Scan, measure and judge every failinfo key into `out`, handing each one to `consider` (the purge
 * planner). Even a partial scan reports what it saw.
 */
export async function measureFailinfo(
  ctx: FamilyContext<FailinfoSettings>,
  out: FamilyOutput<FailinfoSummary>,
  nowSeconds: number,
  consider?: (k: FailinfoKey) => void,
): Promise<FailinfoAggregator> {
  const s = ctx.settings
  const agg = new FailinfoAggregator(
    {warnBytes: s['warn-bytes'], errorBytes: s['error-bytes'], keyWarnBytes: s['key-warn-bytes'], top: s.top, upgradeCheck: s['upgrade-check']},
    nowSeconds,
  )
  out.summary = agg.summary
  ctx.progress('Scanning for b-*-failinfo…')
  const started = Date.now()
  try {
    // The parent's total/pending and b-<bid>-failed are shown for the top keys only: read for those
    // after the scan (below), not for every key (-failed for every key only with --upgrade-check).
    const options = {exact: s.exact, scanCount: ctx.scanCount, source: ctx.source, batchCounts: false, failedKeys: s['upgrade-check'] === true}
    for await (const batch of readFailinfo(ctx.conn, ctx.keys, options)) {
      for (const key of batch) {
        agg.add(key)
        consider?.(key)
      }
      const rate = agg.summary.keys / Math.max(0.001, (Date.now() - started) / 1000)
      ctx.progress(`Measured ${humanCount(agg.summary.keys)} failinfo keys, ${humanBytes(agg.summary.bytes)} (${humanCount(Math.round(rate))} keys/s)`)
    }
  } finally {
    const info = parseInfo(await resilient(ctx.conn, 'reading INFO memory', (redis) => redis.info('memory')).catch(() => ''))
    agg.finish(info.used_memory ? Number(info.used_memory) : undefined)
    out.add(...agg.findings)
    if (agg.summary.unlisted)
      for (const [check, n] of Object.entries(agg.summary.unlisted)) out.warn(`${n} more ${check} findings not listed (see summary counts).`)
  }
  const bids = agg.summary.top.flatMap((t) => (t.bid === null ? [] : [t.bid]))
  if (bids.length) agg.setTopBatchStates(await batchStates(ctx.conn, ctx.keys, bids))
  if (s['error-samples'] > 0) agg.summary.errorClasses = await errorClasses(ctx, agg)
  return agg
}

async function errorClasses(ctx: FamilyContext<FailinfoSettings>, agg: FailinfoAggregator): Promise<FailinfoSummary['errorClasses']> {
  const counts = new Map<string, {count: number; example?: string}>()
  for (const top of agg.summary.top) {
    for (const sample of await sampleFailures(ctx.conn, top.key, ctx.settings['error-samples'])) {
      const name = sample.errorClass ?? (sample.unknownFields ? `unknown format (${sample.unknownFields.join(',')})` : 'unknown')
      const entry = counts.get(name) ?? {count: 0, example: sample.message}
      entry.count++
      counts.set(name, entry)
    }
  }
  return [...counts].map(([errorClass, v]) => ({errorClass, ...v})).sort((a, b) => b.count - a.count).slice(0, 10)
}

export const failinfoFamily: CheckFamily<FailinfoSettings, FailinfoSummary> = {
  name: 'failinfo',
  title: 'Sidekiq Pro batch failure data (b-*-failinfo): size, TTL, orphans',
  command: 'qdoctor failinfo',
  checks: [
    {id: 'failinfo/total-bytes', severities: ['error', 'warn'], title: 'failinfo keys together past the size thresholds'},
    {id: 'failinfo/oversized-key', severities: ['warn'], title: 'one failinfo key past key-warn-bytes'},
    {id: 'failinfo/no-ttl', severities: ['warn'], title: 'a failinfo key that never expires'},
    {id: 'failinfo/orphan', severities: ['warn'], title: 'failinfo whose batch is gone'},
    {id: 'failinfo/wrong-type', severities: ['warn'], title: 'a key named like failinfo that is not a hash'},
    {id: 'failinfo/upgrade-blocker', severities: ['error'], title: 'failinfo without b-<bid>-failed (Pro 8 upgrade; with upgrade-check)'},
  ],
  settings: failinfoSettings,
  patterns: (keys) => [failinfoKeyPattern(keys)],
  emptySummary: () => new FailinfoAggregator(DEFAULT_FAILINFO_THRESHOLDS, 0).summary,
  async run(ctx, out) {
    await measureFailinfo(ctx, out, await redisNow(ctx.conn))
  },
  figures(s): Figure[] {
    return [
      {name: 'failinfo_bytes', help: 'Bytes held by Sidekiq Pro b-*-failinfo hashes.', value: s.bytes},
      {name: 'failinfo_keys', help: 'Sidekiq Pro b-*-failinfo hashes.', value: s.keys},
      {name: 'failinfo_entries', help: 'Failure records in b-*-failinfo hashes.', value: s.entries},
      {name: 'failinfo_orphan_keys', help: 'b-*-failinfo hashes whose batch is gone.', value: s.orphans},
    ]
  },
}
