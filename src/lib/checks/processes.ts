// Judges Sidekiq processes: stale `processes` members, late heartbeats, processes stuck quiet,
// mixed versions, jobs running too long, and private/working queues whose owner is gone.
// Pure: heartbeats, work and queues read elsewhere, measured against the Redis clock.
import {humanSeconds} from '../report/style.js'
import type {Finding} from '../report/types.js'
import type {PrivateQueue} from '../sidekiq/private-queues.js'
import type {ProcessState} from '../sidekiq/processes.js'
import type {WorkEntry} from '../sidekiq/work.js'
import {CappedFindings} from './capped-findings.js'

export interface ProcessThresholds {
  /** A job in progress this long is stuck (`--stuck-after`). */
  stuckAfterSeconds: number
  /** A beat older than this many heartbeat intervals is late. */
  lateBeats: number
}

export const DEFAULT_PROCESS_THRESHOLDS: ProcessThresholds = {stuckAfterSeconds: 3600, lateBeats: 2}

/** Sidekiq re-sets `EXPIRE <identity> 60` on every beat (all versions). */
export const HEARTBEAT_TTL_SECONDS = 60

/** Findings listed one by one per check; the rest are counted in summary.unlisted. */
export const MAX_FINDINGS_PER_CHECK = 200

export interface ProcessRow {
  identity: string
  hostname: string | null
  pid: number | null
  tag: string | null
  version: string | null
  concurrency: number | null
  busy: number | null
  quiet: boolean | null
  /** Redis TIME minus the `beat` the process wrote (its own clock); null when stale. */
  beatAgeSeconds: number | null
  /** Seconds left on the heartbeat hash (60 s after the last beat). */
  heartbeatTtlSeconds: number | null
  uptimeSeconds: number | null
  rssKb: number | null
  rttUs: number | null
  /** Jobs in progress (entries of `:work` / `:workers`). */
  workEntries: number
  /** A `processes` member whose heartbeat hash is gone. */
  stale: boolean
  late: boolean
}

export interface StuckJob {
  jid: string | null
  class: string | null
  queue: string | null
  identity: string
  tid: string
  runAt: number
  runningSeconds: number
}

export interface ProcessesSummary {
  processes: ProcessRow[]
  total: number
  alive: number
  stale: number
  /** Threads and jobs in progress over live processes. */
  concurrency: number
  busy: number
  versions: string[]
  stuckJobs: StuckJob[]
  privateQueues: Array<Pick<PrivateQueue, 'key' | 'kind' | 'identity' | 'queue' | 'jobs' | 'ownerAlive'>>
  /** Findings not listed one by one (beyond MAX_FINDINGS_PER_CHECK), per check. */
  unlisted?: Record<string, number>
  /** After --prune: stale members removed. */
  pruned?: number
}

export interface ProcessesInput {
  processes: ProcessState[]
  /** Redis TIME, epoch seconds. */
  nowSeconds: number
  privateQueues: PrivateQueue[]
}

/** Seconds between beats: 10 s from Sidekiq 7.0 (which reports info.version from 7.0.2), 5 s in 6.x. Unknown → 10 (the lenient one). */
export function beatIntervalSeconds(version: string | undefined): number {
  const major = Number(/^(\d+)\./.exec(version ?? '')?.[1])
  return Number.isFinite(major) && major < 7 ? 5 : 10
}

/** Seconds since the last beat on the Redis clock, from the TTL the beat set (undefined without a TTL). */
export function ttlBeatAge(p: ProcessState): number | undefined {
  return p.ttlMs === undefined ? undefined : Math.max(0, HEARTBEAT_TTL_SECONDS - p.ttlMs / 1000)
}

export function evaluateProcesses(input: ProcessesInput, t: ProcessThresholds = DEFAULT_PROCESS_THRESHOLDS): {summary: ProcessesSummary; findings: Finding[]} {
  const {nowSeconds} = input
  const capped = new CappedFindings(MAX_FINDINGS_PER_CHECK)
  const add = (f: Finding) => capped.add(f)

  const rows: ProcessRow[] = []
  const stuckJobs: StuckJob[] = []
  const live = input.processes.filter((p) => p.alive)
  for (const p of input.processes) {
    const beatAge = p.alive && p.beat !== undefined ? round1(nowSeconds - p.beat) : undefined
    const late = p.alive && isLate(p, beatAge, t)
    rows.push(toRow(p, nowSeconds, beatAge, late))
    if (!p.alive) add(staleFinding(p))
    else if (late) add(lateFinding(p, beatAge, t))
    if (p.alive && p.quiet && (p.busy ?? 0) === 0 && p.work.length === 0) add(quietFinding(p))
    if (!p.alive) continue
    for (const w of p.work) {
      if (w.runAt === undefined || nowSeconds - w.runAt < t.stuckAfterSeconds) continue
      const job = stuckJob(p, w, nowSeconds)
      stuckJobs.push(job)
      add(stuckFinding(p, job, t))
    }
  }

  const versions = [...new Set(live.map((p) => p.version).filter((v): v is string => Boolean(v)))].sort()
  if (versions.length > 1) add(versionMixFinding(live, versions))

  for (const q of input.privateQueues) if (!q.ownerAlive) add(orphanFinding(q))

  const summary: ProcessesSummary = {
    processes: rows,
    total: input.processes.length,
    alive: live.length,
    stale: input.processes.length - live.length,
    concurrency: live.reduce((s, p) => s + (p.concurrency ?? 0), 0),
    busy: live.reduce((s, p) => s + (p.busy ?? 0), 0),
    versions,
    stuckJobs,
    privateQueues: input.privateQueues.map(({key, kind, identity, queue, jobs, ownerAlive}) => ({key, kind, identity, queue, jobs, ownerAlive})),
    ...capped.unlistedSummary,
  }
  return {summary, findings: capped.findings}
}

function isLate(p: ProcessState, beatAge: number | undefined, t: ProcessThresholds): boolean {
  const limit = t.lateBeats * beatIntervalSeconds(p.version)
  // The TTL is measured on the Redis clock; the `beat` field on the process's own (which may be skewed).
  const age = ttlBeatAge(p) ?? beatAge
  return age !== undefined && age > limit
}

function toRow(p: ProcessState, nowSeconds: number, beatAge: number | undefined, late: boolean): ProcessRow {
  return {
    identity: p.identity,
    hostname: p.hostname ?? null,
    pid: p.pid ?? null,
    tag: p.tag ?? null,
    version: p.version ?? null,
    concurrency: p.concurrency ?? null,
    busy: p.busy ?? null,
    quiet: p.alive ? (p.quiet ?? false) : null,
    beatAgeSeconds: beatAge ?? null,
    heartbeatTtlSeconds: p.ttlMs === undefined ? null : round1(p.ttlMs / 1000),
    uptimeSeconds: p.alive && p.startedAt !== undefined ? Math.round(nowSeconds - p.startedAt) : null,
    rssKb: p.rssKb ?? null,
    rttUs: p.rttUs ?? null,
    workEntries: p.work.length,
    stale: !p.alive,
    late,
  }
}

function who(p: ProcessState): string {
  return p.hostname && p.pid !== undefined ? `${p.identity} (pid ${p.pid} on ${p.hostname})` : p.identity
}

function staleFinding(p: ProcessState): Finding {
  const lost = p.work.map((w) => ({tid: w.tid, ...(w.payload.ok ? {jid: w.payload.job.jid, class: w.payload.job.displayClass} : {}), queue: w.queue ?? null}))
  const unreadable = p.problems.length ? ` Its heartbeat key could not be read as a hash (${p.problems.join('; ')}).` : ''
  return {
    check: 'process/stale-heartbeat',
    severity: 'warn',
    message: `${p.identity} is listed in processes but its heartbeat hash is gone: the process died or lost Redis more than ${HEARTBEAT_TTL_SECONDS}s ago. Stale members inflate the Web UI's process count and slow scheduled/retry delivery (the poll interval scales with the size of processes).${lost.length ? ` ${lost.length} jobs it was running are lost under basic fetch.` : ''}${unreadable}`,
    subject: {identity: p.identity},
    evidence: {workEntries: p.work.length, ...(lost.length ? {lostJobs: lost} : {}), ...(p.problems.length ? {problems: p.problems} : {})},
    fix: 'qdoctor processes --prune',
  }
}

function lateFinding(p: ProcessState, beatAge: number | undefined, t: ProcessThresholds): Finding {
  const interval = beatIntervalSeconds(p.version)
  const ttlAge = ttlBeatAge(p)
  const age = ttlAge ?? beatAge ?? 0
  return {
    check: 'process/heartbeat-late',
    severity: 'warn',
    message: `${who(p)} last beat about ${Math.round(age)}s ago (it beats every ${interval}s; late after ${t.lateBeats * interval}s): its heartbeat thread is blocked or the process is dying. The hash expires ${HEARTBEAT_TTL_SECONDS}s after the last beat.`,
    subject: {identity: p.identity},
    evidence: {
      beatAgeSeconds: beatAge ?? null,
      ...(ttlAge !== undefined ? {ttlBeatAgeSeconds: round1(ttlAge), heartbeatTtlSeconds: round1(p.ttlMs! / 1000)} : {}),
      beatIntervalSeconds: interval,
    },
    fix: `Look at the process${p.hostname ? ` on ${p.hostname}` : ''} (CPU, GC, memory, a native call holding the GVL); \`kill -TTIN ${p.pid ?? '<pid>'}\` logs every thread's backtrace.`,
  }
}

function quietFinding(p: ProcessState): Finding {
  return {
    check: 'process/stuck-quiet',
    severity: 'warn',
    message: `${who(p)} is quiet (fetches no new jobs) and has nothing left to finish, yet it is still running: the stop that should follow a quiet never came. Its threads do no work.`,
    subject: {identity: p.identity},
    evidence: {busy: p.busy ?? null, workEntries: 0, concurrency: p.concurrency ?? null},
    fix: `Stop it: kill -TERM ${p.pid ?? '<pid>'}${p.hostname ? ` on ${p.hostname}` : ''} (or Stop in the Web UI's Busy page), and check the deploy that quieted it.`,
  }
}

function stuckJob(p: ProcessState, w: WorkEntry, nowSeconds: number): StuckJob {
  return {
    jid: w.payload.ok ? w.payload.job.jid : null,
    class: w.payload.ok ? w.payload.job.displayClass : null,
    queue: w.queue ?? (w.payload.ok ? (w.payload.job.queue ?? null) : null),
    identity: p.identity,
    tid: w.tid,
    runAt: w.runAt!,
    runningSeconds: Math.round(nowSeconds - w.runAt!),
  }
}

function stuckFinding(p: ProcessState, job: StuckJob, t: ProcessThresholds): Finding {
  return {
    check: 'process/stuck-job',
    severity: 'warn',
    message: `Job ${job.class ?? '(unreadable payload)'} ${job.jid ?? `on thread ${job.tid}`} has been running for ${humanSeconds(job.runningSeconds)} on ${who(p)} (queue ${job.queue ?? '?'}; --stuck-after ${humanSeconds(t.stuckAfterSeconds)}).`,
    subject: {jid: job.jid, identity: p.identity},
    evidence: {runAt: job.runAt, startedAt: new Date(job.runAt * 1000).toISOString(), runningSeconds: job.runningSeconds, class: job.class, queue: job.queue, tid: job.tid},
    fix: `kill -TTIN ${p.pid ?? '<pid>'}${p.hostname ? ` on ${p.hostname}` : ''} logs the thread's backtrace; if the job hangs, stop the process (TERM) and fix the job (timeouts on network calls).`,
  }
}

function versionMixFinding(live: ProcessState[], versions: string[]): Finding {
  const byVersion: Record<string, string[]> = {}
  for (const p of live) if (p.version) (byVersion[p.version] ??= []).push(p.identity)
  return {
    check: 'process/version-mix',
    severity: 'warn',
    message: `Live processes run ${versions.length} Sidekiq versions (${versions.join(', ')}): a deploy is half done, or some hosts were left behind.`,
    subject: {versions},
    evidence: {byVersion},
    fix: 'Finish the deploy (or restart the processes on the old version).',
  }
}

function orphanFinding(q: PrivateQueue): Finding {
  const recovery =
    q.kind === 'super_fetch'
      ? 'super_fetch recovers them only when some process starts at least an hour (super_fetch_orphan_check) after the last orphan check'
      : 'the next process that takes reliable-fetcher-cleanup-lock (hourly) requeues them'
  return {
    check: 'process/orphaned-private-queue',
    severity: 'error',
    message: `${q.key} holds ${q.jobs} jobs of queue "${q.queue}" for ${q.identity}, whose heartbeat (${q.heartbeatKey}) is gone: they run nowhere until recovered, and ${recovery}.`,
    subject: {key: q.key, identity: q.identity},
    evidence: {jobs: q.jobs, queue: q.queue, kind: q.kind, heartbeatKey: q.heartbeatKey},
    fix:
      q.kind === 'super_fetch'
        ? `Restart one Sidekiq Pro process to trigger recovery, or move the jobs back: redis-cli LMOVE '${q.key}' '${q.publicKey}' RIGHT LEFT (repeat until empty).`
        : `Move the jobs back: redis-cli LMOVE '${q.key}' '${q.publicKey}' RIGHT LEFT (repeat until empty).`,
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
