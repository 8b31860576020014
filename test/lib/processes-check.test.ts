// The process checks over hand-built heartbeats, measured against a fixed Redis clock.
import {describe, expect, it} from 'vitest'

import {beatIntervalSeconds, DEFAULT_PROCESS_THRESHOLDS, evaluateProcesses, MAX_FINDINGS_PER_CHECK} from '../../src/lib/checks/processes.js'
import type {PrivateQueue} from '../../src/lib/sidekiq/private-queues.js'
import type {ProcessState} from '../../src/lib/sidekiq/processes.js'
import type {WorkEntry} from '../../src/lib/sidekiq/work.js'

const NOW = 1_800_000_000

function proc(identity: string, over: Partial<ProcessState> = {}): ProcessState {
  return {
    identity,
    alive: true,
    ttlMs: 58_000,
    hostname: identity.split(':')[0],
    pid: Number(identity.split(':')[1]),
    concurrency: 10,
    busy: 0,
    beat: NOW - 2,
    quiet: false,
    startedAt: NOW - 3600,
    rssKb: 204_800,
    rttUs: 350,
    problems: [],
    work: [],
    ...over,
  }
}

function work(jid: string, runAt: number, klass = 'HardJob'): WorkEntry {
  return {tid: `t${jid}`, queue: 'default', runAt, payload: {ok: true, job: {jid, class: klass, displayClass: klass, queue: 'default', fields: {}}}}
}

const checks = (r: ReturnType<typeof evaluateProcesses>) => r.findings.map((f) => f.check)

describe('evaluateProcesses', () => {
  it('a healthy fleet: rows with heartbeat age on the Redis clock and no findings', () => {
    const r = evaluateProcesses({processes: [proc('web-1:101:aaa', {busy: 3, tag: 'app', version: '7.2.4'})], nowSeconds: NOW, privateQueues: []})
    expect(r.findings).toEqual([])
    expect(r.summary.processes[0]).toEqual({
      identity: 'web-1:101:aaa',
      hostname: 'web-1',
      pid: 101,
      tag: 'app',
      version: '7.2.4',
      concurrency: 10,
      busy: 3,
      quiet: false,
      beatAgeSeconds: 2,
      heartbeatTtlSeconds: 58,
      uptimeSeconds: 3600,
      rssKb: 204_800,
      rttUs: 350,
      workEntries: 0,
      stale: false,
      late: false,
    })
    expect(r.summary).toMatchObject({total: 1, alive: 1, stale: 0, concurrency: 10, busy: 3, versions: ['7.2.4'], stuckJobs: [], privateQueues: []})
  })

  it('process/stale-heartbeat for a member whose hash is gone, with the jobs its leftover work held', () => {
    const dead = proc('web-2:202:bbb', {alive: false, ttlMs: undefined, beat: undefined, hostname: undefined, pid: undefined, work: [work('j-lost', NOW - 30)]})
    const r = evaluateProcesses({processes: [proc('web-1:101:aaa'), dead], nowSeconds: NOW, privateQueues: []})
    expect(checks(r)).toEqual(['process/stale-heartbeat'])
    const f = r.findings[0]!
    expect(f).toMatchObject({severity: 'warn', subject: {identity: 'web-2:202:bbb'}, fix: 'qdoctor processes --prune'})
    expect(f.evidence).toMatchObject({workEntries: 1, lostJobs: [{jid: 'j-lost', class: 'HardJob', queue: 'default'}]})
    expect(r.summary.processes[1]).toMatchObject({stale: true, beatAgeSeconds: null, quiet: null})
    expect(r.summary).toMatchObject({total: 2, alive: 1, stale: 1})
    // A dead process's work is lost, not stuck.
    expect(r.summary.stuckJobs).toEqual([])
  })

  it('process/heartbeat-late from the TTL (Redis clock), not fooled by a skewed process clock', () => {
    // TTL says the last beat was 35 s ago: late (limit 2 × 10 s).
    const late = proc('a:1:x', {ttlMs: 25_000, beat: NOW - 35})
    // Process clock 2 minutes behind, but the TTL shows a beat 1 s ago: not late.
    const skewed = proc('b:2:y', {ttlMs: 59_000, beat: NOW - 120})
    const r = evaluateProcesses({processes: [late, skewed], nowSeconds: NOW, privateQueues: []})
    expect(checks(r)).toEqual(['process/heartbeat-late'])
    expect(r.findings[0]!.subject).toEqual({identity: 'a:1:x'})
    expect(r.findings[0]!.evidence).toMatchObject({ttlBeatAgeSeconds: 35, beatIntervalSeconds: 10})
    expect(r.summary.processes.map((p) => p.late)).toEqual([true, false])
    expect(r.summary.processes[1]!.beatAgeSeconds).toBe(120)
  })

  it('without a TTL, the beat field decides lateness; 6.x-versioned heartbeats use the 5 s interval', () => {
    expect(beatIntervalSeconds('6.5.12')).toBe(5)
    expect(beatIntervalSeconds('8.1.7')).toBe(10)
    expect(beatIntervalSeconds(undefined)).toBe(10)
    const r = evaluateProcesses({processes: [proc('a:1:x', {ttlMs: undefined, beat: NOW - 25}), proc('b:2:y', {ttlMs: undefined, beat: NOW - 15})], nowSeconds: NOW, privateQueues: []})
    expect(r.findings.map((f) => f.subject?.identity)).toEqual(['a:1:x'])
  })

  it('process/stuck-quiet for a quiet process with nothing left to finish; a draining one is fine', () => {
    const idleQuiet = proc('a:1:x', {quiet: true, busy: 0})
    const draining = proc('b:2:y', {quiet: true, busy: 1, work: [work('j1', NOW - 60)]})
    const r = evaluateProcesses({processes: [idleQuiet, draining], nowSeconds: NOW, privateQueues: []})
    expect(checks(r)).toEqual(['process/stuck-quiet'])
    expect(r.findings[0]).toMatchObject({severity: 'warn', subject: {identity: 'a:1:x'}})
    expect(r.findings[0]!.fix).toContain('kill -TERM 1')
  })

  it('process/stuck-job at --stuck-after, with jid, owner and run_at; younger jobs are not reported', () => {
    const p = proc('a:1:x', {busy: 2, work: [work('old', NOW - 7200, 'ReportJob'), work('young', NOW - 60)]})
    const r = evaluateProcesses({processes: [p], nowSeconds: NOW, privateQueues: []}, {...DEFAULT_PROCESS_THRESHOLDS, stuckAfterSeconds: 3600})
    expect(checks(r)).toEqual(['process/stuck-job'])
    expect(r.findings[0]).toMatchObject({
      severity: 'warn',
      subject: {jid: 'old', identity: 'a:1:x'},
      evidence: {runAt: NOW - 7200, runningSeconds: 7200, class: 'ReportJob', queue: 'default', startedAt: new Date((NOW - 7200) * 1000).toISOString()},
    })
    expect(r.findings[0]!.message).toContain('2h')
    expect(r.summary.stuckJobs).toEqual([{jid: 'old', class: 'ReportJob', queue: 'default', identity: 'a:1:x', tid: 'told', runAt: NOW - 7200, runningSeconds: 7200}])
    // A lower threshold catches the younger job too.
    const r2 = evaluateProcesses({processes: [p], nowSeconds: NOW, privateQueues: []}, {...DEFAULT_PROCESS_THRESHOLDS, stuckAfterSeconds: 30})
    expect(r2.summary.stuckJobs.map((j) => j.jid)).toEqual(['old', 'young'])
  })

  it('process/version-mix across live processes only', () => {
    const r = evaluateProcesses(
      {
        processes: [proc('a:1:x', {version: '7.2.4'}), proc('b:2:y', {version: '7.3.10'}), proc('c:3:z', {alive: false, version: '6.5.1'})],
        nowSeconds: NOW,
        privateQueues: [],
      },
      DEFAULT_PROCESS_THRESHOLDS,
    )
    expect(checks(r)).toEqual(['process/stale-heartbeat', 'process/version-mix'])
    expect(r.findings[1]).toMatchObject({subject: {versions: ['7.2.4', '7.3.10']}, evidence: {byVersion: {'7.2.4': ['a:1:x'], '7.3.10': ['b:2:y']}}})
  })

  it('process/orphaned-private-queue for super_fetch and GitLab lists whose owner is gone, with job counts', () => {
    const queues: PrivateQueue[] = [
      {key: 'queue:sq|a:1:x|default', kind: 'super_fetch', identity: 'a:1:x', queue: 'default', publicKey: 'queue:default', jobs: 3, heartbeatKey: 'a:1:x', ownerAlive: true},
      {key: 'queue:sq|gone:9:q|critical', kind: 'super_fetch', identity: 'gone:9:q', queue: 'critical', publicKey: 'queue:critical', jobs: 7, heartbeatKey: 'gone:9:q', ownerAlive: false},
      {key: 'working:queue:mailers:gl:7:abc', kind: 'reliable_fetch', identity: 'gl:7:abc', queue: 'mailers', publicKey: 'queue:mailers', jobs: 1, heartbeatKey: 'reliable-fetcher-heartbeat-gl-7-abc', ownerAlive: false},
    ]
    const r = evaluateProcesses({processes: [proc('a:1:x')], nowSeconds: NOW, privateQueues: queues})
    expect(r.findings.map((f) => [f.check, f.severity, f.subject])).toEqual([
      ['process/orphaned-private-queue', 'error', {key: 'queue:sq|gone:9:q|critical', identity: 'gone:9:q'}],
      ['process/orphaned-private-queue', 'error', {key: 'working:queue:mailers:gl:7:abc', identity: 'gl:7:abc'}],
    ])
    expect(r.findings[0]!.evidence).toMatchObject({jobs: 7, queue: 'critical', kind: 'super_fetch'})
    expect(r.findings[0]!.fix).toContain("LMOVE 'queue:sq|gone:9:q|critical' 'queue:critical' RIGHT LEFT")
    expect(r.summary.privateQueues).toHaveLength(3)
  })

  it('caps findings per check and counts the rest', () => {
    const many = Array.from({length: MAX_FINDINGS_PER_CHECK + 5}, (_, i) => proc(`h:${i}:n`, {alive: false}))
    const r = evaluateProcesses({processes: many, nowSeconds: NOW, privateQueues: []})
    expect(r.findings).toHaveLength(MAX_FINDINGS_PER_CHECK)
    expect(r.summary.unlisted).toEqual({'process/stale-heartbeat': 5})
    expect(r.summary.stale).toBe(MAX_FINDINGS_PER_CHECK + 5)
  })
})
