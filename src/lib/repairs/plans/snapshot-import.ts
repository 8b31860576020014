// Plans `qdoctor snapshot import`: snapshot records → "add if absent" actions. Idempotent by
// construction: a job whose jid is already in the same container (queue list, schedule, retry, dead)
// gets no action, a key or counter that exists is left alone, and every action re-checks its own
// condition when it is applied. Importing the same file twice plans nothing the second time.
//
// Queue jobs are RPUSHed in file order (the list read from its head): into an empty queue that
// rebuilds the list exactly; into a live one, the missing jobs land at the end workers take from
// next, oldest last-taken as before. Keys and counters come before jobs, so a batch exists before a
// worker can take one of its jobs.
import {parseJob} from '../../sidekiq/job.js'
import type {SidekiqKeys} from '../../sidekiq/keys.js'
import {type FamilyRecord, IMPORT_ORDER, type JobRecord, type SnapshotFamily, workJob} from '../../sidekiq/snapshot-families.js'
import type {LpushAction, RepairAction} from '../actions.js'

/** What the planner asks the target Redis (read-only). */
export interface ImportTarget {
  /** The target's clock, epoch ms (remaining TTLs are computed on it). */
  nowMs: number
  /** The jids in a queue list or a job sorted set. */
  jids(key: string): Promise<Set<string>>
  keysExist(keys: readonly string[]): Promise<boolean[]>
  zsetHas(key: string, members: readonly string[]): Promise<boolean[]>
}

export interface FamilyTally {
  /** Items of the family in the file (jobs, keys, members, counters; not queue descriptors). */
  items: number
  /** Already in the target: same jid in the same container, or the key/member exists. */
  present: number
  /** Keys whose TTL ran out since the export. */
  expired: number
  /** Items that cannot be imported (binary payloads, unreadable work entries). */
  notImported: number
  planned: number
}

export interface ImportPlan {
  actions: RepairAction[]
  tally: Partial<Record<SnapshotFamily, FamilyTally>>
  /** One line per kind of item left out, for warnings. */
  leftOut: string[]
}

interface Deferred {
  family: SnapshotFamily
  key: string
  member?: string
  action: RepairAction
}

const CHECK_BATCH = 200

export class SnapshotImportPlanner {
  private readonly buckets = new Map<SnapshotFamily, RepairAction[]>()
  private readonly tally: Partial<Record<SnapshotFamily, FamilyTally>> = {}
  private readonly leftOut = new Map<string, number>()
  /** The jid set of the container being planned (reloaded when records move to another one). */
  private container?: {key: string; jids: Set<string>}
  private deferred: Deferred[] = []

  constructor(
    private readonly keys: SidekiqKeys,
    private readonly families: ReadonlySet<SnapshotFamily>,
    private readonly target: ImportTarget,
  ) {}

  async add(record: FamilyRecord): Promise<void> {
    const family = record.family as SnapshotFamily
    if (!this.families.has(family) || record.type === 'queue' || record.type === 'process') return
    const t = this.count(family)
    t.items++
    switch (record.type) {
      case 'job':
        return this.job(record, t)
      case 'work': {
        const job = workJob(record)
        if (!job) return this.leaveOut(t, 'in-progress entries without a readable job and queue')
        return this.push(t, 'work', job.queue, job.payload)
      }
      case 'key':
        return this.whole(family, t, record.key, record.expireAt, (key, ttlMs) => ({
          kind: 'restore-if-absent',
          step: step(family),
          key,
          dump: record.dump,
          ttlMs,
          detail: `RESTORE ${record.redisType} ${key}${ttlMs ? ` (TTL ${Math.round(ttlMs / 1000)}s)` : ''}`,
        }))
      case 'member': {
        const key = this.keys.key(record.key)
        return this.defer({family, key, member: record.member, action: {kind: 'zadd-if-absent', step: step(family), key, member: record.member, score: record.score}})
      }
      case 'counter':
        return this.whole(family, t, record.key, record.expireAt, (key, ttlMs) => ({kind: 'set-if-absent', step: step(family), key, value: record.value, ttlMs}))
    }
  }

  async finish(): Promise<ImportPlan> {
    await this.flush()
    const actions = IMPORT_ORDER.flatMap((f) => this.buckets.get(f) ?? [])
    const leftOut = [...this.leftOut].map(([why, n]) => `${n} ${why} were not imported.`)
    return {actions, tally: this.tally, leftOut}
  }

  /** A whole key (written only if absent), unless its TTL ran out since the export. */
  private async whole(family: SnapshotFamily, t: FamilyTally, bare: string, expireAt: number | undefined, make: (key: string, ttlMs: number) => RepairAction): Promise<void> {
    const ttlMs = this.ttl(expireAt)
    if (ttlMs < 0) {
      t.expired++
      return
    }
    const key = this.keys.key(bare)
    return this.defer({family, key, action: make(key, ttlMs)})
  }

  private async job(r: JobRecord, t: FamilyTally): Promise<void> {
    if (r.payload === undefined) return this.leaveOut(t, 'jobs with a binary (non-UTF-8) payload (the repair engine writes text only)')
    if (r.family === 'queues') return this.push(t, 'queues', r.queue!, r.payload)
    const key = this.keys[r.family]
    const parsed = parseJob(r.payload)
    if (await this.seen(key, parsed.ok ? parsed.job.jid : undefined)) {
      t.present++
      return
    }
    this.plan(r.family, t, {kind: 'zadd-if-absent', step: step(r.family), key, member: r.payload, score: r.score!, detail: `ZADD ${key} ${r.score} ${label(parsed)}`})
  }

  /** RPUSH a job to its queue (registering the queue) unless its jid is already there. */
  private async push(t: FamilyTally, family: 'queues' | 'work', queue: string, payload: string): Promise<void> {
    const key = this.keys.queue(queue)
    const parsed = parseJob(payload)
    if (await this.seen(key, parsed.ok ? parsed.job.jid : undefined)) {
      t.present++
      return
    }
    const action: LpushAction = {
      kind: 'lpush',
      toEnd: 'right',
      step: step(family),
      key,
      value: payload,
      registerSet: this.keys.queues,
      registerMember: queue,
      detail: `RPUSH ${key} ${label(parsed)}${family === 'work' ? ' (was in progress)' : ''}`,
    }
    this.plan(family, t, action)
  }

  /** Is `jid` already in the container `key` (or planned into it)? Marks it as there from now on. */
  private async seen(key: string, jid: string | undefined): Promise<boolean> {
    if (jid === undefined) return false
    if (this.container?.key !== key) this.container = {key, jids: await this.target.jids(key)}
    if (this.container.jids.has(jid)) return true
    this.container.jids.add(jid)
    return false
  }

  private async defer(d: Deferred): Promise<void> {
    this.deferred.push(d)
    if (this.deferred.length >= CHECK_BATCH) await this.flush()
  }

  /** Ask the target which deferred keys / members exist, then plan the rest. */
  private async flush(): Promise<void> {
    const batch = this.deferred
    this.deferred = []
    const present = new Array<boolean>(batch.length).fill(false)
    const keyed = batch.map((d, i) => ({d, i})).filter(({d}) => d.member === undefined)
    const found = await this.target.keysExist(keyed.map(({d}) => d.key))
    keyed.forEach(({i}, j) => (present[i] = Boolean(found[j])))
    const byZset = new Map<string, number[]>()
    batch.forEach((d, i) => d.member !== undefined && byZset.set(d.key, [...(byZset.get(d.key) ?? []), i]))
    for (const [key, idx] of byZset) {
      const has = await this.target.zsetHas(key, idx.map((i) => batch[i]!.member!))
      idx.forEach((i, j) => (present[i] = Boolean(has[j])))
    }
    batch.forEach((d, i) => {
      const t = this.count(d.family)
      if (present[i]) t.present++
      else this.plan(d.family, t, d.action)
    })
  }

  private plan(family: SnapshotFamily, t: FamilyTally, action: RepairAction): void {
    t.planned++
    const bucket = this.buckets.get(family) ?? []
    bucket.push(action)
    this.buckets.set(family, bucket)
  }

  private leaveOut(t: FamilyTally, why: string): void {
    t.notImported++
    this.leftOut.set(why, (this.leftOut.get(why) ?? 0) + 1)
  }

  /** Milliseconds left on the target's clock: 0 = no TTL, negative = expired since the export. */
  private ttl(expireAt: number | undefined): number {
    if (expireAt === undefined) return 0
    const left = Math.round(expireAt - this.target.nowMs)
    return left > 0 ? left : -1
  }

  private count(family: SnapshotFamily): FamilyTally {
    return (this.tally[family] ??= {items: 0, present: 0, expired: 0, notImported: 0, planned: 0})
  }
}

/** The report step of a family's actions, e.g. `snapshot/queues`. */
export function step(family: SnapshotFamily): string {
  return `snapshot/${family}`
}

function label(parsed: ReturnType<typeof parseJob>): string {
  return parsed.ok ? `jid ${parsed.job.jid} ${parsed.job.displayClass}` : `(unreadable payload: ${parsed.reason})`
}
