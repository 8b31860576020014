// The shared keyspace pass: client-side glob matching agrees with Redis's own SCAN MATCH, one pass
// serves every registered pattern with the same keys each reader's own SCAN would find, and only
// matched keys are remembered.
import {describe, expect, it} from 'vitest'

import {coveringPattern, globMatcher, literalPrefix} from '../../src/lib/redis/glob.js'
import {KeyspaceIndex, ownScan} from '../../src/lib/redis/keyspace-index.js'
import {collectKeys} from '../../src/lib/redis/scan.js'
import {readFailinfo} from '../../src/lib/sidekiq/failinfo.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {detectNamespaces} from '../../src/lib/sidekiq/namespaces.js'
import {readQueues} from '../../src/lib/sidekiq/queues.js'
import {writeFailinfo} from '../helpers/batch-data.js'
import {useTestDb} from '../helpers/db.js'

const t = useTestDb()

const KEYS = [
  'queue:default',
  'queue:mailers',
  'queue:sq|host:1:abc|default',
  'queues',
  'b-Xy3_k9LmQp2a-w',
  'b-Xy3_k9LmQp2a-w-failinfo',
  'b-Xy3_k9LmQp2a-w-jids',
  'BID-abc',
  'myapp:queues',
  'myapp:queue:default',
  'a*b',
  'a?b',
  'a[b',
  'a\\b',
  'hello',
  'hallo',
  'hxllo',
  'hllo',
  'heeeello',
  'h-llo',
  'h]llo',
  'héllo ✓',
  'line\nbreak',
  '',
]

const PATTERNS = [
  '*',
  'queue:*',
  'b-*-failinfo',
  'h?llo',
  'h*llo',
  'h[ae]llo',
  'h[^e]llo',
  'h[a-b]llo',
  'h[b-a]llo',
  'h[-]llo',
  'h[\\]]llo',
  'a\\*b',
  'a\\?b',
  'a\\[b',
  'a\\\\b',
  '*:queues',
  'queue:sq|*',
  '*queue:*',
  'h\\ello',
  '[hb]*',
  'h[]llo',
  'h[^]llo',
  '*\n*',
  '?',
]

describe('glob matching', () => {
  it('matches exactly the keys Redis SCAN MATCH returns, for every pattern', async () => {
    const redis = t.db.redis
    for (const key of KEYS.filter(Boolean)) await redis.set(key, '1')
    const conn = t.conn()
    for (const pattern of PATTERNS) {
      const byRedis = (await collectKeys(conn, {match: pattern})).sort()
      const byUs = KEYS.filter(Boolean).filter(globMatcher(pattern)).sort()
      expect(byUs, `pattern ${JSON.stringify(pattern)}`).toEqual(byRedis)
    }
  })

  it('covers several patterns with one MATCH on their common literal prefix', () => {
    expect(literalPrefix('myapp:queue:*')).toBe('myapp:queue:')
    expect(literalPrefix('a\\*b')).toBe('a')
    expect(coveringPattern(['myapp:queue:*', 'myapp:b-*-failinfo'])).toBe('myapp:*')
    expect(coveringPattern(['queue:*', 'b-*-failinfo'])).toBe('*')
    expect(coveringPattern(['b-*', 'b-*-failinfo'])).toBe('b-*')
    expect(coveringPattern([])).toBe('*')
  })
})

describe('KeyspaceIndex', () => {
  it('serves each pattern (with TYPE and keep filters) the keys its own SCAN finds, from one pass', async () => {
    const redis = t.db.redis
    const keys = new SidekiqKeys()
    await redis.lpush('queue:default', '{}')
    await redis.lpush('queue:mailers', '{}')
    await redis.set('queue:not-a-list', 'x')
    await redis.sadd('myapp:queues', 'default')
    await redis.sadd('other:processes', 'h:1:abc')
    await redis.set('other:queues', 'a string, not a set')
    await writeFailinfo(redis, {bid: 'AAAAAAAAAAAAAA', entries: 3})
    await writeFailinfo(redis, {bid: 'BBBBBBBBBBBBBB', entries: 2, parent: {createdAt: '1700000000.0'}})
    // Noise the pass must not remember.
    for (let i = 0; i < 500; i++) await redis.set(`cache:${i}`, 'x')

    const conn = t.conn()
    const index = new KeyspaceIndex(conn)
    const patterns = [{match: keys.queuePattern, type: 'list'}, {match: keys.failinfoPattern}, {match: '*:*', type: 'set', keep: (k: string) => k.endsWith(':queues') || k.endsWith(':processes')}]
    for (const p of patterns) index.register(p)
    index.register({match: keys.queuePattern, type: 'list'}) // twice: harmless
    expect(index.patterns).toHaveLength(3)
    await index.scan({count: 100})
    // Only matched keys are remembered: 3 queue:* + 2 failinfo + 3 marker keys (type is checked when served).
    expect(index.progress.keys).toBe(3 + 2 + 3)
    for (const p of patterns) {
      const served: string[] = []
      for await (const page of index.source(p)) served.push(...page)
      const own = await collectKeys(conn, p)
      expect(served.sort(), p.match).toEqual(own.sort())
    }
  })

  it('gives readQueues, readFailinfo and detectNamespaces the same results as their own scans', async () => {
    const redis = t.db.redis
    const keys = new SidekiqKeys()
    await redis.lpush('queue:default', JSON.stringify({class: 'A', jid: 'a'.repeat(24), enqueued_at: 1700000000}))
    await redis.sadd('queues', 'default', 'empty')
    await writeFailinfo(redis, {bid: 'CCCCCCCCCCCCCC', entries: 4, parent: {createdAt: '1700000000.0'}, failedKey: true})
    const conn = t.conn()
    const index = new KeyspaceIndex(conn)
    index.register({match: keys.queuePattern, type: 'list'})
    index.register({match: keys.failinfoPattern})
    await index.scan()
    const shared = await readQueues(conn, keys, {source: index.source})
    const own = await readQueues(conn, keys, {source: ownScan(conn)})
    expect(shared.queues.map((q) => [q.name, q.size, q.registered])).toEqual(own.queues.map((q) => [q.name, q.size, q.registered]))
    expect(shared.queues.map((q) => q.name)).toEqual(['default', 'empty'])
    const collect = async (source = ownScan(conn)) => {
      const out = []
      for await (const batch of readFailinfo(conn, keys, {source})) out.push(...batch)
      return out.map((k) => [k.key, k.entries, k.parent.exists])
    }
    expect(await collect(index.source)).toEqual(await collect())
    expect(await detectNamespaces(conn, keys, undefined, index.source)).toEqual([])
  })

  it('refuses a pattern that was not registered (a programming error, not an empty result)', async () => {
    const index = new KeyspaceIndex(t.conn())
    index.register({match: 'queue:*'})
    await index.scan()
    const read = async () => {
      for await (const _ of index.source({match: 'b-*'})) {
        // nothing
      }
    }
    await expect(read()).rejects.toThrow(/not registered/)
  })
})
