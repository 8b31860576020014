// `qdoctor server --preflight --target <new-url>`: is it safe to cut Sidekiq over from the current
// primary (the source, --url) to a new Redis built as its replica (the target)? Each item passes,
// fails (the cutover is not safe: exit 1) or could not be checked, with the command that fixes it.
//
// gatherPreflight() reads both servers (INFO, CONFIG, per-family counts; never writes);
// evaluatePreflight() is pure judgement over what was read.
import {lookup} from 'node:dns/promises'

import type {Connection} from '../redis/connect.js'
import {sleep} from '../redis/connect.js'
import {resilient} from '../redis/resilient.js'
import {parseInfo, parseVersion, readServerFacts, type ServerFacts, versionAtLeast} from '../redis/server-info.js'
import type {Finding} from '../report/types.js'
import type {SidekiqKeys} from '../sidekiq/keys.js'
import {countFamilies, type FamilyCount, SNAPSHOT_FAMILIES, type SnapshotFamily} from '../sidekiq/snapshot-families.js'
import {persistenceOf, SIDEKIQ_REDIS_MINIMUMS} from './server.js'

export const PREFLIGHT_ITEMS = ['replica-of-source', 'link-up', 'caught-up', 'version', 'maxmemory-policy', 'maxmemory', 'persistence', 'key-counts'] as const
export type PreflightItemId = (typeof PREFLIGHT_ITEMS)[number]
export type PreflightStatus = 'pass' | 'fail' | 'unknown'

export interface PreflightItem {
  item: PreflightItemId
  status: PreflightStatus
  message: string
  evidence?: Record<string, unknown>
  /** The command (or step) that fixes a failed item. */
  fix?: string
}

/** One server as the preflight saw it. */
export interface PreflightSide {
  /** Redacted URL. */
  url: string
  host: string
  port: number
  /** The addresses `host` resolves to (replication reports IPs). */
  addresses: string[]
  facts: ServerFacts
  counts?: Record<SnapshotFamily, FamilyCount>
}

export interface PreflightInput {
  source: PreflightSide
  target: PreflightSide
  /** The addresses the target's `master_host` resolves to. */
  masterAddresses: string[]
  /** The source's master_repl_offset, read before the target's offset was last read. */
  sourceOffset?: number
  targetOffset?: number
  /** Sidekiq versions seen in the source's heartbeats. */
  sidekiqVersions: string[]
}

export const PREFLIGHT_LIMITS = {
  /** Seconds since the replica's last ACK (the source's view) or last I/O from its primary. */
  maxLagSeconds: 10,
  /** maxmemory must hold the dataset times this. */
  memoryHeadroom: 1.25,
}

export interface PreflightSummary {
  preflight: true
  /** No item failed (items that could not be checked are in `unchecked`). */
  safe: boolean
  source: {url: string; version?: string; role?: string; usedMemoryBytes?: number; replid?: string; offset?: number}
  target: {
    url: string
    version?: string
    role?: string
    masterHost?: string
    masterPort?: number
    linkStatus?: string
    replid?: string
    offset?: number
    maxmemoryBytes?: number
    maxmemoryPolicy?: string
    persistence: {rdb?: boolean; aof?: boolean}
  }
  lag: {bytes?: number; seconds?: number}
  items: PreflightItem[]
  unchecked: PreflightItemId[]
  counts: {source?: Record<SnapshotFamily, FamilyCount>; target?: Record<SnapshotFamily, FamilyCount>}
}

interface ReplicaLine {
  ip: string
  port: number
  state?: string
  offset?: number
  lag?: number
}

/** The `slaveN:ip=…,port=…,state=…,offset=…,lag=…` lines of a primary's INFO. */
function replicaLines(info: Record<string, string>): ReplicaLine[] {
  return Object.entries(info)
    .filter(([k]) => /^slave\d+$/.test(k))
    .map(([, v]) => {
      const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]))
      return {ip: f.ip ?? '', port: Number(f.port), state: f.state, offset: num(f.offset), lag: num(f.lag)}
    })
}

export function evaluatePreflight(input: PreflightInput): {summary: PreflightSummary; findings: Finding[]} {
  const {source, target} = input
  const s = source.facts.info
  const t = {...target.facts.info}
  const isReplica = t.role === 'slave'
  const listed = replicaLines(s).find((r) => r.port === target.port && (r.ip === target.host || target.addresses.includes(r.ip)))
  const pointsAtSource = isReplica && Number(t.master_port) === source.port && (t.master_host === source.host || input.masterAddresses.some((a) => source.addresses.includes(a)))
  const replicaOf = `redis-cli -u ${target.url} REPLICAOF ${source.host} ${source.port}${/:\*\*\*@/.test(source.url) ? '   (after CONFIG SET masterauth <the source password>)' : ''}`
  const linkUp = isReplica && t.master_link_status === 'up' && t.master_sync_in_progress !== '1'
  const items: PreflightItem[] = []

  // replica-of-source
  if (isReplica && (pointsAtSource || listed))
    items.push({item: 'replica-of-source', status: 'pass', message: `The target is a replica of the source (its primary: ${t.master_host}:${t.master_port}).`, evidence: {masterHost: t.master_host, masterPort: num(t.master_port), listedBySource: Boolean(listed)}})
  else
    items.push({
      item: 'replica-of-source',
      status: 'fail',
      message: isReplica
        ? `The target replicates ${t.master_host}:${t.master_port}, not the source ${source.host}:${source.port}: it does not hold this primary's data.`
        : `The target is not a replica (role:${t.role ?? 'unknown'}): it does not hold this primary's data, and anything written to the source after a copy would be lost.`,
      evidence: {role: t.role, masterHost: t.master_host, masterPort: num(t.master_port), sourceReplicas: replicaLines(s).map((r) => `${r.ip}:${r.port}`)},
      fix: replicaOf,
    })

  // link-up
  if (linkUp) items.push({item: 'link-up', status: 'pass', message: `The replication link is up (last I/O ${t.master_last_io_seconds_ago ?? '?'}s ago).`})
  else
    items.push({
      item: 'link-up',
      status: 'fail',
      message: !isReplica
        ? 'There is no replication link: the target is not a replica.'
        : `The replication link is ${t.master_link_status ?? 'unknown'}${t.master_sync_in_progress === '1' ? ' (initial sync in progress)' : ''}${(num(t.master_link_down_since_seconds) ?? -1) >= 0 ? `, down for ${t.master_link_down_since_seconds}s` : ''}.`,
      evidence: {linkStatus: t.master_link_status, syncInProgress: t.master_sync_in_progress === '1', downSinceSeconds: num(t.master_link_down_since_seconds)},
      fix: isReplica ? `Check that the target reaches ${source.host}:${source.port} (network, masterauth, TLS); \`redis-cli -u ${target.url} INFO replication\` and its log say why.` : replicaOf,
    })

  // caught-up
  const lagBytes = input.sourceOffset !== undefined && input.targetOffset !== undefined ? Math.max(0, input.sourceOffset - input.targetOffset) : undefined
  const lagSeconds = listed?.lag ?? num(t.master_last_io_seconds_ago)
  const lag = {bytes: lagBytes, seconds: lagSeconds}
  if (!linkUp) items.push({item: 'caught-up', status: 'fail', message: 'The target cannot be caught up: its replication link is not up.', evidence: lag, fix: 'Fix the replication link first (see link-up).'})
  else if (lagBytes === undefined) items.push({item: 'caught-up', status: 'unknown', message: 'Could not read both replication offsets.', evidence: lag})
  else if (lagBytes === 0 && (lagSeconds ?? 0) <= PREFLIGHT_LIMITS.maxLagSeconds)
    items.push({item: 'caught-up', status: 'pass', message: `The target has every byte the source had written (offset ${input.targetOffset}); lag ${lagSeconds ?? '?'}s.`, evidence: lag})
  else
    items.push({
      item: 'caught-up',
      status: 'fail',
      message: `The target is behind: ${lagBytes} bytes, ${lagSeconds ?? '?'}s (limit ${PREFLIGHT_LIMITS.maxLagSeconds}s). Jobs written in that gap would be lost at the cutover.`,
      evidence: {...lag, sourceOffset: input.sourceOffset, targetOffset: input.targetOffset},
      fix: `Stop the Sidekiq processes (no more writes), wait, and re-run: qdoctor server --preflight --target ${target.url}`,
    })

  items.push(versionItem(source, target, input.sidekiqVersions))
  items.push(policyItem(target))
  items.push(memoryItem(source, target))
  items.push(persistenceItem(target))
  items.push(countsItem(source.counts, target.counts, target.url))

  const summary: PreflightSummary = {
    preflight: true,
    safe: items.every((i) => i.status !== 'fail'),
    source: {url: source.url, version: s.redis_version, role: s.role, usedMemoryBytes: num(s.used_memory), replid: s.master_replid, offset: input.sourceOffset ?? num(s.master_repl_offset)},
    target: {
      url: target.url,
      version: t.redis_version,
      role: t.role,
      masterHost: t.master_host,
      masterPort: num(t.master_port),
      linkStatus: t.master_link_status,
      replid: t.master_replid,
      offset: input.targetOffset,
      maxmemoryBytes: num(target.facts.config.maxmemory ?? t.maxmemory),
      maxmemoryPolicy: target.facts.config['maxmemory-policy'] ?? t.maxmemory_policy,
      persistence: persistenceOf(target.facts),
    },
    lag,
    items,
    unchecked: items.filter((i) => i.status === 'unknown').map((i) => i.item),
    counts: {...(source.counts ? {source: source.counts} : {}), ...(target.counts ? {target: target.counts} : {})},
  }
  const findings: Finding[] = items
    .filter((i) => i.status !== 'pass')
    .map((i) => ({
      check: `preflight/${i.item}`,
      severity: i.status === 'fail' ? 'error' : 'warn',
      message: i.status === 'fail' ? i.message : `Could not check: ${i.message}`,
      subject: {target: target.url},
      ...(i.evidence ? {evidence: i.evidence} : {}),
      ...(i.fix ? {fix: i.fix} : {}),
    }))
  return {summary, findings}
}

function versionItem(source: PreflightSide, target: PreflightSide, sidekiqVersions: string[]): PreflightItem {
  const sv = source.facts.info.redis_version
  const tv = target.facts.info.redis_version
  const from = parseVersion(sv)
  const to = parseVersion(tv)
  const evidence = {source: sv, target: tv, sidekiqVersions}
  if (!from || !to) return {item: 'version', status: 'unknown', message: `Could not read both Redis versions (source ${sv ?? '?'}, target ${tv ?? '?'}).`, evidence}
  const tooOld = sidekiqVersions.filter((v) => {
    const min = SIDEKIQ_REDIS_MINIMUMS[v.split('.')[0] ?? '']
    return min !== undefined && !versionAtLeast(to, min)
  })
  if (!versionAtLeast(to, from))
    return {
      item: 'version',
      status: 'fail',
      message: `The target runs Redis ${tv}, older than the source's ${sv}: a downgrade. A replica cannot follow a newer primary, and an older Redis cannot read a newer one's RDB/DUMP format.`,
      evidence,
      fix: `Build the target with Redis ${sv} or newer.`,
    }
  if (tooOld.length)
    return {item: 'version', status: 'fail', message: `Redis ${tv} is too old for Sidekiq ${tooOld.join(', ')} (6.x needs 4.0, 7.x 6.2, 8.x 7.0).`, evidence, fix: 'Build the target with a Redis that Sidekiq supports.'}
  const how = to[0] === from[0] ? `the same major (${from[0]})` : `a supported upgrade (${sv} → ${tv}: a replica may run a newer Redis than its primary)`
  return {item: 'version', status: 'pass', message: `Redis ${sv} → ${tv} is ${how}.`, evidence}
}

function policyItem(target: PreflightSide): PreflightItem {
  const policy = target.facts.config['maxmemory-policy'] ?? target.facts.info.maxmemory_policy
  if (policy === undefined) return {item: 'maxmemory-policy', status: 'unknown', message: 'maxmemory-policy could not be read (CONFIG GET refused, not in INFO).', fix: "Check it in your provider's console."}
  if (policy === 'noeviction') return {item: 'maxmemory-policy', status: 'pass', message: 'maxmemory-policy is noeviction.'}
  return {
    item: 'maxmemory-policy',
    status: 'fail',
    message: `maxmemory-policy is "${policy}": when memory fills, the new primary would evict jobs and batch counters.`,
    evidence: {maxmemoryPolicy: policy},
    fix: `redis-cli -u ${target.url} CONFIG SET maxmemory-policy noeviction && redis-cli -u ${target.url} CONFIG REWRITE`,
  }
}

function memoryItem(source: PreflightSide, target: PreflightSide): PreflightItem {
  const used = Math.max(num(source.facts.info.used_memory) ?? 0, num(target.facts.info.used_memory) ?? 0)
  const need = Math.ceil(used * PREFLIGHT_LIMITS.memoryHeadroom)
  const maxmemory = num(target.facts.config.maxmemory ?? target.facts.info.maxmemory)
  const system = num(target.facts.info.total_system_memory)
  const evidence = {usedMemoryBytes: used, neededBytes: need, maxmemoryBytes: maxmemory, totalSystemMemoryBytes: system}
  const fix = `redis-cli -u ${target.url} CONFIG SET maxmemory ${Math.ceil(need / 1024 / 1024)}mb (on a machine with that much memory free)`
  if (maxmemory === undefined) return {item: 'maxmemory', status: 'unknown', message: 'maxmemory could not be read (CONFIG GET refused, not in INFO).', evidence}
  if (maxmemory === 0) {
    if (system !== undefined && system > 0 && system < need)
      return {item: 'maxmemory', status: 'fail', message: `No maxmemory limit, but the machine has ${system} bytes: less than the dataset (${used}) plus ${pct(PREFLIGHT_LIMITS.memoryHeadroom - 1)} headroom.`, evidence, fix: 'Give the target machine more memory.'}
    return {item: 'maxmemory', status: 'pass', message: `No maxmemory limit; the dataset uses ${used} bytes${system ? ` of the machine's ${system}` : ''}.`, evidence}
  }
  if (maxmemory >= need) return {item: 'maxmemory', status: 'pass', message: `maxmemory ${maxmemory} holds the dataset (${used} bytes) with ${pct(PREFLIGHT_LIMITS.memoryHeadroom - 1)} headroom.`, evidence}
  return {item: 'maxmemory', status: 'fail', message: `maxmemory ${maxmemory} is too small for the dataset (${used} bytes) plus ${pct(PREFLIGHT_LIMITS.memoryHeadroom - 1)} headroom: writes would fail with OOM.`, evidence, fix}
}

function persistenceItem(target: PreflightSide): PreflightItem {
  const p = persistenceOf(target.facts)
  const evidence = {save: target.facts.config.save, appendonly: target.facts.config.appendonly ?? target.facts.info.aof_enabled}
  if (p.rdb === undefined && p.aof === undefined)
    return {item: 'persistence', status: 'unknown', message: 'Persistence could not be read (CONFIG GET refused); managed services often persist for you.', evidence, fix: "Check it in your provider's console."}
  if (p.rdb || p.aof) return {item: 'persistence', status: 'pass', message: `Persistence is configured (${[p.rdb ? 'RDB save points' : '', p.aof ? 'AOF' : ''].filter(Boolean).join(' and ')}).`, evidence}
  return {
    item: 'persistence',
    status: 'fail',
    message: 'Neither RDB save points nor AOF are configured on the target: once it is the primary, a restart would lose every job.',
    evidence,
    fix: `redis-cli -u ${target.url} CONFIG SET appendonly yes && redis-cli -u ${target.url} CONFIG REWRITE`,
  }
}

function countsItem(source: PreflightSide['counts'], target: PreflightSide['counts'], targetUrl: string): PreflightItem {
  if (!source || !target) return {item: 'key-counts', status: 'unknown', message: 'The Sidekiq families could not be counted on both sides.'}
  const differ = SNAPSHOT_FAMILIES.filter((f) => source[f].keys !== target[f].keys || source[f].items !== target[f].items)
  if (differ.length === 0) return {item: 'key-counts', status: 'pass', message: `Every Sidekiq family has the same keys and elements on both sides (${SNAPSHOT_FAMILIES.map((f) => `${f} ${source[f].items}`).join(', ')}).`}
  return {
    item: 'key-counts',
    status: 'fail',
    message: `Counts differ: ${differ.map((f) => `${f} ${source[f].keys} keys/${source[f].items} items on the source, ${target[f].keys}/${target[f].items} on the target`).join('; ')}.`,
    evidence: {differ},
    fix: `Stop the Sidekiq processes (no more writes), let the replica catch up, and re-run: qdoctor server --preflight --target ${targetUrl}`,
  }
}

// ---------------------------------------------------------------- reading both servers

export interface PreflightEnds {
  conn: Connection
  /** The URL as given (host and port are taken from it; it is never printed). */
  url: string
}

/** How long to wait for the target's offset to reach the source's. */
export const OFFSET_WAIT_MS = 3000
const COUNT_ATTEMPTS = 3

export async function gatherPreflight(source: PreflightEnds, target: PreflightEnds, keys: SidekiqKeys, options: {scanCount?: number; sidekiqVersions: string[]}): Promise<PreflightInput> {
  const [sFacts, tFacts] = [await readServerFacts(source.conn), await readServerFacts(target.conn)]
  const sides = {source: await side(source, sFacts), target: await side(target, tFacts)}
  const masterHost = tFacts.info.master_host
  const masterAddresses = masterHost ? await addressesOf(masterHost) : []
  let sourceOffset: number | undefined
  let targetOffset: number | undefined
  const isReplica = tFacts.info.role === 'slave'
  for (let attempt = 1; attempt <= COUNT_ATTEMPTS; attempt++) {
    sides.source.counts = await countFamilies(source.conn, keys, options.scanCount)
    sourceOffset = num((await replication(source.conn)).master_repl_offset)
    targetOffset = isReplica ? await waitForOffset(target.conn, sourceOffset, tFacts) : undefined
    sides.target.counts = await countFamilies(target.conn, keys, options.scanCount)
    const same = SNAPSHOT_FAMILIES.every((f) => sides.source.counts![f].keys === sides.target.counts![f].keys && sides.source.counts![f].items === sides.target.counts![f].items)
    if (same || !isReplica || tFacts.info.master_link_status !== 'up') break
    if (attempt < COUNT_ATTEMPTS) await sleep(300)
  }
  // The source's view of its replicas (their lag) after the wait.
  Object.assign(sFacts.info, await replication(source.conn))
  return {...sides, masterAddresses, sourceOffset, targetOffset, sidekiqVersions: options.sidekiqVersions}
}

async function side(end: PreflightEnds, facts: ServerFacts): Promise<PreflightSide> {
  const url = new URL(end.url)
  const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'
  return {url: end.conn.target, host, port: url.port ? Number(url.port) : 6379, addresses: await addressesOf(host), facts}
}

async function replication(conn: Connection): Promise<Record<string, string>> {
  await conn.budget.take(1)
  return parseInfo(await resilient(conn, 'reading INFO replication', (redis) => redis.info('replication')))
}

/** Poll the target until its replication offset reaches `offset` (or the wait is over); updates its facts. */
async function waitForOffset(conn: Connection, offset: number | undefined, facts: ServerFacts): Promise<number | undefined> {
  const deadline = Date.now() + OFFSET_WAIT_MS
  for (;;) {
    const info = await replication(conn)
    Object.assign(facts.info, info)
    const current = num(info.slave_repl_offset)
    if (offset === undefined || current === undefined || current >= offset || info.master_link_status !== 'up' || Date.now() > deadline) return current
    await sleep(100)
  }
}

async function addressesOf(host: string): Promise<string[]> {
  try {
    return [...new Set([host, ...(await lookup(host, {all: true})).map((a) => a.address)])]
  } catch {
    return [host]
  }
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

function pct(ratio: number): string {
  return `${Math.round(ratio * 100)}%`
}
