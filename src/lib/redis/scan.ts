// The one SCAN iterator: MATCH/TYPE/COUNT, deduplicated, throttled by the run's budget, resilient to
// dropped connections (the same cursor is retried). Never KEYS.
import type {Connection} from './connect.js'
import {resilient} from './resilient.js'
import {pipelinedReads} from './pipeline.js'

export interface ScanKeysOptions {
  match?: string
  /** Redis TYPE filter (`list`, `hash`, …). Falls back to client-side TYPE checks before Redis 6.0. */
  type?: string
  count?: number
  /**
   * Client-side filter applied before de-duplication: only kept keys are remembered and yielded, so
   * a broad MATCH (one pass serving several patterns) holds memory for the kept keys only.
   */
  keep?: (key: string) => boolean
  /** Called after every SCAN call with the running totals. */
  onProgress?: (progress: ScanProgress) => void
}

export interface ScanProgress {
  calls: number
  keys: number
}

export const DEFAULT_SCAN_COUNT = 1000

/**
 * Yields batches of distinct keys. SCAN may return a key twice while the table rehashes; the
 * de-duplication set only holds matched keys, so memory follows the match count, not the keyspace,
 * and holds them compactly (KeySet: ~35 bytes for a 25-byte key, against ~90 in a Set of strings).
 */
export async function* scanKeys(conn: Connection, options: ScanKeysOptions = {}): AsyncGenerator<string[]> {
  const seen = new KeySet()
  const count = options.count ?? DEFAULT_SCAN_COUNT
  const progress: ScanProgress = {calls: 0, keys: 0}
  let serverTypeFilter = Boolean(options.type)
  let cursor = '0'
  do {
    await conn.budget.take(1)
    const args: Array<string | number> = ['MATCH', options.match ?? '*', 'COUNT', count]
    let reply: [string, string[]]
    try {
      reply = await resilient(conn, 'scanning keys', (redis) =>
        redis.scan(cursor, ...(args as ['MATCH', string, 'COUNT', number]), ...((serverTypeFilter ? ['TYPE', options.type] : []) as [])),
      )
    } catch (err) {
      // Redis < 6.0 has no SCAN … TYPE: filter on our side instead.
      if (serverTypeFilter && /syntax error/i.test(String((err as Error).message))) {
        serverTypeFilter = false
        continue
      }
      throw err
    }
    cursor = reply[0]
    progress.calls++
    const keep = options.keep
    let keys = reply[1].filter((key) => (!keep || keep(key)) && seen.add(key))
    if (options.type && !serverTypeFilter && keys.length) keys = await keepType(conn, keys, options.type)
    progress.keys += keys.length
    options.onProgress?.(progress)
    if (keys.length) yield keys
  } while (cursor !== '0')
}

/**
 * An exact set of strings for de-duplicating SCAN, kept compactly: every key's UTF-8 bytes, after a
 * length prefix, in one growing buffer, and an open-addressing table (linear probing, at most half
 * full) of offsets into it. A million 25-byte keys take ~35 MB here, ~90 MB as a Set<string> (the
 * strings, their headers and the Set's table). Strings compare by their UTF-8 bytes, as Redis keys do.
 */
export class KeySet {
  private arena = Buffer.allocUnsafe(64 * 1024)
  private used = 0
  /** Offset + 1 of an entry in `arena` (its length prefix); 0 = empty slot. */
  private table = new Uint32Array(1024)
  private count = 0

  get size(): number {
    return this.count
  }

  /** Add `key`; false when it is already in the set. */
  add(key: string): boolean {
    // Write the key at the end of the arena (a prefix of 1 or 5 bytes, then the bytes), then look it up:
    // a new key stays where it was written, a known one is overwritten by the next add.
    this.reserve(5 + key.length * 3)
    const start = this.used
    const arena = this.arena
    let at = start + 1
    let len = key.length
    // ASCII (the usual key) is copied by hand, which is faster than a native call per key.
    let ascii = len < 0xff
    for (let i = 0; ascii && i < len; i++) {
      const c = key.charCodeAt(i)
      if (c < 0x80) arena[at + i] = c
      else ascii = false
    }
    if (!ascii) {
      len = arena.write(key, at, 'utf8')
      if (len >= 0xff) {
        at = start + 5
        len = arena.write(key, at, 'utf8')
        arena[start] = 0xff
        arena.writeUInt32LE(len, start + 1)
      }
    }
    if (len < 0xff) arena[start] = len
    const mask = this.table.length - 1
    let slot = hashBytes(this.arena, at, at + len) & mask
    for (let entry = this.table[slot]!; entry !== 0; entry = this.table[slot]!) {
      if (this.equals(entry - 1, at, len)) return false
      slot = (slot + 1) & mask
    }
    if (at + len > 0xffff_fffe) throw new Error('KeySet: more than 4 GB of keys')
    this.table[slot] = start + 1
    this.used = at + len
    if (++this.count * 2 > this.table.length) this.grow()
    return true
  }

  /** Is the entry at `offset` the `len` bytes at `at`? */
  private equals(offset: number, at: number, len: number): boolean {
    const arena = this.arena
    const n = arena[offset]!
    if (n !== 0xff) {
      if (n !== len) return false
      for (let i = 0; i < len; i++) if (arena[offset + 1 + i] !== arena[at + i]) return false
      return true
    }
    const from = offset + 5
    return arena.readUInt32LE(offset + 1) === len && arena.compare(arena, at, at + len, from, from + len) === 0
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.arena.length) return
    const next = Buffer.allocUnsafe(Math.max(this.used + bytes, Math.ceil(this.arena.length * 1.5)))
    this.arena.copy(next, 0, 0, this.used)
    this.arena = next
  }

  private grow(): void {
    const old = this.table
    this.table = new Uint32Array(old.length * 2)
    const mask = this.table.length - 1
    const arena = this.arena
    for (const entry of old) {
      if (entry === 0) continue
      const n = arena[entry - 1]!
      const from = n === 0xff ? entry + 4 : entry
      let slot = hashBytes(arena, from, from + (n === 0xff ? arena.readUInt32LE(entry) : n)) & mask
      while (this.table[slot] !== 0) slot = (slot + 1) & mask
      this.table[slot] = entry
    }
  }
}

/** FNV-1a over buf[from, to), as an unsigned 32-bit number. */
function hashBytes(buf: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
  return h >>> 0
}

/** The keys of `keys` whose TYPE is `type` (pipelined; keys that vanished are dropped). */
export async function keepType(conn: Connection, keys: string[], type: string): Promise<string[]> {
  const types = await pipelinedReads(conn, keys, (key) => [['type', key]])
  return keys.filter((_, i) => types[i]?.[0]?.value === type)
}

/** Collect every key of a (selective) scan. Only for patterns whose matches are known to be few. */
export async function collectKeys(conn: Connection, options: ScanKeysOptions): Promise<string[]> {
  const all: string[] = []
  for await (const batch of scanKeys(conn, options)) all.push(...batch)
  return all
}
