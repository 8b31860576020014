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
  /** What the action is about in the report's terms (a connection's `{id}`, a process's `{identity}`); copied to its record. */
  subject?: Record<string, unknown>
}

/** UNLINK a whole key, if it is still of `expectType` (and `expectLength` long). Journals DUMP + PTTL. */
export interface UnlinkAction extends ActionBase {
  kind: 'unlink'
  key: string
  expectType: RedisType
  /**
   * The key's length when the plan read it (HLEN, LLEN, SCARD, ZCARD, XLEN or STRLEN, by type): a key
   * that grew or shrank since is skipped ("changed since plan"), not removed.
   */
  expectLength?: number
  /** Skip while any of these keys exists (watched with the key, e.g. a companion's parent hash). */
  unlessExists?: string[]
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
  /**
   * In the same script, when the member was removed: HINCRBY this counter (e.g. a batch's `pending`
   * by -1). The hash must exist and the field hold an integer, else nothing is changed at all.
   */
  thenHincrby?: {key: string; field: string; by: number}
  /** Skip while any of these keys exists (e.g. the heartbeat hash of the process the member names). */
  unlessExists?: string[]
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
  /** Push only while `member` is in the set `key` (e.g. a jid still in a batch's pending set). */
  onlyIfMember?: {key: string; member: string}
  /** The end it is pushed to: `left` (LPUSH, the default) or `right` (RPUSH: the end BRPOP takes from, so it runs next). */
  toEnd?: 'left' | 'right'
}

/** Move one exact element from one list to another (LREM 1 + LPUSH/RPUSH in one script). */
export interface LmoveAction extends ActionBase {
  kind: 'lmove'
  from: string
  to: string
  value: string
  /** Where it lands in `to`: `left` (LPUSH, the default: the end Sidekiq pushes to) or `right`. */
  toEnd?: 'left' | 'right'
  /** Skip while any of these keys exists (e.g. the heartbeat of the process that owns `from`). */
  unlessExists?: string[]
}

/**
 * Make a key expire within `ttlMs` (PEXPIRE; never lengthens a shorter TTL), if it is still of
 * `expectType` (and `expectLength` long, as for unlink). Journals the old PTTL.
 */
export interface ExpireAction extends ActionBase {
  kind: 'expire'
  key: string
  ttlMs: number
  expectType: RedisType
  expectLength?: number
}

/** The command that reads a key's length, by type (for `expectLength`). */
export const LENGTH_COMMAND: Record<RedisType, 'strlen' | 'llen' | 'scard' | 'zcard' | 'hlen' | 'xlen'> = {
  string: 'strlen',
  list: 'llen',
  set: 'scard',
  zset: 'zcard',
  hash: 'hlen',
  stream: 'xlen',
}

/** CLIENT KILL one connection, only if the id still belongs to `expectAddr`. Journals the client line. */
export interface ClientKillAction extends ActionBase {
  kind: 'client-kill'
  id: string
  expectAddr: string
  clientLine: string
}

/**
 * Move every member of the sorted set `from` into the sorted set `to` in one step: RENAME when `to`
 * does not exist, else ZUNIONSTORE to 2 to from AGGREGATE MAX + DEL from (MAX: a member in both keeps
 * its larger score; the default SUM would add them). Nothing is lost, so nothing is journaled but the
 * action. `purpose` says what undo does: `stash` sets members aside (undo merges what is left in `to`
 * back into `from`); `unstash` brings stashed members home (undo has nothing to put back).
 */
export interface ZmergeAction extends ActionBase {
  kind: 'zmerge'
  from: string
  to: string
  purpose: 'stash' | 'unstash'
}

/** ZADD one member with `score`, unless the member is already in `key` (with any score). */
export interface ZaddIfAbsentAction extends ActionBase {
  kind: 'zadd-if-absent'
  key: string
  member: string
  /** The score as Redis printed it: written exactly. */
  score: string
}

/** RESTORE a whole key from a DUMP payload (base64), unless the key exists. `ttlMs` 0 = no TTL. */
export interface RestoreIfAbsentAction extends ActionBase {
  kind: 'restore-if-absent'
  key: string
  dump: string
  ttlMs: number
}

/** SET a string key, unless the key exists. `ttlMs` 0 = no TTL. */
export interface SetIfAbsentAction extends ActionBase {
  kind: 'set-if-absent'
  key: string
  value: string
  ttlMs: number
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
  | ZmergeAction
  | ZaddIfAbsentAction
  | RestoreIfAbsentAction
  | SetIfAbsentAction

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
  'zmerge',
  'zadd-if-absent',
  'restore-if-absent',
  'set-if-absent',
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
      if (action.expectLength !== undefined && (!Number.isSafeInteger(action.expectLength) || action.expectLength < 0)) fail('expectLength must be a non-negative integer')
      break
    case 'zmove':
    case 'zrem':
      if (!/^[-+]?(inf|\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/i.test(action.expectScore)) fail(`expectScore "${action.expectScore}" is not a score`)
      if (action.kind === 'zmove' && Boolean(action.registerSet) !== (action.registerMember !== undefined))
        fail('registerSet and registerMember go together')
      break
    case 'srem':
      if (action.thenHincrby && (!Number.isSafeInteger(action.thenHincrby.by) || action.thenHincrby.by === 0)) fail('thenHincrby.by must be a non-zero integer')
      break
    case 'hincrby':
      if (!Number.isSafeInteger(action.by) || action.by === 0) fail('by must be a non-zero integer')
      if (action.expectValue !== null && !/^-?\d+$/.test(action.expectValue)) fail(`expectValue "${action.expectValue}" is not an integer`)
      break
    case 'lpush':
      if (Boolean(action.registerSet) !== (action.registerMember !== undefined)) fail('registerSet and registerMember go together')
      if (action.toEnd !== undefined && action.toEnd !== 'left' && action.toEnd !== 'right') fail(`unknown end ${String(action.toEnd)}`)
      break
    case 'zadd-if-absent':
      if (!/^[-+]?(inf|\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/i.test(action.score)) fail(`score "${action.score}" is not a score`)
      break
    case 'restore-if-absent':
    case 'set-if-absent':
      if (!Number.isSafeInteger(action.ttlMs) || action.ttlMs < 0) fail('ttlMs must be 0 (no TTL) or a positive integer')
      if (action.kind === 'restore-if-absent' && !action.dump) fail('dump is required')
      break
    case 'zmerge':
      if (action.from === action.to) fail('from and to must differ')
      if (action.purpose !== 'stash' && action.purpose !== 'unstash') fail(`unknown purpose ${String(action.purpose)}`)
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
    case 'zmerge':
      return action.from
    case 'client-kill':
      return undefined
    default:
      return action.key
  }
}

/** Whether an action changes data: CLIENT KILL (and its undo, a no-op) only closes a connection. */
export function writesKeys(action: Action): boolean {
  return (action.kind === 'undo' ? action.entry.action.kind : action.kind) !== 'client-kill'
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
    case 'srem': {
      const inc = action.thenHincrby ? ` + HINCRBY ${action.thenHincrby.key} ${action.thenHincrby.field} ${action.thenHincrby.by}` : ''
      const guard = action.unlessExists?.length ? ` unless ${action.unlessExists.join(', ')} exists` : ''
      return `SREM ${action.key} ${JSON.stringify(clip(action.member))}${inc}${guard}`
    }
    case 'hdel':
      return `HDEL ${action.key} ${action.field}`
    case 'hset':
      return `HSET ${action.key} ${action.field} ${JSON.stringify(clip(action.value))} (was ${action.expectOld === null ? 'absent' : JSON.stringify(clip(action.expectOld))})`
    case 'hincrby':
      return `HINCRBY ${action.key} ${action.field} ${action.by} (was ${action.expectValue ?? 'absent'})`
    case 'lpush':
      return `${action.toEnd === 'right' ? 'RPUSH' : 'LPUSH'} ${action.key} ${JSON.stringify(clip(action.value))}`
    case 'lmove':
      return `move ${JSON.stringify(clip(action.value))} from ${action.from} to ${action.to}`
    case 'expire':
      return `PEXPIRE ${action.expectType} ${action.key} ${action.ttlMs}ms`
    case 'client-kill':
      return `CLIENT KILL id ${action.id} (${action.expectAddr})`
    case 'zmerge':
      return `move every member of ${action.from} into ${action.to} (RENAME, or ZUNIONSTORE … AGGREGATE MAX + DEL)`
    case 'zadd-if-absent':
      return `ZADD ${action.key} ${action.score} ${JSON.stringify(clip(action.member))} (unless already there)`
    case 'restore-if-absent':
      return `RESTORE ${action.key}${action.ttlMs ? ` (TTL ${action.ttlMs}ms)` : ''} (unless it exists)`
    case 'set-if-absent':
      return `SET ${action.key} ${JSON.stringify(clip(action.value))}${action.ttlMs ? ` (TTL ${action.ttlMs}ms)` : ''} (unless it exists)`
    case 'undo':
      return `put back: ${describeAction(action.entry.action)}${action.inDoubt ? ' (in doubt: the run stopped before recording its outcome)' : ''}`
  }
}
