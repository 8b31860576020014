import {describe, expect, it} from 'vitest'

import {evaluateServer} from '../../src/lib/checks/server.js'
import type {ServerFacts} from '../../src/lib/redis/server-info.js'

function facts(info: Record<string, string> = {}, config: ServerFacts['config'] = {}, unavailable: ServerFacts['configUnavailable'] = {}): ServerFacts {
  return {
    info: {redis_version: '7.0.15', redis_mode: 'standalone', role: 'master', used_memory: '1000', evicted_keys: '0', rejected_connections: '0', ...info},
    config: {'maxmemory-policy': 'noeviction', maxmemory: '0', save: '3600 1', appendonly: 'no', timeout: '0', 'tcp-keepalive': '300', maxclients: '10000', ...config},
    configUnavailable: unavailable,
  }
}

const checks = (f: ServerFacts, versions?: string[]) => evaluateServer(f, versions).findings.map((x) => `${x.check}:${x.severity}`)

describe('evaluateServer', () => {
  it('finds nothing on a healthy server', () => {
    expect(checks(facts())).toEqual([])
  })

  it('flags an evicting maxmemory-policy as an error', () => {
    expect(checks(facts({}, {'maxmemory-policy': 'allkeys-lru'}))).toEqual(['redis/maxmemory-policy:error'])
  })

  it('grades memory pressure', () => {
    expect(checks(facts({used_memory: '85'}, {maxmemory: '100'}))).toEqual(['redis/memory-pressure:warn'])
    expect(checks(facts({used_memory: '99'}, {maxmemory: '100'}))).toEqual(['redis/memory-pressure:error'])
    expect(checks(facts({used_memory: '10'}, {maxmemory: '100'}))).toEqual([])
  })

  it('reports evictions, rejected connections, cluster mode and missing persistence', () => {
    expect(checks(facts({evicted_keys: '12'}))).toEqual(['redis/evicted-keys:error'])
    expect(checks(facts({rejected_connections: '3'}))).toEqual(['redis/rejected-connections:warn'])
    expect(checks(facts({cluster_enabled: '1'}))).toEqual(['redis/cluster-mode:error'])
    expect(checks(facts({}, {save: '', appendonly: 'no'}))).toEqual(['redis/persistence:warn'])
    expect(checks(facts({}, {save: '', appendonly: 'yes'}))).toEqual([])
    expect(checks(facts({}, {'tcp-keepalive': '0'}))).toEqual(['redis/tcp-keepalive:warn'])
  })

  it('judges the version against Sidekiq minimums', () => {
    expect(checks(facts({redis_version: '3.2.12'}))).toEqual(['redis/version:error'])
    expect(checks(facts({redis_version: '5.0.7'}))).toEqual(['redis/version:warn'])
    expect(evaluateServer(facts({redis_version: '6.2.0'})).summary.sidekiqSupported).toEqual({'6': true, '7': true, '8': false})
    // A live Sidekiq 8 process on Redis 6.2 is an error, not a future worry.
    expect(checks(facts({redis_version: '6.2.0'}), ['8.0.1'])).toEqual(['redis/version:error'])
  })

  it('falls back to INFO when CONFIG is forbidden and says what it could not check', () => {
    const denied = 'ERR unknown command CONFIG'
    const f: ServerFacts = {
      info: {redis_version: '7.0.15', role: 'master', used_memory: '50', maxmemory: '100', maxmemory_policy: 'volatile-lru', aof_enabled: '0'},
      config: {},
      configUnavailable: {'maxmemory-policy': denied, maxmemory: denied, save: denied, appendonly: denied, timeout: denied, 'tcp-keepalive': denied, maxclients: denied},
    }
    const {summary, findings} = evaluateServer(f)
    expect(summary.maxmemoryPolicy).toBe('volatile-lru')
    expect(summary.maxmemoryBytes).toBe(100)
    expect(findings.map((x) => x.check)).toContain('redis/maxmemory-policy')
    expect(summary.unchecked.sort()).toEqual(['tcp-keepalive', 'timeout'])
    expect(findings.filter((x) => x.check === 'redis/unchecked').map((x) => x.subject?.check)).toEqual(['tcp-keepalive', 'timeout'])
  })

  it('reports replica lag on a primary and a replica with a broken link', () => {
    const primary = facts({connected_slaves: '1', master_repl_offset: '50000000', slave0: 'ip=10.0.0.2,port=6380,state=online,offset=100,lag=30'})
    const r = evaluateServer(primary)
    expect(r.summary.replicas).toEqual([{address: '10.0.0.2:6380', state: 'online', lagSeconds: 30, lagBytes: 49999900}])
    expect(r.findings.map((x) => x.check)).toEqual(['redis/replication-lag'])
    const replica = facts({role: 'slave', master_host: '10.0.0.1', master_port: '6379', master_link_status: 'down', slave_read_only: '1'})
    expect(checks(replica)).toEqual(['redis/replication-lag:error', 'redis/replica:error'])
  })
})
