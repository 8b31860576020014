// The `connections` family (qdoctor connections): one CLIENT LIST snapshot with INFO/CONFIG and the
// Sidekiq heartbeats, judged for totals against maxclients, idle, blocked and stale clients, big
// buffers, mixed client stacks and per-host outliers. `qdoctor connections --watch` hands in its INFO
// samples for the reconnect-storm check; doctor never watches.
import {z} from 'zod'

import {type ClientListResult, readClientList} from '../../redis/client-list.js'
import {RedisUnavailableError, ScanInterruptedError} from '../../redis/errors.js'
import type {ConnectionSample} from '../../redis/info-watch.js'
import {resilient} from '../../redis/resilient.js'
import {readServerFacts} from '../../redis/server-info.js'
import type {Figure} from '../../report/doctor.js'
import {detectNamespaces, NAMESPACE_MARKER_PATTERN} from '../../sidekiq/namespaces.js'
import {type ProcessState, readProcesses} from '../../sidekiq/processes.js'
import {type ConnectionsSummary, DEFAULT_CONNECTION_THRESHOLDS, evaluateConnections} from '../connections.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {duration, size} from './settings.js'

const T = DEFAULT_CONNECTION_THRESHOLDS

const connectionsSettings = z.strictObject({
  'idle-after': duration().default(T.idleAfterSeconds * 1000),
  'blocked-after': duration().default(T.blockedAfterSeconds * 1000),
  'big-buffer': size().default(T.bigBufferBytes),
})

export type ConnectionsSettings = z.output<typeof connectionsSettings>

/** `qdoctor connections --watch`: INFO samples over a window, and the rate that makes a reconnect storm. */
export interface ConnectionsWatch {
  samples: ConnectionSample[]
  stormRate: number
}

/** Client libraries with their own metric series (the most used). */
const MAX_LIB_FIGURES = 20

/**
 * Read and judge the connections into `out`; returns the CLIENT LIST it judged (what --kill plans
 * from, so the kill acts on exactly the clients reported).
 */
export async function inspectConnections(ctx: FamilyContext<ConnectionsSettings>, out: FamilyOutput<ConnectionsSummary>, watch?: ConnectionsWatch): Promise<ClientListResult> {
  const s = ctx.settings
  ctx.progress('Reading CLIENT LIST and INFO…')
  const facts = await readServerFacts(ctx.conn)
  const list = await readClientList(ctx.conn)
  const processes = await liveProcesses(ctx, out)
  const namespaces = await namespacesInUse(ctx)
  const {summary, findings} = evaluateConnections(
    {
      ...(list.available ? {clients: list.clients, ...(list.ownId !== undefined ? {ownId: list.ownId} : {})} : {clientListRefused: list.reason}),
      info: facts.info,
      config: facts.config,
      processes,
      namespaces,
      ...(watch ? {watch: watch.samples} : {}),
    },
    {
      ...T,
      idleAfterSeconds: s['idle-after'] / 1000,
      blockedAfterSeconds: s['blocked-after'] / 1000,
      bigBufferBytes: s['big-buffer'],
      ...(watch ? {stormRate: watch.stormRate} : {}),
    },
  )
  out.summary = summary
  out.add(...findings)
  for (const [check, n] of Object.entries(summary.unlisted ?? {})) out.warn(`${n} more ${check} findings not listed (see summary counts).`)
  return list
}

/** Heartbeats explain how many connections a host may hold; unreadable ones are a warning, not a failure. */
async function liveProcesses(ctx: FamilyContext<ConnectionsSettings>, out: FamilyOutput<ConnectionsSummary>): Promise<ProcessState[]> {
  try {
    return await readProcesses(ctx.conn, ctx.keys)
  } catch (err) {
    if (err instanceof RedisUnavailableError || err instanceof ScanInterruptedError) throw err
    out.warn(`Could not read Sidekiq heartbeats (${(err as Error).message.split('\n')[0]}): connection/per-host-outlier was not checked.`)
    return []
  }
}

/** The namespace given with --namespace if it holds Sidekiq data, else any namespace found by detection. */
async function namespacesInUse(ctx: FamilyContext<ConnectionsSettings>): Promise<string[]> {
  const {conn, keys} = ctx
  if (!keys.namespace) return detectNamespaces(conn, keys, ctx.scanCount, ctx.source)
  const present = await resilient(conn, 'checking for namespaced Sidekiq keys', (redis) => redis.exists(keys.queues, keys.processes))
  return present > 0 ? [keys.namespace] : []
}

export const connectionsFamily: CheckFamily<ConnectionsSettings, ConnectionsSummary> = {
  name: 'connections',
  title: 'Redis connections: totals vs maxclients, idle and blocked clients, buffers, client libraries',
  command: 'qdoctor connections',
  checks: [
    {id: 'connection/near-maxclients', severities: ['error', 'warn'], title: 'connections in use close to maxclients'},
    {id: 'connection/rejected', severities: ['error', 'warn'], title: 'connections were rejected at maxclients', supersedes: 'redis/rejected-connections'},
    {id: 'connection/idle', severities: ['info'], title: 'a client idle longer than idle-after'},
    {id: 'connection/blocked', severities: ['warn'], title: 'a blocking call waiting far longer than any Sidekiq fetch'},
    {id: 'connection/stale-multi', severities: ['warn'], title: 'an open MULTI or WATCH that is never executed'},
    {id: 'connection/big-buffers', severities: ['warn'], title: 'a client holding big query or output buffers'},
    {id: 'connection/mixed-client-libs', severities: ['warn'], title: 'one host connecting with mixed client libraries or protocols'},
    {id: 'connection/per-host-outlier', severities: ['warn'], title: "a host holding more connections than Sidekiq's pools explain"},
    {id: 'connection/no-idle-timeout', severities: ['warn'], title: 'timeout 0 with idle connections piling up'},
    {id: 'connection/reconnect-storm', severities: ['warn'], title: 'clients reconnecting in a loop (qdoctor connections --watch only)'},
    {id: 'connection/unavailable', severities: ['warn'], title: 'CLIENT LIST refused: only INFO totals could be checked'},
    {id: 'redis/namespace-in-use', severities: ['info'], title: 'Sidekiq data under a redis-namespace (Sidekiq 7 drops it)'},
  ],
  settings: connectionsSettings,
  patterns: (keys) => (keys.namespace ? [] : [NAMESPACE_MARKER_PATTERN]),
  emptySummary: () => evaluateConnections({info: {}, config: {}, processes: [], namespaces: [], clients: []}).summary,
  async run(ctx, out) {
    await inspectConnections(ctx, out)
  },
  figures(s): Figure[] {
    const figures: Figure[] = [
      {name: 'connections_clients', help: 'Client connections (INFO connected_clients; replica links left out).', value: s.connected},
      {name: 'connections_sidekiq_pool_budget', help: "Connections the live Sidekiq processes' pools may hold.", value: s.sidekiqPoolBudget},
    ]
    if (!s.clientList) return figures
    for (const [kind, n] of Object.entries(s.byKind))
      figures.push({name: 'connections_by_kind', help: 'Connections by kind (fetcher: a Sidekiq fetch within its timeout; blocked: any other long block).', value: n ?? 0, labels: {kind}})
    for (const [idle, n] of Object.entries(s.idle)) figures.push({name: 'connections_by_idle', help: 'Connections by time since their last command.', value: n, labels: {idle}})
    // byLib is sorted most used first: a fleet with many library versions must not flood a metrics store.
    for (const [lib, n] of Object.entries(s.byLib).slice(0, MAX_LIB_FIGURES))
      figures.push({name: 'connections_by_lib', help: 'Connections by client library (lib-name lib-ver, Redis 7.2+; the most used).', value: n, labels: {lib}})
    return figures
  },
}
