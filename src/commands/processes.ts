import {Flags} from '@oclif/core'

import {durationFlag} from '../lib/command/flags.js'
import {RepairCommand} from '../lib/command/repair-command.js'
import {inspectProcesses, processesFamily} from '../lib/checks/families/processes.js'
import {DEFAULT_PROCESS_THRESHOLDS, type ProcessesSummary} from '../lib/checks/processes.js'
import {ownScan} from '../lib/redis/keyspace-index.js'
import type {ReportBuilder} from '../lib/report/builder.js'
import {table} from '../lib/report/render.js'
import {humanCount, humanSeconds, type Style} from '../lib/report/style.js'
import type {Report} from '../lib/report/types.js'
import {planPrune} from '../lib/repairs/plans/processes-prune.js'
import {type ProcessState, readLeftovers} from '../lib/sidekiq/processes.js'

export default class Processes extends RepairCommand<typeof Processes> {
  static override summary = 'Sidekiq processes: heartbeats, stuck jobs, orphaned private queues; --prune removes stale entries'
  static override description = `Lists every member of the "processes" set with hostname, pid, tag, version, threads (busy / concurrency), quiet, RSS, Redis round trip, uptime and heartbeat age measured on the Redis clock (TIME), and judges them:
stale members whose heartbeat hash expired (process/stale-heartbeat), late heartbeats (process/heartbeat-late), quiet processes with nothing left to do (process/stuck-quiet), mixed Sidekiq versions (process/version-mix), jobs in progress longer than --stuck-after (process/stuck-job), and super_fetch or GitLab reliable-fetch working lists whose owner is gone (process/orphaned-private-queue).
--prune plans SREM of each stale member, re-checked atomically so a member whose heartbeat hash exists again is never removed, plus UNLINK of its leftover :work/:workers/-signals keys (under the same re-check); journaled, so \`qdoctor undo\` puts them back.`

  static override examples = [
    '<%= config.bin %> processes',
    '<%= config.bin %> processes --json --stuck-after 30m',
    '<%= config.bin %> processes --namespace myapp                # Sidekiq <= 6 with redis-namespace',
    '<%= config.bin %> processes --prune                          # plan, confirm, remove stale members',
    '<%= config.bin %> processes --prune --dry-run --json         # the plan only, as JSON',
    '<%= config.bin %> processes --prune --yes --journal prune.jsonl   # no prompt (CI); undo with: qdoctor undo prune.jsonl',
  ]

  static override flags = {
    'stuck-after': durationFlag({
      summary: 'Report jobs in progress for at least this long (process/stuck-job), e.g. 30m, 2h.',
      default: DEFAULT_PROCESS_THRESHOLDS.stuckAfterSeconds * 1000,
    }),
    prune: Flags.boolean({
      summary: 'Plan and (after confirmation) remove stale processes members and their leftover keys, e.g. --prune --dry-run to see the plan.',
      helpGroup: 'PRUNE',
    }),
  }

  async run(): Promise<Report<ProcessesSummary>> {
    const report = this.startReport<ProcessesSummary>(processesFamily.emptySummary())
    await this.collect(report, async () => {
      const progress = this.progress('Reading heartbeats…')
      let processes: ProcessState[]
      try {
        processes = await inspectProcesses(
          {
            conn: this.conn,
            keys: this.keys,
            source: ownScan(this.conn),
            scanCount: this.flags['scan-count'],
            settings: {'stuck-after': this.flags['stuck-after']},
            progress: (text) => progress.update(text),
          },
          report,
        )
      } finally {
        progress.stop()
      }
      if (this.flags.prune && report.incomplete.length === 0) await this.prune(report, processes)
    })
    return this.finish(report, renderProcesses)
  }

  private async prune(report: ReportBuilder<ProcessesSummary>, processes: ProcessState[]): Promise<void> {
    const stale = processes.filter((p) => !p.alive).map((p) => p.identity)
    const leftovers = await readLeftovers(this.conn, this.keys, stale)
    const plan = planPrune(this.keys, processes, leftovers)
    for (const l of plan.leftAlone) report.warn(`${l.key} (leftover of ${l.identity}) was left alone: it ${l.why}.`)
    if (plan.actions.length === 0) report.warn('Nothing to prune: every processes member has a live heartbeat.')
    const result = await this.executePlan(report, plan.actions, {
      noun: `actions: SREM of ${plan.members} stale processes members${plan.leftovers ? ` and UNLINK of ${plan.leftovers} leftover keys` : ''}`,
    })
    report.summary.pruned = (result?.records ?? []).filter((r) => r.status === 'applied' && r.step === 'srem').length
  }
}

function renderProcesses(report: Report<ProcessesSummary>, style: Style): string {
  const s = report.summary
  const state = (r: ProcessesSummary['processes'][number]) => {
    if (r.stale) return style.color.red('stale')
    const parts = [r.late ? style.color.yellow('late') : '', r.quiet ? style.color.yellow('quiet') : ''].filter(Boolean)
    return parts.length ? parts.join(', ') : style.color.green('ok')
  }
  const rows = s.processes.map((r) => [
    r.identity,
    r.tag ?? '',
    r.version ?? '',
    r.stale ? '-' : `${r.busy ?? '?'} / ${r.concurrency ?? '?'}`,
    r.beatAgeSeconds === null ? '-' : humanSeconds(r.beatAgeSeconds),
    r.uptimeSeconds === null ? '-' : humanSeconds(r.uptimeSeconds),
    r.rssKb === null ? '-' : `${Math.round(r.rssKb / 1024)} MB`,
    r.rttUs === null ? '-' : `${(r.rttUs / 1000).toFixed(1)} ms`,
    state(r),
  ])
  const parts = [
    s.processes.length ? table(style, ['identity', 'tag', 'version', 'busy / threads', 'beat age', 'uptime', 'RSS', 'RTT', 'state'], rows) : 'No processes are registered.',
    `${s.total} processes: ${s.alive} alive, ${s.stale} stale; ${humanCount(s.busy)} of ${humanCount(s.concurrency)} threads busy${s.versions.length ? `; Sidekiq ${s.versions.join(', ')}` : ''}`,
  ]
  if (s.stuckJobs.length)
    parts.push(
      table(
        style,
        ['stuck job', 'class', 'queue', 'running for', 'process'],
        s.stuckJobs.map((j) => [j.jid ?? `tid ${j.tid}`, j.class ?? '?', j.queue ?? '?', humanSeconds(j.runningSeconds), j.identity]),
      ),
    )
  if (s.privateQueues.length)
    parts.push(
      table(
        style,
        ['private / working queue', 'fetcher', 'jobs', 'owner'],
        s.privateQueues.map((q) => [q.key, q.kind, humanCount(q.jobs), q.ownerAlive ? 'alive' : style.color.red('gone')]),
      ),
    )
  if (s.pruned !== undefined && report.actions?.some((a) => a.status !== 'planned')) parts.push(`Pruned ${s.pruned} stale members.`)
  return parts.join('\n')
}
