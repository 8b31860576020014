// The apply engine: the only module that writes to Redis. It runs actions one at a time, in order,
// through the ops/second budget; each one is atomic and conditional (a Lua script, or WATCH/MULTI
// for whole keys) and journaled before it writes. The first failure stops the run: the rest is
// reported "not-reached".
//
// Journal protocol per action (see journal.ts):
//   1. whole-key actions (unlink, expire): WATCH the key, read TYPE/DUMP/PTTL/TIME;
//   2. append the intent line (what is about to be removed or overwritten) and fsync it;
//   3. the conditional write (script, or MULTI…EXEC that aborts if the watched key changed);
//   4. append the outcome line (applied / skipped + reason).
// A crash between 2 and 4 leaves an entry "in doubt"; undo checks the state before putting
// anything back, so that entry comes out "already back" if it never took effect.
import type {Redis} from 'ioredis'

import type {Connection} from '../redis/connect.js'
import {classifyRedisError, isConnectionFailure} from '../redis/errors.js'
import type {ActionRecord, ActionStatus} from '../report/types.js'
import {type Action, describeAction, keyOf, LENGTH_COMMAND, type RedisType, type RepairAction, stepOf, type UndoAction, validateAction} from './actions.js'
import type {JournalWriter, KeySnapshot} from './journal.js'
import * as S from './scripts.js'

/** A DUMP bigger than this is not journaled (or unlinked): such a key must be deleted in chunks. */
export const MAX_JOURNALED_DUMP_BYTES = 256 * 1024 * 1024

export type Outcome = 'applied' | 'skipped' | 'restored' | 'already-back' | 'conflict' | 'expired' | 'not-restorable' | 'failed' | 'not-reached'

export interface ApplyHooks {
  /** After the intent line is flushed, right before the conditional write. */
  beforeWrite?: (index: number, action: Action) => Promise<void> | void
  /** After an action's outcome is known and journaled. */
  afterAction?: (index: number, record: ActionRecord) => Promise<void> | void
}

export interface ApplyOptions {
  /** Where forward actions are journaled; undefined runs without a journal (--no-journal). */
  journal?: JournalWriter
  /** `check` (undo --dry-run) only asks each undo script what it would do; forward actions are not touched. */
  mode?: 'apply' | 'check'
  hooks?: ApplyHooks
  /** Aborting (Ctrl-C) stops after the current action. */
  signal?: AbortSignal
  /** Journal sequence number of the first action (default 1): a plan applied in several calls to one journal continues its numbering. */
  firstSeq?: number
}

export interface ApplyResult {
  records: ActionRecord[]
  /** Per action, what happened in undo terms as well (restored / already-back / conflict …). */
  outcomes: Outcome[]
  counts: Record<ActionStatus, number>
  /** Why the run stopped before the end (a Redis failure, a journal failure, an interrupt). */
  stopped?: {index: number; reason: string; error?: unknown}
}

interface StepResult {
  status: ActionStatus
  outcome: Outcome
  reason?: string
}

/** Raised inside a step: the journal could not be written, so nothing was changed for this action. */
class JournalWriteError extends Error {}

export async function applyActions(conn: Connection, actions: readonly Action[], options: ApplyOptions = {}): Promise<ApplyResult> {
  for (const a of actions) validateAction(a)
  const mode = options.mode ?? 'apply'
  const records: ActionRecord[] = actions.map((a) => baseRecord(a, 'not-reached'))
  const outcomes: Outcome[] = actions.map(() => 'not-reached')
  let stopped: ApplyResult['stopped']
  for (let i = 0; i < actions.length; i++) {
    if (options.signal?.aborted) {
      stopped = {index: i, reason: 'interrupted: stopped before this action'}
      break
    }
    const action = actions[i]!
    const ctx: StepContext = {conn, journal: options.journal, seq: (options.firstSeq ?? 1) + i, index: i, hooks: options.hooks, mode, intentWritten: false}
    let result: StepResult
    try {
      result = await runStep(ctx, action)
    } catch (err) {
      const reason = failureReason(conn, err, ctx)
      records[i] = {...baseRecord(action, 'failed'), detail: `${describeAction(action)}: ${reason}`}
      outcomes[i] = 'failed'
      if (ctx.intentWritten) tryOutcome(ctx, err instanceof JournalWriteError ? 'failed' : 'unknown', reason)
      stopped = {index: i, reason, error: err}
      break
    }
    records[i] = {...baseRecord(action, result.status), ...(result.reason ? {detail: withReason(action, result.reason)} : {})}
    outcomes[i] = result.outcome
    if (ctx.intentWritten) {
      try {
        ctx.journal?.outcome(ctx.seq, result.status === 'applied' ? 'applied' : 'skipped', result.reason)
      } catch (err) {
        // The change is made; its outcome line is missing, so the entry reads "in doubt" (undo copes).
        stopped = {index: i + 1, reason: `could not write the journal: ${(err as Error).message}`, error: err}
        break
      }
    }
    await options.hooks?.afterAction?.(i, records[i]!)
  }
  const counts: Record<ActionStatus, number> = {planned: 0, applied: 0, skipped: 0, failed: 0, 'not-reached': 0}
  for (const r of records) counts[r.status]++
  return {records, outcomes, counts, ...(stopped ? {stopped} : {})}
}

/** Forward actions: "what: why"; undo: the outcome first (the description is long), then what it undoes. */
function withReason(action: Action, reason: string): string {
  if (action.kind !== 'undo') return `${describeAction(action)}: ${reason}`
  return `${reason} (undoing ${describeAction(action.entry.action)}${action.inDoubt ? '; in doubt: the run stopped before recording its outcome' : ''})`
}

/** The report line of an action with the given status (before any reason is known). */
export function baseRecord(action: Action, status: ActionStatus): ActionRecord {
  const key = keyOf(action)
  const bytes = action.bytes ?? (action.kind === 'undo' ? action.entry.dumpBytes : undefined)
  return {
    step: stepOf(action),
    ...(key !== undefined ? {key} : {}),
    status,
    detail: describeAction(action),
    ...(bytes !== undefined ? {bytes} : {}),
    ...(action.subject ? {subject: action.subject} : {}),
  }
}

function failureReason(conn: Connection, err: unknown, ctx: StepContext): string {
  if (err instanceof JournalWriteError) return err.message
  const doubt = ctx.intentWritten ? ' (whether this action took effect is unknown: undo checks before restoring)' : ' (nothing was changed for this action)'
  if (isConnectionFailure(err)) return `Redis failed: ${classifyRedisError(err, conn.target).message}${doubt}`
  return `Redis refused it: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}${doubt}`
}

function tryOutcome(ctx: StepContext, status: 'failed' | 'unknown', reason: string): void {
  try {
    ctx.journal?.outcome(ctx.seq, status, reason)
  } catch {
    // The entry stays "in doubt", which undo handles.
  }
}

interface StepContext {
  conn: Connection
  journal?: JournalWriter
  seq: number
  index: number
  hooks?: ApplyHooks
  mode: 'apply' | 'check'
  intentWritten: boolean
}

async function runStep(ctx: StepContext, action: Action): Promise<StepResult> {
  if (action.kind === 'undo') return runUndo(ctx, action)
  if (ctx.mode === 'check') return {status: 'planned', outcome: 'applied'}
  const redis = await ctx.conn.redis()
  switch (action.kind) {
    case 'unlink':
    case 'expire':
      return wholeKey(ctx, redis, action)
    case 'client-kill': {
      await intent(ctx, action)
      await ctx.conn.budget.take(1)
      const killed = Number(await redis.client('KILL', 'ID', action.id, 'ADDR', action.expectAddr, 'SKIPME', 'yes'))
      return killed > 0 ? applied() : skipped(`no client with id ${action.id} at ${action.expectAddr} any more`)
    }
    default: {
      const [script, keys, args] = scriptCall(action)
      await intent(ctx, action)
      return forward(await script1(ctx, redis, script, keys, args))
    }
  }
}

function scriptCall(action: Exclude<RepairAction, {kind: 'unlink' | 'expire' | 'client-kill'}>): [S.LuaScript, string[], S.ScriptArg[]] {
  switch (action.kind) {
    case 'zmove':
      return [
        S.ZMOVE,
        [action.from, action.to, ...(action.registerSet ? [action.registerSet] : [])],
        [action.member, action.expectScore, action.pushValue ?? action.member, ...(action.registerSet ? [action.registerMember!] : [])],
      ]
    case 'zrem':
      return [S.ZREM, [action.key], [action.member, action.expectScore]]
    case 'srem': {
      const inc = action.thenHincrby
      return [S.SREM, [action.key, ...(inc ? [inc.key] : []), ...(action.unlessExists ?? [])], [action.member, ...(inc ? [inc.field, String(inc.by)] : [])]]
    }
    case 'hdel':
      return [S.HFIELD, [action.key], ['hdel', action.field, '1', action.expectValue, '']]
    case 'hset':
      return [S.HFIELD, [action.key], ['hset', action.field, action.expectOld === null ? '0' : '1', action.expectOld ?? '', action.value]]
    case 'hincrby':
      return [S.HFIELD, [action.key], ['hincrby', action.field, action.expectValue === null ? '0' : '1', action.expectValue ?? '', String(action.by)]]
    case 'lpush': {
      const reg = action.registerSet ? [action.registerSet] : []
      const member = action.onlyIfMember ? [action.onlyIfMember.key] : []
      const checks = (action.unlessPresentIn ?? []).filter((k) => k !== action.key)
      return [
        S.LPUSH,
        [action.key, ...reg, ...member, ...checks],
        [action.value, reg.length ? '1' : '0', action.registerMember ?? '', member.length ? '1' : '0', action.onlyIfMember?.member ?? '', action.toEnd ?? 'left'],
      ]
    }
    case 'lmove':
      return [S.LMOVE, [action.from, action.to, ...(action.unlessExists ?? [])], [action.value, action.toEnd ?? 'left']]
    case 'zmerge':
      return [S.ZMERGE, [action.from, action.to], []]
    case 'zadd-if-absent':
      return [S.ZADD_IF_ABSENT, [action.key], [action.member, action.score]]
    case 'restore-if-absent':
      return [S.RESTORE_IF_ABSENT, [action.key], [Buffer.from(action.dump, 'base64'), String(action.ttlMs)]]
    case 'set-if-absent':
      return [S.SET_IF_ABSENT, [action.key], [action.value, String(action.ttlMs)]]
  }
}

async function intent(ctx: StepContext, action: RepairAction, before?: KeySnapshot, dump?: Buffer): Promise<void> {
  if (ctx.journal) {
    try {
      ctx.journal.intent(ctx.seq, action, before, dump)
    } catch (err) {
      throw new JournalWriteError(`could not write the journal (${(err as Error).message}); nothing was changed for this action`)
    }
    ctx.intentWritten = true
  }
  await ctx.hooks?.beforeWrite?.(ctx.index, action)
}

async function script1(ctx: StepContext, redis: Redis, script: S.LuaScript, keys: string[], args: S.ScriptArg[]): Promise<[string, string]> {
  await ctx.conn.budget.take(1)
  return S.runScript(redis, script, keys, args)
}

function forward([status, reason]: [string, string]): StepResult {
  if (status === 'applied') return applied()
  if (status === 'skipped') return skipped(reason)
  // The server refused this one write (e.g. RESTORE of a DUMP from a newer Redis): it failed, the run goes on.
  if (status === 'refused') return {status: 'failed', outcome: 'failed', reason}
  throw new Error(`unexpected script status ${status}`)
}

const applied = (): StepResult => ({status: 'applied', outcome: 'applied'})
const skipped = (reason: string): StepResult => ({status: 'skipped', outcome: 'skipped', reason})

/**
 * UNLINK / PEXPIRE a whole key: WATCH it, read what the journal needs, journal it, then MULTI/EXEC,
 * which Redis aborts if anyone touched the key in between (so the journal holds exactly what went).
 * With `expectLength`, the key's length is read with the rest: a key that changed since the plan
 * read it is skipped ("changed since plan"), before anything is journaled.
 */
async function wholeKey(ctx: StepContext, redis: Redis, action: Extract<RepairAction, {kind: 'unlink' | 'expire'}>): Promise<StepResult> {
  const key = action.key
  const guards = action.kind === 'unlink' ? (action.unlessExists ?? []) : []
  await ctx.conn.budget.take(1)
  await redis.watch(key, ...guards)
  let watching = true
  try {
    const reads = redis.pipeline().type(key).pttl(key).time()
    if (action.kind === 'unlink') reads.dumpBuffer(key)
    for (const g of guards) reads.exists(g)
    const checkLength = action.expectLength !== undefined
    // Last, so that the other replies keep their places. WRONGTYPE when the type changed: judged below.
    if (checkLength) reads[LENGTH_COMMAND[action.expectType]](key)
    await ctx.conn.budget.take((action.kind === 'unlink' ? 4 : 3) + guards.length + (checkLength ? 1 : 0))
    const replies = (await reads.exec()) ?? []
    const lengthReply = checkLength ? replies.pop() : undefined
    for (const [err] of replies) if (err) throw err
    const type = replies[0]![1] as string
    const pttl = Number(replies[1]![1])
    const [sec, usec] = replies[2]![1] as [string, string]
    const dump = action.kind === 'unlink' ? (replies[3]![1] as Buffer | null) : undefined
    const present = guards.find((_, i) => Number(replies[4 + i]![1]) === 1)
    if (type === 'none') return skipped('the key no longer exists')
    if (present !== undefined) return skipped(`${present} exists`)
    if (type !== action.expectType) return skipped(`the key is now a ${type}, not a ${action.expectType}`)
    if (lengthReply) {
      const [err, length] = lengthReply
      if (err) throw err
      if (Number(length) !== action.expectLength)
        return skipped(`changed since plan: ${LENGTH_COMMAND[action.expectType].toUpperCase()} ${String(length)} now, ${action.expectLength} when planned; left as it is`)
    }
    if (action.kind === 'expire' && pttl >= 0 && pttl <= action.ttlMs) return skipped(`it already expires within ${action.ttlMs}ms (PTTL ${pttl})`)
    if (action.kind === 'unlink' && (!dump || dump.length > MAX_JOURNALED_DUMP_BYTES))
      return skipped(dump ? `its DUMP (${dump.length} bytes) is too big to journal; delete it in chunks instead` : 'the key vanished while it was read')
    const before: KeySnapshot = {type: type as RedisType, pttl, timeMs: Number(sec) * 1000 + Math.floor(Number(usec) / 1000)}
    await intent(ctx, action, before, dump ?? undefined)
    await ctx.conn.budget.take(3)
    const tx = redis.multi()
    if (action.kind === 'unlink') tx.unlink(key)
    else tx.pexpire(key, action.ttlMs)
    const result = await tx.exec()
    watching = false
    if (result === null) return skipped('the key changed between the journal read and the write (WATCH); left as it is')
    const [err, n] = result[0] ?? [null, 0]
    if (err) throw err
    return Number(n) === 1 ? applied() : skipped('the key no longer exists')
  } finally {
    if (watching && redis.status === 'ready') await redis.unwatch().catch(() => undefined)
  }
}

// ---------------------------------------------------------------- undo

async function runUndo(ctx: StepContext, action: UndoAction): Promise<StepResult> {
  const entry = action.entry
  const a = entry.action
  if (a.kind === 'client-kill') return {status: ctx.mode === 'check' ? 'planned' : 'skipped', outcome: 'not-restorable', reason: 'a killed connection cannot be restored (clients reconnect on their own)'}
  const redis = await ctx.conn.redis()
  const head = [ctx.mode, action.force ? '1' : '0']
  let reply: [string, string]
  switch (a.kind) {
    case 'unlink': {
      const before = entry.before!
      let ttl = 0
      if (before.pttl >= 0) {
        ttl = before.timeMs + before.pttl - (await redisTimeMs(ctx, redis))
        if (ttl <= 0)
          return {
            status: ctx.mode === 'check' ? 'planned' : 'skipped',
            outcome: 'expired',
            reason: `it would have expired on its own at ${new Date(before.timeMs + before.pttl).toISOString()}; not restored`,
          }
      }
      const dump = action.loadDump?.()
      if (!dump) throw new Error(`journal entry ${entry.seq} has no DUMP payload`)
      reply = await script1(ctx, redis, S.UNDO_UNLINK, [a.key, scratchKeyFor(a.key)], [...head, dump, String(ttl)])
      break
    }
    case 'expire': {
      const before = entry.before!
      const left = before.pttl < 0 ? 0 : before.timeMs + before.pttl - (await redisTimeMs(ctx, redis))
      reply = await script1(ctx, redis, S.UNDO_EXPIRE, [a.key], [...head, a.expectType, before.pttl < 0 ? '-1' : String(before.pttl), String(left)])
      break
    }
    case 'zmove':
      reply = await script1(ctx, redis, S.UNDO_ZMOVE, [a.from, a.to], [...head, a.member, a.expectScore, a.pushValue ?? a.member])
      break
    case 'zrem':
      reply = await script1(ctx, redis, S.UNDO_ZREM, [a.key], [...head, a.member, a.expectScore])
      break
    case 'srem': {
      const inc = a.thenHincrby
      reply = await script1(ctx, redis, S.UNDO_SREM, [a.key, ...(inc ? [inc.key] : [])], [...head, a.member, ...(inc ? [inc.field, String(-inc.by)] : [])])
      break
    }
    case 'hdel':
      reply = await script1(ctx, redis, S.UNDO_HFIELD, [a.key], [...head, a.field, '1', a.expectValue, '0', '', ''])
      break
    case 'hset':
      reply = await script1(ctx, redis, S.UNDO_HFIELD, [a.key], [...head, a.field, a.expectOld === null ? '0' : '1', a.expectOld ?? '', '1', a.value, ''])
      break
    case 'hincrby': {
      const now = (BigInt(a.expectValue ?? '0') + BigInt(a.by)).toString()
      reply = await script1(ctx, redis, S.UNDO_HFIELD, [a.key], [...head, a.field, a.expectValue === null ? '0' : '1', a.expectValue ?? '', '1', now, String(-a.by)])
      break
    }
    case 'lpush':
      reply = await script1(ctx, redis, S.UNDO_LPUSH, [a.key], [...head, a.value])
      break
    case 'lmove':
      reply = await script1(ctx, redis, S.UNDO_LMOVE, [a.from, a.to], [...head, a.value])
      break
    case 'zmerge':
      reply = await script1(ctx, redis, S.UNDO_ZMERGE, [a.from, a.to], [...head, a.purpose])
      break
    case 'zadd-if-absent':
      reply = await script1(ctx, redis, S.UNDO_ZADD_IF_ABSENT, [a.key], [...head, a.member, a.score])
      break
    case 'restore-if-absent':
      reply = await script1(ctx, redis, S.UNDO_RESTORE_IF_ABSENT, [a.key, scratchKeyFor(a.key)], [...head, Buffer.from(a.dump, 'base64')])
      break
    case 'set-if-absent':
      reply = await script1(ctx, redis, S.UNDO_SET_IF_ABSENT, [a.key], [...head, a.value])
      break
  }
  return undoResult(ctx.mode, reply)
}

function undoResult(mode: 'apply' | 'check', [status, reason]: [string, string]): StepResult {
  const planned = mode === 'check'
  switch (status) {
    case 'restored':
      return {status: 'applied', outcome: 'restored', reason}
    case 'would':
      return {status: 'planned', outcome: 'restored', reason}
    case 'already':
      return {status: planned ? 'planned' : 'skipped', outcome: 'already-back', reason: `already back: ${reason}`}
    case 'conflict':
      return {status: planned ? 'planned' : 'skipped', outcome: 'conflict', reason: `conflict: ${reason}`}
    case 'expired':
      return {status: planned ? 'planned' : 'skipped', outcome: 'expired', reason}
    default:
      throw new Error(`unexpected undo script status ${status}`)
  }
}

/**
 * A scratch key in the same cluster slot as `key` (a script may only touch one slot): keep the
 * key's own hash tag, or make the whole key the tag.
 */
export function scratchKeyFor(key: string): string {
  const open = key.indexOf('{')
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1
  if (close > open + 1) return `${key}:qdoctor-undo-scratch`
  if (!key.includes('}')) return `{${key}}:qdoctor-undo-scratch`
  return `${key}:qdoctor-undo-scratch`
}

async function redisTimeMs(ctx: StepContext, redis: Redis): Promise<number> {
  await ctx.conn.budget.take(1)
  const [sec, usec] = await redis.time()
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000)
}

// ---------------------------------------------------------------- pipelined batches
// Added for `qdoctor dead --retry/--purge`: thousands of small conditional moves (one zmove or zrem
// per job) sent in pipelined batches. The journal protocol holds per batch: every intent of the
// batch is written and fsync'ed (once) before the batch is sent, outcomes follow. Runs of up to
// MANY_PER_CALL actions of one kind go in one ZMOVE_MANY/ZREM_MANY call, which checks and moves
// each job exactly as ZMOVE/ZREM would and answers a status per job: the server runs each job's
// checks and writes atomically, only the per-command overhead (client and server) is saved. An
// error stops the run after its batch; a call whose reply was lost leaves its entries "in doubt",
// which undo checks one by one. Other kinds (and the check mode) go through applyActions.

/** Actions applyPipelined sends in batches. */
export type PipelinedAction = Extract<RepairAction, {kind: 'zmove' | 'zrem'}>

export const DEFAULT_PIPELINE_BATCH = 1000

/** One script call for a run of actions of one kind: ZMOVE/ZREM for one, the *_MANY scripts for more. */
function manyCall(run: readonly PipelinedAction[]): [S.LuaScript, string[], S.ScriptArg[]] {
  if (run.length === 1) return scriptCall(run[0]!)
  const keys: string[] = []
  const args: S.ScriptArg[] = []
  for (const a of run) {
    if (a.kind === 'zmove') {
      keys.push(a.from, a.to, a.registerSet ?? a.to)
      args.push(a.member, a.expectScore, a.pushValue ?? a.member, a.registerSet ? '1' : '0', a.registerMember ?? '')
    } else {
      keys.push(a.key)
      args.push(a.member, a.expectScore)
    }
  }
  return [run[0]!.kind === 'zmove' ? S.ZMOVE_MANY : S.ZREM_MANY, keys, args]
}

/** Consecutive actions of one kind, at most MANY_PER_CALL each: [first index, actions]. */
function runsOf(batch: readonly PipelinedAction[]): Array<[number, PipelinedAction[]]> {
  const runs: Array<[number, PipelinedAction[]]> = []
  for (let i = 0; i < batch.length; ) {
    let j = i + 1
    while (j < batch.length && j - i < S.MANY_PER_CALL && batch[j]!.kind === batch[i]!.kind) j++
    runs.push([i, batch.slice(i, j)])
    i = j
  }
  return runs
}

export async function applyPipelined(conn: Connection, actions: readonly Action[], options: ApplyOptions & {batch?: number} = {}): Promise<ApplyResult> {
  if (options.mode === 'check' || !actions.every((a): a is PipelinedAction => a.kind === 'zmove' || a.kind === 'zrem')) return applyActions(conn, actions, options)
  for (const a of actions) validateAction(a)
  const size = Math.max(1, options.batch ?? DEFAULT_PIPELINE_BATCH)
  const records: Array<ActionRecord | undefined> = new Array(actions.length)
  const outcomes: Outcome[] = actions.map(() => 'not-reached')
  const firstSeq = options.firstSeq ?? 1
  let stopped: ApplyResult['stopped']
  for (let start = 0; start < actions.length && !stopped; start += size) {
    if (options.signal?.aborted) {
      stopped = {index: start, reason: 'interrupted: stopped before this action'}
      break
    }
    const batch = actions.slice(start, start + size)
    if (options.journal) {
      try {
        options.journal.intents(batch.map((action, i) => ({seq: firstSeq + start + i, action})))
      } catch (err) {
        const reason = `could not write the journal (${(err as Error).message}); nothing was changed for this action`
        records[start] = {...baseRecord(batch[0]!, 'failed'), detail: `${describeAction(batch[0]!)}: ${reason}`}
        outcomes[start] = 'failed'
        stopped = {index: start, reason, error: err}
        break
      }
    }
    for (let i = 0; i < batch.length; i++) await options.hooks?.beforeWrite?.(start + i, batch[i]!)
    const runs = runsOf(batch)
    const calls = runs.map(([, run]) => manyCall(run))
    const scripts = [...new Set(calls.map(([script]) => script))]
    let replies: Array<[Error | null, unknown]>
    try {
      const redis = await conn.redis()
      await conn.budget.take(batch.length + scripts.length)
      const pipe = redis.pipeline()
      // Loaded in the same pipeline, so every EVALSHA after it finds its script.
      for (const script of scripts) pipe.script('LOAD', script.source)
      for (const [script, keys, args] of calls) pipe.evalsha(script.sha, keys.length, ...keys, ...args)
      replies = ((await pipe.exec()) ?? []).slice(scripts.length) as Array<[Error | null, unknown]>
    } catch (err) {
      replies = runs.map(() => [err as Error, null])
    }
    // Outcome lines of the batch, written at once after it (undo reads a missing one as "in doubt").
    const lines: Array<{seq: number; status: 'applied' | 'skipped'; reason: string | undefined}> = []
    for (let r = 0; r < runs.length; r++) {
      const [first, run] = runs[r]!
      const [err, reply] = replies[r] ?? [new Error('no reply'), null]
      for (let i = 0; i < run.length; i++) {
        const index = start + first + i
        const action = run[i]!
        const seq = firstSeq + index
        const status = Array.isArray(reply) && typeof reply[2 * i] === 'string' ? [reply[2 * i] as string, String(reply[2 * i + 1] ?? '')] : undefined
        if (err || !status || (status[0] !== 'applied' && status[0] !== 'skipped')) {
          const ctx: StepContext = {conn, journal: options.journal, seq, index, hooks: options.hooks, mode: 'apply', intentWritten: Boolean(options.journal)}
          const reason = err ? failureReason(conn, err, ctx) : `script ${action.kind} returned an unexpected reply: ${JSON.stringify(Array.isArray(reply) ? reply.slice(2 * i, 2 * i + 2) : reply)}`
          records[index] = {...baseRecord(action, 'failed'), detail: `${describeAction(action)}: ${reason}`}
          outcomes[index] = 'failed'
          tryOutcome(ctx, 'unknown', reason)
          stopped ??= {index, reason, error: err ?? undefined}
          continue
        }
        const result = forward(status as [string, string])
        records[index] = {...baseRecord(action, result.status), ...(result.reason ? {detail: withReason(action, result.reason)} : {})}
        outcomes[index] = result.outcome
        lines.push({seq, status: result.status === 'applied' ? 'applied' : 'skipped', reason: result.reason})
      }
    }
    try {
      options.journal?.outcomes(lines)
    } catch (journalErr) {
      stopped ??= {index: start + batch.length, reason: `could not write the journal: ${(journalErr as Error).message}`, error: journalErr}
    }
    if (options.hooks?.afterAction) for (const {seq} of lines) await options.hooks.afterAction(seq - firstSeq, records[seq - firstSeq]!)
  }
  const done = actions.map((a, i) => records[i] ?? baseRecord(a, 'not-reached'))
  const counts: Record<ActionStatus, number> = {planned: 0, applied: 0, skipped: 0, failed: 0, 'not-reached': 0}
  for (const r of done) counts[r.status]++
  return {records: done, outcomes, counts, ...(stopped ? {stopped} : {})}
}
