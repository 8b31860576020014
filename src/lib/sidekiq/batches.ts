// Reads batches: Sidekiq Pro's `b-<bid>` hashes and the sidekiq-batch gem's `BID-<bid>` hashes,
// with their companion keys (`-jids`, `-failinfo`, `-failed`, `-died`, …), the `batches` index and
// the `batch-died` set. Batches are recognised by key type and fields, never by the shape of the
// name alone; companion keys are derived from a bid, and a companion found by SCAN is traced back
// to its bid by stripping a known suffix (a bid may itself start or end with '-').
//
// Pro is closed source: field names and companion types are the data model's "likely" facts, so
// everything unexpected (unknown fields, odd types, non-numeric counters) is kept and reported,
// never fatal.
import type {Connection} from '../redis/connect.js'
import {describeKeys, type KeyDescription} from '../redis/describe.js'
import {setMembers} from '../redis/paged.js'
import {pipelinedReads} from '../redis/pipeline.js'
import type {KeyPattern, KeySource} from '../redis/keyspace-index.js'
import type {ScanProgress} from '../redis/scan.js'
import {zsetMembers} from '../redis/walk.js'
import {BATCH_COMPANIONS, BATCH_LAYOUTS, type BatchLayout, isBid, type SidekiqKeys} from './keys.js'
import {toEpochSeconds} from './time.js'

/** Hash fields seen in the wild (§6.1 Pro; §8 sidekiq-batch). Anything else is reported as unknown. */
export const KNOWN_BATCH_FIELDS: Record<BatchLayout, readonly string[]> = {
  pro: ['created_at', 'total', 'pending', 'kids', 'description', 'callbacks', 'parent', 'deleted', 'cbq', 'cbdeath'],
  'sidekiq-batch': ['created_at', 'total', 'pending', 'children', 'parent_bid', 'description', 'callback_queue', 'callback_batch', 'complete', 'success'],
}

/** Where each layout keeps the counter of child batches and the parent's bid. */
const NESTING: Record<BatchLayout, {kids: string; parent: string}> = {
  pro: {kids: 'kids', parent: 'parent'},
  'sidekiq-batch': {kids: 'children', parent: 'parent_bid'},
}

export interface CompanionState {
  key: string
  /** `none` when absent. */
  type: string
  size: number
  /** ms; -1 = no TTL, -2 = absent. */
  pttl: number
  /** A short string value (Pro 1 `-pending` counter). */
  value?: string
}

export interface BatchRecord {
  layout: BatchLayout
  bid: string
  key: string
  /** ms; -1 = no TTL. */
  ttlMs: number
  fieldCount: number
  /** Every field (hashes up to 64 fields; bigger ones: the known fields only). */
  fields: Record<string, string>
  unknownFields: string[]
  createdAt?: number
  pending?: number
  total?: number
  parent?: string
  kids?: number
  /** Counters that are present but not integers: {field: raw}. */
  badNumbers: Record<string, string>
  /** No `created_at` and no `total`: a leftover re-created by a late counter update. */
  fragment: boolean
  /** `-jids`: JIDs not yet successful. */
  jids: CompanionState
  /** Pro 1.x `b-<bid>-pending` counter (used when the hash has no `pending`). */
  pendingKey?: CompanionState
  /** Listed in Pro's `batch-died` set. */
  inDiedSet: boolean
  /** Listed in Pro's `batches` index (undefined for sidekiq-batch, which has none). */
  indexed?: boolean
}

/** A companion key seen by SCAN, traced to its batch. */
export interface CompanionKey {
  key: string
  layout: BatchLayout
  type: string
  pttl: number
  size: number
  /** The readings of the name (a suffix like `-callbacks-complete` can be read two ways); those whose type fits when any does. */
  candidates: Array<{bid: string; part: string; expectedType: string}>
  /** The key has the type its companion part should have. */
  typeFits: boolean
  /** One candidate's batch hash exists. */
  parentExists: boolean
  /** That hash's PTTL (ms; -1 = none). */
  parentPttl?: number
  /** The bid the parent was found for (or the first reading). */
  bid: string
  part: string
}

export interface UnrecognizedKey {
  key: string
  type: string
  reason: string
}

export type BatchScanItem = {kind: 'batch'; batch: BatchRecord} | {kind: 'companion'; companion: CompanionKey} | {kind: 'unrecognized'; key: UnrecognizedKey}

export interface BatchIndexes {
  /** Pro `batches` ZSET members (bids). */
  indexed: Set<string>
  /** Pro `batch-died` SET members (bids). */
  died: Set<string>
  /** Problems reading them (wrong type): reported, not fatal. */
  anomalies: string[]
}

/** Read the `batches` index and the `batch-died` set (each at most as big as the number of batches). */
export async function readBatchIndexes(conn: Connection, keys: SidekiqKeys): Promise<BatchIndexes> {
  const out: BatchIndexes = {indexed: new Set(), died: new Set(), anomalies: []}
  const types = await pipelinedReads(conn, [keys.batchesIndex, keys.batchDied], (k) => [['type', k]])
  const it = String(types[0]?.[0]?.value ?? 'none')
  const dt = String(types[1]?.[0]?.value ?? 'none')
  if (it === 'zset') for await (const page of zsetMembers(conn, keys.batchesIndex)) for (const m of page) out.indexed.add(m)
  else if (it !== 'none') out.anomalies.push(`${keys.batchesIndex} is a ${it}, not a sorted set`)
  if (dt === 'set') for await (const page of setMembers(conn, keys.batchDied, 1000)) for (const m of page) out.died.add(m)
  else if (dt !== 'none') out.anomalies.push(`${keys.batchDied} is a ${dt}, not a set`)
  return out
}

export interface ScanBatchesOptions {
  scanCount?: number
  onProgress?: (p: ScanProgress & {layout: BatchLayout}) => void
  /** Only these layouts (default both). */
  layouts?: readonly BatchLayout[]
  /** Where the keys come from: this reader's own SCAN (ownScan) or the shared keyspace pass. */
  source: KeySource
}

/** The SCAN patterns the batch inventory reads (for a shared keyspace pass). */
export function batchKeyPatterns(keys: SidekiqKeys, layouts: readonly BatchLayout[] = BATCH_LAYOUTS): KeyPattern[] {
  return layouts.map((layout) => ({match: keys.batchKeysPattern(layout)}))
}

/**
 * Every batch hash, companion key and unrecognised key under `b-*` and `BID-*`, batch by batch as
 * SCAN returns them. Keys that vanish between SCAN and the read are skipped.
 */
export async function* scanBatches(conn: Connection, keys: SidekiqKeys, indexes: BatchIndexes, options: ScanBatchesOptions): AsyncGenerator<BatchScanItem[]> {
  for (const layout of options.layouts ?? BATCH_LAYOUTS) {
    const scan = options.source({match: keys.batchKeysPattern(layout), count: options.scanCount, onProgress: (p) => options.onProgress?.({...p, layout})})
    for await (const batch of scan) {
      const items = await classify(conn, keys, layout, batch, indexes)
      if (items.length) yield items
    }
  }
}

async function classify(conn: Connection, keys: SidekiqKeys, layout: BatchLayout, batch: string[], indexes: BatchIndexes): Promise<BatchScanItem[]> {
  // A hash named like a hash companion (`<bid>-failinfo`: values are failure records) is only asked for
  // the known batch fields; any other small hash is read whole, so unknown fields can be reported.
  const hashCompanion = (key: string) => companionReadings(layout, keys.batchKeyTail(key)?.tail ?? '').some((c) => c.expectedType === 'hash')
  const described = await describeKeys(conn, batch, {wantFields: (key) => !hashCompanion(key)})
  const big = described.filter((d) => d.type === 'hash' && !d.fields)
  const knownOfBig = await pipelinedReads(conn, big, (d) => [['hmget', d.key, ...KNOWN_BATCH_FIELDS[layout]]])
  big.forEach((d, i) => {
    const values = (knownOfBig[i]![0]?.value ?? []) as Array<string | null>
    const fields: Record<string, string> = {}
    KNOWN_BATCH_FIELDS[layout].forEach((f, j) => {
      if (typeof values[j] === 'string') fields[f] = values[j]!
    })
    d.fields = fields
  })
  const partial = new Set(big.map((d) => d.key))
  // (`big` also holds the companion-named hashes read by their known fields only.)

  const batches: BatchRecord[] = []
  const companions: CompanionKey[] = []
  const items: BatchScanItem[] = []
  for (const d of described) {
    if (d.type === 'none') continue
    const tail = keys.batchKeyTail(d.key)?.tail ?? ''
    if (d.type === 'hash' && isBid(tail) && hasBatchField(layout, d.fields!)) {
      batches.push(toBatch(layout, tail, d, indexes, partial.has(d.key)))
      continue
    }
    const candidates = companionReadings(layout, tail)
    const fitting = candidates.filter((c) => c.expectedType === d.type)
    const readings = fitting.length ? fitting : candidates
    if (readings.length)
      companions.push({key: d.key, layout, type: d.type, pttl: d.pttl, size: d.size, candidates: readings, typeFits: fitting.length > 0, parentExists: false, bid: readings[0]!.bid, part: readings[0]!.part})
    else items.push({kind: 'unrecognized', key: {key: d.key, type: d.type, reason: unrecognizedReason(layout, tail, d)}})
  }

  await fillCompanions(conn, keys, batches)
  await findParents(conn, keys, companions)
  for (const batch of batches) items.push({kind: 'batch', batch})
  for (const companion of companions) items.push({kind: 'companion', companion})
  return items
}

function hasBatchField(layout: BatchLayout, fields: Record<string, string>): boolean {
  return KNOWN_BATCH_FIELDS[layout].some((f) => f in fields)
}

function unrecognizedReason(layout: BatchLayout, tail: string, d: KeyDescription): string {
  if (d.type === 'hash') return isBid(tail) ? 'a hash with none of the known batch fields' : 'a hash whose name does not hold a batch id'
  return `a ${d.type} whose name is neither a batch id nor ${layout === 'pro' ? 'b-' : 'BID-'}<bid>-<known companion>`
}

/** The ways a name can be `<bid>-<part>` for a known part of the layout. */
export function companionReadings(layout: BatchLayout, tail: string): CompanionKey['candidates'] {
  const out: CompanionKey['candidates'] = []
  for (const {part, type} of BATCH_COMPANIONS[layout]) {
    const suffix = `-${part}`
    if (tail.length <= suffix.length || !tail.endsWith(suffix)) continue
    const bid = tail.slice(0, -suffix.length)
    if (isBid(bid)) out.push({bid, part, expectedType: type})
  }
  return out
}

function toBatch(layout: BatchLayout, bid: string, d: KeyDescription, indexes: BatchIndexes, partial: boolean): BatchRecord {
  const fields = d.fields!
  const known = new Set(KNOWN_BATCH_FIELDS[layout])
  const badNumbers: Record<string, string> = {}
  const int = (name: string): number | undefined => {
    const raw = fields[name]
    if (raw === undefined) return undefined
    if (/^-?\d+$/.test(raw.trim())) return Number(raw.trim())
    badNumbers[name] = raw.slice(0, 64)
    return undefined
  }
  const nest = NESTING[layout]
  const parent = fields[nest.parent]
  const record: BatchRecord = {
    layout,
    bid,
    key: d.key,
    ttlMs: d.pttl,
    fieldCount: d.size,
    fields,
    unknownFields: partial ? [] : Object.keys(fields).filter((f) => !known.has(f)),
    createdAt: toEpochSeconds(fields.created_at),
    pending: int('pending'),
    total: int('total'),
    kids: int(nest.kids),
    ...(parent ? {parent} : {}),
    badNumbers,
    fragment: fields.created_at === undefined && fields.total === undefined,
    jids: absent(''),
    inDiedSet: indexes.died.has(bid),
    ...(layout === 'pro' ? {indexed: indexes.indexed.has(bid)} : {}),
  }
  if (fields.created_at !== undefined && record.createdAt === undefined) badNumbers.created_at = fields.created_at.slice(0, 64)
  return record
}

function absent(key: string): CompanionState {
  return {key, type: 'none', size: 0, pttl: -2}
}

/**
 * The companions each batch's judgement needs, derived from its bid. (Pro `-died` is read where SCAN
 * meets it, as a companion key; failure records — Pro `-failinfo`/`-failed`, sidekiq-batch `-failed` —
 * are only asked about for jids found nowhere.)
 */
function companionKeys(keys: SidekiqKeys, b: BatchRecord): Array<[keyof Pick<BatchRecord, 'jids' | 'pendingKey'>, string]> {
  const k = (part: string) => keys.batchCompanion(b.layout, b.bid, part)
  if (b.layout === 'sidekiq-batch') return [['jids', k('jids')]]
  return [
    ['jids', k('jids')],
    ...(b.fields.pending === undefined ? [['pendingKey', k('pending')] as ['pendingKey', string]] : []),
  ]
}

async function fillCompanions(conn: Connection, keys: SidekiqKeys, batches: BatchRecord[]): Promise<void> {
  const wanted = batches.flatMap((b) => companionKeys(keys, b).map(([slot, key]) => ({b, slot, key})))
  const described = await describeKeys(conn, wanted.map((w) => w.key), {maxFields: 0, maxStringBytes: 32})
  wanted.forEach(({b, slot, key}, i) => {
    const d = described[i]!
    b[slot] = {key, type: d.type, size: d.size, pttl: d.pttl, ...(d.value !== undefined ? {value: d.value} : {})}
  })
  for (const b of batches) {
    // Pro 1.x kept `pending` in its own string key.
    if (b.pending === undefined && b.pendingKey?.type === 'string' && b.pendingKey.value !== undefined && /^-?\d+$/.test(b.pendingKey.value)) b.pending = Number(b.pendingKey.value)
  }
}

async function findParents(conn: Connection, keys: SidekiqKeys, companions: CompanionKey[]): Promise<void> {
  const probes = companions.flatMap((c) => c.candidates.map((cand) => ({c, cand, key: keys.batchHash(c.layout, cand.bid)})))
  const parents = await describeKeys(
    conn,
    probes.map((p) => p.key),
    {maxFields: 0, maxStringBytes: 0},
  )
  probes.forEach((p, i) => {
    if (parents[i]!.type === 'hash' && !p.c.parentExists) {
      p.c.parentExists = true
      p.c.parentPttl = parents[i]!.pttl
      p.c.bid = p.cand.bid
      p.c.part = p.cand.part
    }
  })
}

/**
 * The pending JIDs of each batch (`-jids` members), streamed: one pipelined `SSCAN 0 COUNT 1000` per
 * set (a small set comes back whole), then further SSCAN pages only for big sets.
 */
export async function forEachPendingJid(conn: Connection, batches: readonly BatchRecord[], visit: (batch: BatchRecord, jid: string) => void): Promise<void> {
  const sets = batches.filter((b) => b.jids.type === 'set' && b.jids.size > 0)
  const first = await pipelinedReads(conn, sets, (b) => [['sscan', b.jids.key, '0', 'COUNT', 1000]])
  for (const [i, b] of sets.entries()) {
    const reply = first[i]![0]
    if (reply?.error) continue
    const [cursor, members] = reply?.value as [string, string[]]
    if (cursor === '0') {
      for (const jid of new Set(members)) visit(b, jid)
      continue
    }
    for await (const page of setMembers(conn, b.jids.key, 1000)) for (const jid of page) visit(b, jid)
  }
}

export interface BatchRecheck {
  /** The hash's `pending` now (undefined: the batch is gone or has no counter). */
  pending?: number
  exists: boolean
  /** Per asked jid: still in `-jids`. */
  stillPending: Map<string, boolean>
}

/** Re-read `pending` and `-jids` membership of some jids (the settle pass). */
export async function recheckBatches(conn: Connection, asks: ReadonlyArray<{batch: BatchRecord; jids: string[]}>): Promise<Map<BatchRecord, BatchRecheck>> {
  const out = new Map<BatchRecord, BatchRecheck>()
  const heads = await pipelinedReads(conn, asks, ({batch}) => [
    ['type', batch.key],
    ['hget', batch.key, 'pending'],
    ...(batch.pendingKey?.type === 'string' ? ([['get', batch.pendingKey.key]] as Array<[string, string]>) : []),
  ])
  const flat = asks.flatMap(({batch, jids}) => jids.map((jid) => ({batch, jid})))
  const members = await pipelinedReads(conn, flat, ({batch, jid}) => [['sismember', batch.jids.key, jid]])
  asks.forEach(({batch}, i) => {
    const [type, pending, pendingKey] = heads[i]!
    const raw = (pending?.value ?? pendingKey?.value) as string | null | undefined
    out.set(batch, {
      exists: type?.value === 'hash',
      ...(typeof raw === 'string' && /^-?\d+$/.test(raw) ? {pending: Number(raw)} : {}),
      stillPending: new Map(),
    })
  })
  flat.forEach(({batch, jid}, i) => out.get(batch)!.stillPending.set(jid, Number(members[i]![0]?.value) === 1))
  return out
}

/** Pro's `-died` set of a batch (JIDs of its dead jobs); undefined for sidekiq-batch. */
export function diedKey(keys: SidekiqKeys, b: BatchRecord): string | undefined {
  return b.layout === 'pro' ? keys.batchCompanion('pro', b.bid, 'died') : undefined
}

/** Where a batch records failed jids: Pro `-failinfo` (hash) and `-failed`, sidekiq-batch `-failed` (set). */
export function failureKeys(keys: SidekiqKeys, b: BatchRecord): Array<{key: string; type: 'hash' | 'set'}> {
  const k = (part: string) => keys.batchCompanion(b.layout, b.bid, part)
  return b.layout === 'pro'
    ? [
        {key: k('failinfo'), type: 'hash'},
        {key: k('failed'), type: 'set'},
      ]
    : [{key: k('failed'), type: 'set'}]
}

/** For some jids, are they in these sets or hashes? A key of another type (or absent) answers no. */
export async function membership(conn: Connection, asks: ReadonlyArray<{key: string; type: 'hash' | 'set'; jid: string}>): Promise<boolean[]> {
  const replies = await pipelinedReads(conn, asks, ({key, type, jid}) => [[type === 'hash' ? 'hexists' : 'sismember', key, jid]])
  return replies.map(([r]) => !r?.error && Number(r?.value) === 1)
}
