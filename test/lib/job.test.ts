import {describe, expect, it} from 'vitest'

import {jobAgeSeconds, parseJob, rewriteJob, spliceTopLevel} from '../../src/lib/sidekiq/job.js'
import {parseWork} from '../../src/lib/sidekiq/work.js'

const JOB = '{"retry":true,"queue":"default","class":"HardJob","args":[123456789012345678901234567890,9007199254740993,1.50],"jid":"b4a577edbccf1d805744efa9","created_at":1713484819.0,"enqueued_at":1713484819.5}'

describe('parseJob', () => {
  it('reads the top-level fields of a Sidekiq 6 payload', () => {
    const r = parseJob(JOB)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.job.jid).toBe('b4a577edbccf1d805744efa9')
    expect(r.job.class).toBe('HardJob')
    expect(r.job.displayClass).toBe('HardJob')
    expect(r.job.queue).toBe('default')
    expect(r.job.enqueuedAt).toBe(1713484819.5)
    expect(r.job.retry).toBe(true)
  })

  it('takes the jid of the job, never a jid nested in args', () => {
    const raw = JSON.stringify({class: 'Callback', args: [{jid: 'aaaaaaaaaaaaaaaaaaaaaaaa'}], jid: 'bbbbbbbbbbbbbbbbbbbbbbbb'})
    const r = parseJob(raw)
    expect(r.ok && r.job.jid).toBe('bbbbbbbbbbbbbbbbbbbbbbbb')
  })

  it('reads Sidekiq 8 millisecond timestamps and the Active Job wrapped class', () => {
    const raw = JSON.stringify({class: 'Sidekiq::ActiveJob::Wrapper', wrapped: 'MailerJob', jid: 'c'.repeat(24), enqueued_at: 1713484819123, created_at: 1713484819000})
    const r = parseJob(raw)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.job.displayClass).toBe('MailerJob')
    expect(r.job.enqueuedAt).toBeCloseTo(1713484819.123, 3)
    expect(jobAgeSeconds(r.job, 1713484829.123)).toBeCloseTo(10, 3)
  })

  it('turns garbage into a corrupt result with a reason, never an exception', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json at all', /not JSON/],
      ['', /not JSON/],
      ['[1,2]', /array/],
      ['"str"', /string/],
      ['null', /object/],
      ['{"class":"X"}', /jid/],
      ['{"jid":"abc","class":5}', /class/],
      ['{"jid":12,"class":"X"}', /jid/],
      ['{"jid":"abc", "class":"X"', /not JSON/],
    ]
    for (const [raw, reason] of cases) {
      const r = parseJob(raw)
      expect(r.ok, raw).toBe(false)
      if (!r.ok) expect(r.reason).toMatch(reason)
    }
  })
})

describe('rewriteJob', () => {
  it('changes the named fields and keeps every other number exactly as written', () => {
    const out = rewriteJob(JOB, {retry_count: 3, enqueued_at: 1800000000.25})
    expect(out).toContain('[123456789012345678901234567890,9007199254740993,1.50]')
    expect(out).toContain('"created_at":1713484819.0')
    const parsed = JSON.parse(out)
    expect(parsed.retry_count).toBe(3)
    expect(parsed.enqueued_at).toBe(1800000000.25)
  })

  it('removes fields set to undefined', () => {
    expect(JSON.parse(rewriteJob(JOB, {enqueued_at: undefined})).enqueued_at).toBeUndefined()
  })

  it('refuses a payload that is not an object', () => {
    expect(() => rewriteJob('[1]', {a: 1})).toThrow(/not a JSON object/)
  })
})

describe('parseWork', () => {
  it('reads a 6.0.2+ entry whose payload is JSON inside JSON', () => {
    const w = parseWork('abc', JSON.stringify({queue: 'default', payload: JOB, run_at: 1713484820}))
    expect(w.queue).toBe('default')
    expect(w.runAt).toBe(1713484820)
    expect(w.payload.ok && w.payload.job.jid).toBe('b4a577edbccf1d805744efa9')
  })
  it('reads a 6.0.0/6.0.1 entry whose payload is an object', () => {
    const w = parseWork('abc', JSON.stringify({queue: 'default', payload: JSON.parse(JOB), run_at: 1713484820}))
    expect(w.payload.ok).toBe(true)
  })
  it('marks an unreadable entry corrupt', () => {
    const w = parseWork('abc', '{oops')
    expect(w.corrupt).toBeTruthy()
    expect(w.payload.ok).toBe(false)
  })
})

describe('spliceTopLevel with the parsed object (the fast path of dead --retry)', () => {
  const BIG = '123456789012345678901234567890'
  const cases = [
    // Sidekiq 6 shape, float seconds, a big integer in args.
    `{"retry":true,"queue":"default","class":"HardJob","args":[${BIG},{"t":"x"}],"jid":"b4a577edbccf1d805744efa9","created_at":1713484000.1234567,"enqueued_at":1713484819.0,"error_message":"boom","error_class":"E","failed_at":1713484820.5,"retry_count":25,"retried_at":1713484821.25}`,
    // Integer ms (Sidekiq 8), spacing around the colon, no retry_count.
    `{ "class" : "A", "jid" : "1", "enqueued_at" : 1713484819000 , "args" : [1e3, -2.5E-3] }`,
    // The keys also nested in args, or inside a string: the fast path declines, the scan decides.
    `{"class":"A","jid":"1","args":[{"retry_count":7,"enqueued_at":"nested"}],"enqueued_at":1.5,"retry_count":0}`,
    String.raw`{"class":"A","jid":"1","error_message":"say \"retry_count\":5","retry_count":0,"enqueued_at":2}`,
    // A \u escape anywhere: declined (a key could be spelled with one).
    String.raw`{"class":"A","jid":"1","error_message":"caf\u00e9","enqueu\u0065d_at":3,"args":[{"enqueued_at":9}]}`,
    // A non-number value (a string timestamp): declined.
    `{"class":"A","jid":"1","enqueued_at":"2024-01-01T00:00:00Z","retry_count":1}`,
  ]
  it.each(cases)('gives exactly what the full scan gives: %s', (raw) => {
    const fields = JSON.parse(raw) as Record<string, unknown>
    const variants: Array<Record<string, string>> = [{enqueued_at: '1795000000.125', retry_count: '24'}, {enqueued_at: '1795000000125'}]
    for (const changes of variants) {
      const want = spliceTopLevel(raw, changes)
      expect(spliceTopLevel(raw, changes, fields)).toBe(want)
      expect(JSON.parse(want!)).toEqual({...fields, ...Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, JSON.parse(v)]))})
    }
  })
})
