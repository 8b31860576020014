// Judges what holds Redis connections: totals against maxclients, rejected connections, idle and
// long-blocked clients, stale transactions, big buffers, mixed client stacks per host, hosts with
// more connections than Sidekiq's pools explain, and reconnect storms seen with --watch.
// Pure: CLIENT LIST, INFO/CONFIG, heartbeats and INFO samples are read elsewhere.
import {type ClientInfo, libLabel, protocolLabel} from '../redis/client-list.js'
import type {ConnectionSample} from '../redis/info-watch.js'
import {humanBytes, humanSeconds} from '../report/style.js'
import type {Finding} from '../report/types.js'
import {type ClientKind, classifyClient, INFRASTRUCTURE_KINDS, poolBudget} from '../sidekiq/clients.js'
import type {ProcessState} from '../sidekiq/processes.js'
import {CappedFindings} from './capped-findings.js'

export interface ConnectionThresholds {
  /** A client idle this long is reported (`--idle-after`). */
  idleAfterSeconds: number
  /** A client blocked this long is not a fetch (`--blocked-after`). */
  blockedAfterSeconds: number
  /** An open MULTI (or WATCH) idle this long is stale; capped by idleAfterSeconds. */
  staleMultiSeconds: number
  /** omem, qbuf or tot-mem at least this big (`--big-buffer`). */
  bigBufferBytes: number
  /** connected / maxclients ratios. */
  nearMaxWarn: number
  nearMaxError: number
  /** New connections per second over a --watch window that make a reconnect storm (`--storm-rate`). */
  stormRate: number
  /** With `timeout 0`: idle clients must be at least this many, and this share of all connections. */
  pileUpMinClients: number
  pileUpShare: number
  /** A host is an outlier above factor × the biggest Sidekiq host's pool budget + slack. */
  outlierFactor: number
  outlierSlack: number
}

export const DEFAULT_CONNECTION_THRESHOLDS: ConnectionThresholds = {
  idleAfterSeconds: 3600,
  blockedAfterSeconds: 60,
  staleMultiSeconds: 30,
  bigBufferBytes: 32 * 1024 * 1024,
  nearMaxWarn: 0.8,
  nearMaxError: 0.95,
  stormRate: 10,
  pileUpMinClients: 10,
  pileUpShare: 0.25,
  outlierFactor: 2,
  outlierSlack: 10,
}

/** Findings listed one by one per check; the rest are counted in summary.unlisted. */
export const MAX_CLIENT_FINDINGS = 100

export const DURATION_BUCKETS: ReadonlyArray<[label: string, upTo: number]> = [
  ['<10s', 10],
  ['10s-1m', 60],
  ['1m-10m', 600],
  ['10m-1h', 3600],
  ['1h-1d', 86_400],
  ['>=1d', Number.POSITIVE_INFINITY],
]

export interface WatchSummary {
  durationSeconds: number
  samples: ConnectionSample[]
  newConnections: number
  /** New connections per second over the whole window, and in the busiest interval. */
  newPerSecond: number
  peakNewPerSecond: number
  rejected: number
  connectedMin: number
  connectedMax: number
}

export interface ConnectionsSummary {
  /** `connected_clients` (INFO; it leaves out replicas). */
  connected: number
  /** `connected_slaves` (INFO): replica links, which also count against maxclients. */
  replicas: number
  maxclients: number | null
  rejectedConnections: number
  totalConnectionsReceived: number
  blockedClients: number
  /** CONFIG `timeout` / `tcp-keepalive` in seconds; null when CONFIG is refused. */
  timeoutSeconds: number | null
  tcpKeepaliveSeconds: number | null
  /** CLIENT LIST could be read (false: CLIENT is renamed or forbidden; only INFO totals). */
  clientList: boolean
  /** Lines in CLIENT LIST. */
  listed: number
  /** qdoctor's own connection id (its line in CLIENT LIST), when CLIENT ID answered. */
  ownId: string | null
  byHost: Record<string, number>
  byLib: Record<string, number>
  byProtocol: Record<string, number>
  byName: Record<string, number>
  byCommand: Record<string, number>
  byKind: Partial<Record<ClientKind, number>>
  idle: Record<string, number>
  age: Record<string, number>
  /** Live Sidekiq processes and the connections their pools may hold. */
  sidekiqProcesses: number
  sidekiqPoolBudget: number
  watch?: WatchSummary
  unlisted?: Record<string, number>
  /** After --kill: connections killed. */
  killed?: number
}

export interface ConnectionsInput {
  /** Undefined when CLIENT LIST was refused; `clientListRefused` then says why. */
  clients?: ClientInfo[]
  clientListRefused?: string
  ownId?: string
  /** INFO fields (clients, stats, …). */
  info: Record<string, string>
  config: {maxclients?: string; timeout?: string; 'tcp-keepalive'?: string}
  processes: ProcessState[]
  /** redis-namespace prefixes holding Sidekiq data (Sidekiq <= 6). */
  namespaces: string[]
  watch?: ConnectionSample[]
}

export function evaluateConnections(input: ConnectionsInput, t: ConnectionThresholds = DEFAULT_CONNECTION_THRESHOLDS): {summary: ConnectionsSummary; findings: Finding[]} {
  const out = new CappedFindings(MAX_CLIENT_FINDINGS)

  const num = (v: string | undefined) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v))
  const clients = input.clients ?? []
  const connected = num(input.info.connected_clients) ?? clients.length
  const replicas = num(input.info.connected_slaves) ?? 0
  const maxclients = num(input.info.maxclients) ?? num(input.config.maxclients)
  const rejected = num(input.info.rejected_connections) ?? 0
  const timeoutSeconds = num(input.config.timeout)
  const live = input.processes.filter((p) => p.alive)

  const summary: ConnectionsSummary = {
    connected,
    replicas,
    maxclients: maxclients ?? null,
    rejectedConnections: rejected,
    totalConnectionsReceived: num(input.info.total_connections_received) ?? 0,
    blockedClients: num(input.info.blocked_clients) ?? 0,
    timeoutSeconds: timeoutSeconds ?? null,
    tcpKeepaliveSeconds: num(input.config['tcp-keepalive']) ?? null,
    clientList: input.clients !== undefined,
    listed: clients.length,
    ownId: input.ownId ?? null,
    byHost: {},
    byLib: {},
    byProtocol: {},
    byName: {},
    byCommand: {},
    byKind: {},
    idle: emptyBuckets(),
    age: emptyBuckets(),
    sidekiqProcesses: live.length,
    sidekiqPoolBudget: live.reduce((s, p) => s + poolBudget(p), 0),
  }

  if (input.clients === undefined)
    out.add({
      check: 'connection/unavailable',
      severity: 'warn',
      message: `CLIENT LIST is refused by this server (${input.clientListRefused ?? 'renamed or forbidden'}): idle, blocked and per-host checks could not be made. The totals come from INFO.`,
      subject: {command: 'CLIENT LIST'},
      evidence: {reply: input.clientListRefused ?? null},
      fix: "Allow CLIENT LIST and CLIENT ID for qdoctor's user (ACL: +client|list +client|id), or use your provider's connection metrics.",
    })

  if (maxclients) {
    const used = connected + replicas
    const ratio = used / maxclients
    if (ratio >= t.nearMaxWarn)
      out.add({
        check: 'connection/near-maxclients',
        severity: ratio >= t.nearMaxError ? 'error' : 'warn',
        message: `${used} of maxclients ${maxclients} connections are in use (${Math.round(ratio * 100)}%): at 100% Redis refuses new connections and Sidekiq processes fail to fetch or push.`,
        subject: {maxclients},
        evidence: {connected, replicas, ratio: Math.round(ratio * 1000) / 1000},
        fix: 'Find who holds the connections (summary.byHost, connection/idle), lower pool sizes, or raise maxclients (and the open-files limit).',
      })
  }

  const watch = input.watch && input.watch.length >= 2 ? summariseWatch(input.watch) : undefined
  if (watch) summary.watch = watch
  if (rejected > 0 || (watch && watch.rejected > 0))
    out.add({
      check: 'connection/rejected',
      severity: watch && watch.rejected > 0 ? 'error' : 'warn',
      message:
        watch && watch.rejected > 0
          ? `Redis rejected ${watch.rejected} connections during the ${watch.durationSeconds}s watch (maxclients reached): clients are failing right now.`
          : `Redis has rejected ${rejected} connections since it started (maxclients was reached at some point): Sidekiq processes saw connection errors then.`,
      subject: {maxclients: maxclients ?? null},
      evidence: {rejectedConnections: rejected, ...(watch ? {rejectedDuringWatch: watch.rejected} : {})},
      fix: 'Find who holds the connections (qdoctor connections: byHost, idle), then raise maxclients or shrink pools.',
    })
  if (watch && watch.newPerSecond >= t.stormRate)
    out.add({
      check: 'connection/reconnect-storm',
      severity: 'warn',
      message: `${watch.newConnections} new connections in ${watch.durationSeconds}s (${round1(watch.newPerSecond)}/s, peak ${round1(watch.peakNewPerSecond)}/s): clients are reconnecting in a loop (a failover, a timeout too short, a crash loop) rather than reusing pooled connections.`,
      subject: {window: `${watch.durationSeconds}s`},
      evidence: {newConnections: watch.newConnections, newPerSecond: round1(watch.newPerSecond), peakNewPerSecond: round1(watch.peakNewPerSecond), connectedMin: watch.connectedMin, connectedMax: watch.connectedMax},
      fix: 'Look at the hosts whose connections are young (summary.age <10s, byHost) and at their logs; check timeout, tcp-keepalive and crash-looping processes.',
    })

  for (const ns of input.namespaces)
    out.add({
      check: 'redis/namespace-in-use',
      severity: 'info',
      message: `Sidekiq data lives under the redis-namespace prefix "${ns}:" (Sidekiq <= 6). Sidekiq 7 drops redis-namespace: after the upgrade it reads bare keys and sees none of these jobs.`,
      subject: {namespace: ns},
      fix: 'Before upgrading to Sidekiq 7, drain the queues or move the data to a namespace-free database, and drop the namespace option.',
    })

  if (input.clients === undefined) return finish()

  const hostCounts = new Map<string, ClientInfo[]>()
  let idleCount = 0
  const multiAfter = Math.min(t.staleMultiSeconds, t.idleAfterSeconds)
  for (const c of clients) {
    const kind = classifyClient(c, input.ownId)
    bump(summary.byKind, kind)
    bump(summary.byHost, c.host)
    bump(summary.byLib, libLabel(c))
    bump(summary.byProtocol, protocolLabel(c))
    bump(summary.byName, c.name || '(none)')
    bump(summary.byCommand, c.cmd || '(none)')
    bump(summary.idle, bucketOf(c.idleSeconds))
    bump(summary.age, bucketOf(c.ageSeconds))
    if (!INFRASTRUCTURE_KINDS.includes(kind)) {
      const list = hostCounts.get(c.host)
      if (list) list.push(c)
      else hostCounts.set(c.host, [c])
    }

    if (kind === 'blocked' && c.idleSeconds >= t.blockedAfterSeconds) out.add(blockedFinding(c, t))
    if ((kind === 'multi' || (kind === 'normal' && c.watch > 0)) && c.idleSeconds >= multiAfter) out.add(multiFinding(c, multiAfter))
    if (kind === 'normal' && c.idleSeconds >= t.idleAfterSeconds) {
      idleCount++
      out.add(idleFinding(c, t))
    }
    if (kind !== 'self' && Math.max(c.omem, c.qbuf, c.totMem) >= t.bigBufferBytes) out.add(bufferFinding(c, t))
  }
  for (const key of ['byHost', 'byLib', 'byProtocol', 'byName', 'byCommand'] as const) summary[key] = sortedCounts(summary[key])

  for (const [host, list] of hostCounts) {
    const mixed = mixedLibs(list)
    if (mixed) out.add(mixedFinding(host, list.length, mixed))
  }

  if (live.length > 0) {
    const budgetByHostname = new Map<string, number>()
    for (const p of live) budgetByHostname.set(p.hostname ?? p.identity, (budgetByHostname.get(p.hostname ?? p.identity) ?? 0) + poolBudget(p))
    const biggest = Math.max(...budgetByHostname.values())
    const limit = biggest * t.outlierFactor + t.outlierSlack
    for (const [host, list] of hostCounts) if (list.length > limit) out.add(outlierFinding(host, list, biggest, t, live.length))
  }

  if (timeoutSeconds === 0 && idleCount >= t.pileUpMinClients && idleCount >= connected * t.pileUpShare)
    out.add({
      check: 'connection/no-idle-timeout',
      severity: 'warn',
      message: `timeout is 0 (Redis never closes idle connections) and ${idleCount} of ${connected} connections have been idle for ${humanSeconds(t.idleAfterSeconds)} or more: connections of crashed or leaking clients pile up towards maxclients.`,
      subject: {timeout: 0},
      evidence: {idleClients: idleCount, connected, idleAfterSeconds: t.idleAfterSeconds},
      fix: 'Set a timeout longer than any legitimate idle period (CONFIG SET timeout 3600; Sidekiq reconnects pool connections it finds closed) and keep tcp-keepalive 300; qdoctor connections --kill --idle-after 6h clears the pile now.',
    })
  return finish()

  function finish(): {summary: ConnectionsSummary; findings: Finding[]} {
    Object.assign(summary, out.unlistedSummary)
    return {summary, findings: out.findings}
  }
}

function subjectOf(c: ClientInfo): Record<string, unknown> {
  return {id: c.id, addr: c.addr, name: c.name}
}

function idleFinding(c: ClientInfo, t: ConnectionThresholds): Finding {
  return {
    check: 'connection/idle',
    severity: 'info',
    message: `Client ${c.id} from ${c.addr}${c.name ? ` (${c.name})` : ''} has been idle for ${humanSeconds(c.idleSeconds)} (last command ${c.cmd || '?'}, connected ${humanSeconds(c.ageSeconds)} ago). Idle pool connections are normal; many of them from one host, or from a host with no live process, are a leak.`,
    subject: subjectOf(c),
    evidence: {idleSeconds: c.idleSeconds, ageSeconds: c.ageSeconds, cmd: c.cmd, lib: libLabel(c), protocol: protocolLabel(c)},
    fix: `qdoctor connections --kill --idle-after ${Math.max(1, Math.floor(t.idleAfterSeconds / 60))}m --addr ${c.host}  (after checking what runs there)`,
  }
}

function blockedFinding(c: ClientInfo, t: ConnectionThresholds): Finding {
  return {
    check: 'connection/blocked',
    severity: 'warn',
    message: `Client ${c.id} from ${c.addr}${c.name ? ` (${c.name})` : ''} has been blocked in ${c.cmd || '?'} for ${humanSeconds(c.idleSeconds)}, far beyond any Sidekiq fetch timeout (at most a few seconds): a blocking call with timeout 0, or a peer that vanished (half-open TCP).`,
    subject: subjectOf(c),
    evidence: {idleSeconds: c.idleSeconds, cmd: c.cmd, ageSeconds: c.ageSeconds, blockedAfterSeconds: t.blockedAfterSeconds},
    fix: `qdoctor connections --kill --cmd ${c.cmd || '<cmd>'} --addr ${c.addr} --blocked-after ${Math.max(1, Math.floor(t.blockedAfterSeconds))}s; keep tcp-keepalive on (300) so dead peers are dropped.`,
  }
}

function multiFinding(c: ClientInfo, after: number): Finding {
  return {
    check: 'connection/stale-multi',
    severity: 'warn',
    message: `Client ${c.id} from ${c.addr}${c.name ? ` (${c.name})` : ''} has ${c.multi >= 0 ? `an open MULTI (${c.multi} commands queued)` : `${c.watch} WATCHed keys`} and has been idle for ${humanSeconds(c.idleSeconds)} (more than ${humanSeconds(after)}): a transaction that is never executed, from a crashed or stuck client.`,
    subject: subjectOf(c),
    evidence: {idleSeconds: c.idleSeconds, multi: c.multi, watch: c.watch, flags: c.flags},
    fix: `qdoctor connections --kill --addr ${c.addr} --idle-after ${Math.max(1, Math.floor(after))}s`,
  }
}

function bufferFinding(c: ClientInfo, t: ConnectionThresholds): Finding {
  return {
    check: 'connection/big-buffers',
    severity: 'warn',
    message: `Client ${c.id} from ${c.addr}${c.name ? ` (${c.name})` : ''} holds ${humanBytes(c.totMem)} of client memory (output ${humanBytes(c.omem)}, query ${humanBytes(c.qbuf)}): a slow consumer, a huge pipeline or a huge value. Client buffers count towards used_memory, so they can push Redis into evictions or OOM errors.`,
    subject: subjectOf(c),
    evidence: {omem: c.omem, qbuf: c.qbuf, totMem: c.totMem, cmd: c.cmd, idleSeconds: c.idleSeconds, bigBufferBytes: t.bigBufferBytes},
    fix: 'Find what the client sends or reads (cmd); set client-output-buffer-limit for normal clients, or kill it: qdoctor connections --kill --addr ' + c.addr + ' --idle-after 0s',
  }
}

interface Mix {
  byProtocol: Record<string, number>
  libs: Record<string, string[]>
}

/** RESP2 and RESP3 clients, or one library in several versions, among a host's connections. */
function mixedLibs(list: ClientInfo[]): Mix | undefined {
  const byProtocol: Record<string, number> = {}
  const versions = new Map<string, Set<string>>()
  for (const c of list) {
    if (c.resp !== undefined) bump(byProtocol, protocolLabel(c))
    if (c.libName) versions.set(c.libName, (versions.get(c.libName) ?? new Set()).add(c.libVer ?? ''))
  }
  const libs: Record<string, string[]> = {}
  for (const [name, vers] of versions) libs[name] = [...vers].sort()
  const mixed = Object.keys(byProtocol).length > 1 || Object.values(libs).some((v) => v.length > 1)
  return mixed ? {byProtocol, libs} : undefined
}

function mixedFinding(host: string, count: number, mix: Mix): Finding {
  const protocols = Object.entries(mix.byProtocol)
    .map(([p, n]) => `${n} ${p}`)
    .join(', ')
  const split = Object.entries(mix.libs).filter(([, v]) => v.length > 1)
  return {
    check: 'connection/mixed-client-libs',
    severity: 'warn',
    message: `Host ${host} connects with mixed client stacks (${protocols}${split.length ? `; ${split.map(([n, v]) => `${n} ${v.join(' and ')}`).join('; ')}` : ''}): two Redis libraries side by side (e.g. Sidekiq 7's redis-client next to app code on redis-rb 4/5) or a half-upgraded fleet; they reconnect and fail differently.`,
    subject: {host},
    evidence: {connections: count, byProtocol: mix.byProtocol, libs: mix.libs},
    fix: 'Align the libraries (one redis-client/redis-rb version across the app and Sidekiq) and finish the upgrade on every host.',
  }
}

function outlierFinding(host: string, list: ClientInfo[], biggest: number, t: ConnectionThresholds, processes: number): Finding {
  const idle = list.filter((c) => c.idleSeconds >= 3600).length
  const limit = biggest * t.outlierFactor + t.outlierSlack
  return {
    check: 'connection/per-host-outlier',
    severity: 'warn',
    message: `Host ${host} holds ${list.length} connections, more than ${limit} (${t.outlierFactor} × the ${biggest} the pools of the biggest Sidekiq host may hold, plus ${t.outlierSlack}): a connection leak, or pools far bigger than concurrency needs.`,
    subject: {host},
    evidence: {connections: list.length, idleOverAnHour: idle, biggestHostPoolBudget: biggest, limit, sidekiqProcesses: processes, byName: sortedCounts(countBy(list, (c) => c.name || '(none)')), byCommand: sortedCounts(countBy(list, (c) => c.cmd || '(none)'))},
    fix: `See what the connections from ${host} run (qdoctor connections --json | jq '.findings'); close leaking clients; qdoctor connections --kill --addr ${host} --idle-after 1h.`,
  }
}

function summariseWatch(samples: ConnectionSample[]): WatchSummary {
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  const seconds = Math.max(0.001, (last.atMs - first.atMs) / 1000)
  let peak = 0
  for (let i = 1; i < samples.length; i++) {
    const dt = Math.max(0.001, (samples[i]!.atMs - samples[i - 1]!.atMs) / 1000)
    peak = Math.max(peak, Math.max(0, samples[i]!.totalConnectionsReceived - samples[i - 1]!.totalConnectionsReceived) / dt)
  }
  const newConnections = Math.max(0, last.totalConnectionsReceived - first.totalConnectionsReceived)
  return {
    durationSeconds: round1(seconds),
    samples,
    newConnections,
    newPerSecond: newConnections / seconds,
    peakNewPerSecond: peak,
    rejected: Math.max(0, last.rejectedConnections - first.rejectedConnections),
    connectedMin: Math.min(...samples.map((s) => s.connectedClients)),
    connectedMax: Math.max(...samples.map((s) => s.connectedClients)),
  }
}

function emptyBuckets(): Record<string, number> {
  return Object.fromEntries(DURATION_BUCKETS.map(([label]) => [label, 0]))
}

function bucketOf(seconds: number): string {
  return DURATION_BUCKETS.find(([, upTo]) => seconds < upTo)![0]
}

function bump<K extends string>(counts: Partial<Record<K, number>>, key: K): void {
  counts[key] = (counts[key] ?? 0) + 1
}

function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) bump(out, keyOf(item))
  return out
}

/** Largest first (ties by name), so JSON and tables read top-down. */
function sortedCounts(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)))
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
