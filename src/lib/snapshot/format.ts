// The snapshot file: JSON Lines, one object a line, optionally gzip-compressed. Knows nothing of
// Redis or Sidekiq: records are objects with a `type` and a `family`; what they hold is checked by a
// validator the caller passes in.
//
//   line 1       {"type":"header","format":"qdoctor-snapshot","version":1, …, "counts":{family: n}, "records": n}
//   lines 2..n   {"type":"<record type>","family":"<family>", …}
//   last line    {"type":"trailer","counts":{family: n},"records": n}
//
// The header's counts are exact, not estimates: the writer spools the records to a temporary file
// and writes header + records + trailer at the end, into `<file>.partial-<pid>` renamed into place,
// so an export that fails leaves no file that looks complete. A reader refuses a file whose trailer
// is missing or disagrees with the records it holds (a truncated or edited file), with the line number.
import {once} from 'node:events'
import {closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, type WriteStream} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip, createGzip} from 'node:zlib'

export const SNAPSHOT_FORMAT = 'qdoctor-snapshot'
export const SNAPSHOT_VERSION = 1
/** FILE argument meaning stdout (export) or stdin (import). */
export const STDIO = '-'

export interface SnapshotSource {
  /** The redacted URL (never a password). */
  target: string
  namespace: string | null
  redisVersion?: string
  /** Redis TIME when the export started, epoch ms (the clock `expireAt` fields are on). */
  serverTimeMs?: number
}

export interface SnapshotHeader {
  type: 'header'
  format: typeof SNAPSHOT_FORMAT
  version: number
  qdoctor: string
  createdAt: string
  source: SnapshotSource
  /** The families this file was asked to hold (a family with no data has a count of 0). */
  families: string[]
  counts: Record<string, number>
  records: number
}

export interface SnapshotTrailer {
  type: 'trailer'
  counts: Record<string, number>
  records: number
}

export interface SnapshotRecord {
  type: string
  family: string
  [field: string]: unknown
}

/** The file cannot be used: not a snapshot, damaged, or cut short. `line` is 1-based. */
export class SnapshotFormatError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`)
    this.name = 'SnapshotFormatError'
  }
}

export function isGzipName(path: string): boolean {
  return /\.gz$/i.test(path)
}

// ---------------------------------------------------------------- writing

export interface WriterOptions {
  gzip: boolean
  /** Replace an existing file (otherwise opening fails with EEXIST). */
  overwrite: boolean
}

export interface WrittenSnapshot {
  path: string
  /** Bytes of the file (compressed size with gzip); not known for stdout. */
  bytes?: number
  counts: Record<string, number>
  records: number
}

export class SnapshotWriter {
  private readonly counts: Record<string, number> = {}
  private records = 0
  private closed = false

  private constructor(
    readonly dest: string,
    private readonly options: WriterOptions,
    private readonly spoolPath: string,
    private readonly spool: WriteStream,
  ) {}

  /** Prepare to write `dest` (a path, or `-` for stdout). Fails before any Redis read when `dest` exists. */
  static async open(dest: string, options: WriterOptions): Promise<SnapshotWriter> {
    if (dest !== STDIO && existsSync(dest) && !options.overwrite) {
      const err = new Error(`${dest} already exists`) as NodeJS.ErrnoException
      err.code = 'EEXIST'
      throw err
    }
    const dir = dest === STDIO ? tmpdir() : dirname(resolve(dest))
    const spoolPath = join(dir, `.${dest === STDIO ? 'stdout' : basename(dest)}.qdoctor-spool-${process.pid}`)
    const spool = createWriteStream(spoolPath, {flags: 'wx', mode: 0o600})
    await once(spool, 'open')
    return new SnapshotWriter(dest, options, spoolPath, spool)
  }

  /** Append records (waits while the spool file catches up: memory stays bounded). */
  async write(records: readonly SnapshotRecord[]): Promise<void> {
    if (records.length === 0) return
    let text = ''
    for (const r of records) {
      text += JSON.stringify(r) + '\n'
      this.counts[r.family] = (this.counts[r.family] ?? 0) + 1
    }
    this.records += records.length
    if (!this.spool.write(text)) await once(this.spool, 'drain')
  }

  /** Write header + records + trailer to the destination and remove the spool. */
  async finish(header: Omit<SnapshotHeader, 'type' | 'format' | 'version' | 'counts' | 'records'>): Promise<WrittenSnapshot> {
    await this.closeSpool()
    const counts: Record<string, number> = {}
    for (const family of header.families) counts[family] = this.counts[family] ?? 0
    for (const [family, n] of Object.entries(this.counts)) counts[family] = n
    const head: SnapshotHeader = {type: 'header', format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, ...header, counts, records: this.records}
    const trailer: SnapshotTrailer = {type: 'trailer', counts, records: this.records}
    const spoolPath = this.spoolPath
    async function* content(): AsyncGenerator<Buffer> {
      yield Buffer.from(JSON.stringify(head) + '\n')
      for await (const chunk of createReadStream(spoolPath)) yield chunk as Buffer
      yield Buffer.from(JSON.stringify(trailer) + '\n')
    }
    const emit = async (dest: NodeJS.WritableStream, end: boolean): Promise<void> => {
      const source = Readable.from(content())
      if (this.options.gzip) await pipeline(source, createGzip(), dest, {end})
      else await pipeline(source, dest, {end})
    }
    try {
      if (this.dest === STDIO) {
        await emit(process.stdout, false)
        return {path: STDIO, counts, records: this.records}
      }
      const partial = `${this.dest}.partial-${process.pid}`
      try {
        await emit(createWriteStream(partial, {flags: 'w', mode: 0o600}), true)
        syncFile(partial)
        renameSync(partial, this.dest)
        syncFile(dirname(resolve(this.dest)))
      } catch (err) {
        rmSync(partial, {force: true})
        throw err
      }
      return {path: this.dest, bytes: statSync(this.dest).size, counts, records: this.records}
    } finally {
      rmSync(spoolPath, {force: true})
    }
  }

  /** Give up: remove the spool; the destination is never created. */
  async abort(): Promise<void> {
    await this.closeSpool().catch(() => undefined)
    rmSync(this.spoolPath, {force: true})
  }

  private async closeSpool(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.spool.end()
    await once(this.spool, 'close')
  }
}

function syncFile(path: string): void {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    fsyncSync(fd)
  } catch {
    // A directory that cannot be fsync'ed on this platform: the file itself was flushed.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

// ---------------------------------------------------------------- reading

interface Line {
  number: number
  text: string
  /** The file ended without a newline after this line. */
  last: boolean
}

/** Whether a file starts with the gzip magic bytes (the name is not trusted). */
function isGzipFile(path: string): boolean {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(2)
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    closeSync(fd)
  }
}

function openContent(path: string): Readable {
  const raw = createReadStream(path)
  if (!isGzipFile(path)) return raw
  const gunzip = createGunzip()
  raw.on('error', (err) => gunzip.destroy(err))
  return raw.pipe(gunzip)
}

/** Lines of a snapshot (gunzipped when it is gzip), one chunk in memory at a time. */
async function* lines(path: string): AsyncGenerator<Line> {
  let pending: Buffer[] = []
  let number = 0
  try {
    for await (const chunk of openContent(path) as AsyncIterable<Buffer>) {
      let from = 0
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
        pending.push(chunk.subarray(from, nl))
        yield {number: ++number, text: Buffer.concat(pending).toString('utf8'), last: false}
        pending = []
        from = nl + 1
      }
      if (from < chunk.length) pending.push(Buffer.from(chunk.subarray(from)))
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(e.message))
      throw new SnapshotFormatError(`the gzip stream is damaged or cut short (${e.message}): the file is truncated or corrupt`, number + 1)
    throw err
  }
  if (pending.length) yield {number: ++number, text: Buffer.concat(pending).toString('utf8'), last: true}
}

function parseLine(line: Line): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(line.text)
  } catch {
    if (line.last) throw new SnapshotFormatError('the file ends in the middle of this line: it is truncated', line.number)
    throw new SnapshotFormatError('not valid JSON: the file is corrupt', line.number)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SnapshotFormatError('not a JSON object: the file is corrupt', line.number)
  return value as Record<string, unknown>
}

function checkHeader(obj: Record<string, unknown>): SnapshotHeader {
  if (obj.type !== 'header' || obj.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(`not a qdoctor snapshot (the first line is not a ${SNAPSHOT_FORMAT} header)`, 1)
  if (obj.version !== SNAPSHOT_VERSION) throw new SnapshotFormatError(`a version ${String(obj.version)} snapshot; this qdoctor reads version ${SNAPSHOT_VERSION}`, 1)
  if (!isCounts(obj.counts) || typeof obj.records !== 'number' || !Array.isArray(obj.families)) throw new SnapshotFormatError('the header has no counts: the file is corrupt', 1)
  return obj as unknown as SnapshotHeader
}

function isCounts(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((n) => Number.isInteger(n) && (n as number) >= 0)
}

/** Checks one record's fields; returns why it is unusable, or undefined. */
export type RecordCheck = (record: SnapshotRecord) => string | undefined

export interface ValidatedSnapshot {
  header: SnapshotHeader
  trailer: SnapshotTrailer
  /** Records per family, as counted while reading. */
  counts: Record<string, number>
  records: number
  lines: number
}

/**
 * Read the whole file and prove it complete and well-formed before anything uses it: a header first,
 * every record valid, a trailer last whose counts (and the header's) match the records read. Throws
 * SnapshotFormatError naming the line.
 */
export async function validateSnapshot(path: string, check: RecordCheck, onProgress?: (lines: number) => void): Promise<ValidatedSnapshot> {
  let header: SnapshotHeader | undefined
  let trailer: {value: SnapshotTrailer; line: number} | undefined
  const counts: Record<string, number> = {}
  let records = 0
  let last = 0
  for await (const line of lines(path)) {
    last = line.number
    if (line.number % 10_000 === 0) onProgress?.(line.number)
    if (line.text === '') throw new SnapshotFormatError('an empty line: the file is corrupt', line.number)
    const obj = parseLine(line)
    if (!header) {
      header = checkHeader(obj)
      continue
    }
    if (trailer) throw new SnapshotFormatError(`data after the trailer (line ${trailer.line}): the file is corrupt`, line.number)
    if (obj.type === 'trailer') {
      if (!isCounts(obj.counts) || typeof obj.records !== 'number') throw new SnapshotFormatError('the trailer has no counts: the file is corrupt', line.number)
      trailer = {value: obj as unknown as SnapshotTrailer, line: line.number}
      continue
    }
    if (obj.type === 'header') throw new SnapshotFormatError('a second header: the file is corrupt (two snapshots joined?)', line.number)
    if (typeof obj.type !== 'string' || typeof obj.family !== 'string') throw new SnapshotFormatError('a record without "type" and "family": the file is corrupt', line.number)
    const why = check(obj as SnapshotRecord)
    if (why) throw new SnapshotFormatError(`${why}: the file is corrupt`, line.number)
    counts[obj.family] = (counts[obj.family] ?? 0) + 1
    records++
  }
  if (!header) throw new SnapshotFormatError('the file is empty: not a qdoctor snapshot')
  if (!trailer) throw new SnapshotFormatError(`the file ends after line ${last} without its trailer: it is truncated (or the export did not finish)`)
  const mismatch = (expected: Record<string, number>, total: number) =>
    total !== records || [...new Set([...Object.keys(expected), ...Object.keys(counts)])].some((f) => (expected[f] ?? 0) !== (counts[f] ?? 0))
  const held = `the file holds ${records} records (${describeCounts(counts)})`
  if (mismatch(trailer.value.counts, trailer.value.records))
    throw new SnapshotFormatError(`the trailer counts ${trailer.value.records} records (${describeCounts(trailer.value.counts)}) but ${held}: records are missing or were added`, trailer.line)
  if (mismatch(header.counts, header.records))
    throw new SnapshotFormatError(`the header counts ${header.records} records (${describeCounts(header.counts)}) but ${held}: the file was edited or joined`, 1)
  return {header, trailer: trailer.value, counts, records, lines: last}
}

function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([f, n]) => `${f} ${n}`)
  return parts.length ? parts.join(', ') : 'none'
}

/** The records of a file already validated, with their line numbers. */
export async function* readRecords(path: string): AsyncGenerator<{line: number; record: SnapshotRecord}> {
  for await (const line of lines(path)) {
    if (line.number === 1) continue
    const obj = parseLine(line)
    if (obj.type === 'trailer') return
    yield {line: line.number, record: obj as SnapshotRecord}
  }
}

/** Copy stdin to a private temporary file (a snapshot is read twice: validated, then planned). */
export async function spoolStdin(): Promise<{path: string; remove: () => void}> {
  const path = join(tmpdir(), `.qdoctor-import-stdin-${process.pid}`)
  await pipeline(process.stdin, createWriteStream(path, {flags: 'wx', mode: 0o600}))
  return {path, remove: () => rmSync(path, {force: true})}
}
