import {Flags} from '@oclif/core'

import {ownScan} from '../lib/redis/keyspace-index.js'
import {serverFamily, sidekiqVersionsSeen} from '../lib/checks/families/server.js'
import {QdoctorCommand} from '../lib/command/base.js'
import {evaluatePreflight, gatherPreflight, type PreflightSummary} from '../lib/checks/preflight.js'
import type {ServerSummary} from '../lib/checks/server.js'
import {Connection} from '../lib/redis/connect.js'
import {kvTable, table} from '../lib/report/render.js'
import {humanBytes, humanCount, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'

export default class Server extends QdoctorCommand<typeof Server> {
  static override summary = 'Is this Redis fit to run Sidekiq?'
  static override description = `Checks the Redis version against Sidekiq's minimums (6.x needs 4.0, 7.x 6.2, 8.x 7.0), maxmemory-policy (anything but noeviction loses jobs), memory headroom, evictions, persistence, role and replication lag, cluster mode, timeout/tcp-keepalive and rejected connections.
Where CONFIG is forbidden (managed Redis) it falls back to INFO and reports each check it could not make as redis/unchecked.
--preflight --target <new-url>: before a cutover from this primary to a new Redis built as its replica, checks that the target replicates this primary, its link is up, it is caught up (lag in bytes and seconds), runs the same Redis major or a supported upgrade, has maxmemory-policy noeviction, enough maxmemory and persistence, and holds the same key counts per Sidekiq family. Each item passes or fails with the command that fixes it; exit code 1 when the cutover is not safe.`

  static override examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --url redis://:secret@10.0.0.5:6379/0',
    '<%= config.bin %> server --json --fail-on warn',
    '<%= config.bin %> server --preflight --target redis://:secret@10.0.0.9:6379/0   # before a cutover',
  ]

  static override flags = {
    'memory-warn': Flags.integer({summary: 'Warn when used memory reaches this % of maxmemory.', default: 80, min: 1, max: 100}),
    'memory-error': Flags.integer({summary: 'Error when used memory reaches this % of maxmemory.', default: 95, min: 1, max: 100}),
    preflight: Flags.boolean({summary: 'Check that a cutover to --target (a replica of this primary) is safe.', helpGroup: 'PREFLIGHT', dependsOn: ['target']}),
    target: Flags.string({summary: 'The new Redis to cut over to (its password is never printed).', helpGroup: 'PREFLIGHT', helpValue: '<url>', dependsOn: ['preflight']}),
  }

  private targetConn?: Connection

  async run(): Promise<Report<ServerSummary> | Report<PreflightSummary>> {
    if (this.flags.preflight && this.flags.target) return this.preflight(this.flags.target)
    const report = this.startReport<ServerSummary>(serverFamily.emptySummary())
    await this.collect(report, async () => {
      const f = this.flags
      await serverFamily.run(
        {conn: this.conn, keys: this.keys, source: ownScan(this.conn), scanCount: f['scan-count'], settings: {'memory-warn': f['memory-warn'], 'memory-error': f['memory-error']}, progress: () => {}},
        report,
      )
    })
    return this.finish(report, renderServer)
  }

  private async preflight(targetUrl: string): Promise<Report<PreflightSummary>> {
    const f = this.flags
    this.targetConn = new Connection({url: targetUrl, tlsCa: f['tls-ca'], tlsInsecure: f['tls-insecure'], timeoutMs: f.timeout, maxOps: f['max-ops']})
    const target = this.targetConn
    const report = this.startReport<PreflightSummary>({
      preflight: true,
      safe: false,
      source: {url: this.conn.target},
      target: {url: target.target, persistence: {}},
      lag: {},
      items: [],
      unchecked: [],
      counts: {},
    })
    await this.collect(report, async () => {
      await target.redis()
      const progress = this.progress(`Comparing ${this.conn.target} with ${target.target}…`)
      const input = await gatherPreflight({conn: this.conn, url: f.url}, {conn: target, url: targetUrl}, this.keys, {scanCount: f['scan-count'], sidekiqVersions: await sidekiqVersionsSeen(this.conn, this.keys)})
      progress.stop()
      const {summary, findings} = evaluatePreflight(input)
      report.summary = summary
      report.add(...findings)
    })
    return this.finish(report, renderPreflight)
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this.targetConn?.quit()
    return super.finally(err)
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

function renderPreflight(report: Report<PreflightSummary>, style: Style): string {
  const s = report.summary
  const mark = (status: string) => (status === 'pass' ? style.color.green('pass') : status === 'fail' ? style.color.red.bold('FAIL') : style.color.yellow('unknown'))
  const rows = s.items.map((i) => [i.item, mark(i.status), i.status === 'pass' || !i.fix ? i.message : `${i.message}\nfix: ${i.fix}`])
  const verdict = s.safe
    ? style.color.green.bold(`Cutover from ${s.source.url} to ${s.target.url}: safe${s.unchecked.length ? ` (not checked: ${s.unchecked.join(', ')})` : ''}.`)
    : style.color.red.bold(`Cutover from ${s.source.url} to ${s.target.url}: NOT safe (${s.items.filter((i) => i.status === 'fail').map((i) => i.item).join(', ')}).`)
  return [table(style, ['item', 'status', 'detail'], rows), verdict].join('\n')
}
