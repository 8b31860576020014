// Plans `qdoctor processes --prune`: SREM each stale `processes` member (one whose heartbeat hash is
// gone) and UNLINK the leftover `:work`/`:workers`/`-signals` keys of those identities. Every action
// re-checks at apply time that the heartbeat hash is still absent, so nothing of a process that
// comes back between plan and apply is touched.
import type {ProcessState, LeftoverKey} from '../../sidekiq/processes.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'
import {REDIS_TYPES, type RedisType, type SremAction, type UnlinkAction} from '../actions.js'

export interface PrunePlan {
  actions: Array<SremAction | UnlinkAction>
  members: number
  leftovers: number
  /** Leftover keys not planned, and why. */
  leftAlone: Array<{key: string; identity: string; why: string}>
}

export function planPrune(keys: SidekiqKeys, processes: readonly ProcessState[], leftovers: readonly LeftoverKey[]): PrunePlan {
  const plan: PrunePlan = {actions: [], members: 0, leftovers: 0, leftAlone: []}
  const stale = new Set<string>()
  for (const p of processes) {
    if (p.alive) continue
    stale.add(p.identity)
    plan.members++
    plan.actions.push({
      kind: 'srem',
      key: keys.processes,
      member: p.identity,
      unlessExists: [keys.process(p.identity)],
      detail: `SREM ${keys.processes} ${p.identity} (unless its heartbeat ${keys.process(p.identity)} exists again)`,
      subject: {identity: p.identity},
    })
  }
  for (const l of leftovers) {
    if (!stale.has(l.identity)) continue
    if (!REDIS_TYPES.includes(l.type as RedisType)) {
      plan.leftAlone.push({key: l.key, identity: l.identity, why: `is a ${l.type}, not a type Sidekiq writes`})
      continue
    }
    plan.leftovers++
    plan.actions.push({
      kind: 'unlink',
      key: l.key,
      expectType: l.type as RedisType,
      unlessExists: [keys.process(l.identity)],
      detail: `UNLINK ${l.type} ${l.key} (leftover of stale ${l.identity}${l.pttl >= 0 ? `, would expire in ${Math.ceil(l.pttl / 1000)}s` : ', no TTL'})`,
      subject: {identity: l.identity},
    })
  }
  return plan
}
