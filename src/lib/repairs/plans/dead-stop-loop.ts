// `qdoctor dead --stop-loop` (sidekiq-data-model.md §10.3). A running `DeadSet#retry_all` (Sidekiq
// ≤ 7.3.4) repeats `each(&:retry) while size > 0`; setting the whole dead set aside makes its next
// size check read 0, and it returns. Each step is a journaled zmerge action:
// 1. quarantine: RENAME dead → quarantine key;
// 2. hold: jobs the loop pushed just before die again into a new `dead`; each such re-death is swept
//    into the quarantine too, so the loop never again sees size > 0. The hold ends once every client
//    seen driving the loop has gone quiet (disconnected or idle) and nothing needed sweeping for a
//    while, or at the --hold limit;
// 3. merge back: ZUNIONSTORE dead 2 dead quarantine AGGREGATE MAX, DEL quarantine.
// A driver still active at the end of the hold would loop again at once: the set then stays
// quarantined, and the run says how to finish (stop that process, then `qdoctor undo <journal>`).
import type {Connection} from '../../redis/connect.js'
import {type ClientInfo, readClientList} from '../../redis/client-list.js'
import {pipelinedReads} from '../../redis/pipeline.js'
import type {DriverClient} from '../../checks/dead-loops.js'
import type {ZmergeAction} from '../actions.js'
import type {ApplyResult} from '../apply.js'

export interface StopLoopOptions {
  deadKey: string
  quarantineKey: string
  /** The longest the set stays quarantined. */
  holdMs: number
  /** Clients seen driving the loop before the quarantine (from a short watch). */
  drivers: readonly DriverClient[]
  /** Time between checks for re-deaths. */
  pollMs?: number
  /** How long the drivers must stay quiet, and nothing need sweeping, before the merge. */
  quietMs?: number
  /** Without an identified driver: how long to hold (at most holdMs). */
  blindHoldMs?: number
  onProgress?: (text: string) => void
}

export interface StopLoopOutcome {
  quarantined: number
  /** The quarantine key already held this many entries (an earlier run that never merged back). */
  leftOver: number
  swept: number
  sweeps: number
  heldMs: number
  driversStopped: boolean | null
  mergedBack: boolean
  sizeAfter?: number
  /** The run stopped (apply failed or was interrupted). */
  stopped: boolean
}

export type ApplyMerge = (actions: readonly ZmergeAction[]) => Promise<ApplyResult>

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The three kinds of step, as they appear in the journal and the report. */
export function quarantineAction(o: StopLoopOptions, step: 'stop-loop/quarantine' | 'stop-loop/sweep', count: number): ZmergeAction {
  return {kind: 'zmerge', step, from: o.deadKey, to: o.quarantineKey, purpose: 'stash', detail: `${step === 'stop-loop/sweep' ? 'sweep' : 'set aside'} ${count} dead jobs: ${o.deadKey} → ${o.quarantineKey}`}
}
export function mergeBackAction(o: StopLoopOptions, count: number): ZmergeAction {
  return {kind: 'zmerge', step: 'stop-loop/merge', from: o.quarantineKey, to: o.deadKey, purpose: 'unstash', detail: `merge ${count} jobs back: ZUNIONSTORE ${o.deadKey} 2 ${o.deadKey} ${o.quarantineKey} AGGREGATE MAX, DEL ${o.quarantineKey}`}
}

async function sizes(conn: Connection, keys: readonly string[]): Promise<number[]> {
  const replies = await pipelinedReads(conn, keys, (k) => [['zcard', k]])
  return replies.map(([r]) => (typeof r?.value === 'number' ? r.value : 0))
}

export async function stopLoop(conn: Connection, o: StopLoopOptions, apply: ApplyMerge, signal: AbortSignal): Promise<StopLoopOutcome> {
  const pollMs = o.pollMs ?? 50
  const quietMs = o.quietMs ?? 1000
  const holdMs = o.drivers.length ? o.holdMs : Math.min(o.holdMs, o.blindHoldMs ?? 2000)
  const [deadSize, leftOver] = await sizes(conn, [o.deadKey, o.quarantineKey])
  const out: StopLoopOutcome = {quarantined: deadSize!, leftOver: leftOver!, swept: 0, sweeps: 0, heldMs: 0, driversStopped: null, mergedBack: false, stopped: false}
  const first = await apply([quarantineAction(o, 'stop-loop/quarantine', deadSize!)])
  if (first.stopped) return {...out, stopped: true}
  const started = Date.now()
  let lastSweep = started
  let lastClientCheck = 0
  let driversQuiet = o.drivers.length === 0
  let quietSince = driversQuiet ? started : undefined
  for (;;) {
    const [fresh] = await sizes(conn, [o.deadKey])
    if (fresh! > 0) {
      const r = await apply([quarantineAction(o, 'stop-loop/sweep', fresh!)])
      if (r.stopped) return {...out, heldMs: Date.now() - started, stopped: true}
      if (r.records[0]?.status === 'applied') {
        out.swept += fresh!
        out.sweeps++
        lastSweep = Date.now()
      }
    }
    if (o.drivers.length && Date.now() - lastClientCheck >= 200) {
      lastClientCheck = Date.now()
      driversQuiet = await allQuiet(conn, o.drivers)
      if (!driversQuiet) quietSince = undefined
      else quietSince ??= lastClientCheck
    }
    const elapsed = Date.now() - started
    o.onProgress?.(`Dead set quarantined for ${(elapsed / 1000).toFixed(1)}s: ${out.swept} re-deaths swept in${o.drivers.length ? `, driving client ${driversQuiet ? 'quiet' : 'still active'}` : ''}…`)
    if (signal.aborted || elapsed >= holdMs) break
    const now = Date.now()
    if (quietSince !== undefined && now - quietSince >= quietMs && now - lastSweep >= quietMs) break
    await sleep(pollMs)
  }
  out.heldMs = Date.now() - started
  if (o.drivers.length) out.driversStopped = driversQuiet
  if (out.driversStopped === false || signal.aborted) return out
  const [held] = await sizes(conn, [o.quarantineKey])
  const merge = await apply([mergeBackAction(o, held!)])
  if (merge.stopped) return {...out, stopped: true}
  out.mergedBack = merge.records[0]?.status === 'applied' || held === 0
  ;[out.sizeAfter] = await sizes(conn, [o.deadKey])
  return out
}

/** What a looping retry_all runs between its size checks: take from dead, push to a queue. */
const LOOPING_COMMANDS = new Set(['zrange', 'zrangebyscore', 'zremrangebyscore', 'zpopmin', 'multi', 'exec', 'lpush', 'sadd'])

/** Every driver has disconnected, is idle, or no longer runs the retry commands. */
async function allQuiet(conn: Connection, drivers: readonly DriverClient[]): Promise<boolean> {
  const list = await readClientList(conn)
  if (!list.available) return true
  const byId = new Map<string, ClientInfo>(list.clients.map((c) => [c.id, c]))
  return drivers.every((d) => {
    const c = byId.get(d.id)
    return !c || c.idleSeconds >= 1 || !LOOPING_COMMANDS.has(c.cmd)
  })
}
