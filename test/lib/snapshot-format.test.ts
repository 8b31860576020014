// The snapshot file format: exact header counts, a trailer, gzip by content, and refusal of every
// kind of damage with the line it is on. No Redis here: only files.
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {afterAll, describe, expect, it} from 'vitest'

import {seamOverlap} from '../../src/lib/redis/snapshot-reads.js'
import {checkRecord} from '../../src/lib/sidekiq/snapshot-families.js'
import {readRecords, type SnapshotRecord, SnapshotWriter, validateSnapshot} from '../../src/lib/snapshot/format.js'

const dir = mkdtempSync(join(tmpdir(), 'qdoctor-snapshot-format-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let n = 0
const path = (ext = 'jsonl') => join(dir, `s${++n}.${ext}`)

const job = (queue: string, jid: string): SnapshotRecord => ({type: 'job', family: 'queues', queue, payload: JSON.stringify({class: 'OkJob', jid, args: [1]})})
const RECORDS: SnapshotRecord[] = [
  {type: 'queue', family: 'queues', queue: 'default', registered: true, length: 2},
  job('default', 'a'.repeat(24)),
  job('default', 'b'.repeat(24)),
  {type: 'job', family: 'retry', score: '1713484819.1234567', payload: '{"jid":"c","class":"X"}'},
  {type: 'counter', family: 'stats', key: 'stat:processed', value: '42'},
]

async function write(file: string, gzip = false, records = RECORDS): Promise<void> {
  const w = await SnapshotWriter.open(file, {gzip, overwrite: false})
  await w.write(records.slice(0, 2))
  await w.write(records.slice(2))
  await w.finish({qdoctor: 'test', createdAt: '2026-01-01T00:00:00.000Z', source: {target: 'redis://127.0.0.1:1/0', namespace: null}, families: ['queues', 'retry', 'stats', 'dead']})
}

const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n')

/** The error message validation gives, or 'valid'. */
async function refusal(file: string): Promise<string> {
  try {
    await validateSnapshot(file, checkRecord)
    return 'valid'
  } catch (err) {
    return (err as Error).message
  }
}

describe('snapshot file format', () => {
  it('writes a header with exact counts, the records, and a trailer that repeats the counts', async () => {
    const file = path()
    await write(file)
    const l = lines(file).map((x) => JSON.parse(x))
    expect(l).toHaveLength(RECORDS.length + 2)
    expect(l[0]).toMatchObject({type: 'header', format: 'qdoctor-snapshot', version: 1, records: 5, counts: {queues: 3, retry: 1, stats: 1, dead: 0}})
    expect(l.slice(1, -1)).toEqual(RECORDS)
    expect(l.at(-1)).toEqual({type: 'trailer', records: 5, counts: l[0].counts})
    const v = await validateSnapshot(file, checkRecord)
    expect(v.counts).toEqual({queues: 3, retry: 1, stats: 1})
    const read: SnapshotRecord[] = []
    for await (const {record} of readRecords(file)) read.push(record)
    expect(read).toEqual(RECORDS)
    // No spool or partial file is left next to it.
    expect(readdirSync(dir).filter((f) => f.includes('spool') || f.includes('partial'))).toEqual([])
  })

  it('gzip-compresses and reads gzip by its content, whatever the name', async () => {
    const gz = path('jsonl.gz')
    await write(gz, true)
    const bytes = readFileSync(gz)
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b])
    expect(gunzipSync(bytes).toString()).toContain('"type":"trailer"')
    const renamed = path('dat')
    writeFileSync(renamed, bytes)
    expect((await validateSnapshot(renamed, checkRecord)).records).toBe(5)
  })

  it('refuses to overwrite an existing file unless asked, and leaves nothing behind on abort', async () => {
    const file = path()
    writeFileSync(file, 'precious')
    await expect(SnapshotWriter.open(file, {gzip: false, overwrite: false})).rejects.toMatchObject({code: 'EEXIST'})
    const w = await SnapshotWriter.open(file, {gzip: false, overwrite: true})
    await w.write(RECORDS)
    await w.abort()
    expect(readFileSync(file, 'utf8')).toBe('precious')
    expect(readdirSync(dir).filter((f) => f.includes('spool'))).toEqual([])
  })

  it('refuses a file cut at a line boundary (no trailer), naming the last line', async () => {
    const file = path()
    await write(file)
    writeFileSync(file, lines(file).slice(0, 4).join('\n') + '\n')
    expect(await refusal(file)).toMatch(/ends after line 4 without its trailer: it is truncated/)
  })

  it('refuses a file cut in the middle of a line, with that line number', async () => {
    const file = path()
    await write(file)
    const text = readFileSync(file, 'utf8')
    writeFileSync(file, text.slice(0, text.indexOf('bbbbbb')))
    expect(await refusal(file)).toMatch(/^line 4: the file ends in the middle of this line: it is truncated/)
  })

  it('refuses a corrupt line in the middle, with its number', async () => {
    const file = path()
    await write(file)
    const l = lines(file)
    l[4] = l[4]!.slice(0, 20)
    writeFileSync(file, l.join('\n') + '\n')
    expect(await refusal(file)).toMatch(/^line 5: not valid JSON/)
  })

  it('refuses a file whose records do not add up to its trailer (a line removed)', async () => {
    const file = path()
    await write(file)
    const l = lines(file)
    l.splice(2, 1)
    writeFileSync(file, l.join('\n') + '\n')
    expect(await refusal(file)).toMatch(/^line 6: the trailer counts 5 records .* but the file holds 4 records/)
  })

  it('refuses a gzip stream cut short', async () => {
    const file = path('jsonl.gz')
    await write(file, true)
    const bytes = readFileSync(file)
    writeFileSync(file, bytes.subarray(0, bytes.length - 30))
    expect(await refusal(file)).toMatch(/gzip stream is damaged or cut short/)
  })

  it('refuses records a snapshot cannot hold, and files that are not snapshots', async () => {
    const file = path()
    await write(file)
    const l = lines(file)
    l[2] = JSON.stringify({type: 'job', family: 'queues', queue: 'default'})
    writeFileSync(file, l.join('\n') + '\n')
    expect(await refusal(file)).toMatch(/^line 3: a job record without "payload"/)
    l[2] = JSON.stringify({type: 'weird', family: 'queues'})
    writeFileSync(file, l.join('\n') + '\n')
    expect(await refusal(file)).toMatch(/^line 3: unknown record type "weird"/)
    writeFileSync(file, '{"type":"header","tool":"qdoctor"}\n')
    expect(await refusal(file)).toMatch(/^line 1: not a qdoctor snapshot/)
    writeFileSync(file, gzipSync(''))
    expect(await refusal(file)).toMatch(/the file is empty/)
    expect(existsSync(file)).toBe(true)
  })
})

describe('seamOverlap (list pages read from the head while jobs are pushed)', () => {
  const b = (...xs: string[]) => xs.map((x) => Buffer.from(x))
  it('finds the elements a push shifted back into the next page', () => {
    expect(seamOverlap(b('a', 'b', 'c', 'd'), b('c', 'd', 'e', 'f'))).toBe(2)
    expect(seamOverlap(b('a', 'b', 'c', 'd'), b('d', 'e'))).toBe(1)
    expect(seamOverlap(b('a', 'b', 'c', 'd'), b('e', 'f'))).toBe(0)
    expect(seamOverlap([], b('a'))).toBe(0)
    // 'c' appears at the seam but what follows does not match: not a repeat.
    expect(seamOverlap(b('a', 'c', 'd'), b('c', 'x'))).toBe(0)
  })
})
