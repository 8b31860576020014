// Judges batches (Sidekiq Pro `b-<bid>`, sidekiq-batch `BID-<bid>`): the inventory checks
// (negative pending, counter drift, fragments, orphan companion keys, stale and dead batches, unknown
// shapes) and, with --ghosts, a verdict for every pending jid from where the job was seen. Pure: it is
// fed what src/lib/sidekiq read, batch by batch, and keeps counters, not the keyspace.
import type {Finding} from '../report/types.js'
import {CappedFindings} from './capped-findings.js'
import type {BatchRecord, BatchScanItem, CompanionKey} from '../sidekiq/batches.js'
import {isStranded, type JidObservation} from '../sidekiq/ghost-hunt.js'
import type {ContainerKind, CorruptMembers, Sighting} from '../sidekiq/job-locator.js'
import {BATCH_COMPANIONS} from '../sidekiq/keys.js'

export const VERDICTS = ['alive', 'waiting-on-retry', 'dead', 'stranded', 'ghost', 'unconfirmed'] as const
export type Verdict = (typeof VERDICTS)[number]

/** Worst first: a batch takes the worst verdict of its jids. */
const VERDICT_RANK: Record<Verdict, number> = {ghost: 6, stranded: 5, dead: 4, unconfirmed: 3, 'waiting-on-retry': 2, alive: 1}

export interface BatchesOptions {
  /** Redis TIME, epoch seconds. */
  nowSeconds: number
  staleAfterSeconds: number
  /** Batches younger than this are not judged for drift or ghosts. */
  minAgeSeconds: number
  /** Findings listed per check; the rest are counted in summary.unlisted. */
  maxFindingsPerCheck: number
}

export const DEFAULT_BATCHES_OPTIONS: Omit<BatchesOptions, 'nowSeconds'> = {
  staleAfterSeconds: 86_400,
  minAgeSeconds: 300,
  maxFindingsPerCheck: 10_000,
}

export interface Bucket {
  label: string
  batches: number
}

export interface BatchRow {
  bid: string
  layout: string
  pending: number | null
  verdict: Verdict
  counts: Partial<Record<Verdict, number>>
}

export interface BatchesSummary {
  /** Batch hashes found (both layouts). */
  batches: number
  layouts: {pro: number; 'sidekiq-batch': number}
  /** Batches with pending > 0. */
  pendingBatches: number
  /** Sum of positive `pending` counters. */
  pendingJobs: number
  /** JIDs in the `-jids` sets of the batches looked at (with --ghosts: of the judged batches). */
  pendingJids: number
  pendingHistogram: Bucket[]
  ageHistogram: Bucket[]
  nesting: {withParent: number; withKids: number}
  noTtl: number
  fragments: number
  negativePending: number
  counterDrift: number
  stale: number
  dead: number
  /** Companion keys without a batch hash. */
  orphanKeys: number
  /** Companion keys without TTL whose batch exists. */
  companionsWithoutTtl: number
  /** Pro `batches` index: members, members without a hash, pending batches missing from it. */
  index: {members: number; withoutHash: number; pendingNotIndexed: number}
  unrecognizedKeys: number
  /** Field name → batches carrying it, for fields not in qdoctor's list (Pro is closed source). */
  unknownFields: Record<string, number>
  // ---- --ghosts
  /** Count of pending jids per verdict. */
  verdicts?: Record<Verdict, number>
  /** Count of judged batches per verdict (their worst jid). */
  batchVerdicts?: Record<Verdict, number>
  /** Batches judged (pending, older than --min-age). */
  judgedBatches?: number
  /** Batches skipped because they are younger than --min-age. */
  tooYoung?: number
  /** The worst judged batches (for tables; findings carry every jid). */
  worst?: BatchRow[]
  passes?: number
  settleMs?: number
  /** Jids looked for again after the settle interval. */
  rechecked?: number
  /** Members read per container kind (first pass). */
  jobsRead?: Partial<Record<ContainerKind, number>>
  containers?: Partial<Record<ContainerKind, number>>
  corruptMembers?: number
  sidekiq?: {major?: number; source: string; versions: string[]}
  /** Findings beyond the per-check cap, by check id. */
  unlisted?: Record<string, number>
  // ---- --repair
  repair?: {step: string; planned: number; applied?: number; skipped?: number}
}

const DAY = 86_400
const PENDING_BUCKETS: Array<[string, (p: number) => boolean]> = [
  ['0', (p) => p === 0],
  ['1', (p) => p === 1],
  ['2–10', (p) => p >= 2 && p <= 10],
  ['11–100', (p) => p >= 11 && p <= 100],
  ['101–1k', (p) => p >= 101 && p <= 1000],
  ['> 1k', (p) => p > 1000],
  ['negative / unknown', (p) => !Number.isFinite(p) || p < 0],
]
const AGE_BUCKETS: Array<[string, (a: number | undefined) => boolean]> = [
  ['unknown', (a) => a === undefined],
  ['< 1h', (a) => a !== undefined && a < 3600],
  ['1h–1d', (a) => a !== undefined && a >= 3600 && a < DAY],
  ['1–7d', (a) => a !== undefined && a >= DAY && a < 7 * DAY],
  ['7–30d', (a) => a !== undefined && a >= 7 * DAY && a < 30 * DAY],
  ['≥ 30d', (a) => a !== undefined && a >= 30 * DAY],
]

export function emptySummary(): BatchesSummary {
  return {
    batches: 0,
    layouts: {pro: 0, 'sidekiq-batch': 0},
    pendingBatches: 0,
    pendingJobs: 0,
    pendingJids: 0,
    pendingHistogram: PENDING_BUCKETS.map(([label]) => ({label, batches: 0})),
    ageHistogram: AGE_BUCKETS.map(([label]) => ({label, batches: 0})),
    nesting: {withParent: 0, withKids: 0},
    noTtl: 0,
    fragments: 0,
    negativePending: 0,
    counterDrift: 0,
    stale: 0,
    dead: 0,
    orphanKeys: 0,
    companionsWithoutTtl: 0,
    index: {members: 0, withoutHash: 0, pendingNotIndexed: 0},
    unrecognizedKeys: 0,
    unknownFields: {},
  }
}

/** The sentence for a duration in findings ("3d 4h"). */
function age(seconds: number): string {
  const d = Math.floor(seconds / DAY)
  const h = Math.floor((seconds % DAY) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`
}

interface DeadEvidence {
  layout: string
  key: string
  diedJids?: number
  inDiedSet?: boolean
  /** Pending jids found in the dead set (the first 100 listed). */
  deadJids: string[]
  deadCount: number
}

export class BatchesJudge {
  readonly summary: BatchesSummary = emptySummary()
  private readonly capped: CappedFindings
  private readonly seenBids = new Set<string>()
  private readonly orphans = new Map<string, {layout: string; keys: CompanionKey[]}>()
  private readonly unrecognized: Array<{key: string; type: string; reason: string}> = []
  private readonly dead = new Map<string, DeadEvidence>()
  /** Batches for the ghost search: pending, old enough (and --bid, if given). */
  readonly judged: BatchRecord[] = []
  /** The ghost search's conclusions, for the repair planners. */
  readonly ghosts: JidObservation[] = []
  readonly stranded: Array<{observation: JidObservation; sighting: Sighting}> = []

  constructor(
    readonly options: BatchesOptions,
    private readonly only?: ReadonlySet<string>,
  ) {
    this.capped = new CappedFindings(options.maxFindingsPerCheck)
  }

  /** One item of the batch scan. */
  add(item: BatchScanItem): void {
    if (item.kind === 'batch') {
      if (!this.only || this.only.has(item.batch.bid)) this.addBatch(item.batch)
    } else if (item.kind === 'companion') {
      if (!this.only || item.companion.candidates.some((c) => this.only!.has(c.bid))) this.addCompanion(item.companion)
    } else if (!this.only) {
      this.summary.unrecognizedKeys++
      if (this.unrecognized.length < 20) this.unrecognized.push(item.key)
    }
  }

  private ageOf(b: BatchRecord): number | undefined {
    return b.createdAt === undefined ? undefined : Math.max(0, this.options.nowSeconds - b.createdAt)
  }

  private addBatch(b: BatchRecord): void {
    const s = this.summary
    s.batches++
    s.layouts[b.layout]++
    this.seenBids.add(`${b.layout}:${b.bid}`)
    const pending = b.pending
    const batchAge = this.ageOf(b)
    if (pending !== undefined && pending > 0) {
      s.pendingBatches++
      s.pendingJobs += pending
    }
    s.pendingHistogram[PENDING_BUCKETS.findIndex(([, t]) => t(pending ?? Number.NaN))]!.batches++
    s.ageHistogram[AGE_BUCKETS.findIndex(([, t]) => t(batchAge))]!.batches++
    if (b.parent) s.nesting.withParent++
    if ((b.kids ?? 0) > 0) s.nesting.withKids++
    if (b.ttlMs === -1) s.noTtl++
    for (const f of b.unknownFields) s.unknownFields[f] = (s.unknownFields[f] ?? 0) + 1
    if (b.indexed === false && (pending ?? 0) > 0) s.index.pendingNotIndexed++
    s.pendingJids += b.jids.type === 'set' ? b.jids.size : 0
    const subject = {bid: b.bid, layout: b.layout, key: b.key}
    const old = batchAge === undefined || batchAge >= this.options.minAgeSeconds

    if (b.fragment) {
      s.fragments++
      this.push({
        check: 'batch/fragment',
        severity: 'warn',
        message: `${b.key} has no created_at and no total, only ${Object.keys(b.fields).join(', ') || 'no fields'}: a leftover re-created by a late counter update after the batch expired (the "created 45 years ago" batch in the Web UI)${b.ttlMs === -1 ? '; it has no TTL, so it never goes away' : ''}.`,
        subject,
        evidence: {fields: b.fields, ttlSeconds: b.ttlMs < 0 ? b.ttlMs : Math.ceil(b.ttlMs / 1000)},
        fix: `Inspect it (redis-cli HGETALL ${b.key}); when nothing refers to the batch any more, redis-cli UNLINK ${b.key}`,
      })
    }
    if (pending !== undefined && pending < 0) {
      s.negativePending++
      this.push({
        check: 'batch/negative-pending',
        severity: 'warn',
        message: `Batch ${b.bid} counts pending ${pending}: more successes than jobs, usually a job that ran twice (e.g. recovered by super_fetch after it had finished). Its callbacks may have fired early or may never fire.`,
        subject,
        evidence: {pending, total: b.total ?? null, jids: b.jids.size},
        fix: 'Check the batch in the Web UI; Sidekiq Pro ≥ 7.0.2 / 5.5.6 clamps pending at 0.',
      })
    }
    const jidsCount = b.jids.type === 'set' ? b.jids.size : 0
    if (old && pending !== undefined && pending >= 0 && b.jids.type !== 'set' && b.jids.type !== 'none') {
      // A -jids key of another type: counted as unrecognized, never judged as drift.
    } else if (old && pending !== undefined && pending >= 0 && pending !== jidsCount) {
      s.counterDrift++
      const empty = pending > 0 && jidsCount === 0
      this.push({
        check: 'batch/counter-drift',
        severity: 'warn',
        message: empty
          ? `Batch ${b.bid} counts ${pending} pending jobs but its pending-jid set ${b.jids.key} is empty: there is no job left to find or to run, so the batch never completes and its callbacks never fire.`
          : `Batch ${b.bid} counts ${pending} pending jobs but ${b.jids.key} holds ${jidsCount} jids: the counter and the set have drifted apart.`,
        subject,
        evidence: {pending, jids: jidsCount, total: b.total ?? null},
        fix: empty
          ? 'Nothing to re-create: decide with the app owners whether the batch can be given up (Sidekiq::Batch::Status#delete) or its work redone.'
          : `qdoctor batches --ghosts --bid ${b.bid}  (see where each pending jid is)`,
      })
    }
    if (pending !== undefined && pending > 0 && batchAge !== undefined && batchAge >= this.options.staleAfterSeconds) {
      s.stale++
      this.push({
        check: 'batch/stale',
        severity: 'warn',
        message: `Batch ${b.bid} has waited ${age(batchAge)} with ${pending} of ${b.total ?? '?'} jobs pending${b.fields.description ? ` ("${b.fields.description.slice(0, 60)}")` : ''}.`,
        subject,
        evidence: {pending, total: b.total ?? null, ageSeconds: Math.round(batchAge), ttlSeconds: b.ttlMs < 0 ? b.ttlMs : Math.ceil(b.ttlMs / 1000)},
        fix: `qdoctor batches --ghosts --bid ${b.bid}`,
      })
    }
    if (b.inDiedSet) this.deadEvidence(b.layout, b.bid, b.key).inDiedSet = true
    if (pending !== undefined && pending > 0 && old) this.judged.push(b)
    else if (pending !== undefined && pending > 0) this.summary.tooYoung = (this.summary.tooYoung ?? 0) + 1
    else if (pending === undefined && jidsCount > 0 && old) this.judged.push(b)
  }

  private deadEvidence(layout: string, bid: string, key: string): DeadEvidence {
    const id = `${layout}:${bid}`
    let e = this.dead.get(id)
    if (!e) {
      e = {layout, key, deadJids: [], deadCount: 0}
      this.dead.set(id, e)
    }
    return e
  }

  private addCompanion(c: CompanionKey): void {
    if (!c.typeFits) {
      this.summary.unrecognizedKeys++
      if (this.unrecognized.length < 20)
        this.unrecognized.push({key: c.key, type: c.type, reason: `a ${c.type}, where a -${c.part} key ${confidenceOf(c) === 'guess' ? 'is guessed to be' : 'is'} a ${c.candidates[0]?.expectedType ?? '?'}`})
    }
    // Pro's `-died` lists the dead jobs of a live batch: the batch is dead.
    if (c.layout === 'pro' && c.part === 'died' && c.parentExists && c.typeFits && c.size > 0) this.deadEvidence(c.layout, c.bid, this.keyOfBatch(c)).diedJids = c.size
    // With its batch: only a companion without TTL next to a batch that expires outlives it.
    if (c.parentExists && (c.pttl !== -1 || c.parentPttl === -1)) return
    if (c.parentExists) this.summary.companionsWithoutTtl++
    else this.summary.orphanKeys++
    const id = `${c.layout}:${c.bid}`
    const group = this.orphans.get(id) ?? {layout: c.layout, keys: []}
    group.keys.push(c)
    this.orphans.set(id, group)
  }

  /** The batch hash key of a companion (its name minus the companion suffix). */
  private keyOfBatch(c: CompanionKey): string {
    return c.key.slice(0, -(c.part.length + 1))
  }

  /** Companion keys seen without their batch hash (the purge-orphans candidates). */
  orphanKeys(): CompanionKey[] {
    return [...this.orphans.values()].flatMap((g) => g.keys.filter((k) => !k.parentExists))
  }

  /** Pro `batches` index members whose hash was not found. */
  indexMembers(members: Iterable<string>): void {
    for (const bid of members) {
      this.summary.index.members++
      if (!this.seenBids.has(`pro:${bid}`)) this.summary.index.withoutHash++
    }
  }

  /** The ghost search's observations: one verdict per jid, findings for ghosts, stranded and dead jobs. */
  addObservations(observations: readonly JidObservation[], meta: {passes: number; settleMs: number}): void {
    const s = this.summary
    s.verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>
    s.batchVerdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>
    s.pendingJids = observations.length
    const rows = new Map<BatchRecord, BatchRow>()
    for (const o of observations) {
      const {verdict} = judgeJid(o)
      s.verdicts[verdict]++
      let row = rows.get(o.batch)
      if (!row) {
        row = {bid: o.batch.bid, layout: o.batch.layout, pending: o.batch.pending ?? null, verdict, counts: {}}
        rows.set(o.batch, row)
      }
      row.counts[verdict] = (row.counts[verdict] ?? 0) + 1
      if (VERDICT_RANK[verdict] > VERDICT_RANK[row.verdict]) row.verdict = verdict
      const subject = {bid: o.batch.bid, jid: o.jid, layout: o.batch.layout}
      if (verdict === 'ghost') {
        this.ghosts.push(o)
        this.push({
          check: 'batch/ghost-job',
          severity: 'error',
          message: `Job ${o.jid} of batch ${o.batch.bid} is pending but exists nowhere (no queue, schedule, retry, dead set, running work or fetch list${meta.passes > 1 ? `, in either pass ${Math.round(meta.settleMs / 1000)}s apart` : ''}): the batch waits for it forever and its callbacks never fire.`,
          subject,
          evidence: {
            batchKey: o.batch.key,
            jidsKey: o.batch.jids.key,
            pending: o.batch.pending ?? null,
            passes: meta.passes,
            ...(o.failedBefore ? {failedBefore: true, note: 'it failed at least once: it was probably deleted from the retry or dead set, or trimmed from the dead set'} : {}),
          },
          fix: `qdoctor batches --ghosts --bid ${o.batch.bid} --repair recreate --job-class <YourNoopJob>`,
        })
      } else if (verdict === 'stranded') {
        const sighting = (o.second ?? o.first).find(isStranded)!
        this.stranded.push({observation: o, sighting})
        const c = sighting.container
        this.push({
          check: 'batch/stranded-job',
          severity: 'warn',
          message: `Job ${o.jid} of batch ${o.batch.bid} sits in ${c.key}, the ${c.kind === 'private-queue' ? 'super_fetch private queue' : 'reliable-fetch working list'} of ${c.owner}, whose heartbeat is gone: nothing runs it until a process recovers orphans${c.kind === 'private-queue' ? ' (Sidekiq Pro checks at most once an hour, at process start)' : ''}.`,
          subject,
          evidence: {key: c.key, owner: c.owner, heartbeatKey: c.heartbeatKey, queue: c.queue},
          fix: `qdoctor batches --ghosts --repair rescue  (moves it back to ${c.queue ? `queue:${c.queue}` : 'its queue'})`,
        })
      } else if (verdict === 'dead') {
        const e = this.deadEvidence(o.batch.layout, o.batch.bid, o.batch.key)
        if (e.deadJids.length < 100) e.deadJids.push(o.jid)
        e.deadCount++
      }
    }
    for (const row of rows.values()) s.batchVerdicts[row.verdict]++
    s.judgedBatches = rows.size
    s.worst = [...rows.values()]
      .filter((r) => r.verdict !== 'alive')
      .sort((a, b) => VERDICT_RANK[b.verdict] - VERDICT_RANK[a.verdict] || (b.counts[b.verdict] ?? 0) - (a.counts[a.verdict] ?? 0))
      .slice(0, 20)
  }

  /** Unreadable members met while streaming containers. */
  addCorrupt(corrupt: readonly CorruptMembers[]): void {
    this.summary.corruptMembers = corrupt.reduce((n, c) => n + c.count, 0)
    for (const c of corrupt)
      this.push({
        check: 'batch/corrupt-member',
        severity: 'warn',
        message: `${c.count} member${c.count === 1 ? '' : 's'} of ${c.key} could not be read as a job (${c.examples[0]?.reason ?? 'unreadable'}): counted and skipped. Sidekiq cannot run them either.`,
        subject: {key: c.key, kind: c.kind},
        evidence: {count: c.count, examples: c.examples},
        fix: `Inspect them (qdoctor queues --deep for queue lists); remove what is garbage by its exact value.`,
      })
  }

  /** Emit the grouped findings (orphan keys, dead batches, unrecognised shapes). Call once, at the end. */
  finish(): Finding[] {
    for (const [id, e] of this.dead) {
      const bid = id.slice(id.indexOf(':') + 1)
      this.summary.dead++
      const parts = [
        e.deadCount ? `${e.deadCount} of its pending jobs are dead` : '',
        e.diedJids ? `its -died set lists ${e.diedJids} jobs` : '',
        e.inDiedSet ? 'it is listed in batch-died' : '',
      ].filter(Boolean)
      this.push({
        check: 'batch/dead',
        severity: 'warn',
        message: `Batch ${bid} is dead: ${parts.join('; ')}. It cannot succeed until those jobs are retried and succeed (its death callback has fired).`,
        subject: {bid, layout: e.layout, key: e.key},
        evidence: {deadJids: e.deadJids, deadCount: e.deadCount, diedJids: e.diedJids ?? null, inDiedSet: e.inDiedSet ?? false},
        fix: 'Retry the dead jobs once their cause is fixed (Web UI → Dead, or qdoctor dead), or give the batch up.',
      })
    }
    for (const [id, group] of this.orphans) {
      const bid = id.slice(id.indexOf(':') + 1)
      const gone = group.keys.filter((k) => !k.parentExists)
      const noTtl = group.keys.filter((k) => k.pttl === -1)
      const hash = group.layout === 'pro' ? `b-${bid}` : `BID-${bid}`
      this.push({
        check: 'batch/orphan-keys',
        severity: 'warn',
        message: gone.length
          ? `${gone.length} companion key${gone.length === 1 ? '' : 's'} of batch ${bid} outlived ${hash}: ${gone.map((k) => k.key).join(', ')}${noTtl.length ? ` (${noTtl.length} without TTL: they never expire)` : ''}.`
          : `${noTtl.length} companion key${noTtl.length === 1 ? '' : 's'} of batch ${bid} have no TTL and will outlive the batch: ${noTtl.map((k) => k.key).join(', ')}.`,
        subject: {bid, layout: group.layout, keys: group.keys.map((k) => k.key)},
        evidence: {
          parentExists: gone.length === 0,
          keys: group.keys.map((k) => ({key: k.key, type: k.type, part: k.part, size: k.size, ttlSeconds: k.pttl < 0 ? k.pttl : Math.ceil(k.pttl / 1000)})),
        },
        fix: gone.length ? 'qdoctor batches --repair purge-orphans' : `redis-cli EXPIRE <key> 2592000 for each (30 days, Sidekiq's own batch expiry)`,
      })
    }
    const fields = Object.entries(this.summary.unknownFields)
    if (this.unrecognized.length || fields.length) {
      this.push({
        check: 'batch/unrecognized',
        severity: 'info',
        message: `Batch data qdoctor does not recognise (Sidekiq Pro is closed source; this is reported, never changed): ${[
          this.summary.unrecognizedKeys ? `${this.summary.unrecognizedKeys} keys under b-/BID- that are neither a batch nor a known companion` : '',
          fields.length ? `batch fields ${fields.map(([f, n]) => `${f} (${n})`).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ')}.`,
        subject: {keys: this.unrecognized.map((u) => u.key)},
        evidence: {keys: this.unrecognized, unknownFields: this.summary.unknownFields},
      })
    }
    Object.assign(this.summary, this.capped.unlistedSummary)
    return [...this.capped.findings, ...Object.entries(this.capped.unlisted).map(([check, n]) => capNote(check, n))]
  }

  private push(f: Finding): void {
    this.capped.add(f)
  }
}

function confidenceOf(c: CompanionKey): string | undefined {
  return BATCH_COMPANIONS[c.layout].find((x) => x.part === c.part)?.confidence
}

function capNote(check: string, n: number): Finding {
  return {check: 'batch/findings-capped', severity: 'info', message: `${n} more ${check} findings were not listed (summary.unlisted counts them; narrow with --bid).`, subject: {check}, evidence: {unlisted: n}}
}

/** The verdict of one pending jid from where it was seen (sidekiq-data-model.md §10.1). */
export function judgeJid(o: JidObservation): {verdict: Verdict; reason: string} {
  const final = o.second ?? o.first
  if (o.second !== undefined) {
    if (o.leftPending) return {verdict: 'unconfirmed', reason: 'it left the pending set during the settle interval (it succeeded, or was removed)'}
    if (final.length === 0 && o.batchChanged) return {verdict: 'unconfirmed', reason: "the batch's pending count changed during the settle interval"}
    if (final.length === 0 && o.first.length > 0) return {verdict: 'unconfirmed', reason: 'it was seen in the first pass and not in the second'}
  }
  if (final.length === 0) return o.inDied ? {verdict: 'dead', reason: 'listed in the batch -died set'} : {verdict: 'ghost', reason: 'found nowhere'}
  const best = final.map(sightingVerdict).reduce(pickBetter)
  return {verdict: best, reason: final.map((s) => s.container.key).join(', ')}
}

/** Where a job is says how it fares; among several sightings the most hopeful wins (alive first). */
const HOPE: Record<Verdict, number> = {alive: 6, 'waiting-on-retry': 5, stranded: 4, dead: 3, unconfirmed: 2, ghost: 1}
function pickBetter(a: Verdict, b: Verdict): Verdict {
  return HOPE[b] > HOPE[a] ? b : a
}

export function sightingVerdict(s: Sighting): Verdict {
  switch (s.container.kind) {
    case 'retry':
      return 'waiting-on-retry'
    case 'dead':
    case 'interrupted':
      return 'dead'
    case 'private-queue':
    case 'working-queue':
      return s.container.ownerAlive === false ? 'stranded' : 'alive'
    default:
      return 'alive'
  }
}

/** queued / scheduled / running / fetched, for evidence and tables. */
export function sightingState(s: Sighting): string {
  switch (s.container.kind) {
    case 'queue':
      return 'queued'
    case 'schedule':
      return 'scheduled'
    case 'work':
      return 'running'
    case 'private-queue':
    case 'working-queue':
      return s.container.ownerAlive === false ? 'stranded' : 'fetched'
    case 'retry':
      return 'retrying'
    default:
      return s.container.kind
  }
}
