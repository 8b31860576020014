// The journal file format (no Redis needed), the replica/loading refusal rules and the prompt.
import {appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {afterAll, describe, expect, it} from 'vitest'

import {confirm, CONFIRM_QUESTION} from '../../src/lib/command/confirm.js'
import {validateAction} from '../../src/lib/repairs/actions.js'
import {scratchKeyFor} from '../../src/lib/repairs/apply.js'
import {writeRefusal} from '../../src/lib/repairs/guard.js'
import {defaultJournalName, JournalError, JournalWriter, readJournal} from '../../src/lib/repairs/journal.js'
import {planUndo} from '../../src/lib/repairs/undo.js'

const dir = mkdtempSync(join(tmpdir(), 'qdoctor-journal-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let n = 0
const fresh = () => join(dir, `j${++n}.jsonl`)
const header = {qdoctor: '0.0.0', command: 'qdoctor test', target: 'redis://:***@127.0.0.1:1/0', startedAt: new Date().toISOString()}

describe('journal', () => {
  it('names the default file after the UTC time and never overwrites one', () => {
    expect(defaultJournalName(new Date('2026-11-22T08:00:00.123Z'))).toBe('qdoctor-journal-20261122T080000Z.jsonl')
    const a = JournalWriter.create(header, undefined, dir)
    const b = JournalWriter.create(header, undefined, dir)
    a.close()
    b.close()
    expect(a.path).not.toBe(b.path)
    expect(a.path).toMatch(/qdoctor-journal-\d{8}T\d{6}Z(-\d+)?\.jsonl$/)
    expect(() => JournalWriter.create(header, a.path)).toThrow(/EEXIST/)
    expect(statSync(a.path).mode & 0o777).toBe(0o600)
  })

  it('round-trips intents, outcomes and binary DUMP payloads (read lazily)', () => {
    const path = fresh()
    const w = JournalWriter.create(header, path)
    const dump = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0x22, 0x5c])
    const big = Buffer.alloc(7 * 1024 * 1024 + 5, 7) // more than one write chunk
    big[0] = 0
    w.intent(1, {kind: 'unlink', key: 'k1', expectType: 'hash'}, {type: 'hash', pttl: -1, timeMs: 1}, dump)
    w.outcome(1, 'applied')
    w.intent(2, {kind: 'srem', key: 's', member: 'a\nb"c'})
    w.outcome(2, 'skipped', 'no longer a member')
    w.intent(3, {kind: 'unlink', key: 'k2', expectType: 'string'}, {type: 'string', pttl: 5000, timeMs: 2}, big)
    w.end({applied: 1})
    w.close()
    const j = readJournal(path)
    expect(j.ended).toBe(true)
    expect(j.truncated).toBeUndefined()
    expect(j.entries.map((e) => [e.seq, e.outcome?.status])).toEqual([
      [1, 'applied'],
      [2, 'skipped'],
      [3, undefined],
    ])
    expect(j.entries[1]!.action).toEqual({kind: 'srem', key: 's', member: 'a\nb"c'})
    expect(j.entries[0]!.dumpBytes).toBe(dump.length)
    expect(j.loadDump(j.entries[0]!).equals(dump)).toBe(true)
    expect(j.entries[2]!.dumpBytes).toBe(big.length)
    expect(j.loadDump(j.entries[2]!).equals(big)).toBe(true)
    // Undo: newest first; the skipped entry is not undone; the one without an outcome is in doubt.
    const plan = planUndo(j)
    expect(plan.actions.map((a) => [a.entry.seq, a.inDoubt])).toEqual([
      [3, true],
      [1, false],
    ])
    expect([plan.applied, plan.inDoubt, plan.notApplied]).toEqual([1, 1, 1])
  })

  it('ignores a last line cut short by a crash, and says so', () => {
    const path = fresh()
    const w = JournalWriter.create(header, path)
    w.intent(1, {kind: 'srem', key: 's', member: 'm'})
    w.outcome(1, 'applied')
    w.close()
    appendFileSync(path, '{"type":"intent","seq":2,"at":"x","action":{"kind":"srem","key":"s","mem')
    const j = readJournal(path)
    expect(j.entries.map((e) => e.seq)).toEqual([1])
    expect(j.truncated?.line).toBe(4)
    expect(j.warnings.join()).toMatch(/cut short/)
    expect(j.ended).toBe(false)
  })

  it('refuses a file damaged in the middle, or not a journal at all', () => {
    const path = fresh()
    const w = JournalWriter.create(header, path)
    w.intent(1, {kind: 'srem', key: 's', member: 'm'})
    w.close()
    const lines = readFileSync(path, 'utf8').split('\n')
    writeFileSync(path, [lines[0], '{"type":"intent",', lines[1], ''].join('\n'))
    expect(() => readJournal(path)).toThrow(JournalError)
    expect(() => readJournal(path)).toThrow(/line 2 is not valid JSON/)
    const other = fresh()
    writeFileSync(other, '{"hello":"world"}\n')
    expect(() => readJournal(other)).toThrow(/not a qdoctor journal/)
    writeFileSync(other, '')
    expect(() => readJournal(other)).toThrow(/empty/)
    const odd = fresh()
    writeFileSync(odd, `${lines[0]}\n{"type":"intent","seq":1,"action":{"kind":"flushall"}}\n`)
    expect(() => readJournal(odd)).toThrow(/unknown action "flushall"/)
  })
})

describe('write guard', () => {
  it('refuses replicas and loading servers, naming the target', () => {
    expect(writeRefusal({role: 'master', loading: '0'}, 'T')).toBeUndefined()
    expect(writeRefusal({role: 'slave', master_host: '10.0.0.1', master_port: '6379'}, 'T')).toMatch(/T: it is a replica \(role:slave\) of 10\.0\.0\.1:6379/)
    expect(writeRefusal({role: 'replica'}, 'T')).toMatch(/replica/)
    expect(writeRefusal({role: 'master', loading: '1'}, 'T')).toMatch(/still loading/)
    expect(writeRefusal({role: 'master', async_loading: '1'}, 'T')).toMatch(/still loading/)
    // CLIENT KILL writes no keys: a replica may take it, a loading server still may not.
    expect(writeRefusal({role: 'slave', master_host: '10.0.0.1'}, 'T', {keyless: true})).toBeUndefined()
    expect(writeRefusal({role: 'replica', loading: '1'}, 'T', {keyless: true})).toMatch(/still loading/)
  })
})

describe('undo scratch key', () => {
  it('stays in the cluster slot of the key (same hash tag)', () => {
    expect(scratchKeyFor('b-abc-failinfo')).toBe('{b-abc-failinfo}:qdoctor-undo-scratch')
    expect(scratchKeyFor('{tag}rest')).toBe('{tag}rest:qdoctor-undo-scratch')
    expect(scratchKeyFor('a{b}c')).toBe('a{b}c:qdoctor-undo-scratch')
  })
})

describe('action validation', () => {
  it('rejects malformed actions before anything is written', () => {
    expect(() => validateAction({kind: 'zrem', key: 'z', member: 'm', expectScore: 'abc'})).toThrow(/not a score/)
    expect(() => validateAction({kind: 'zrem', key: 'z', member: 'm', expectScore: '1700000000.1234567'})).not.toThrow()
    expect(() => validateAction({kind: 'hincrby', key: 'h', field: 'f', by: 1.5, expectValue: '1'})).toThrow(/integer/)
    expect(() => validateAction({kind: 'hincrby', key: 'h', field: 'f', by: 1, expectValue: '1.5'})).toThrow(/integer/)
    expect(() => validateAction({kind: 'expire', key: 'k', ttlMs: 0, expectType: 'hash'})).toThrow(/positive/)
    expect(() => validateAction({kind: 'unlink', key: 'k', expectType: 'blob' as 'hash'})).toThrow(/unknown type/)
    expect(() => validateAction({kind: 'lpush', key: 'q', value: 'v', registerSet: 'queues'})).toThrow(/together/)
    expect(() => validateAction({kind: 'client-kill', id: '12', expectAddr: '', clientLine: ''})).toThrow(/expectAddr/)
  })
})

describe('confirmation prompt', () => {
  async function ask(answer: string | null): Promise<{yes: boolean; shown: string}> {
    const input = new PassThrough()
    const output = new PassThrough()
    let shown = ''
    output.on('data', (d: Buffer) => (shown += d.toString()))
    const pending = confirm({target: 'redis://:***@10.0.0.5:6379/3', count: 12, bytes: 5 * 1024 * 1024, notes: ['note: something']}, {input, output})
    if (answer === null) input.end()
    else input.write(answer)
    return {yes: await pending, shown}
  }

  it('names the target, the count and the bytes, and goes ahead only on y', async () => {
    const y = await ask('y\n')
    expect(y.yes).toBe(true)
    expect(y.shown).toContain('About to apply 12 actions (about 5 MB) on redis://:***@10.0.0.5:6379/3.')
    expect(y.shown).toContain('note: something')
    expect(y.shown).toContain(CONFIRM_QUESTION)
    expect((await ask('yes\n')).yes).toBe(true)
    expect((await ask('n\n')).yes).toBe(false)
    expect((await ask('\n')).yes).toBe(false)
    expect((await ask('yolo\n')).yes).toBe(false)
    expect((await ask(null)).yes).toBe(false) // end of input
  })
})
