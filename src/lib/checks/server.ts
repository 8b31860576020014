// Is this Redis fit to run Sidekiq? Pure judgement over INFO/CONFIG facts (read elsewhere).
import {parseVersion, type ServerFacts, versionAtLeast} from '../redis/server-info.js'
import type {Finding} from '../report/types.js'

/** Minimum Redis per Sidekiq major (checked at server boot: cli.rb at v6.5.12, v7.3.10, v8.1.7). */
export const SIDEKIQ_REDIS_MINIMUMS: Record<string, [number, number, number]> = {
  '6': [4, 0, 0],
  '7': [6, 2, 0],
  '8': [7, 0, 0],
}

export interface ServerThresholds {
  /** used_memory / maxmemory ratios. */
  memoryWarn: number
  memoryError: number
  /** Replica lag. */
  lagWarnSeconds: number
  lagWarnBytes: number
}

export const DEFAULT_SERVER_THRESHOLDS: ServerThresholds = {memoryWarn: 0.8, memoryError: 0.95, lagWarnSeconds: 10, lagWarnBytes: 10 * 1024 * 1024}

export interface ReplicaState {
  address: string
  state?: string
  lagSeconds?: number
  lagBytes?: number
}

export interface ServerSummary {
  version?: string
  mode?: string
  role?: string
  maxmemoryPolicy?: string
  usedMemoryBytes?: number
  maxmemoryBytes?: number
  memoryRatio?: number
  evictedKeys?: number
  rejectedConnections?: number
  connectedClients?: number
  maxclients?: number
  persistence: {rdb?: boolean; aof?: boolean}
  timeoutSeconds?: number
  tcpKeepaliveSeconds?: number
  clusterEnabled: boolean
  /** Which Sidekiq majors this Redis version can serve. */
  sidekiqSupported: Record<string, boolean>
  /** Sidekiq versions seen in live heartbeats (7.0.2+ report one). */
  sidekiqVersionsSeen: string[]
  replicas: ReplicaState[]
  masterLinkStatus?: string
  unchecked: string[]
}

export function evaluateServer(
  facts: ServerFacts,
  sidekiqVersionsSeen: string[] = [],
  t: ServerThresholds = DEFAULT_SERVER_THRESHOLDS,
): {summary: ServerSummary; findings: Finding[]} {
  const {info, config} = facts
  const findings: Finding[] = []
  const unchecked: string[] = []
  const uncheckable = (what: string, param: keyof ServerFacts['configUnavailable']) => {
    const why = facts.configUnavailable[param] ?? 'not reported'
    unchecked.push(what)
    findings.push({
      check: 'redis/unchecked',
      severity: 'info',
      message: `Could not check ${what}: CONFIG GET ${param} failed (${why}) and INFO does not report it.`,
      subject: {check: what, param},
      fix: `Verify ${param} in your provider's console, or allow CONFIG GET for qdoctor's user.`,
    })
  }

  const version = info.redis_version
  const parsed = parseVersion(version)
  const sidekiqSupported: Record<string, boolean> = {}
  for (const [major, min] of Object.entries(SIDEKIQ_REDIS_MINIMUMS)) sidekiqSupported[major] = parsed ? versionAtLeast(parsed, min) : false
  findings.push(...versionFindings(version, parsed, sidekiqSupported, sidekiqVersionsSeen))

  const policy = config['maxmemory-policy'] ?? info.maxmemory_policy
  if (policy === undefined) uncheckable('maxmemory-policy', 'maxmemory-policy')
  else if (policy !== 'noeviction')
    findings.push({
      check: 'redis/maxmemory-policy',
      severity: 'error',
      message: `maxmemory-policy is "${policy}": when memory fills, Redis evicts keys, losing jobs and corrupting batch counters.`,
      subject: {maxmemoryPolicy: policy},
      fix: 'redis-cli CONFIG SET maxmemory-policy noeviction (and persist it in redis.conf or your provider settings)',
    })

  const used = num(info.used_memory)
  const maxmemory = num(config.maxmemory ?? info.maxmemory)
  if (maxmemory === undefined) uncheckable('maxmemory', 'maxmemory')
  const ratio = used !== undefined && maxmemory ? used / maxmemory : undefined
  if (ratio !== undefined && ratio >= t.memoryWarn)
    findings.push({
      check: 'redis/memory-pressure',
      severity: ratio >= t.memoryError ? 'error' : 'warn',
      message: `Redis uses ${pct(ratio)} of maxmemory (${used} of ${maxmemory} bytes); at 100% writes fail (noeviction) or keys are evicted.`,
      subject: {usedMemoryBytes: used, maxmemoryBytes: maxmemory},
      evidence: {ratio},
      fix: 'Free memory (qdoctor failinfo, qdoctor dead) or raise maxmemory.',
    })

  const evicted = num(info.evicted_keys)
  if (evicted && evicted > 0)
    findings.push({
      check: 'redis/evicted-keys',
      severity: 'error',
      message: `Redis has evicted ${evicted} keys since it started: any of them may have been a job, a batch counter or a queue.`,
      subject: {evictedKeys: evicted},
      fix: 'Set maxmemory-policy noeviction and give Redis enough memory; then look for ghost batch jobs (qdoctor batches --ghosts).',
    })

  const persistence = persistenceOf(facts)
  if (persistence.rdb === undefined && persistence.aof === undefined) uncheckable('persistence', 'save')
  else if (persistence.rdb === false && persistence.aof !== true)
    findings.push({
      check: 'redis/persistence',
      severity: 'warn',
      message: 'Neither RDB snapshots nor AOF are enabled: a Redis restart loses every queued, scheduled, retrying and dead job.',
      subject: {save: config.save ?? null, appendonly: config.appendonly ?? info.aof_enabled ?? null},
      fix: 'redis-cli CONFIG SET appendonly yes (or configure save points), unless your provider persists for you.',
    })

  const clusterEnabled = info.cluster_enabled === '1'
  if (clusterEnabled)
    findings.push({
      check: 'redis/cluster-mode',
      severity: 'error',
      message: 'This Redis runs in cluster mode, which Sidekiq does not support (multi-key commands and Lua span slots).',
      fix: 'Run Sidekiq against a standalone Redis (with a replica for failover).',
    })

  const {replicas, replicationFindings} = replication(info, t)
  findings.push(...replicationFindings)

  const rejected = num(info.rejected_connections)
  if (rejected && rejected > 0)
    findings.push({
      check: 'redis/rejected-connections',
      severity: 'warn',
      message: `Redis rejected ${rejected} connections (maxclients reached): Sidekiq processes saw connection errors.`,
      subject: {rejectedConnections: rejected, maxclients: num(config.maxclients)},
      fix: 'qdoctor connections (who holds them); raise maxclients or shrink pools.',
    })

  const keepalive = num(config['tcp-keepalive'])
  if (config['tcp-keepalive'] === undefined) uncheckable('tcp-keepalive', 'tcp-keepalive')
  else if (keepalive === 0)
    findings.push({
      check: 'redis/tcp-keepalive',
      severity: 'warn',
      message: 'tcp-keepalive is 0: connections of crashed or partitioned clients stay half-open and count against maxclients.',
      fix: 'redis-cli CONFIG SET tcp-keepalive 300',
    })
  const timeout = num(config.timeout)
  if (config.timeout === undefined) uncheckable('timeout', 'timeout')
  else if (timeout !== undefined && timeout > 0 && timeout < 300)
    findings.push({
      check: 'redis/timeout',
      severity: 'info',
      message: `timeout is ${timeout}s: the server closes idle pool connections, and Sidekiq logs a reconnect each time it reuses one.`,
      fix: 'redis-cli CONFIG SET timeout 0 (rely on tcp-keepalive for dead peers)',
    })

  if (info.loading === '1')
    findings.push({check: 'redis/loading', severity: 'error', message: 'Redis is loading its dataset: Sidekiq commands fail until it finishes.'})

  const summary: ServerSummary = {
    version,
    mode: info.redis_mode,
    role: info.role,
    maxmemoryPolicy: policy,
    usedMemoryBytes: used,
    maxmemoryBytes: maxmemory,
    memoryRatio: ratio,
    evictedKeys: evicted,
    rejectedConnections: rejected,
    connectedClients: num(info.connected_clients),
    maxclients: num(config.maxclients),
    persistence,
    timeoutSeconds: timeout,
    tcpKeepaliveSeconds: keepalive,
    clusterEnabled,
    sidekiqSupported,
    sidekiqVersionsSeen,
    replicas,
    masterLinkStatus: info.master_link_status,
    unchecked,
  }
  return {summary, findings}
}

function versionFindings(
  version: string | undefined,
  parsed: [number, number, number] | undefined,
  supported: Record<string, boolean>,
  seen: string[],
): Finding[] {
  if (!parsed) return [{check: 'redis/version', severity: 'warn', message: `Could not read the Redis version ("${version ?? 'absent'}").`}]
  const tooOld = seen.filter((v) => {
    const min = SIDEKIQ_REDIS_MINIMUMS[v.split('.')[0] ?? '']
    return min && !versionAtLeast(parsed, min)
  })
  if (tooOld.length)
    return [
      {
        check: 'redis/version',
        severity: 'error',
        message: `Redis ${version} is older than Sidekiq ${tooOld.join(', ')} requires (6.x needs 4.0, 7.x needs 6.2, 8.x needs 7.0).`,
        subject: {version, sidekiqVersions: tooOld},
        fix: 'Upgrade Redis (qdoctor server --preflight --target <new-url> before the cutover).',
      },
    ]
  if (!supported['6'])
    return [{check: 'redis/version', severity: 'error', message: `Redis ${version} is older than any supported Sidekiq needs (4.0).`, subject: {version}, fix: 'Upgrade Redis.'}]
  const unsupported = Object.entries(supported)
    .filter(([, ok]) => !ok)
    .map(([major]) => `${major}.x`)
  if (unsupported.length)
    return [
      {
        check: 'redis/version',
        severity: 'warn',
        message: `Redis ${version} cannot run Sidekiq ${unsupported.join(' or ')} (7.x needs 6.2, 8.x needs 7.0): an upgrade of Sidekiq will need a Redis upgrade first.`,
        subject: {version, unsupported},
        fix: 'Plan a Redis upgrade before upgrading Sidekiq.',
      },
    ]
  return []
}

/** RDB save points and AOF from CONFIG (INFO for AOF when CONFIG is forbidden); undefined = unknown. */
export function persistenceOf(facts: ServerFacts): {rdb?: boolean; aof?: boolean} {
  const {config, info} = facts
  const rdb = config.save !== undefined ? config.save.trim() !== '' : undefined
  const aofText = config.appendonly ?? (info.aof_enabled !== undefined ? (info.aof_enabled === '1' ? 'yes' : 'no') : undefined)
  const aof = aofText === undefined ? undefined : aofText === 'yes'
  return {rdb, aof}
}

function replication(info: Record<string, string>, t: ServerThresholds): {replicas: ReplicaState[]; replicationFindings: Finding[]} {
  const findings: Finding[] = []
  const replicas: ReplicaState[] = []
  const masterOffset = num(info.master_repl_offset)
  for (const [key, value] of Object.entries(info)) {
    if (!/^slave\d+$/.test(key)) continue
    const fields = Object.fromEntries(value.split(',').map((kv) => kv.split('=') as [string, string]))
    const offset = num(fields.offset)
    const replica: ReplicaState = {
      address: `${fields.ip}:${fields.port}`,
      state: fields.state,
      lagSeconds: num(fields.lag),
      lagBytes: masterOffset !== undefined && offset !== undefined ? Math.max(0, masterOffset - offset) : undefined,
    }
    replicas.push(replica)
    const lagging =
      (replica.lagSeconds ?? 0) > t.lagWarnSeconds || (replica.lagBytes ?? 0) > t.lagWarnBytes || (replica.state && replica.state !== 'online')
    if (lagging)
      findings.push({
        check: 'redis/replication-lag',
        severity: 'warn',
        message: `Replica ${replica.address} is ${replica.state ?? 'in an unknown state'}, ${replica.lagSeconds ?? '?'}s / ${replica.lagBytes ?? '?'} bytes behind: a failover now would lose recent jobs.`,
        subject: {replica: replica.address},
        evidence: {...replica},
        fix: 'Check the replica’s network and load before any failover.',
      })
  }
  if (info.role === 'slave') {
    if (info.master_link_status !== 'up')
      findings.push({
        check: 'redis/replication-lag',
        severity: 'error',
        message: `This server is a replica whose link to its primary is ${info.master_link_status ?? 'unknown'}: its data is going stale.`,
        subject: {masterHost: info.master_host, masterPort: info.master_port},
        fix: 'Fix the replication link, or point Sidekiq at the primary.',
      })
    findings.push({
      check: 'redis/replica',
      severity: info.slave_read_only === '1' ? 'error' : 'warn',
      message: `This server is a replica of ${info.master_host}:${info.master_port}${info.slave_read_only === '1' ? ' (read-only)' : ''}: Sidekiq must write to the primary.`,
      subject: {masterHost: info.master_host, masterPort: info.master_port},
      fix: 'Point REDIS_URL at the primary (or use --sentinel).',
    })
  }
  return {replicas, replicationFindings: findings}
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`
}
