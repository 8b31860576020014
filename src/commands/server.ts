import {Flags} from '@oclif/core'

import {QdoctorCommand} from '../lib/command/base.js'
import {DEFAULT_SERVER_THRESHOLDS, evaluateServer, type ServerSummary} from '../lib/checks/server.js'
import {readServerFacts} from '../lib/redis/server-info.js'
import {kvTable} from '../lib/report/render.js'
import {humanBytes, humanCount, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {readProcesses} from '../lib/sidekiq/processes.js'

export default class Server extends QdoctorCommand<typeof Server> {
  static override summary = 'Is this Redis fit to run Sidekiq?'
  static override description = `Checks the Redis version against Sidekiq's minimums (6.x needs 4.0, 7.x 6.2, 8.x 7.0), maxmemory-policy (anything but noeviction loses jobs), memory headroom, evictions, persistence, role and replication lag, cluster mode, timeout/tcp-keepalive and rejected connections.
Where CONFIG is forbidden (managed Redis) it falls back to INFO and reports each check it could not make as redis/unchecked.`

  static override examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --url redis://:secret@10.0.0.5:6379/0',
    '<%= config.bin %> server --json --fail-on warn',
  ]

  static override flags = {
    'memory-warn': Flags.integer({summary: 'Warn when used memory reaches this % of maxmemory.', default: 80, min: 1, max: 100}),
    'memory-error': Flags.integer({summary: 'Error when used memory reaches this % of maxmemory.', default: 95, min: 1, max: 100}),
  }

  async run(): Promise<Report<ServerSummary>> {
    const report = this.startReport<ServerSummary>({persistence: {}, clusterEnabled: false, sidekiqSupported: {}, sidekiqVersionsSeen: [], replicas: [], unchecked: []})
    await this.collect(report, async () => {
      const facts = await readServerFacts(this.conn)
      const versions = await this.sidekiqVersions()
      const {summary, findings} = evaluateServer(facts, versions, {
        ...DEFAULT_SERVER_THRESHOLDS,
        memoryWarn: this.flags['memory-warn'] / 100,
        memoryError: this.flags['memory-error'] / 100,
      })
      report.summary = summary
      report.add(...findings)
    })
    return this.finish(report, renderServer)
  }

  /** Versions from live heartbeats (7.0.2+ write info.version); a failure here must not sink the server check. */
  private async sidekiqVersions(): Promise<string[]> {
    try {
      const processes = await readProcesses(this.conn, this.keys)
      return [...new Set(processes.map((p) => p.version).filter((v): v is string => Boolean(v)))].sort()
    } catch {
      return []
    }
  }
}

function renderServer(report: Report<ServerSummary>, style: Style): string {
  const s = report.summary
  const yesNo = (v: boolean | undefined) => (v === undefined ? 'unknown' : v ? 'yes' : 'no')
  const rows: Array<[string, string]> = [
    ['target', report.target],
    ['version', `${s.version ?? '?'} (${s.mode ?? '?'})`],
    ['Sidekiq majors supported', Object.entries(s.sidekiqSupported).map(([m, ok]) => `${m}.x ${ok ? '✓' : '✗'}`).join('  ')],
    ['Sidekiq versions seen', s.sidekiqVersionsSeen.join(', ') || '-'],
    ['role', s.role ?? '?'],
    ['maxmemory-policy', s.maxmemoryPolicy ?? 'unknown'],
    ['memory', `${humanBytes(s.usedMemoryBytes)} used of ${s.maxmemoryBytes ? humanBytes(s.maxmemoryBytes) : 'no limit'}`],
    ['evicted keys', humanCount(s.evictedKeys)],
    ['persistence', `rdb ${yesNo(s.persistence.rdb)}, aof ${yesNo(s.persistence.aof)}`],
    ['clients', `${humanCount(s.connectedClients)} of ${humanCount(s.maxclients)} (rejected ${humanCount(s.rejectedConnections)})`],
    ['timeout / tcp-keepalive', `${s.timeoutSeconds ?? '?'}s / ${s.tcpKeepaliveSeconds ?? '?'}s`],
  ]
  for (const r of s.replicas) rows.push([`replica ${r.address}`, `${r.state ?? '?'}, lag ${r.lagSeconds ?? '?'}s / ${humanBytes(r.lagBytes)}`])
  return kvTable(style, 'Redis', rows)
}
