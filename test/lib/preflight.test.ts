// The preflight's judgement over facts of both servers (the e2e test covers real replicas; these
// cover what a test machine cannot stage: versions, lag, managed services without CONFIG).
import {describe, expect, it} from 'vitest'

import {evaluatePreflight, type PreflightInput, type PreflightSide} from '../../src/lib/checks/preflight.js'
import type {ServerFacts} from '../../src/lib/redis/server-info.js'
import {SNAPSHOT_FAMILIES} from '../../src/lib/sidekiq/snapshot-families.js'

const counts = (queued = 10) => Object.fromEntries(SNAPSHOT_FAMILIES.map((f) => [f, {keys: 1, items: f === 'queues' ? queued : 1}])) as PreflightSide['counts']

function side(url: string, host: string, port: number, info: Record<string, string>, config: ServerFacts['config'] = {}, unavailable: ServerFacts['configUnavailable'] = {}): PreflightSide {
  return {url, host, port, addresses: [host], facts: {info: {redis_version: '7.0.15', used_memory: '1000000', ...info}, config, configUnavailable: unavailable}, counts: counts()}
}

/** A primary and a replica in sync, every item passing; `change` alters it. */
function input(change: (i: PreflightInput) => void = () => {}): PreflightInput {
  const i: PreflightInput = {
    source: side('redis://old:6379/0', 'old.internal', 6379, {role: 'master', master_replid: 'abc', master_repl_offset: '500', slave0: 'ip=10.0.0.9,port=6380,state=online,offset=500,lag=0'}),
    target: side(
      'redis://:***@new:6380/0',
      'new.internal',
      6380,
      {role: 'slave', master_host: '10.0.0.5', master_port: '6379', master_link_status: 'up', master_sync_in_progress: '0', master_last_io_seconds_ago: '1', master_replid: 'abc'},
      {'maxmemory-policy': 'noeviction', maxmemory: '0', save: '3600 1', appendonly: 'no'},
    ),
    masterAddresses: ['10.0.0.5'],
    sourceOffset: 500,
    targetOffset: 500,
    sidekiqVersions: [],
  }
  i.source.addresses = ['old.internal', '10.0.0.5']
  i.target.addresses = ['new.internal', '10.0.0.9']
  change(i)
  return i
}

const statuses = (i: PreflightInput) => Object.fromEntries(evaluatePreflight(i).summary.items.map((x) => [x.item, x.status]))

describe('evaluatePreflight', () => {
  it('passes a caught-up replica whose primary address resolves to the source', () => {
    const {summary, findings} = evaluatePreflight(input())
    expect(summary.safe).toBe(true)
    expect(findings).toEqual([])
    expect(summary.items.map((x) => x.item)).toEqual(['replica-of-source', 'link-up', 'caught-up', 'version', 'maxmemory-policy', 'maxmemory', 'persistence', 'key-counts'])
  })

  it('recognises the target from the source’s replica list alone (NAT: master_host is another name)', () => {
    expect(statuses(input((i) => (i.masterAddresses = ['172.17.0.1'])))['replica-of-source']).toBe('pass')
    expect(statuses(input((i) => {
      i.masterAddresses = ['172.17.0.1']
      i.source.facts.info.slave0 = 'ip=10.9.9.9,port=6380,state=online,offset=500,lag=0'
    }))['replica-of-source']).toBe('fail')
  })

  it('fails a replica that is behind, in bytes or in seconds', () => {
    const bytes = evaluatePreflight(input((i) => (i.targetOffset = 480)))
    expect(bytes.summary.lag).toEqual({bytes: 20, seconds: 0})
    expect(bytes.findings.map((f) => f.check)).toEqual(['preflight/caught-up'])
    expect(statuses(input((i) => (i.source.facts.info.slave0 = 'ip=10.0.0.9,port=6380,state=online,offset=500,lag=30')))['caught-up']).toBe('fail')
  })

  it('accepts the same major or an upgrade, refuses a downgrade and a Redis too old for the Sidekiq in use', () => {
    const v = (from: string, to: string, sidekiq: string[] = []) =>
      statuses(input((i) => {
        i.source.facts.info.redis_version = from
        i.target.facts.info.redis_version = to
        i.sidekiqVersions = sidekiq
      })).version
    expect(v('7.0.15', '7.2.4')).toBe('pass')
    expect(v('6.2.14', '7.2.4')).toBe('pass')
    expect(v('7.2.4', '7.0.15')).toBe('fail')
    expect(v('6.0.9', '6.0.16', ['7.3.1'])).toBe('fail')
    expect(v('7.0.15', 'weird')).toBe('unknown')
  })

  it('needs maxmemory for the dataset plus headroom, noeviction, and persistence', () => {
    const s = statuses(input((i) => {
      i.target.facts.config = {'maxmemory-policy': 'volatile-lru', maxmemory: '1100000', save: '', appendonly: 'no'}
    }))
    expect(s).toMatchObject({maxmemory: 'fail', 'maxmemory-policy': 'fail', persistence: 'fail'})
    expect(statuses(input((i) => (i.target.facts.config.maxmemory = '1300000'))).maxmemory).toBe('pass')
    expect(statuses(input((i) => (i.target.facts.info.total_system_memory = '1100000'))).maxmemory).toBe('fail')
  })

  it('reports what a managed service hides (CONFIG refused) as unchecked, not as failed', () => {
    const {summary, findings} = evaluatePreflight(input((i) => {
      i.target.facts.config = {}
      i.target.facts.configUnavailable = {'maxmemory-policy': 'unknown command', maxmemory: 'unknown command', save: 'unknown command', appendonly: 'unknown command'}
    }))
    expect(summary.safe).toBe(true)
    expect(summary.unchecked).toEqual(['maxmemory-policy', 'maxmemory', 'persistence'])
    expect(findings.map((f) => `${f.check}:${f.severity}`)).toEqual(['preflight/maxmemory-policy:warn', 'preflight/maxmemory:warn', 'preflight/persistence:warn'])
  })

  it('compares every family on both sides', () => {
    const {findings} = evaluatePreflight(input((i) => (i.target.counts = counts(9))))
    expect(findings.map((f) => f.check)).toEqual(['preflight/key-counts'])
    expect(findings[0]!.message).toContain('queues 1 keys/10 items on the source, 1/9 on the target')
  })
})
