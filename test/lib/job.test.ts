import {describe, expect, it} from 'vitest'

import {jobAgeSeconds, parseJob, rewriteJob} from '../../src/lib/sidekiq/job.js'
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
