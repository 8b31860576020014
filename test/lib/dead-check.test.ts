// The dead-set judge, the job filters, the payload splice and the loop watcher, fed fixture data
// (no Redis): capacity edges, duplicates vs re-reads, error grouping, every filter, byte-exact
// rewrites, re-deaths and the driving client.
import {describe, expect, it} from 'vitest'

import {DeadAggregator, DEFAULT_DEAD_THRESHOLDS, normalizeMessage} from '../../src/lib/checks/dead.js'
import {LoopWatch, loopFindings, queuedRetrySignals} from '../../src/lib/checks/dead-loops.js'
import {parseClientList} from '../../src/lib/redis/client-list.js'
import type {DeadEntry} from '../../src/lib/sidekiq/dead.js'
import {compileJobFilter, describeFilter, errorMatcher, FilterError} from '../../src/lib/sidekiq/job-filter.js'
import {parseJob, rewriteJob, spliceTopLevel} from '../../src/lib/sidekiq/job.js'

const NOW = 1_795_000_000

function payload(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    retry: 0,
    queue: i % 2 ? 'mailers' : 'default',
    class: 'HardJob',
    args: [i],
    jid: i.toString(16).padStart(24, '0'),
    error_class: 'RuntimeError',
    error_message: `boom for user ${1000 + i}`,
    retry_count: 0,
    ...extra,
  })
}

function entry(member: string, score: number): DeadEntry {
  return {member, score, scoreText: String(score), parsed: parseJob(member)}
}

function aggregate(n: number, t = DEFAULT_DEAD_THRESHOLDS): DeadAggregator {
  const agg = new DeadAggregator(t, NOW, 'dead', n)
  return agg
}

describe('DeadAggregator: capacity', () => {
  const cases: Array<[number, string | undefined, RegExp | undefined]> = [
    [8_999, undefined, undefined],
    [9_000, 'warn', /90% of dead_max_jobs/],
    [9_998, 'warn', /soon every new death evicts/],
    [9_999, 'error', /is full .* every new death silently evicts the oldest/],
    [10_001, 'error', /2 more than Sidekiq keeps .* the 3 oldest dead jobs disappear at once/],
  ]
  for (const [size, severity, message] of cases)
    it(`${size} entries with dead_max_jobs 10,000 → ${severity ?? 'no finding'}`, () => {
      const agg = aggregate(size)
      agg.finish()
      const f = agg.findings.find((x) => x.check === 'dead/near-capacity')
      if (!severity) return expect(f).toBeUndefined()
      expect(f?.severity).toBe(severity)
      expect(f?.message).toMatch(message!)
      expect(f?.evidence).toMatchObject({size, maxJobs: 10_000, kept: 9_999})
    })

  it('honours a configured --max-jobs', () => {
    const agg = aggregate(10_001, {...DEFAULT_DEAD_THRESHOLDS, maxJobs: 50_000})
    agg.finish()
    expect(agg.findings.find((x) => x.check === 'dead/near-capacity')).toBeUndefined()
    expect(agg.summary.capacityUsed).toBeCloseTo(0.2, 3)
  })
})

describe('DeadAggregator: entries', () => {
  it('ages, edges, top classes (wrapped), queues, grouped errors with first/last seen, past timeout', () => {
    const agg = aggregate(5)
    agg.add(entry(payload(1), NOW - 10))
    agg.add(entry(payload(2), NOW - 2 * 86400))
    agg.add(entry(payload(3, {class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'MailJob'}), NOW - 200 * 86400))
    agg.add(entry(payload(4, {error_class: 'Net::ReadTimeout', error_message: 'timed out'}), NOW - 3600))
    agg.add(entry(payload(5), NOW - 5))
    agg.finish()
    const s = agg.summary
    expect(s.read).toBe(5)
    expect(s.pastTimeout).toBe(1)
    expect(s.oldest).toMatchObject({jid: '000000000000000000000003', class: 'MailJob', at: new Date((NOW - 200 * 86400) * 1000).toISOString()})
    expect(s.newest?.jid).toBe('000000000000000000000005')
    expect(s.ageHistogram.map((b) => b.count)).toEqual([2, 1, 1, 0, 0, 0, 1])
    expect(s.topClasses).toEqual([
      {class: 'HardJob', count: 4},
      {class: 'MailJob', count: 1},
    ])
    expect(s.topQueues).toEqual([
      {queue: 'mailers', count: 3},
      {queue: 'default', count: 2},
    ])
    // "boom for user 1001" … "1005" differ only in numbers: one group, first and last seen.
    expect(s.topErrors[0]).toEqual({
      errorClass: 'RuntimeError',
      message: 'boom for user 1001',
      count: 4,
      firstSeen: new Date((NOW - 200 * 86400) * 1000).toISOString(),
      lastSeen: new Date((NOW - 5) * 1000).toISOString(),
    })
    expect(s.topErrors[1]).toMatchObject({errorClass: 'Net::ReadTimeout', count: 1})
    expect(agg.findings).toEqual([])
  })

  it('corrupt entries become dead/corrupt-entry findings with the score, never an exception', () => {
    const agg = aggregate(3)
    for (const bad of ['not json', '[1,2]', '{"class":"NoJid"}']) agg.add(entry(bad, NOW - 1))
    agg.finish()
    expect(agg.summary.corrupt).toBe(3)
    const found = agg.findings.filter((f) => f.check === 'dead/corrupt-entry')
    expect(found).toHaveLength(3)
    expect(found[0]).toMatchObject({severity: 'error', subject: {key: 'dead', score: String(NOW - 1)}, evidence: {preview: 'not json'}})
  })

  it('a jid in two different entries is a duplicate; the same entry read twice is not', () => {
    const agg = aggregate(4)
    const a = payload(7)
    agg.add(entry(a, NOW - 100))
    agg.add(entry(a, NOW - 100)) // a re-read (ranks shifted)
    agg.add(entry(payload(8), NOW - 50))
    agg.add(entry(payload(8, {error_message: 'again'}), NOW - 40))
    agg.finish()
    expect(agg.summary.duplicateJids).toBe(1)
    const dup = agg.findings.find((f) => f.check === 'dead/duplicate-jid')
    expect(dup).toMatchObject({severity: 'warn', subject: {jid: '000000000000000000000008'}, evidence: {copies: 2}})
  })

  it('retry: 0 jobs carrying retried_at are counted as manual retries that died again', () => {
    const agg = aggregate(3)
    agg.add(entry(payload(1, {retried_at: NOW - 5}), NOW - 5))
    agg.add(entry(payload(2, {retry: 5, retry_count: 5, retried_at: NOW - 5}), NOW - 5))
    agg.add(entry(payload(3), NOW - 5))
    agg.finish()
    expect(agg.summary.loopSignals.retriedRetry0).toBe(1)
    expect(agg.manualRetries.map((m) => m.jid)).toEqual(['000000000000000000000001'])
  })

  it('caps per-check findings and counts the rest', () => {
    const agg = aggregate(60)
    for (let i = 0; i < 60; i++) agg.add(entry(`garbage ${i}`, NOW - i))
    agg.finish()
    expect(agg.findings.filter((f) => f.check === 'dead/corrupt-entry')).toHaveLength(50)
    expect(agg.summary.unlisted).toEqual({'dead/corrupt-entry': 10})
  })

  it('a quarantine left behind is an error', () => {
    const agg = aggregate(0)
    agg.finish(12)
    expect(agg.findings[0]).toMatchObject({check: 'dead/quarantined', severity: 'error', evidence: {quarantined: 12}})
  })

  it('normalizes numbers and ids out of messages', () => {
    expect(normalizeMessage('User 12 not found (req 0a1b2c3d4e5f)')).toBe(normalizeMessage('User 9 not found (req ffffeeee0000)'))
  })
})

describe('job filters', () => {
  const jobs = [
    entry(payload(1), NOW - 10 * 86400),
    entry(payload(2, {class: 'Wrapper', wrapped: 'MailJob', error_class: 'Net::ReadTimeout', error_message: 'Timed out'}), NOW - 3600),
    entry('not json', NOW - 60),
  ]
  const pick = (spec: Parameters<typeof compileJobFilter>[0]) => jobs.filter(compileJobFilter(spec, NOW)).map((e) => (e.parsed.ok ? e.parsed.job.jid.slice(-1) : 'corrupt'))

  it('no filter selects everything, unreadable entries included', () => expect(pick({})).toEqual(['1', '2', 'corrupt']))
  it('--class matches class or wrapped', () => {
    expect(pick({classes: ['MailJob']})).toEqual(['2'])
    expect(pick({classes: ['Wrapper', 'HardJob']})).toEqual(['1', '2'])
  })
  it('--error: case-insensitive substring of "Class: message", or /regex/flags', () => {
    expect(pick({error: 'readtimeout'})).toEqual(['2'])
    expect(pick({error: 'runtimeerror: boom'})).toEqual(['1'])
    expect(pick({error: '/^Net::.*out$/'})).toEqual(['2'])
    expect(pick({error: '/TIMED/i'})).toEqual(['2'])
    expect(() => errorMatcher('/(unclosed/')).toThrow(FilterError)
  })
  it('--jid, --queue', () => {
    expect(pick({jids: ['000000000000000000000002', 'nope']})).toEqual(['2'])
    expect(pick({queues: ['mailers']})).toEqual(['1'])
  })
  it('--older-than / --newer-than by time of death; ages also judge unreadable entries', () => {
    expect(pick({olderThanSeconds: 86400})).toEqual(['1'])
    expect(pick({newerThanSeconds: 7200})).toEqual(['2', 'corrupt'])
    expect(pick({olderThanSeconds: 30, newerThanSeconds: 7200})).toEqual(['2', 'corrupt'])
  })
  it('--corrupt selects only unreadable entries; job filters never select them', () => {
    expect(pick({corrupt: true})).toEqual(['corrupt'])
    expect(pick({classes: ['HardJob'], corrupt: true})).toEqual([])
  })
  it('describes itself for the prompt', () => {
    expect(describeFilter({classes: ['A', 'B'], error: '/x/', olderThanSeconds: 60}, (s) => `${s}s`)).toBe('class A or B, error /x/, older than 60s')
    expect(describeFilter({}, String)).toBe('every entry')
  })
})

describe('spliceTopLevel', () => {
  const RAW = '{"retry":0,"queue":"default","class":"HardJob","args":[123456789012345678901234567890,9007199254740993,1.50,{"retry_count":7,"enqueued_at":"nested"},"a \\"quoted\\" } { ] [ \\u00e9"],"jid":"b4a577edbccf1d805744efa9","enqueued_at":1713484819.0,"retry_count":0,"error_message":"x"}'

  it('changes only the top-level values: every other byte stays as written', () => {
    const out = spliceTopLevel(RAW, {retry_count: '-1', enqueued_at: '1795000000.125'})!
    expect(out).toBe(RAW.replace('"enqueued_at":1713484819.0', '"enqueued_at":1795000000.125').replace('"retry_count":0,', '"retry_count":-1,'))
    // The same values a full lossless re-serialisation gives.
    expect(JSON.parse(out)).toEqual(JSON.parse(rewriteJob(RAW, {retry_count: -1, enqueued_at: 1795000000.125})))
  })

  it('appends a missing key, and handles spacing and an empty object', () => {
    expect(spliceTopLevel('{ "a" : 1 }', {b: '2'})).toBe('{ "a" : 1 ,"b":2}')
    expect(spliceTopLevel('{}', {b: '2'})).toBe('{"b":2}')
  })

  it('reads escapes: a value ending in a backslash, a quote inside a string, an escaped key', () => {
    const raw = String.raw`{"k":"ends in \\","q":"say \"retry_count\":5","retry_count":0}`
    expect(spliceTopLevel(raw, {retry_count: '-1'})).toBe(raw.replace('"retry_count":0}', '"retry_count":-1}'))
    expect(JSON.parse(spliceTopLevel(raw, {retry_count: '-1'})!)).toEqual({...JSON.parse(raw), retry_count: -1})
    expect(spliceTopLevel(String.raw`{"a":1,"b":2}`, {a: '3'})).toBe(String.raw`{"a":3,"b":2}`)
  })

  it('gives up (undefined) on anything it cannot read with certainty', () => {
    for (const raw of ['{"a":1,"a":2}', String.raw`{"a":1,"a":2}`, '{"a":1} x', '[1]', '{"a":', 'nope', '{"a":"open}']) expect(spliceTopLevel(raw, {b: '1'}), raw).toBeUndefined()
  })
})

describe('LoopWatch', () => {
  it('counts a jid that comes back with a larger score as a re-death', () => {
    const w = new LoopWatch()
    const a = (score: number, msg = 'x') => ({member: payload(1, {error_message: msg, retried_at: score}), score, scoreText: String(score)})
    const b = {member: payload(2), score: 100, scoreText: '100'}
    w.observeDead([a(100), b], 2)
    w.observeDead([b], 1) // a is being retried
    w.observeDead([a(101, 'y'), b], 2)
    w.observeDead([a(101, 'y'), b], 2) // same death seen again: not another
    w.observeDead([a(102, 'z'), b, {member: 'garbage', score: 103, scoreText: '103'}], 3)
    const looping = w.loopingJobs()
    expect(looping.map((j) => [j.jid, j.reDeaths])).toEqual([['000000000000000000000001', 2]])
    expect(looping[0]!.error).toBe('RuntimeError: z')
    const s = w.summary(500, 40)
    expect(s.deadSize).toEqual({start: 2, end: 3, min: 1, max: 3})
    expect(s).toMatchObject({samples: 5, loopingJobs: 1, reDeaths: 2, failedGrowth: 40, looping: [{jid: '000000000000000000000001', class: 'HardJob', reDeaths: 2}]})
  })

  it('names the connection that never blocks and keeps taking from dead and pushing; not workers, not idle clients', () => {
    const w = new LoopWatch()
    const line = (id: number, cmd: string, idle = 0, flags = 'N', name = '') => `id=${id} addr=10.0.0.${id}:5000 laddr=10.0.0.1:6379 fd=8 name=${name} age=30 idle=${idle} flags=${flags} db=0 sub=0 psub=0 multi=-1 qbuf=0 obl=0 oll=0 omem=0 events=r cmd=${cmd} user=default`
    const rounds = [
      ['exec', 'brpop', 'lpush', 'zadd'],
      ['lpush', 'exec', 'lpush', 'get'],
      ['zrange', 'brpop', 'sadd', 'get'],
      ['exec', 'exec', 'lpush', 'get'],
    ]
    w.observeDead([{member: payload(1), score: 1, scoreText: '1'}], 1)
    for (const [driver, worker, producer, idle] of rounds) {
      w.observeClients(
        parseClientList([line(1, driver!, 0, 'N', 'console'), line(2, worker!, 0, worker === 'brpop' ? 'b' : 'N'), line(3, producer!, 0), line(4, idle!, 9), line(5, 'client|list')].join('\n')),
        '5',
      )
    }
    w.observeDead([{member: payload(1, {x: 1}), score: 2, scoreText: '2'}], 1)
    const drivers = w.summary(10).drivers
    // 1 takes (zrange/exec) and pushes; 2 blocks (a worker); 3 only pushes (a producer); 4 is idle; 5 is us.
    expect(drivers.map((d) => [d.id, d.name, d.activeSamples, d.samples])).toEqual([['1', 'console', 4, 4]])
    expect(drivers[0]!.commands.sort()).toEqual(['exec', 'lpush', 'zrange'])
  })

  it('names no driver when nothing died again', () => {
    const w = new LoopWatch()
    w.observeClients(parseClientList('id=1 addr=a:1 name= age=3 idle=0 flags=N db=0 cmd=lpush\n'), undefined)
    w.observeClients(parseClientList('id=1 addr=a:1 name= age=3 idle=0 flags=N db=0 cmd=exec\n'), undefined)
    expect(w.summary(10).drivers).toEqual([])
    expect(w.drivers().map((d) => d.id)).toEqual(['1'])
  })
})

describe('static loop signals', () => {
  it('queued copies with retry_count -1 (and retried_at: a second lap) from manual retries', () => {
    const jobs = [payload(1, {retry_count: -1}), payload(2, {retry_count: -1, retried_at: NOW}), payload(3, {retry_count: 4}), payload(4)].map(parseJob)
    const s = queuedRetrySignals(jobs)
    expect(s.manual.map((x) => x.jid.slice(-1))).toEqual(['1', '2'])
    expect(s.repeated.map((x) => x.jid.slice(-1))).toEqual(['2'])
  })

  it('one dead/retry-loop error per jid, strongest signal first, carrying subject and evidence', () => {
    const live = [{jid: 'a'.repeat(24), class: 'HardJob', reDeaths: 3, perMinute: 60, lastDiedAt: 'x', error: 'E: m'}]
    const sighting = (jid: string) => ({jid, class: 'HardJob', score: 1})
    const findings = loopFindings({live, repeated: [sighting('b'.repeat(24))], diedAgain: [sighting('a'.repeat(24)), sighting('c'.repeat(24))], inFlight: [sighting('b'.repeat(24))]}, 'fix it')
    expect(findings.map((f) => [f.subject?.jid, f.severity, f.evidence?.signal])).toEqual([
      ['a'.repeat(24), 'error', 're-died-in-window'],
      ['b'.repeat(24), 'error', 'retried-again-after-re-death'],
      ['c'.repeat(24), 'error', 'manual-retry-died-again'],
    ])
    expect(findings[0]!.evidence).toMatchObject({reDeaths: 3, signals: ['manual-retry-died-again']})
    expect(findings[1]!.evidence).toMatchObject({signals: ['manual-retry-in-flight']})
  })
})
