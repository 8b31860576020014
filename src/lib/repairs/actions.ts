// The actions a repair plans: one discriminated union every repair uses. Each action carries the
// state its plan saw (score, value, type, address); the apply engine re-checks that state
// atomically and skips the action when it no longer holds. Nothing here knows about Sidekiq.
import type {JournalEntry} from './journal.js'

export const REDIS_TYPES = ['string', 'list', 'set', 'zset', 'hash', 'stream'] as const
export type RedisType = (typeof REDIS_TYPES)[number]

interface ActionBase {
  /** What the repair calls this step in the report (defaults to the kind), e.g. `failinfo/purge`. */
  step?: string
  /** A human label for the report (e.g. "jid 1a2b… HardJob"); defaults to a description of the action. */
  detail?: string
  /** Bytes this action frees (e.g. MEMORY USAGE of a key to unlink), for the prompt and the report. */
  bytes?: number
}

/** UNLINK a whole key, if it is still of `expectType`. Journals DUMP + PTTL. */
export interface UnlinkAction extends ActionBase {
  kind: 'unlink'
  key: string
  expectType: RedisType
}

/**
 * Move one member from a sorted set to the head of a list (LPUSH), if it is still there with the
 * score the plan read. `pushValue` may differ from the member (a rewritten payload); optionally
 * SADD `registerMember` to `registerSet` (e.g. register the queue).
 */
export interface ZmoveAction extends ActionBase {
  kind: 'zmove'
  from: string
  to: string
  member: string
  /** The score as Redis printed it (ZSCORE/ZRANGE WITHSCORES): compared exactly. */
  expectScore: string
  pushValue?: string
  registerSet?: string
  registerMember?: string
}

/** ZREM one member, if it is still there with the score the plan read. */
export interface ZremAction extends ActionBase {
  kind: 'zrem'
  key: string
  member: string
  expectScore: string
}

/** SREM one member. */
export interface SremAction extends ActionBase {
  kind: 'srem'
  key: string
  member: string
}

/** HDEL one field, if it still holds `expectValue`. */
export interface HdelAction extends ActionBase {
  kind: 'hdel'
  key: string
  field: string
  expectValue: string
}

/** HSET one field, if it still holds `expectOld` (null: the field must be absent). */
export interface HsetAction extends ActionBase {
  kind: 'hset'
  key: string
  field: string
  value: string
  expectOld: string | null
}

/** HINCRBY one counter field, if it still holds `expectValue` (null: absent). */
export interface HincrbyAction extends ActionBase {
  kind: 'hincrby'
  key: string
  field: string
  by: number
  expectValue: string | null
}

/**
 * LPUSH one value, unless that exact value is already in `key` or in any of `unlessPresentIn`
 * (lists, sets or sorted sets). Optionally SADD `registerMember` to `registerSet`.
 */
export interface LpushAction extends ActionBase {
  kind: 'lpush'
  key: string
  value: string
  unlessPresentIn?: string[]
  registerSet?: string
  registerMember?: string
}

/** Move one exact element from one list to another (LREM 1 + LPUSH/RPUSH in one script). */
export interface LmoveAction extends ActionBase {
  kind: 'lmove'
  from: string
  to: string
  value: string
  /** Where it lands in `to`: `left` (LPUSH, the default: the end Sidekiq pushes to) or `right`. */
  toEnd?: 'left' | 'right'
}

/** Make a key expire within `ttlMs` (PEXPIRE; never lengthens a shorter TTL), if it is still of `expectType`. Journals the old PTTL. */
export interface ExpireAction extends ActionBase {
  kind: 'expire'
  key: string
  ttlMs: number
  expectType: RedisType
}

/** CLIENT KILL one connection, only if the id still belongs to `expectAddr`. Journals the client line. */
export interface ClientKillAction extends ActionBase {
  kind: 'client-kill'
  id: string
  expectAddr: string
  clientLine: string
}

/** A change a repair plans. */
export type RepairAction =
  | UnlinkAction
  | ZmoveAction
  | ZremAction
  | SremAction
  | HdelAction
  | HsetAction
  | HincrbyAction
  | LpushAction
  | LmoveAction
  | ExpireAction
  | ClientKillAction

export type RepairKind = RepairAction['kind']

export const REPAIR_KINDS: readonly RepairKind[] = [
  'unlink',
  'zmove',
  'zrem',
  'srem',
  'hdel',
  'hset',
  'hincrby',
  'lpush',
  'lmove',
  'expire',
  'client-kill',
]

/** Put back what one journal entry says a repair changed (built by undo.ts from a journal). */
export interface UndoAction extends ActionBase {
  kind: 'undo'
  entry: JournalEntry
  /** The run stopped before recording whether this entry took effect. */
  inDoubt: boolean
  /** Overwrite newer data that conflicts with the journal. */
  force: boolean
  /** The DUMP payload of an unlinked key (read from the journal only when needed). */
  loadDump?: () => Buffer
}

export type Action = RepairAction | UndoAction

/** Thrown for an action a repair built wrongly (a programming error, not a Redis state). */
export class InvalidActionError extends Error {}

/** Reject malformed actions before anything is journaled or written. */
export function validateAction(action: Action): void {
  const fail = (why: string) => {
    throw new InvalidActionError(`invalid ${action.kind} action: ${why}`)
  }
  switch (action.kind) {
    case 'unlink':
    case 'expire':
      if (!REDIS_TYPES.includes(action.expectType)) fail(`unknown type ${action.expectType}`)
      if (action.kind === 'expire' && (!Number.isSafeInteger(action.ttlMs) || action.ttlMs <= 0)) fail('ttlMs must be a positive integer')
      break
    case 'zmove':
    case 'zrem':
      if (!/^[-+]?(inf|\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/i.test(action.expectScore)) fail(`expectScore "${action.expectScore}" is not a score`)
      if (action.kind === 'zmove' && Boolean(action.registerSet) !== (action.registerMember !== undefined))
        fail('registerSet and registerMember go together')
      break
    case 'hincrby':
      if (!Number.isSafeInteger(action.by) || action.by === 0) fail('by must be a non-zero integer')
      if (action.expectValue !== null && !/^-?\d+$/.test(action.expectValue)) fail(`expectValue "${action.expectValue}" is not an integer`)
      break
    case 'lpush':
      if (Boolean(action.registerSet) !== (action.registerMember !== undefined)) fail('registerSet and registerMember go together')
      break
    case 'client-kill':
      if (!/^\d+$/.test(action.id)) fail(`client id "${action.id}" is not a number`)
      if (!action.expectAddr) fail('expectAddr is required')
      break
    default:
      break
  }
}

/** The key an action is about (the source for moves); undefined for connections. */
export function keyOf(action: Action): string | undefined {
  if (action.kind === 'undo') return keyOf(action.entry.action)
  switch (action.kind) {
    case 'zmove':
    case 'lmove':
      return action.from
    case 'client-kill':
      return undefined
    default:
      return action.key
  }
}

export function stepOf(action: Action): string {
  if (action.kind === 'undo') return `undo ${action.entry.action.step ?? action.entry.action.kind}`
  return action.step ?? action.kind
}

/** Long members (job payloads) are clipped in human text; JSON keeps the action itself. */
export function clip(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`
}

/** One line saying what the action does, e.g. `ZREM dead "{…}" (score 1700000000.5) → LPUSH queue:default`. */
export function describeAction(action: Action): string {
  if (action.detail) return action.detail
  switch (action.kind) {
    case 'unlink':
      return `UNLINK ${action.expectType} ${action.key}`
    case 'zmove': {
      const reg = action.registerSet ? ` + SADD ${action.registerSet} ${action.registerMember}` : ''
      return `move ${JSON.stringify(clip(action.member))} (score ${action.expectScore}) from ${action.from} to ${action.to}${reg}`
    }
    case 'zrem':
      return `ZREM ${action.key} ${JSON.stringify(clip(action.member))} (score ${action.expectScore})`
    case 'srem':
      return `SREM ${action.key} ${JSON.stringify(clip(action.member))}`
    case 'hdel':
      return `HDEL ${action.key} ${action.field}`
    case 'hset':
      return `HSET ${action.key} ${action.field} ${JSON.stringify(clip(action.value))} (was ${action.expectOld === null ? 'absent' : JSON.stringify(clip(action.expectOld))})`
    case 'hincrby':
      return `HINCRBY ${action.key} ${action.field} ${action.by} (was ${action.expectValue ?? 'absent'})`
    case 'lpush':
      return `LPUSH ${action.key} ${JSON.stringify(clip(action.value))}`
    case 'lmove':
      return `move ${JSON.stringify(clip(action.value))} from ${action.from} to ${action.to}`
    case 'expire':
      return `PEXPIRE ${action.expectType} ${action.key} ${action.ttlMs}ms`
    case 'client-kill':
      return `CLIENT KILL id ${action.id} (${action.expectAddr})`
    case 'undo':
      return `put back: ${describeAction(action.entry.action)}${action.inDoubt ? ' (in doubt: the run stopped before recording its outcome)' : ''}`
  }
}
