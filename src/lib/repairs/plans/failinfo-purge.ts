// Plans `qdoctor failinfo --purge`: which `b-<bid>-failinfo` hashes to UNLINK (or to give a shorter
// TTL with --expire). Only keys measured as hashes matching the failinfo name are ever planned; a key
// whose batch age cannot be known is never purged by age. Each action carries the HLEN the scan saw:
// a key whose entry count changed before apply is skipped ("changed since plan"), not removed.
import type {FailinfoKey} from '../../sidekiq/failinfo.js'
import type {ExpireAction, UnlinkAction} from '../actions.js'

export interface FailinfoPurgeFilters {
  /** Seconds: only batches created at least this long ago. */
  olderThanSeconds?: number
  orphansOnly?: boolean
  minBytes?: number
  bids?: string[]
  /** Milliseconds: set this TTL instead of deleting. */
  expireMs?: number
}

export interface FailinfoPurgePlan {
  actions: Array<UnlinkAction | ExpireAction>
  bytes: number
  /** Keys left out because --older-than was given and the batch age is unknown (parent gone or no created_at). */
  unknownAge: number
  /** With --expire: keys whose TTL is already at most the requested one. */
  alreadyShorter: number
}

export class FailinfoPurgePlanner {
  readonly plan: FailinfoPurgePlan = {actions: [], bytes: 0, unknownAge: 0, alreadyShorter: 0}
  private readonly bids?: Set<string>

  constructor(
    readonly filters: FailinfoPurgeFilters,
    readonly nowSeconds: number,
  ) {
    if (filters.bids?.length) this.bids = new Set(filters.bids)
  }

  consider(k: FailinfoKey): void {
    const f = this.filters
    if (k.type !== 'hash' || k.bid === undefined) return
    if (this.bids && !this.bids.has(k.bid)) return
    if (f.orphansOnly && k.parent.exists) return
    if (f.minBytes !== undefined && k.bytes < f.minBytes) return
    if (f.olderThanSeconds !== undefined) {
      if (!k.parent.exists || k.parent.createdAt === undefined) {
        this.plan.unknownAge++
        return
      }
      if (this.nowSeconds - k.parent.createdAt < f.olderThanSeconds) return
    }
    const detail = `${k.entries} entries, batch ${k.parent.exists ? 'exists' : 'gone'}`
    if (f.expireMs !== undefined) {
      if (k.ttlSeconds >= 0 && k.ttlSeconds * 1000 <= f.expireMs) {
        this.plan.alreadyShorter++
        return
      }
      this.plan.actions.push({kind: 'expire', step: 'expire', key: k.key, ttlMs: f.expireMs, expectType: 'hash', expectLength: k.entries, bytes: k.bytes, detail})
    } else {
      this.plan.actions.push({kind: 'unlink', step: 'unlink', key: k.key, expectType: 'hash', expectLength: k.entries, bytes: k.bytes, detail})
    }
    this.plan.bytes += k.bytes
  }
}
