// Judges the dead set (the morgue) while its pages stream past: size against dead_max_jobs (Sidekiq
// trims to max − 1), entries past dead_timeout, ages by score, the top job classes (Active Job's
// `wrapped`), the top errors with first and last seen, unreadable members, jids present more than
// once, and the single-snapshot sign of a manual retry that died again. Memory holds counters, the
// top lists and one small record per jid (for duplicates), never the payloads.
import type {Finding} from '../report/types.js'
import type {DeadEntry} from '../sidekiq/dead.js'
import {CappedFindings} from './capped-findings.js'

export interface DeadThresholds {
  /** Sidekiq's `dead_max_jobs` (default 10,000). */
  maxJobs: number
  /** Sidekiq's `dead_timeout_in_seconds` (default 180 days). */
  timeoutSeconds: number
  /** Share of maxJobs from which dead/near-capacity warns. */
  nearCapacity: number
  /** Length of the top lists. */
  top: number
}

const DAY = 86_400
export const DEFAULT_DEAD_THRESHOLDS: DeadThresholds = {maxJobs: 10_000, timeoutSeconds: 180 * DAY, nearCapacity: 0.9, top: 10}

/** Findings of one check beyond this are counted in `summary.unlisted`, not listed. */
export const MAX_DEAD_FINDINGS_PER_CHECK = 50
/** Distinct error groups and classes tracked; the rest are counted together. */
const MAX_GROUPS = 5000
/** Manual-retry sightings kept for --loops findings. */
const MAX_SIGNAL_JOBS = 1000

export interface DeadEdge {
  score: number
  /** ISO 8601 time of death. */
  at: string
  ageSeconds: number
  jid?: string
  class?: string
}

export interface ErrorGroup {
  errorClass: string
  /** The first message seen in this group (messages differing only in numbers and ids group together). */
  message: string
  count: number
  firstSeen: string
  lastSeen: string
}

export interface LoopSignals {
  /** `retry: 0` jobs in dead carrying `retried_at`: manually retried, and died again. */
  retriedRetry0: number
  /** Queued copies with `retry_count: -1`: a `retry: 0` job manually retried, in flight now. */
  queuedManualRetry: number
  /** …of which also carry `retried_at`: retried again after dying again (a loop lap ≥ 2). */
  queuedRepeatedRetry: number
  /** Jids with more than one entry in dead. */
  duplicateJids: number
}

export interface DeadSummary {
  key: string
  /** ZCARD when the report started. */
  size: number
  /** Entries read (a live set changes while it is read). */
  read: number
  maxJobs: number
  /** size / maxJobs (Sidekiq trims to maxJobs − 1 at every death). */
  capacityUsed: number
  timeoutSeconds: number
  /** Entries older than dead_timeout: the next death removes them. */
  pastTimeout: number
  oldest: DeadEdge | null
  newest: DeadEdge | null
  ageHistogram: Array<{label: string; count: number}>
  topClasses: Array<{class: string; count: number}>
  topQueues: Array<{queue: string; count: number}>
  topErrors: ErrorGroup[]
  corrupt: number
  duplicateJids: number
  loopSignals: LoopSignals
  /** Entries sitting in the quarantine key of an interrupted `--stop-loop`. */
  quarantined?: number
  /** Findings beyond the per-check cap, by check id. */
  unlisted?: Record<string, number>
}

export interface ManualRetrySighting {
  jid: string
  class: string
  score: number
  error?: string
}

const AGE_BUCKETS: Array<[string, number]> = [
  ['< 1h', 3600],
  ['1h–1d', DAY],
  ['1–7d', 7 * DAY],
  ['7–30d', 30 * DAY],
  ['30–90d', 90 * DAY],
  ['90–180d', 180 * DAY],
  ['≥ 180d', Number.POSITIVE_INFINITY],
]

interface Duplicate {
  class: string
  scores: number[]
}

/** The oldest or newest entry so far (made into a DeadEdge once, at the end). */
interface Extreme {
  score: number
  jid?: string
  class?: string
}

export function isoOf(score: number): string {
  return new Date(score * 1000).toISOString()
}

export class DeadAggregator {
  readonly summary: DeadSummary
  /** `retry: 0` jobs with `retried_at` (first MAX_SIGNAL_JOBS), for --loops. */
  readonly manualRetries: ManualRetrySighting[] = []
  private readonly capped = new CappedFindings(MAX_DEAD_FINDINGS_PER_CHECK)
  /** Findings about the whole set, listed before the per-entry ones. */
  private readonly overall: Finding[] = []
  private readonly classes = new Map<string, number>()
  private readonly queues = new Map<string, number>()
  private readonly errors = new Map<string, {errorClass: string; message: string; count: number; first: number; last: number}>()
  /** jid → score of its first entry (one number per jid: 100,000 entries stay cheap). */
  private readonly jids = new Map<string, number>()
  private readonly duplicates = new Map<string, Duplicate>()
  private oldest?: Extreme
  private newest?: Extreme

  constructor(
    readonly t: DeadThresholds,
    readonly nowSeconds: number,
    key: string,
    size: number,
  ) {
    this.summary = {
      key,
      size,
      read: 0,
      maxJobs: t.maxJobs,
      capacityUsed: t.maxJobs > 0 ? size / t.maxJobs : 0,
      timeoutSeconds: t.timeoutSeconds,
      pastTimeout: 0,
      oldest: null,
      newest: null,
      ageHistogram: AGE_BUCKETS.map(([label]) => ({label, count: 0})),
      topClasses: [],
      topQueues: [],
      topErrors: [],
      corrupt: 0,
      duplicateJids: 0,
      loopSignals: {retriedRetry0: 0, queuedManualRetry: 0, queuedRepeatedRetry: 0, duplicateJids: 0},
    }
  }

  add(entry: DeadEntry): void {
    const s = this.summary
    s.read++
    const age = Math.max(0, this.nowSeconds - entry.score)
    s.ageHistogram[AGE_BUCKETS.findIndex(([, max]) => age < max)]!.count++
    if (age >= this.t.timeoutSeconds) s.pastTimeout++
    const parsed = entry.parsed
    if (!this.oldest || entry.score < this.oldest.score) this.oldest = extreme(entry)
    if (!this.newest || entry.score > this.newest.score) this.newest = extreme(entry)
    if (!parsed.ok) {
      s.corrupt++
      this.finding({
        check: 'dead/corrupt-entry',
        severity: 'error',
        message: `An entry of ${s.key} (died ${isoOf(entry.score)}) is not a readable job: ${parsed.reason}. Sidekiq's Web UI morgue page and DeadSet#retry_all fail on it.`,
        subject: {key: s.key, score: entry.scoreText},
        evidence: {reason: parsed.reason, preview: entry.member.slice(0, 120), bytes: entry.member.length},
        fix: 'qdoctor dead --export corrupt.jsonl --corrupt  (keep a copy), then: qdoctor dead --purge --corrupt',
      })
      return
    }
    const job = parsed.job
    count(this.classes, job.displayClass)
    count(this.queues, job.queue ?? 'default')
    this.addError(job.errorClass ?? '(no error_class)', job.errorMessage ?? '', entry.score)
    this.addJid(job.jid, job.displayClass, entry)
    if (job.retry === 0 && job.retriedAt !== undefined) {
      s.loopSignals.retriedRetry0++
      if (this.manualRetries.length < MAX_SIGNAL_JOBS)
        this.manualRetries.push({jid: job.jid, class: job.displayClass, score: entry.score, ...(job.errorClass ? {error: errorText(job.errorClass, job.errorMessage)} : {})})
    }
  }

  private addError(errorClass: string, message: string, score: number): void {
    const firstLine = message.split('\n')[0] ?? ''
    const key = `${errorClass}\u0000${normalizeMessage(firstLine)}`
    let group = this.errors.get(key)
    if (!group) {
      if (this.errors.size >= MAX_GROUPS) return
      group = {errorClass, message: firstLine.slice(0, 200), count: 0, first: score, last: score}
      this.errors.set(key, group)
    }
    group.count++
    if (score < group.first) group.first = score
    if (score > group.last) group.last = score
  }

  private addJid(jid: string, cls: string, entry: DeadEntry): void {
    const first = this.jids.get(jid)
    if (first === undefined) {
      this.jids.set(jid, entry.score)
      return
    }
    // The same entry read twice (ranks shift in a live set) is not a second copy: a jid's copies
    // differ in their time of death.
    const dup = this.duplicates.get(jid)
    if (dup ? dup.scores.includes(entry.score) : first === entry.score) return
    if (dup) dup.scores.push(entry.score)
    else this.duplicates.set(jid, {class: cls, scores: [first, entry.score]})
  }

  /** Top lists and the findings that need the whole set. `quarantined`: entries in the quarantine key. */
  finish(quarantined = 0): void {
    const s = this.summary
    const top = this.t.top
    s.topClasses = topOf(this.classes, top).map(([k, n]) => ({class: k, count: n}))
    s.topQueues = topOf(this.queues, top).map(([k, n]) => ({queue: k, count: n}))
    s.topErrors = [...this.errors.values()]
      .sort((a, b) => b.count - a.count || b.last - a.last)
      .slice(0, top)
      .map((g) => ({errorClass: g.errorClass, message: g.message, count: g.count, firstSeen: isoOf(g.first), lastSeen: isoOf(g.last)}))
    for (const [jid, dup] of this.duplicates) {
      const copies = dup.scores.length
      s.duplicateJids++
      this.finding({
        check: 'dead/duplicate-jid',
        severity: 'warn',
        message: `jid ${jid} (${dup.class}) is in ${s.key} ${copies} times: the same job died more than once without leaving (a retry loop, a retry that raced another, or a double push).`,
        subject: {jid, class: dup.class},
        evidence: {copies, diedAt: dup.scores.sort((a, b) => a - b).map(isoOf)},
        fix: `qdoctor dead --export ${jid}.jsonl --jid ${jid}  (compare the copies; a retry moves one of them, and only once)`,
      })
    }
    s.loopSignals.duplicateJids = s.duplicateJids
    this.jids.clear()
    s.oldest = this.edge(this.oldest)
    s.newest = this.edge(this.newest)
    Object.assign(s, this.capped.unlistedSummary)
    this.capacity()
    if (quarantined > 0) {
      s.quarantined = quarantined
      this.overall.unshift({
        check: 'dead/quarantined',
        severity: 'error',
        message: `${quarantined} dead jobs sit in the quarantine key left by an interrupted \`qdoctor dead --stop-loop\`: Sidekiq does not see them (Web UI, retries, trimming).`,
        subject: {key: s.key},
        evidence: {quarantined},
        fix: 'qdoctor undo <the journal of that run>  (or: qdoctor dead --stop-loop --yes, which merges them back when it ends)',
      })
    }
  }

  private capacity(): void {
    const s = this.summary
    const {maxJobs} = this.t
    const keeps = maxJobs - 1
    if (maxJobs <= 0 || s.size < this.t.nearCapacity * maxJobs) return
    const over = s.size - keeps
    const message =
      over > 0
        ? `${s.key} holds ${s.size} jobs, ${over} more than Sidekiq keeps (dead_max_jobs − 1 = ${keeps}): the next death trims it and the ${over + 1} oldest dead jobs disappear at once (unless dead_max_jobs is set higher: pass --max-jobs).`
        : s.size >= keeps
          ? `${s.key} is full (${s.size} of ${keeps} kept, dead_max_jobs ${maxJobs}): every new death silently evicts the oldest dead job.`
          : `${s.key} holds ${s.size} jobs, ${(s.capacityUsed * 100).toFixed(0)}% of dead_max_jobs (${maxJobs}): soon every new death evicts the oldest one.`
    this.overall.unshift({
      check: 'dead/near-capacity',
      severity: s.size >= keeps ? 'error' : 'warn',
      message,
      subject: {key: s.key},
      evidence: {size: s.size, maxJobs, kept: keeps, capacityUsed: Number(s.capacityUsed.toFixed(4)), topClasses: s.topClasses.slice(0, 3)},
      fix: `Find out why jobs die (the top classes and errors above), fix them, then retry or purge: qdoctor dead --retry --class ${s.topClasses[0]?.class ?? '<Class>'} / qdoctor dead --purge --older-than 30d`,
    })
  }

  private edge(e: Extreme | undefined): DeadEdge | null {
    if (!e) return null
    return {score: e.score, at: isoOf(e.score), ageSeconds: Math.max(0, this.nowSeconds - e.score), ...(e.jid ? {jid: e.jid, class: e.class} : {})}
  }

  /** Whole-set findings first, then the per-entry ones (each check capped; the summary counts the rest). */
  get findings(): Finding[] {
    return [...this.overall, ...this.capped.findings]
  }

  private finding(f: Finding): void {
    this.capped.add(f)
  }
}

/** "Klass: message" clipped, for evidence. */
export function errorText(errorClass: string | undefined, message: string | undefined): string {
  return `${errorClass ?? '?'}: ${(message ?? '').split('\n')[0]!.slice(0, 200)}`
}

/** Messages that differ only in numbers and ids belong together ("id=12" ~ "id=13"). */
export function normalizeMessage(message: string): string {
  return message
    .slice(0, 300)
    .replace(/\b[0-9a-f]{8,}\b/gi, '<id>')
    .replace(/\d+/g, '#')
}

function extreme(entry: DeadEntry): Extreme {
  return entry.parsed.ok ? {score: entry.score, jid: entry.parsed.job.jid, class: entry.parsed.job.displayClass} : {score: entry.score}
}

function count(map: Map<string, number>, key: string): void {
  const n = map.get(key)
  if (n !== undefined) map.set(key, n + 1)
  else if (map.size < MAX_GROUPS) map.set(key, 1)
}

function topOf(map: Map<string, number>, n: number): Array<[string, number]> {
  return [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n)
}

/** A dead key that is not a sorted set: every death now fails to reach the morgue. */
export function wrongTypeFinding(key: string, type: string): Finding {
  return {
    check: 'dead/wrong-type',
    severity: 'error',
    message: `${key} is a ${type}, not a sorted set: every job that dies now fails to reach the morgue (ZADD answers WRONGTYPE) and is lost.`,
    subject: {key},
    evidence: {type},
    fix: `redis-cli TYPE ${key}; find what wrote it, then RENAME it out of the way so Sidekiq can recreate the sorted set`,
  }
}
