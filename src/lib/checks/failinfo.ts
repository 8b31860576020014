// Judges `b-<bid>-failinfo` data: total size, oversized keys, keys without TTL, orphans, wrong
// types, and Pro 8 upgrade readiness. Aggregates as keys stream past: memory holds the top N and
// counters, not the whole keyspace.
import type {Finding} from '../report/types.js'
import type {BatchState, FailinfoKey} from '../sidekiq/failinfo.js'

export interface FailinfoThresholds {
  warnBytes: number
  errorBytes: number
  keyWarnBytes: number
  top: number
  upgradeCheck: boolean
}

const MB = 1024 * 1024
export const DEFAULT_FAILINFO_THRESHOLDS: FailinfoThresholds = {
  warnBytes: 100 * MB,
  errorBytes: 1024 * MB,
  keyWarnBytes: 10 * MB,
  top: 10,
  upgradeCheck: false,
}

/** Per-key findings of one check beyond this are counted in the summary, not listed. */
export const MAX_FINDINGS_PER_CHECK = 50

export interface TopKey {
  key: string
  bid: string | null
  bytes: number
  entries: number
  ttl: number
  batch: {exists: boolean; pending?: number; total?: number; createdAt?: number} | null
  failedKey: boolean
}

export interface Histogram {
  label: string
  keys: number
  bytes: number
}

export interface FailinfoSummary {
  keys: number
  entries: number
  bytes: number
  usedMemoryBytes?: number
  /** bytes / used_memory. */
  shareOfUsedMemory?: number
  noTtl: number
  orphans: number
  wrongType: number
  ttlHistogram: Histogram[]
  ageHistogram: Histogram[]
  sizeHistogram: Histogram[]
  top: TopKey[]
  errorClasses?: Array<{errorClass: string; count: number; example?: string}>
  upgrade?: {ready: boolean; missingFailed: number}
  /** Findings beyond the per-check cap, by check id. */
  unlisted?: Record<string, number>
  deleted?: number
  expired?: number
  bytesFreed?: number
}

const DAY = 86_400
const TTL_BUCKETS: Array<[string, (ttl: number) => boolean]> = [
  ['no TTL', (t) => t < 0],
  ['< 1d', (t) => t >= 0 && t < DAY],
  ['1–7d', (t) => t >= DAY && t < 7 * DAY],
  ['7–30d', (t) => t >= 7 * DAY && t < 30 * DAY],
  ['≥ 30d', (t) => t >= 30 * DAY],
]
const AGE_BUCKETS: Array<[string, (age: number | undefined) => boolean]> = [
  ['unknown', (a) => a === undefined],
  ['< 1d', (a) => a !== undefined && a < DAY],
  ['1–7d', (a) => a !== undefined && a >= DAY && a < 7 * DAY],
  ['7–30d', (a) => a !== undefined && a >= 7 * DAY && a < 30 * DAY],
  ['≥ 30d', (a) => a !== undefined && a >= 30 * DAY],
]
const SIZE_BUCKETS: Array<[string, number]> = [
  ['< 1 KB', 1024],
  ['1–10 KB', 10 * 1024],
  ['10–100 KB', 100 * 1024],
  ['100 KB–1 MB', MB],
  ['1–10 MB', 10 * MB],
  ['≥ 10 MB', Number.POSITIVE_INFINITY],
]

export class FailinfoAggregator {
  readonly summary: FailinfoSummary
  readonly findings: Finding[] = []
  private readonly perCheck = new Map<string, number>()

  constructor(
    readonly t: FailinfoThresholds,
    readonly nowSeconds: number,
  ) {
    const hist = (labels: string[]) => labels.map((label) => ({label, keys: 0, bytes: 0}))
    this.summary = {
      keys: 0,
      entries: 0,
      bytes: 0,
      noTtl: 0,
      orphans: 0,
      wrongType: 0,
      ttlHistogram: hist(TTL_BUCKETS.map(([l]) => l)),
      ageHistogram: hist(AGE_BUCKETS.map(([l]) => l)),
      sizeHistogram: hist(SIZE_BUCKETS.map(([l]) => l)),
      top: [],
      ...(t.upgradeCheck ? {upgrade: {ready: true, missingFailed: 0}} : {}),
    }
  }

  add(k: FailinfoKey): void {
    const s = this.summary
    if (k.type !== 'hash') {
      s.wrongType++
      this.finding({
        check: 'failinfo/wrong-type',
        severity: 'warn',
        message: `${k.key} matches the failinfo pattern but is a ${k.type}, not a hash: not Sidekiq Pro failure data; qdoctor never touches it.`,
        subject: {key: k.key, ...(k.bid ? {bid: k.bid} : {})},
        evidence: {type: k.type, bytes: k.bytes},
        fix: `redis-cli TYPE ${k.key}; find its owner before removing it by hand`,
      })
      return
    }
    s.keys++
    s.entries += k.entries
    s.bytes += k.bytes
    bump(s.ttlHistogram, TTL_BUCKETS.findIndex(([, f]) => f(k.ttlSeconds)), k.bytes)
    bump(s.ageHistogram, AGE_BUCKETS.findIndex(([, f]) => f(this.ageOf(k))), k.bytes)
    bump(s.sizeHistogram, SIZE_BUCKETS.findIndex(([, max]) => k.bytes < max), k.bytes)
    this.keepTop(k)
    const subject = {key: k.key, ...(k.bid ? {bid: k.bid} : {})}
    if (k.ttlSeconds < 0) {
      s.noTtl++
      this.finding({
        check: 'failinfo/no-ttl',
        severity: 'warn',
        message: `${k.key} has no TTL: its ${k.entries} failure records stay in Redis forever.`,
        subject,
        evidence: {entries: k.entries, bytes: k.bytes},
        fix: `qdoctor failinfo --purge --bid ${k.bid ?? '<bid>'} --expire 7d`,
      })
    }
    if (!k.parent.exists) {
      s.orphans++
      this.finding({
        check: 'failinfo/orphan',
        severity: 'warn',
        message: `${k.key} (${k.entries} entries) has no parent batch hash: nothing reads it any more.`,
        subject,
        evidence: {entries: k.entries, bytes: k.bytes, ttlSeconds: k.ttlSeconds},
        fix: 'qdoctor failinfo --purge --orphans-only',
      })
    }
    if (k.bytes >= this.t.keyWarnBytes)
      this.finding({
        check: 'failinfo/oversized-key',
        severity: 'warn',
        message: `${k.key} holds ${k.entries} failure records in ${k.bytes} bytes.`,
        subject,
        evidence: {entries: k.entries, bytes: k.bytes, ttlSeconds: k.ttlSeconds, batchExists: k.parent.exists},
        fix: `qdoctor failinfo --purge --bid ${k.bid ?? '<bid>'}`,
      })
    if (this.t.upgradeCheck && !k.failedExists) {
      s.upgrade!.ready = false
      s.upgrade!.missingFailed++
      this.finding({
        check: 'failinfo/upgrade-blocker',
        severity: 'error',
        message: `${k.key} has no matching b-${k.bid ?? '<bid>'}-failed key: Pro 8 cannot read this batch's failures (Pro 8.0 upgrade guide).`,
        subject,
        fix: 'Run Pro ≥ 7.3.6 until these batches expire, or purge the failinfo of finished batches.',
      })
    }
  }

  /** Age of the parent batch in seconds, or undefined when it cannot be known. */
  ageOf(k: FailinfoKey): number | undefined {
    return k.parent.createdAt === undefined ? undefined : Math.max(0, this.nowSeconds - k.parent.createdAt)
  }

  finish(usedMemoryBytes?: number): void {
    const s = this.summary
    s.top.sort((a, b) => b.bytes - a.bytes)
    if (usedMemoryBytes) {
      s.usedMemoryBytes = usedMemoryBytes
      s.shareOfUsedMemory = s.bytes / usedMemoryBytes
    }
    if (s.bytes >= this.t.warnBytes)
      this.findings.unshift({
        check: 'failinfo/total-bytes',
        severity: s.bytes >= this.t.errorBytes ? 'error' : 'warn',
        message: `${s.keys} failinfo keys hold ${s.entries} failure records in ${s.bytes} bytes${s.shareOfUsedMemory !== undefined ? ` (${(s.shareOfUsedMemory * 100).toFixed(1)}% of used memory)` : ''}.`,
        subject: {pattern: 'b-*-failinfo'},
        evidence: {keys: s.keys, entries: s.entries, bytes: s.bytes, noTtl: s.noTtl, orphans: s.orphans},
        fix: 'qdoctor failinfo --purge --older-than 7d  (or --orphans-only)',
      })
    const unlisted = Object.fromEntries([...this.perCheck].filter(([, n]) => n > MAX_FINDINGS_PER_CHECK).map(([c, n]) => [c, n - MAX_FINDINGS_PER_CHECK]))
    if (Object.keys(unlisted).length) s.unlisted = unlisted
  }

  /**
   * The batch state of the top keys as read now (`states[i]` for the i-th top key with a bid), for
   * a scan that read only what the findings need (no total/pending, no -failed for every key).
   */
  setTopBatchStates(states: readonly BatchState[]): void {
    let i = 0
    for (const top of this.summary.top) {
      if (top.bid === null) continue
      const state = states[i++]
      if (!state) break
      top.batch = {exists: state.exists, pending: state.pending, total: state.total, createdAt: state.createdAt}
      top.failedKey = state.failedExists
    }
  }

  private keepTop(k: FailinfoKey): void {
    const top = this.summary.top
    if (top.length >= this.t.top && top.length > 0 && k.bytes <= top[top.length - 1]!.bytes) return
    top.push({
      key: k.key,
      bid: k.bid ?? null,
      bytes: k.bytes,
      entries: k.entries,
      ttl: k.ttlSeconds,
      batch: k.bid ? {exists: k.parent.exists, pending: k.parent.pending, total: k.parent.total, createdAt: k.parent.createdAt} : null,
      failedKey: k.failedExists,
    })
    top.sort((a, b) => b.bytes - a.bytes)
    if (top.length > this.t.top) top.pop()
  }

  private finding(f: Finding): void {
    const n = (this.perCheck.get(f.check) ?? 0) + 1
    this.perCheck.set(f.check, n)
    if (n <= MAX_FINDINGS_PER_CHECK) this.findings.push(f)
  }
}

function bump(hist: Histogram[], index: number, bytes: number): void {
  const h = hist[index]
  if (!h) return
  h.keys++
  h.bytes += bytes
}
