import {Flags} from '@oclif/core'

import {durationFlag, sizeFlag} from '../lib/command/flags.js'
import {RepairCommand} from '../lib/command/repair-command.js'
import {type ConnectionsSummary, DEFAULT_CONNECTION_THRESHOLDS} from '../lib/checks/connections.js'
import {connectionsFamily, inspectConnections} from '../lib/checks/families/connections.js'
import type {ClientListResult} from '../lib/redis/client-list.js'
import {type ConnectionSample, watchConnections} from '../lib/redis/info-watch.js'
import {ownScan} from '../lib/redis/keyspace-index.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {kvTable, table} from '../lib/report/render.js'
import {humanCount, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {planClientKills} from '../lib/repairs/plans/connections-kill.js'

const T = DEFAULT_CONNECTION_THRESHOLDS

export default class Connections extends RepairCommand<typeof Connections> {
  static override summary = 'Who holds Redis connections: totals vs maxclients, idle and blocked clients, client libraries; --kill closes them'
  static override description = `Reads CLIENT LIST (every field, including resp from Redis 7.0 and lib-name/lib-ver from 7.2) and INFO clients/stats, and reports connections against maxclients, by source host, name, library and protocol, last command, idle time and age. Sidekiq fetchers blocked in brpop/blmove within their timeout count as healthy; replicas, pub/sub listeners and qdoctor itself are told apart.
Findings: connection/near-maxclients, connection/rejected, connection/idle (--idle-after), connection/blocked (--blocked-after), connection/stale-multi, connection/big-buffers, connection/mixed-client-libs, connection/per-host-outlier, connection/no-idle-timeout, connection/reconnect-storm (--watch), redis/namespace-in-use; connection/unavailable where CLIENT is renamed or forbidden (managed Redis), in which case the INFO totals are still reported.
--watch samples INFO for a while to show new connections per second (a reconnect storm) and rejections as they happen.
--kill plans CLIENT KILL ID … SKIPME yes for the connections idle for --idle-after (or blocked for --blocked-after) that match every filter given (--addr, --name, --lib, --cmd); never replicas/masters, pub/sub listeners (unless --include-pubsub) or qdoctor's own connection. Confirmation, --dry-run and the journal (the killed clients' lines) work as for every repair.`

  static override examples = [
    '<%= config.bin %> connections',
    '<%= config.bin %> connections --json --idle-after 6h',
    '<%= config.bin %> connections --watch 30s                          # new connections per second, rejections',
    '<%= config.bin %> connections --kill --idle-after 6h --dry-run      # what would be killed',
    '<%= config.bin %> connections --kill --addr 10.0.0.7 --idle-after 1h # idle connections of one host, after confirmation',
    '<%= config.bin %> connections --kill --cmd blpop --blocked-after 10m --yes   # clients stuck in a timeout-0 BLPOP',
    "<%= config.bin %> connections --kill --name 'Sidekiq-server-PID-*' --lib 'redis-rb*' --idle-after 2h",
  ]

  static override flags = {
    'idle-after': durationFlag({
      summary: 'A connection idle this long is reported (connection/idle) and, with --kill, killed, e.g. 6h (0s: every connection the other filters select).',
      default: T.idleAfterSeconds * 1000,
    }),
    'blocked-after': durationFlag({
      summary: 'A blocking call (BLPOP, BRPOP…) waiting this long is reported (connection/blocked) and, with --kill, killed, e.g. 10m.',
      default: T.blockedAfterSeconds * 1000,
    }),
    'big-buffer': sizeFlag({summary: 'Report clients whose output, query or total buffers reach this size (connection/big-buffers), e.g. 64mb.', default: T.bigBufferBytes}),
    watch: durationFlag({
      summary: 'Sample INFO clients/stats for this long (e.g. 30s) to show new connections per second and rejections.',
    }),
    'storm-rate': Flags.integer({
      summary: 'New connections per second over the --watch window that count as a reconnect storm (connection/reconnect-storm), e.g. 50.',
      default: T.stormRate,
      min: 1,
    }),
    kill: Flags.boolean({
      summary: 'Plan and (after confirmation) CLIENT KILL the idle or blocked connections the filters select, e.g. --kill --idle-after 6h --dry-run.',
      helpGroup: 'KILL',
    }),
    addr: Flags.string({
      summary: 'Only connections from this address: ip:port (one connection) or ip (a host). Repeatable or comma-separated.',
      helpGroup: 'KILL',
      multiple: true,
      delimiter: ',',
      dependsOn: ['kill'],
    }),
    name: Flags.string({
      summary: "Only connections with this client name, as a Redis glob pattern (e.g. 'Sidekiq-*'). Repeatable.",
      helpGroup: 'KILL',
      multiple: true,
      dependsOn: ['kill'],
    }),
    lib: Flags.string({
      summary: "Only connections whose lib-name (or 'lib-name lib-ver') matches, e.g. 'redis-rb*' (Redis 7.2+ reports it). Repeatable.",
      helpGroup: 'KILL',
      multiple: true,
      dependsOn: ['kill'],
    }),
    cmd: Flags.string({
      summary: 'Only connections whose last command is this one (e.g. blpop, brpop, client|list). Repeatable or comma-separated.',
      helpGroup: 'KILL',
      multiple: true,
      delimiter: ',',
      dependsOn: ['kill'],
    }),
    'include-pubsub': Flags.boolean({
      summary: 'Also kill matching pub/sub listeners (spared by default), e.g. --kill --include-pubsub --name stale-listener.',
      helpGroup: 'KILL',
      dependsOn: ['kill'],
    }),
  }

  async run(): Promise<Report<ConnectionsSummary>> {
    const report = this.startReport<ConnectionsSummary>(connectionsFamily.emptySummary())
    await this.collect(report, async () => {
      const f = this.flags
      let samples: ConnectionSample[] | undefined
      if (f.watch !== undefined) {
        const progress = this.progress(`Watching connections for ${f.watch / 1000}s…`)
        samples = await watchConnections(this.conn, {
          durationMs: f.watch,
          onSample: (s) => progress.update(`Watching connections… ${Math.round(s.atMs / 1000)}s: ${s.connectedClients} connected, ${s.totalConnectionsReceived} received since start`),
        })
        progress.stop()
      }
      const reading = this.progress('Reading CLIENT LIST…')
      const list = await inspectConnections(
        {
          conn: this.conn,
          keys: this.keys,
          source: ownScan(this.conn),
          scanCount: f['scan-count'],
          settings: {'idle-after': f['idle-after'], 'blocked-after': f['blocked-after'], 'big-buffer': f['big-buffer']},
          progress: (text) => reading.update(text),
        },
        report,
        samples ? {samples, stormRate: f['storm-rate']} : undefined,
      ).finally(() => reading.stop())
      if (f.kill) await this.kill(report, list)
    })
    return this.finish(report, renderConnections)
  }

  private async kill(report: ReportBuilder<ConnectionsSummary>, list: ClientListResult): Promise<void> {
    if (!list.available) {
      this.markRepairFailed(`--kill needs CLIENT LIST and CLIENT KILL, which this server refuses (${list.reason}): nothing was killed.`)
      return
    }
    const f = this.flags
    const plan = planClientKills(list.clients, list.ownId, {
      idleAfterSeconds: f['idle-after'] / 1000,
      blockedAfterSeconds: f['blocked-after'] / 1000,
      ...(f.addr ? {addr: f.addr} : {}),
      ...(f.name ? {name: f.name} : {}),
      ...(f.lib ? {lib: f.lib} : {}),
      ...(f.cmd ? {cmd: f.cmd} : {}),
      includePubsub: f['include-pubsub'],
    })
    const spared = Object.entries(plan.spared)
    if (spared.length)
      report.warn(
        `Spared ${spared.reduce((sum, [, n]) => sum + n, 0)} matching connections (${spared.map(([kind, n]) => `${kind}: ${n}`).join(', ')}): qdoctor's own and replication links are never killed${plan.spared.pubsub ? ', pub/sub listeners only with --include-pubsub' : ''}.`,
      )
    if (plan.actions.length === 0) report.warn('Nothing to kill: no connection matches the filters.')
    const result = await this.executePlan(report, plan.actions, {verb: 'kill', noun: plan.actions.length === 1 ? 'connection' : 'connections'})
    report.summary.killed = (result?.records ?? []).filter((r) => r.status === 'applied').length
  }
}

const TOP = 10

function topRows(counts: Record<string, number>): Array<[string, string]> {
  const entries = Object.entries(counts)
  const rows: Array<[string, string]> = entries.slice(0, TOP).map(([k, n]) => [k, humanCount(n)])
  if (entries.length > TOP) rows.push([`… ${entries.length - TOP} more`, humanCount(entries.slice(TOP).reduce((s, [, n]) => s + n, 0))])
  return rows
}

function renderConnections(report: Report<ConnectionsSummary>, style: Style): string {
  const s = report.summary
  const secs = (n: number | null) => (n === null ? 'unknown (CONFIG refused)' : `${n}s`)
  const parts = [
    kvTable(style, 'connections', [
      ['connected', `${humanCount(s.connected)} clients + ${humanCount(s.replicas)} replicas of maxclients ${s.maxclients === null ? '?' : humanCount(s.maxclients)}`],
      ['rejected since start', humanCount(s.rejectedConnections)],
      ['received since start', humanCount(s.totalConnectionsReceived)],
      ['blocked clients', humanCount(s.blockedClients)],
      ['timeout / tcp-keepalive', `${secs(s.timeoutSeconds)} / ${secs(s.tcpKeepaliveSeconds)}`],
      ['Sidekiq processes (pool budget)', `${s.sidekiqProcesses} (${s.sidekiqPoolBudget} connections)`],
      ...(s.killed !== undefined && report.actions?.some((a) => a.status !== 'planned') ? ([['killed', humanCount(s.killed)]] as Array<[string, string]>) : []),
    ]),
  ]
  if (s.clientList) {
    parts.push(kvTable(style, 'by kind', topRows(s.byKind as Record<string, number>)))
    parts.push(kvTable(style, 'by host', topRows(s.byHost)))
    parts.push(kvTable(style, 'by library', topRows(s.byLib)))
    parts.push(kvTable(style, 'by protocol', topRows(s.byProtocol)))
    parts.push(kvTable(style, 'by name', topRows(s.byName)))
    parts.push(kvTable(style, 'by last command', topRows(s.byCommand)))
    parts.push(table(style, ['', ...Object.keys(s.idle)], [['idle', ...Object.values(s.idle)], ['age', ...Object.values(s.age)]]))
  } else parts.push(style.color.yellow('CLIENT LIST is not available here: only the INFO totals above.'))
  if (s.watch) {
    const w = s.watch
    parts.push(
      table(
        style,
        ['watch', 'connected', 'received since start', 'rejected since start'],
        w.samples.map((x) => [`${(x.atMs / 1000).toFixed(1)}s`, humanCount(x.connectedClients), humanCount(x.totalConnectionsReceived), humanCount(x.rejectedConnections)]),
      ),
      `${humanCount(w.newConnections)} new connections in ${w.durationSeconds}s: ${w.newPerSecond.toFixed(1)}/s (peak ${w.peakNewPerSecond.toFixed(1)}/s); ${humanCount(w.rejected)} rejected; connected ${w.connectedMin}–${w.connectedMax}`,
    )
  }
  return parts.join('\n')
}
