// The two-pass search for the pending jids of batches (sidekiq-data-model.md §10.1): collect the
// candidates, stream every container once, then — after a settle interval of at least two heartbeats,
// because `<identity>:work` lags and a BRPOP'd job is invisible until the next beat — look again for
// the jids that were missing (or stranded) and re-read each batch's `pending` and `-jids` membership.
// This module only observes; src/lib/checks/batches.ts turns the observations into verdicts.
import {type Connection, sleep} from '../redis/connect.js'
import type {KeySource} from '../redis/keyspace-index.js'
import {type BatchRecord, diedKey, failureKeys, forEachPendingJid, membership, recheckBatches} from './batches.js'
import {type Container, discoverContainers, type LocateHooks, type LocateStats, type LocateTarget, locateJobs, type Sighting} from './job-locator.js'
import type {SidekiqKeys} from './keys.js'

export interface JidObservation {
  jid: string
  batch: BatchRecord
  /** Where the first pass saw it (empty: nowhere). */
  first: Sighting[]
  /** Where the settle pass saw it; undefined when it was not looked for again. */
  second?: Sighting[]
  /** The batch's `pending` moved, or the batch vanished, during the settle interval. */
  batchChanged?: boolean
  /** The jid left `-jids` during the settle interval (it succeeded, or was removed). */
  leftPending?: boolean
  /** Listed in Pro's `b-<bid>-died`. */
  inDied?: boolean
  /** Listed in `-failinfo` (Pro) or `-failed`: it failed at least once. */
  failedBefore?: boolean
}

export interface HuntOptions {
  /** Milliseconds between the passes; 0 = one pass. */
  settleMs: number
  /**
   * Where container keys come from (both passes): the hunt's own SCAN, or the shared keyspace pass.
   * Replaying the shared pass in the settle pass misses only lists created since; a job they hold is
   * also in its process's work hash, which is found from `processes` as it is now.
   */
  source: KeySource
  scanCount?: number
  hooks?: LocateHooks & {
    /** Before waiting `settleMs` (progress). */
    onSettle?: (jids: number, ms: number) => void
  }
}

export interface HuntResult {
  observations: JidObservation[]
  pendingJids: number
  first: LocateStats
  second?: LocateStats
  /** Jids looked for again after the settle interval. */
  rechecked: number
  containers: Container[]
}

/** Is this sighting a job held by a process whose heartbeat is gone (a rescue candidate)? */
export function isStranded(s: Sighting): boolean {
  return (s.container.kind === 'private-queue' || s.container.kind === 'working-queue') && s.container.ownerAlive === false
}

function needsSecondLook(seen: readonly Sighting[]): boolean {
  return seen.length === 0 || seen.every(isStranded)
}

/** No sighting yet: one shared empty array (replaced on the first sighting). */
const NOWHERE: readonly Sighting[] = Object.freeze([])

/**
 * The observations of one pass, by jid: memory holds one record per pending jid (and a second one only
 * for a jid pending in several batches), with the sightings appended to it as the walk finds them.
 */
class Observed implements LocateTarget {
  private readonly byJid = new Map<string, JidObservation | JidObservation[]>()

  constructor(private readonly slot: 'first' | 'second') {}

  add(o: JidObservation): void {
    const had = this.byJid.get(o.jid)
    if (had === undefined) this.byJid.set(o.jid, o)
    else this.byJid.set(o.jid, Array.isArray(had) ? [...had, o] : [had, o])
  }

  wants(jid: string): boolean {
    return this.byJid.has(jid)
  }

  found(jid: string, sighting: Sighting): void {
    const had = this.byJid.get(jid)!
    for (const o of Array.isArray(had) ? had : [had]) {
      const list = o[this.slot]
      o[this.slot] = list === undefined || list === NOWHERE ? [sighting] : [...list, sighting]
    }
  }
}

export async function huntGhosts(conn: Connection, keys: SidekiqKeys, batches: readonly BatchRecord[], options: HuntOptions): Promise<HuntResult> {
  const observations: JidObservation[] = []
  let observed = new Observed('first')
  await forEachPendingJid(conn, batches, (batch, jid) => {
    const o: JidObservation = {jid, batch, first: NOWHERE as Sighting[]}
    observations.push(o)
    observed.add(o)
  })

  const containers = await discoverContainers(conn, keys, {source: options.source, scanCount: options.scanCount})
  const first = await locateJobs(conn, containers, observed, options.hooks)

  const again = observations.filter((o) => needsSecondLook(o.first))
  let second: LocateStats | undefined
  if (options.settleMs > 0 && again.length > 0) {
    observed = new Observed('second')
    for (const o of again) {
      o.second = NOWHERE as Sighting[]
      observed.add(o)
    }
    options.hooks?.onSettle?.(again.length, options.settleMs)
    await sleep(options.settleMs)
    const containers2 = await discoverContainers(conn, keys, {source: options.source, scanCount: options.scanCount})
    second = await locateJobs(conn, containers2, observed, options.hooks)
    const asks = new Map<BatchRecord, string[]>()
    for (const o of again) {
      const list = asks.get(o.batch)
      if (list) list.push(o.jid)
      else asks.set(o.batch, [o.jid])
    }
    const rechecks = await recheckBatches(conn, [...asks].map(([batch, jids]) => ({batch, jids})))
    for (const o of again) {
      const now = rechecks.get(o.batch)!
      o.batchChanged = !now.exists || now.pending !== o.batch.pending
      o.leftPending = now.stillPending.get(o.jid) === false
    }
  }

  await markFailures(conn, keys, observations.filter((o) => (o.second ?? o.first).length === 0))
  return {observations, pendingJids: observations.length, first, ...(second ? {second} : {}), rechecked: second ? again.length : 0, containers}
}

/** For jids found nowhere: are they in Pro's `-died`, or recorded as failed (`-failinfo`/`-failed`)? */
async function markFailures(conn: Connection, keys: SidekiqKeys, missing: JidObservation[]): Promise<void> {
  const asks: Array<{o: JidObservation; key: string; type: 'hash' | 'set'; slot: 'inDied' | 'failedBefore'}> = []
  for (const o of missing) {
    const b = o.batch
    const died = diedKey(keys, b)
    if (died) asks.push({o, key: died, type: 'set', slot: 'inDied'})
    for (const f of failureKeys(keys, b)) asks.push({o, ...f, slot: 'failedBefore'})
  }
  const found = await membership(conn, asks.map(({key, type, o}) => ({key, type, jid: o.jid})))
  asks.forEach((a, i) => {
    if (found[i]) a.o[a.slot] = true
  })
}
