// The `server` family: is this Redis fit to run Sidekiq (qdoctor server)?
import {z} from 'zod'

import {readServerFacts} from '../../redis/server-info.js'
import type {Figure} from '../../report/doctor.js'
import type {Connection} from '../../redis/connect.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'
import {readProcesses} from '../../sidekiq/processes.js'
import {DEFAULT_SERVER_THRESHOLDS, evaluateServer, type ServerSummary} from '../server.js'
import type {CheckFamily} from './family.js'
import {percent} from './settings.js'

const serverSettings = z.strictObject({
  'memory-warn': percent().default(Math.round(DEFAULT_SERVER_THRESHOLDS.memoryWarn * 100)),
  'memory-error': percent().default(Math.round(DEFAULT_SERVER_THRESHOLDS.memoryError * 100)),
})

export type ServerSettings = z.output<typeof serverSettings>

/** Sidekiq versions from live heartbeats (7.0.2+ write info.version); a failure here must not sink the server check. */
export async function sidekiqVersionsSeen(conn: Connection, keys: SidekiqKeys): Promise<string[]> {
  try {
    const processes = await readProcesses(conn, keys)
    return [...new Set(processes.map((p) => p.version).filter((v): v is string => Boolean(v)))].sort()
  } catch {
    return []
  }
}

export const serverFamily: CheckFamily<ServerSettings, ServerSummary> = {
  name: 'server',
  title: 'Redis fit for Sidekiq: version, maxmemory-policy, memory, evictions, persistence, replication',
  command: 'qdoctor server',
  checks: [
    {id: 'redis/version', severities: ['error', 'warn'], title: 'Redis older than the Sidekiq in use needs'},
    {id: 'redis/maxmemory-policy', severities: ['error'], title: 'an eviction policy that can drop jobs'},
    {id: 'redis/memory-pressure', severities: ['error', 'warn'], title: 'used memory close to maxmemory'},
    {id: 'redis/evicted-keys', severities: ['error'], title: 'keys were evicted'},
    {id: 'redis/persistence', severities: ['warn'], title: 'neither RDB nor AOF'},
    {id: 'redis/cluster-mode', severities: ['error'], title: 'cluster mode (Sidekiq needs one node)'},
    {id: 'redis/rejected-connections', severities: ['warn'], title: 'connections rejected at maxclients'},
    {id: 'redis/tcp-keepalive', severities: ['warn'], title: 'tcp-keepalive off'},
    {id: 'redis/timeout', severities: ['info'], title: 'idle client timeout set'},
    {id: 'redis/loading', severities: ['error'], title: 'dataset still loading'},
    {id: 'redis/replication-lag', severities: ['error', 'warn'], title: 'replicas behind or disconnected'},
    {id: 'redis/replica', severities: ['error', 'warn'], title: 'pointed at a replica'},
    {id: 'redis/unchecked', severities: ['info'], title: 'a setting CONFIG could not read (managed Redis)'},
  ],
  settings: serverSettings,
  patterns: () => [],
  emptySummary: () => ({persistence: {}, clusterEnabled: false, sidekiqSupported: {}, sidekiqVersionsSeen: [], replicas: [], unchecked: []}),
  async run(ctx, out) {
    ctx.progress('Reading INFO and CONFIG…')
    const facts = await readServerFacts(ctx.conn)
    const versions = await sidekiqVersionsSeen(ctx.conn, ctx.keys)
    const {summary, findings} = evaluateServer(facts, versions, {
      ...DEFAULT_SERVER_THRESHOLDS,
      memoryWarn: ctx.settings['memory-warn'] / 100,
      memoryError: ctx.settings['memory-error'] / 100,
    })
    out.summary = summary
    out.add(...findings)
  },
  figures(s) {
    const figures: Figure[] = []
    const add = (name: string, help: string, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value)) figures.push({name, help, value})
    }
    add('redis_used_memory_bytes', 'Redis used_memory.', s.usedMemoryBytes)
    add('redis_maxmemory_bytes', 'Redis maxmemory (0 = no limit).', s.maxmemoryBytes)
    add('redis_evicted_keys', 'Keys evicted since the Redis server started.', s.evictedKeys)
    add('redis_connected_clients', 'Client connections open now.', s.connectedClients)
    add('redis_maxclients', 'Redis maxclients.', s.maxclients)
    add('redis_rejected_connections', 'Connections rejected at maxclients since the server started.', s.rejectedConnections)
    return figures
  },
}
