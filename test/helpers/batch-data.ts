// Sidekiq Pro batch data built to the layout in sidekiq-data-model.md §6.1 (Pro is closed source, so
// these are hand-built with plain Redis commands).
import type {Redis} from 'ioredis'

export interface FailinfoSpec {
  bid: string
  entries: number
  /** Parent b-<bid> hash: omitted = orphan. */
  parent?: {createdAt?: string; total?: number; pending?: number}
  ttlSeconds?: number
  failedKey?: boolean
  namespace?: string
  valueBytes?: number
}

export async function writeFailinfo(redis: Redis, spec: FailinfoSpec): Promise<string> {
  const p = spec.namespace ? `${spec.namespace}:` : ''
  const key = `${p}b-${spec.bid}-failinfo`
  const fields: Record<string, string> = {}
  for (let i = 0; i < spec.entries; i++) {
    const jid = (spec.bid.replace(/[^0-9a-f]/gi, '') + i.toString(16).padStart(24, '0')).slice(-24)
    fields[jid] = JSON.stringify({errtype: 'RuntimeError', errmsg: `boom ${i} ${'x'.repeat(spec.valueBytes ?? 0)}`})
  }
  if (spec.entries > 0) await redis.hset(key, fields)
  if (spec.ttlSeconds) await redis.expire(key, spec.ttlSeconds)
  if (spec.parent) {
    const parent: Record<string, string> = {total: String(spec.parent.total ?? spec.entries), pending: String(spec.parent.pending ?? spec.entries), kids: '0'}
    if (spec.parent.createdAt !== undefined) parent.created_at = spec.parent.createdAt
    await redis.hset(`${p}b-${spec.bid}`, parent)
    await redis.expire(`${p}b-${spec.bid}`, 30 * 86400)
    await redis.sadd(`${p}b-${spec.bid}-jids`, 'aaaaaaaaaaaaaaaaaaaaaaaa')
  }
  if (spec.failedKey) await redis.sadd(`${p}b-${spec.bid}-failed`, 'aaaaaaaaaaaaaaaaaaaaaaaa')
  return key
}

/** A DUMP of every key of the database (test-only; SCAN, as product code would). */
export async function snapshotKeyspace(redis: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const dump = await redis.dumpBuffer(key)
      if (dump) out.set(key, dump.toString('base64'))
    }
  } while (cursor !== '0')
  return out
}
