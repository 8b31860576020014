// One SCAN pass over the keyspace that serves every reader needing keys by pattern. Readers declare
// their patterns up front; the pass (one MATCH covering them all) dispatches each key to the
// patterns it matches and remembers only those, so memory follows the matched keys, not the
// keyspace. Afterwards `source` replays a pattern's keys to a reader as if it had scanned itself.
import type {Connection} from './connect.js'
import {coveringPattern, globMatcher} from './glob.js'
import {keepType, scanKeys, type ScanKeysOptions, type ScanProgress} from './scan.js'

/** What a reader scans for: the same options it would give SCAN (MATCH, TYPE, and a client-side keep). */
export interface KeyPattern {
  match: string
  /** Applied when the keys are served (pipelined TYPE), as SCAN … TYPE would. */
  type?: string
  /** A narrower client-side test; only keys it keeps are remembered. */
  keep?: (key: string) => boolean
}

/** Where a reader gets its keys: its own SCAN, or the shared pass. Same contract as scanKeys. */
export type KeySource = (options: ScanKeysOptions) => AsyncGenerator<string[]>

export function ownScan(conn: Connection): KeySource {
  return (options) => scanKeys(conn, options)
}

interface Entry {
  pattern: KeyPattern
  test: (key: string) => boolean
  keys: string[]
}

/** Keys served per page to a reader (what one SCAN call with COUNT 1000 would roughly give). */
export const SERVE_PAGE = 1000

export class KeyspaceIndex {
  private readonly entries = new Map<string, Entry>()
  private scanned = false
  /** SCAN calls and keys kept by the pass. */
  readonly progress: ScanProgress = {calls: 0, keys: 0}

  constructor(private readonly conn: Connection) {}

  /** Declare a pattern before the pass. Registering the same pattern twice is harmless. */
  register(pattern: KeyPattern): void {
    if (this.scanned) throw new Error(`keyspace index: pattern ${pattern.match} registered after the pass`)
    const id = idOf(pattern)
    if (this.entries.has(id)) return
    const matches = globMatcher(pattern.match)
    const keep = pattern.keep
    this.entries.set(id, {pattern, test: keep ? (key) => matches(key) && keep(key) : matches, keys: []})
  }

  get patterns(): KeyPattern[] {
    return [...this.entries.values()].map((e) => e.pattern)
  }

  /** The MATCH the pass uses: the common literal prefix of every pattern, then `*`. */
  get match(): string {
    return coveringPattern(this.patterns.map((p) => p.match))
  }

  /** Run the one SCAN pass. A pass interrupted part-way throws (the scan layer's ScanInterruptedError). */
  async scan(options: {count?: number; onProgress?: (p: ScanProgress) => void} = {}): Promise<void> {
    if (this.scanned) throw new Error('keyspace index: scanned twice')
    const entries = [...this.entries.values()]
    this.scanned = true
    if (entries.length === 0) return
    const keep = (key: string): boolean => {
      let kept = false
      for (const e of entries)
        if (e.test(key)) {
          e.keys.push(key)
          kept = true
        }
      return kept
    }
    const onProgress = (p: ScanProgress): void => {
      this.progress.calls = p.calls
      this.progress.keys = p.keys
      options.onProgress?.(p)
    }
    for await (const _batch of scanKeys(this.conn, {match: this.match, count: options.count, keep, onProgress})) {
      // Every kept key is already filed under its patterns.
    }
  }

  /** How many keys the pass kept for a pattern (before any TYPE filter). */
  count(pattern: KeyPattern): number {
    return this.entry(pattern).keys.length
  }

  /** A KeySource serving registered patterns from the pass (unregistered ones are a programming error). */
  get source(): KeySource {
    return (options) => this.serve(options)
  }

  private async *serve(options: ScanKeysOptions): AsyncGenerator<string[]> {
    const entry = this.entry({match: options.match ?? '*', type: options.type, keep: options.keep})
    const served = {calls: 0, keys: 0}
    for (let i = 0; i < entry.keys.length; i += SERVE_PAGE) {
      let page = entry.keys.slice(i, i + SERVE_PAGE)
      if (options.type) page = await keepType(this.conn, page, options.type)
      served.calls++
      served.keys += page.length
      options.onProgress?.(served)
      if (page.length) yield page
    }
  }

  private entry(pattern: KeyPattern): Entry {
    if (!this.scanned) throw new Error('keyspace index: read before the pass')
    const entry = this.entries.get(idOf(pattern))
    if (!entry) throw new Error(`keyspace index: pattern ${pattern.match}${pattern.type ? ` (${pattern.type})` : ''} was not registered`)
    return entry
  }
}

/** Patterns are told apart by MATCH, TYPE and the identity of their keep function. */
const keepIds = new WeakMap<(key: string) => boolean, number>()
let nextKeepId = 1

function idOf(p: KeyPattern): string {
  let keep = ''
  if (p.keep) {
    let id = keepIds.get(p.keep)
    if (id === undefined) keepIds.set(p.keep, (id = nextKeepId++))
    keep = `#${id}`
  }
  return `${p.type ?? ''}\u0000${p.match}\u0000${keep}`
}
