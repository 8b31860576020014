// The `processes` family (qdoctor processes): heartbeats measured on the Redis clock, jobs running too
// long, and super_fetch/reliable-fetch working lists whose owner is gone.
import {z} from 'zod'

import type {Figure} from '../../report/doctor.js'
import {detectNamespaces, NAMESPACE_MARKER_PATTERN} from '../../sidekiq/namespaces.js'
import {fetchListPattern, readPrivateQueues} from '../../sidekiq/private-queues.js'
import {type ProcessState, readProcesses} from '../../sidekiq/processes.js'
import {redisNow} from '../../sidekiq/queues.js'
import {DEFAULT_PROCESS_THRESHOLDS, evaluateProcesses, type ProcessesSummary} from '../processes.js'
import type {CheckFamily, FamilyContext, FamilyOutput} from './family.js'
import {duration} from './settings.js'

const processesSettings = z.strictObject({
  'stuck-after': duration().default(DEFAULT_PROCESS_THRESHOLDS.stuckAfterSeconds * 1000),
})

export type ProcessesSettings = z.output<typeof processesSettings>

/** Read and judge every process into `out`; returns them for --prune (the processes command and doctor run this). */
export async function inspectProcesses(ctx: FamilyContext<ProcessesSettings>, out: FamilyOutput<ProcessesSummary>): Promise<ProcessState[]> {
  ctx.progress('Reading heartbeats…')
  const nowSeconds = await redisNow(ctx.conn)
  const processes = await readProcesses(ctx.conn, ctx.keys)
  ctx.progress('Looking for private and working queues…')
  // A list emptied since the scan has nothing left to recover.
  const privateQueues = (await readPrivateQueues(ctx.conn, ctx.keys, {source: ctx.source, scanCount: ctx.scanCount})).filter((q) => q.jobs > 0)
  const {summary, findings} = evaluateProcesses(
    {processes, nowSeconds, privateQueues},
    {...DEFAULT_PROCESS_THRESHOLDS, stuckAfterSeconds: ctx.settings['stuck-after'] / 1000},
  )
  out.summary = summary
  out.add(...findings)
  for (const p of processes) for (const problem of p.problems) out.warn(`${p.identity}: ${problem}`)
  for (const [check, n] of Object.entries(summary.unlisted ?? {})) out.warn(`${n} more ${check} findings not listed.`)
  if (processes.length === 0) {
    const found = await detectNamespaces(ctx.conn, ctx.keys, ctx.scanCount, ctx.source)
    if (found.length) out.warn(`No processes at the top level, but namespaced Sidekiq data exists under: ${found.join(', ')}. Re-run with --namespace ${found[0]}.`)
  }
  return processes
}

export const processesFamily: CheckFamily<ProcessesSettings, ProcessesSummary> = {
  name: 'processes',
  title: 'Sidekiq processes: stale and late heartbeats, stuck jobs, orphaned private queues',
  command: 'qdoctor processes',
  checks: [
    {id: 'process/orphaned-private-queue', severities: ['error'], title: 'a super_fetch/reliable-fetch list whose owner is gone: its jobs run nowhere'},
    {id: 'process/stale-heartbeat', severities: ['warn'], title: 'a processes member whose heartbeat expired'},
    {id: 'process/heartbeat-late', severities: ['warn'], title: 'a heartbeat more than two beats late'},
    {id: 'process/stuck-quiet', severities: ['warn'], title: 'a quiet process with nothing left to do that never stopped'},
    {id: 'process/stuck-job', severities: ['warn'], title: 'a job in progress longer than stuck-after'},
    {id: 'process/version-mix', severities: ['warn'], title: 'live processes on different Sidekiq versions'},
  ],
  settings: processesSettings,
  patterns: (keys) => [fetchListPattern(keys), ...(keys.namespace ? [] : [NAMESPACE_MARKER_PATTERN])],
  emptySummary: () => evaluateProcesses({processes: [], nowSeconds: 0, privateQueues: []}).summary,
  async run(ctx, out) {
    await inspectProcesses(ctx, out)
  },
  figures(s): Figure[] {
    const orphaned = s.privateQueues.filter((q) => !q.ownerAlive)
    return [
      {name: 'processes', help: 'Members of the processes set.', value: s.total},
      {name: 'processes_stale', help: 'processes members whose heartbeat expired.', value: s.stale},
      {name: 'process_threads', help: 'Threads (concurrency) of live processes.', value: s.concurrency},
      {name: 'process_threads_busy', help: 'Busy threads of live processes.', value: s.busy},
      {name: 'stuck_jobs', help: 'Jobs in progress longer than stuck-after.', value: s.stuckJobs.length},
      {name: 'orphaned_private_queue_jobs', help: 'Jobs in private/working lists whose owner is gone.', value: orphaned.reduce((n, q) => n + q.jobs, 0)},
    ]
  },
}
