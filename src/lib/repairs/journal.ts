// The repair journal: one JSON object per line, appended and flushed before each change, so that
// `qdoctor undo` can put back exactly what a run removed or overwrote, even after a crash.
//
// Lines:
//   {"type":"header", version, tool, qdoctor, command, target, startedAt, runId?}
//   {"type":"intent", seq, at, action, before?, dump?}   written and fsync'ed BEFORE the write
//   {"type":"outcome", seq, status, reason?}              applied | skipped | failed | unknown
//   {"type":"end", at, counts}                            the run finished (absent after a crash)
// An intent without an outcome (or with `unknown`) is "in doubt": the run stopped between the two.
// Undo treats it like an applied entry, but every undo step is conditional, so an entry that never
// took effect is reported "already back" and nothing is touched.
//
// DUMP payloads are binary: base64 in `dump`. Keys, members and values are Redis strings (UTF-8).
import {closeSync, fsyncSync, openSync, readSync, writeSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

import {REPAIR_KINDS, type RedisType, type RepairAction} from './actions.js'

export const JOURNAL_VERSION = 1
export const JOURNAL_TOOL = 'qdoctor'

export interface JournalHeader {
  type: 'header'
  version: number
  tool: string
  qdoctor: string
  command: string
  /** The redacted URL (never a password). */
  target: string
  startedAt: string
  runId?: string
}

/** What a whole-key action saw just before it changed the key (read in the same WATCH). */
export interface KeySnapshot {
  type: RedisType
  /** PTTL in ms, -1 when the key had no TTL. */
  pttl: number
  /** The Redis clock (TIME) when PTTL was read, in ms: restores compute the TTL left from it. */
  timeMs: number
}

export type OutcomeStatus = 'applied' | 'skipped' | 'failed' | 'unknown'

export interface JournalEntry {
  seq: number
  at: string
  action: RepairAction
  before?: KeySnapshot
  /** Size of the DUMP payload (the payload itself is read lazily from the file). */
  dumpBytes?: number
  outcome?: {status: OutcomeStatus; reason?: string}
  /** Where the intent line sits in the file. */
  line: {offset: number; length: number; number: number}
}

export interface Journal {
  path: string
  header: JournalHeader
  entries: JournalEntry[]
  /** The run wrote its end line (false after a crash or a Redis failure). */
  ended: boolean
  /** The last line was cut short (a crash mid-write); it was ignored. */
  truncated?: {line: number; bytes: number}
  warnings: string[]
  /** The DUMP payload of an entry, read from its line. */
  loadDump(entry: JournalEntry): Buffer
}

/** The journal cannot be read (not a journal, damaged in the middle). */
export class JournalError extends Error {}

/** `qdoctor-journal-20261122T080000Z.jsonl` */
export function defaultJournalName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `qdoctor-journal-${stamp}.jsonl`
}

export class JournalWriter {
  private fd: number | undefined
  private written = 0

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd
  }

  /**
   * Create a new journal (never overwrites: an existing file is an error) and write its header.
   * Without `path`, `qdoctor-journal-<UTC timestamp>.jsonl` in `dir`, with a suffix if taken.
   */
  static create(header: Omit<JournalHeader, 'type' | 'version' | 'tool'>, path?: string, dir = process.cwd()): JournalWriter {
    let fd: number | undefined
    let chosen = path ?? join(dir, defaultJournalName())
    if (path) fd = openSync(path, 'wx', 0o600)
    else {
      const base = chosen.replace(/\.jsonl$/, '')
      for (let n = 1; fd === undefined; n++) {
        try {
          fd = openSync(chosen, 'wx', 0o600)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n > 100) throw err
          chosen = `${base}-${n}.jsonl`
        }
      }
    }
    const writer = new JournalWriter(path ?? (dir === process.cwd() ? basename(chosen) : chosen), fd)
    writer.line({type: 'header', version: JOURNAL_VERSION, tool: JOURNAL_TOOL, ...header})
    writer.flush()
    syncDir(dirname(resolve(chosen)))
    return writer
  }

  /** Record what is about to change, and flush it to disk before the change is made. */
  intent(seq: number, action: RepairAction, before?: KeySnapshot, dump?: Buffer): void {
    const head = JSON.stringify({type: 'intent', seq, at: new Date().toISOString(), action, ...(before ? {before} : {})})
    if (dump === undefined) this.write(head + '\n')
    else {
      // Written in pieces: a big payload never becomes one giant string.
      this.write(`${head.slice(0, -1)},"dump":"`)
      const CHUNK = 3 * 1024 * 1024
      for (let i = 0; i < dump.length; i += CHUNK) this.write(dump.subarray(i, i + CHUNK).toString('base64'))
      this.write('"}\n')
    }
    this.flush()
  }

  /** Several intents, flushed to disk once, before any of them is applied (pipelined batches). */
  intents(entries: ReadonlyArray<{seq: number; action: RepairAction}>): void {
    const at = new Date().toISOString()
    this.write(entries.map(({seq, action}) => JSON.stringify({type: 'intent', seq, at, action}) + '\n').join(''))
    this.flush()
  }

  /**
   * Record what happened. Not fsync'ed on its own: the next intent's flush covers it, and an
   * outcome lost in a machine crash only leaves its entry "in doubt", which undo handles.
   */
  outcome(seq: number, status: OutcomeStatus, reason?: string): void {
    this.line({type: 'outcome', seq, status, ...(reason ? {reason} : {})})
  }

  /** Several outcomes in one write (a pipelined batch); like outcome(), not fsync'ed on their own. */
  outcomes(entries: ReadonlyArray<{seq: number; status: OutcomeStatus; reason?: string | undefined}>): void {
    if (entries.length === 0) return
    this.write(entries.map(({seq, status, reason}) => JSON.stringify({type: 'outcome', seq, status, ...(reason ? {reason} : {})}) + '\n').join(''))
  }

  end(counts: Record<string, number>): void {
    this.line({type: 'end', at: new Date().toISOString(), counts})
    this.flush()
  }

  close(): void {
    if (this.fd === undefined) return
    const fd = this.fd
    this.fd = undefined
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }

  get bytesWritten(): number {
    return this.written
  }

  private line(obj: object): void {
    this.write(JSON.stringify(obj) + '\n')
  }

  private write(text: string): void {
    if (this.fd === undefined) throw new Error(`journal ${this.path} is closed`)
    const buf = Buffer.from(text, 'utf8')
    let off = 0
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off)
    this.written += buf.length
  }

  private flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd)
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Not every platform can fsync a directory; the file itself is flushed.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

interface RawLine {
  offset: number
  length: number
  number: number
  text: string
  /** The file ended without a newline after it. */
  last: boolean
}

/** Lines of a file with their byte offsets, read in chunks (a journal can be large). */
function* lines(path: string): Generator<RawLine> {
  const fd = openSync(path, 'r')
  try {
    const chunk = Buffer.alloc(4 * 1024 * 1024)
    let pending: Buffer[] = []
    let pendingLen = 0
    let lineStart = 0
    let position = 0
    let number = 0
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, position)
      if (n === 0) break
      let from = 0
      for (let i = 0; i < n; i++) {
        if (chunk[i] !== 0x0a) continue
        const part = chunk.subarray(from, i)
        const buf = pendingLen ? Buffer.concat([...pending, part]) : part
        number++
        yield {offset: lineStart, length: buf.length, number, text: buf.toString('utf8'), last: false}
        lineStart = position + i + 1
        pending = []
        pendingLen = 0
        from = i + 1
      }
      if (from < n) {
        pending.push(Buffer.from(chunk.subarray(from, n)))
        pendingLen += n - from
      }
      position += n
    }
    if (pendingLen) {
      number++
      yield {offset: lineStart, length: pendingLen, number, text: Buffer.concat(pending).toString('utf8'), last: true}
    }
  } finally {
    closeSync(fd)
  }
}

/** Read a journal. A cut-short last line (crash mid-write) is ignored and reported; damage elsewhere is an error. */
export function readJournal(path: string): Journal {
  let header: JournalHeader | undefined
  const bySeq = new Map<number, JournalEntry>()
  const warnings: string[] = []
  let ended = false
  let truncated: Journal['truncated']
  for (const raw of lines(path)) {
    if (raw.text.trim() === '') continue
    let obj: Record<string, unknown>
    try {
      obj = JSON.parse(raw.text) as Record<string, unknown>
    } catch {
      if (raw.last) {
        truncated = {line: raw.number, bytes: raw.length}
        warnings.push(`The last line of ${path} (line ${raw.number}, ${raw.length} bytes) was cut short, probably by a crash mid-write; it was ignored.`)
        continue
      }
      throw new JournalError(`${path} line ${raw.number} is not valid JSON: the journal is damaged.`)
    }
    if (!header) {
      if (obj.type !== 'header' || obj.tool !== JOURNAL_TOOL) throw new JournalError(`${path} is not a qdoctor journal (its first line is not a qdoctor journal header).`)
      if (obj.version !== JOURNAL_VERSION) throw new JournalError(`${path} is a version ${String(obj.version)} journal; this qdoctor reads version ${JOURNAL_VERSION}.`)
      header = obj as unknown as JournalHeader
      continue
    }
    switch (obj.type) {
      case 'intent': {
        const entry = toEntry(obj, raw, path)
        if (bySeq.has(entry.seq)) throw new JournalError(`${path} line ${raw.number}: entry ${entry.seq} appears twice.`)
        bySeq.set(entry.seq, entry)
        break
      }
      case 'outcome': {
        const entry = bySeq.get(Number(obj.seq))
        if (!entry) {
          warnings.push(`${path} line ${raw.number}: an outcome for unknown entry ${String(obj.seq)} was ignored.`)
          break
        }
        entry.outcome = {status: obj.status as OutcomeStatus, ...(typeof obj.reason === 'string' ? {reason: obj.reason} : {})}
        break
      }
      case 'end':
        ended = true
        break
      default:
        throw new JournalError(`${path} line ${raw.number}: unknown line type ${JSON.stringify(obj.type)}.`)
    }
  }
  if (!header) throw new JournalError(`${path} is empty: not a qdoctor journal.`)
  const entries = [...bySeq.values()].sort((a, b) => a.seq - b.seq)
  return {
    path,
    header,
    entries,
    ended,
    ...(truncated ? {truncated} : {}),
    warnings,
    loadDump: (entry) => loadDump(path, entry),
  }
}

function toEntry(obj: Record<string, unknown>, raw: RawLine, path: string): JournalEntry {
  const where = `${path} line ${raw.number}`
  const seq = obj.seq
  if (typeof seq !== 'number' || !Number.isInteger(seq)) throw new JournalError(`${where}: entry without a sequence number.`)
  const action = obj.action as RepairAction | undefined
  if (!action || typeof action !== 'object' || !REPAIR_KINDS.includes(action.kind))
    throw new JournalError(`${where}: unknown action ${JSON.stringify((action as {kind?: unknown} | undefined)?.kind)}.`)
  const before = obj.before as KeySnapshot | undefined
  if ((action.kind === 'unlink' || action.kind === 'expire') && !before) throw new JournalError(`${where}: ${action.kind} entry without the state it replaced.`)
  if (action.kind === 'unlink' && typeof obj.dump !== 'string') throw new JournalError(`${where}: unlink entry without its DUMP payload.`)
  const dump = typeof obj.dump === 'string' ? obj.dump : undefined
  return {
    seq,
    at: String(obj.at ?? ''),
    action,
    ...(before ? {before} : {}),
    ...(dump !== undefined ? {dumpBytes: Math.floor((dump.length * 3) / 4) - (dump.endsWith('==') ? 2 : dump.endsWith('=') ? 1 : 0)} : {}),
    line: {offset: raw.offset, length: raw.length, number: raw.number},
  }
}

function loadDump(path: string, entry: JournalEntry): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(entry.line.length)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, entry.line.offset + off)
      if (n === 0) break
      off += n
    }
    const obj = JSON.parse(buf.toString('utf8')) as {seq?: number; dump?: string}
    if (obj.seq !== entry.seq || typeof obj.dump !== 'string') throw new JournalError(`${path} changed while it was being read (entry ${entry.seq}).`)
    return Buffer.from(obj.dump, 'base64')
  } finally {
    closeSync(fd)
  }
}
