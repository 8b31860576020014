// Plans `qdoctor batches --repair <step>` from the ghost search's conclusions and the orphan scan.
// Pure: every action carries the state it relies on, and the engine re-checks it atomically.
//
//   rescue         LMOVE the exact stranded element from a dead process's private (super_fetch) or
//                  working (GitLab) list back to its public queue, only while the owner's heartbeat
//                  key is absent — what the fetcher's own orphan recovery does.
//   recreate       LPUSH a new job carrying the ghost's jid and bid (the maintainer's advice, #6535),
//                  only while the jid is still in the batch's pending set; the queue is registered.
//   forget         SREM the jid from the pending set and HINCRBY pending -1 in one script. Callbacks
//                  do NOT fire: the batch middleware fires them while it processes a job.
//   purge-orphans  UNLINK companion keys whose batch hash is gone, only while it is still gone.
import type {BatchRecord, CompanionKey} from '../../sidekiq/batches.js'
import type {JidObservation} from '../../sidekiq/ghost-hunt.js'
import type {Sighting} from '../../sidekiq/job-locator.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'
import {buildJobPayload, type TimestampUnit} from '../../sidekiq/new-job.js'
import {type LmoveAction, type LpushAction, REDIS_TYPES, type RedisType, type SremAction, type UnlinkAction} from '../actions.js'

export const BATCH_REPAIRS = ['rescue', 'recreate', 'forget', 'purge-orphans'] as const
export type BatchRepair = (typeof BATCH_REPAIRS)[number]

export interface BatchPlan<A> {
  actions: A[]
  /** Why some candidates got no action (one line each, for warnings). */
  leftOut: string[]
}

export function planRescue(keys: SidekiqKeys, stranded: ReadonlyArray<{observation: JidObservation; sighting: Sighting}>): BatchPlan<LmoveAction> {
  const actions: LmoveAction[] = []
  const leftOut: string[] = []
  const seen = new Set<string>()
  for (const {observation: o, sighting: s} of stranded) {
    const c = s.container
    const id = `${c.key}\n${o.jid}`
    if (seen.has(id)) continue
    seen.add(id)
    if (s.raw === undefined || !c.queue || !c.heartbeatKey) {
      leftOut.push(`${o.jid} in ${c.key}: its public queue or owner could not be read from the key name`)
      continue
    }
    actions.push({
      kind: 'lmove',
      step: 'batch/rescue',
      from: c.key,
      to: keys.queue(c.queue),
      value: s.raw,
      toEnd: 'left',
      unlessExists: [c.heartbeatKey],
      detail: `move jid ${o.jid} (batch ${o.batch.bid}) from ${c.key} back to ${keys.queue(c.queue)}, while ${c.heartbeatKey} is absent`,
    })
  }
  actions.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
  return {actions, leftOut}
}

export interface RecreateOptions {
  jobClass: string
  queue: string
  /** Redis TIME in ms. */
  nowMs: number
  unit: TimestampUnit
}

export function planRecreate(keys: SidekiqKeys, ghosts: readonly JidObservation[], options: RecreateOptions): BatchPlan<LpushAction> {
  const actions: LpushAction[] = []
  const leftOut: string[] = []
  const seen = new Set<string>()
  for (const o of ghosts) {
    if (seen.has(o.jid)) {
      leftOut.push(`${o.jid} is pending in more than one batch (also ${o.batch.bid}): one job was planned, for the first`)
      continue
    }
    seen.add(o.jid)
    const value = buildJobPayload({class: options.jobClass, queue: options.queue, jid: o.jid, extra: {bid: o.batch.bid}, nowMs: options.nowMs, unit: options.unit})
    actions.push({
      kind: 'lpush',
      step: 'batch/recreate',
      key: keys.queue(options.queue),
      value,
      registerSet: keys.queues,
      registerMember: options.queue,
      onlyIfMember: {key: o.batch.jids.key, member: o.jid},
      detail: `push ${options.jobClass} with jid ${o.jid} and bid ${o.batch.bid} to ${keys.queue(options.queue)}, while the jid is still in ${o.batch.jids.key}`,
    })
  }
  return {actions, leftOut}
}

export function planForget(ghosts: readonly JidObservation[]): BatchPlan<SremAction> {
  const actions: SremAction[] = []
  const leftOut: string[] = []
  for (const o of ghosts) {
    const b: BatchRecord = o.batch
    if (b.fields.pending === undefined) {
      leftOut.push(`${o.jid} of ${b.bid}: ${b.key} has no pending field (Pro 1.x keeps it elsewhere); not forgotten`)
      continue
    }
    actions.push({
      kind: 'srem',
      step: 'batch/forget',
      key: b.jids.key,
      member: o.jid,
      thenHincrby: {key: b.key, field: 'pending', by: -1},
      detail: `SREM ${b.jids.key} ${o.jid} + HINCRBY ${b.key} pending -1 (callbacks will NOT fire)`,
    })
  }
  return {actions, leftOut}
}

export function planPurgeOrphans(keys: SidekiqKeys, orphans: readonly CompanionKey[]): BatchPlan<UnlinkAction> {
  const actions: UnlinkAction[] = []
  const leftOut: string[] = []
  for (const c of orphans) {
    if (c.parentExists) continue
    if (!c.typeFits || !REDIS_TYPES.includes(c.type as RedisType)) {
      leftOut.push(`${c.key} is a ${c.type}, not the ${c.candidates[0]?.expectedType ?? 'known'} a -${c.part} key should be: not purged (qdoctor only deletes what it recognises)`)
      continue
    }
    const parents = [...new Set(c.candidates.map((cand) => keys.batchHash(c.layout, cand.bid)))]
    actions.push({
      kind: 'unlink',
      step: 'batch/purge-orphan',
      key: c.key,
      expectType: c.type as RedisType,
      unlessExists: parents,
      detail: `UNLINK ${c.type} ${c.key} (${c.size} ${c.type === 'string' ? 'bytes' : 'entries'}), while ${parents.join(' and ')} ${parents.length > 1 ? 'are' : 'is'} absent`,
    })
  }
  return {actions, leftOut}
}
