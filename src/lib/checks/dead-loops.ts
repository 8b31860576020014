// Retry-loop detection (sidekiq-data-model.md §10.3). A job that died again after a manual retry
// looks like any other dead job, so one snapshot says little; what gives a loop away:
// - live: sampled repeatedly, the newest entries of `dead` show the same jid with a larger score
//   (it died again in between), while `stat:failed` climbs and ZCARD dead stays flat;
// - static: `retry: 0` jobs carrying `retried_at` (only a manual retry sets it), queued copies with
//   `retry_count: -1` (retried by hand, in flight), and copies that carry both (retried again after
//   dying again: a loop in its second lap at least);
// - the driver: a connection that never blocks (not a worker) and keeps cycling the retry commands
//   (zrange/zcard or zpopmin, multi/exec, lpush/sadd) — a console, a script or the Web UI process.
import type {Connection} from '../redis/connect.js'
import {type ClientInfo, readClientList} from '../redis/client-list.js'
import type {Finding} from '../report/types.js'
import {newestEntries, readCounter, type ScoredMember} from '../sidekiq/dead.js'
import {type ParsedJob, parseJob} from '../sidekiq/job.js'
import type {SidekiqKeys} from '../sidekiq/keys.js'
import {errorText, isoOf, type ManualRetrySighting} from './dead.js'

export interface WatchOptions {
  windowMs: number
  /** Time between samples. */
  intervalMs: number
  /** Newest entries read per sample. */
  sample: number
  onSample?: (watch: LoopWatch) => void
}

export interface LoopingJob {
  jid: string
  class: string
  error?: string
  /** Deaths seen after the first sighting (a lower bound: two deaths between samples count once). */
  reDeaths: number
  /** Re-deaths per minute over the window. */
  perMinute: number
  lastDiedAt: string
}

export interface DriverClient {
  id: string
  addr: string
  name: string
  ageSeconds: number
  idleSeconds: number
  libName?: string
  /** Last commands seen, most frequent first. */
  commands: string[]
  /** Samples it was active in (idle ≤ 1 s, running a retry command), of the samples it was seen in. */
  activeSamples: number
  samples: number
}

export interface WatchSummary {
  seconds: number
  samples: number
  /** Newest entries read per sample. */
  sampleSize: number
  deadSize: {start: number; end: number; min: number; max: number}
  /** `stat:failed` growth over the window (Sidekiq flushes it on each heartbeat, every 5–10 s). */
  failedGrowth?: number
  loopingJobs: number
  reDeaths: number
  /** Every job seen dying again (first MAX_LOOPING_LISTED), most re-deaths first. */
  looping: Array<{jid: string; class: string; reDeaths: number}>
  drivers: DriverClient[]
  /** Why CLIENT LIST could not be read (managed services may refuse it). */
  clientsUnavailable?: string
}

/** Commands a retry_all caller runs: 6.x–7.3.4 page (zrange), remove (multi/exec), push (lpush/sadd), size (zcard); 7.3.5+ zpopmin. */
const RETRY_COMMANDS = new Set(['zrange', 'zrangebyscore', 'zrevrange', 'zremrangebyscore', 'zcard', 'zpopmin', 'zrem', 'zscan', 'multi', 'exec', 'lpush', 'sadd'])
const MAX_LOOPING_LISTED = 10_000
const PUSH_COMMANDS = new Set(['lpush', 'sadd'])
const TAKE_COMMANDS = new Set(['zrange', 'zrangebyscore', 'zrevrange', 'zremrangebyscore', 'zcard', 'zpopmin', 'zrem', 'zscan', 'exec'])
/** A connection seen blocked on one of these is a worker's fetch, not a driver. */
const BLOCKING_COMMANDS = new Set(['brpop', 'blpop', 'brpoplpush', 'blmove', 'bzpopmin', 'bzpopmax', 'blmpop', 'bzmpop', 'xread', 'xreadgroup'])

interface JidState {
  class: string
  error?: string
  lastScore: number
  reDeaths: number
}

interface ClientState {
  info: ClientInfo
  samples: number
  active: number
  blocking: boolean
  commands: Map<string, number>
}

export class LoopWatch {
  samples = 0
  private readonly jids = new Map<string, JidState>()
  private readonly known = new Map<string, {jid: string; class: string; error?: string} | null>()
  private readonly clients = new Map<string, ClientState>()
  private sizes: number[] = []
  clientsUnavailable?: string
  private readonly startedAt = Date.now()

  /** One sample of the newest entries (and the set's size). */
  observeDead(entries: readonly ScoredMember[], size: number): void {
    this.samples++
    this.sizes.push(size)
    if (this.known.size > 50_000) this.known.clear()
    for (const e of entries) {
      let who = this.known.get(e.member)
      if (who === undefined) {
        const p = parseJob(e.member)
        who = p.ok ? {jid: p.job.jid, class: p.job.displayClass, ...(p.job.errorClass ? {error: errorText(p.job.errorClass, p.job.errorMessage)} : {})} : null
        this.known.set(e.member, who)
      }
      if (!who) continue
      const state = this.jids.get(who.jid)
      if (!state) this.jids.set(who.jid, {class: who.class, ...(who.error ? {error: who.error} : {}), lastScore: e.score, reDeaths: 0})
      else if (e.score > state.lastScore) {
        state.reDeaths++
        state.lastScore = e.score
        if (who.error) state.error = who.error
      }
    }
  }

  observeClients(clients: readonly ClientInfo[], ownId?: string): void {
    for (const c of clients) {
      if (c.id === ownId || /[SMP]/.test(c.flags)) continue
      let state = this.clients.get(c.id)
      if (!state) this.clients.set(c.id, (state = {info: c, samples: 0, active: 0, blocking: false, commands: new Map()}))
      state.info = c
      state.samples++
      if (BLOCKING_COMMANDS.has(c.cmd) || c.flags.includes('b')) state.blocking = true
      if (c.idleSeconds <= 1 && RETRY_COMMANDS.has(c.cmd)) {
        state.active++
        state.commands.set(c.cmd, (state.commands.get(c.cmd) ?? 0) + 1)
      }
    }
  }

  loopingJobs(): LoopingJob[] {
    const minutes = Math.max(1 / 60, (Date.now() - this.startedAt) / 60_000)
    return [...this.jids]
      .filter(([, s]) => s.reDeaths > 0)
      .map(([jid, s]) => ({
        jid,
        class: s.class,
        ...(s.error ? {error: s.error} : {}),
        reDeaths: s.reDeaths,
        perMinute: Number((s.reDeaths / minutes).toFixed(1)),
        lastDiedAt: isoOf(s.lastScore),
      }))
      .sort((a, b) => b.reDeaths - a.reDeaths || (a.jid < b.jid ? -1 : 1))
  }

  /** Connections that never blocked (not a worker's fetch) and kept running the retry commands: take from dead and push. */
  drivers(): DriverClient[] {
    const out: DriverClient[] = []
    for (const s of this.clients.values()) {
      const cmds = [...s.commands.keys()]
      if (s.blocking || s.active < 2 || s.active < 0.3 * s.samples) continue
      if (!cmds.some((c) => PUSH_COMMANDS.has(c)) && !cmds.includes('zpopmin')) continue
      if (!cmds.some((c) => TAKE_COMMANDS.has(c))) continue
      out.push({
        id: s.info.id,
        addr: s.info.addr,
        name: s.info.name,
        ageSeconds: s.info.ageSeconds,
        idleSeconds: s.info.idleSeconds,
        ...(s.info.libName ? {libName: s.info.libName} : {}),
        commands: [...s.commands].sort((a, b) => b[1] - a[1]).map(([c]) => c),
        activeSamples: s.active,
        samples: s.samples,
      })
    }
    return out.sort((a, b) => b.activeSamples - a.activeSamples)
  }

  summary(sampleSize: number, failedGrowth?: number): WatchSummary {
    const looping = this.loopingJobs()
    const sizes = this.sizes.length ? this.sizes : [0]
    return {
      seconds: Number(((Date.now() - this.startedAt) / 1000).toFixed(1)),
      samples: this.samples,
      sampleSize,
      deadSize: {start: sizes[0]!, end: sizes[sizes.length - 1]!, min: Math.min(...sizes), max: Math.max(...sizes)},
      ...(failedGrowth !== undefined ? {failedGrowth} : {}),
      loopingJobs: looping.length,
      reDeaths: looping.reduce((n, j) => n + j.reDeaths, 0),
      looping: looping.slice(0, MAX_LOOPING_LISTED).map((j) => ({jid: j.jid, class: j.class, reDeaths: j.reDeaths})),
      drivers: looping.length ? this.drivers() : [],
      ...(this.clientsUnavailable ? {clientsUnavailable: this.clientsUnavailable} : {}),
    }
  }
}

/** Sample `dead` (and CLIENT LIST) every `intervalMs` for `windowMs`. */
export async function watchDead(conn: Connection, keys: SidekiqKeys, options: WatchOptions): Promise<{summary: WatchSummary; looping: LoopingJob[]}> {
  const watch = new LoopWatch()
  const failedStart = await readCounter(conn, keys.statFailed)
  const deadline = Date.now() + options.windowMs
  for (;;) {
    const {size, entries} = await newestEntries(conn, keys.dead, options.sample)
    watch.observeDead(entries, size)
    if (!watch.clientsUnavailable) {
      const list = await readClientList(conn)
      if (list.available) watch.observeClients(list.clients, list.ownId)
      else watch.clientsUnavailable = list.reason
    }
    options.onSample?.(watch)
    const left = deadline - Date.now()
    if (left <= 0) break
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs, left)))
  }
  const failedEnd = await readCounter(conn, keys.statFailed)
  const growth = failedStart !== undefined && failedEnd !== undefined ? failedEnd - failedStart : undefined
  return {summary: watch.summary(options.sample, growth), looping: watch.loopingJobs()}
}

/** Queued copies that only a manual retry produces (`retry_count: -1`), and those retried again after a re-death. */
export function queuedRetrySignals(jobs: readonly ParsedJob[]): {manual: ManualRetrySighting[]; repeated: ManualRetrySighting[]} {
  const manual: ManualRetrySighting[] = []
  const repeated: ManualRetrySighting[] = []
  for (const p of jobs) {
    if (!p.ok || p.job.retryCount === undefined || p.job.retryCount >= 0) continue
    const sighting: ManualRetrySighting = {
      jid: p.job.jid,
      class: p.job.displayClass,
      score: p.job.enqueuedAt ?? 0,
      ...(p.job.errorClass ? {error: errorText(p.job.errorClass, p.job.errorMessage)} : {}),
    }
    manual.push(sighting)
    if (p.job.retriedAt !== undefined) repeated.push(sighting)
  }
  return {manual, repeated}
}

export type LoopSignal = 're-died-in-window' | 'retried-again-after-re-death' | 'manual-retry-died-again' | 'manual-retry-in-flight'

const SIGNAL_TEXT: Record<LoopSignal, string> = {
  're-died-in-window': 'died again while being watched',
  'retried-again-after-re-death': 'is queued again by a manual retry after dying again (retry_count -1 and retried_at: a loop in its second lap at least)',
  'manual-retry-died-again': 'is a retry: 0 job that carries retried_at: it was retried by hand and died again',
  'manual-retry-in-flight': 'is queued with retry_count -1: a retry: 0 job retried by hand, in flight now',
}

/**
 * One dead/retry-loop finding per jid, strongest signal first. `live`: jobs that died again in the
 * watch window; the static sightings add the signals a single snapshot shows.
 */
export function loopFindings(
  input: {live: LoopingJob[]; watch?: WatchSummary; repeated: ManualRetrySighting[]; diedAgain: ManualRetrySighting[]; inFlight: ManualRetrySighting[]},
  fix: string,
): Finding[] {
  const byJid = new Map<string, Finding>()
  const drivers = input.watch?.drivers ?? []
  const driverText = drivers.length
    ? ` Driven by ${drivers.map((d) => `client ${d.addr}${d.name ? ` "${d.name}"` : ''} (connected ${d.ageSeconds}s, running ${d.commands.join('/')})`).join(' and ')}.`
    : ''
  for (const j of input.live) {
    byJid.set(j.jid, {
      check: 'dead/retry-loop',
      severity: 'error',
      message: `jid ${j.jid} (${j.class}) died again ${j.reDeaths} time${j.reDeaths === 1 ? '' : 's'} in ${input.watch?.seconds ?? '?'}s (${j.perMinute}/min): something keeps retrying it and it keeps failing${j.error ? ` with ${j.error}` : ''}.${driverText}`,
      subject: {jid: j.jid, class: j.class},
      evidence: {
        signal: 're-died-in-window' satisfies LoopSignal,
        reDeaths: j.reDeaths,
        windowSeconds: input.watch?.seconds,
        perMinute: j.perMinute,
        lastDiedAt: j.lastDiedAt,
        ...(j.error ? {error: j.error} : {}),
        ...(drivers.length ? {drivers: drivers.map(({id, addr, name, ageSeconds, commands}) => ({id, addr, name, ageSeconds, commands}))} : {}),
      },
      fix,
    })
  }
  const statics: Array<[LoopSignal, ManualRetrySighting[]]> = [
    ['retried-again-after-re-death', input.repeated],
    ['manual-retry-died-again', input.diedAgain],
    ['manual-retry-in-flight', input.inFlight],
  ]
  for (const [signal, sightings] of statics) {
    for (const s of sightings) {
      const existing = byJid.get(s.jid)
      if (existing) {
        const ev = existing.evidence as Record<string, unknown>
        ev.signals = [...((ev.signals as string[] | undefined) ?? []), signal]
        continue
      }
      byJid.set(s.jid, {
        check: 'dead/retry-loop',
        severity: 'error',
        message: `jid ${s.jid} (${s.class}) ${SIGNAL_TEXT[signal]}${s.error ? ` (${s.error})` : ''}.`,
        subject: {jid: s.jid, class: s.class},
        evidence: {signal, ...(s.error ? {error: s.error} : {})},
        fix,
      })
    }
  }
  return [...byJid.values()]
}
