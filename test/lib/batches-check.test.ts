// The batch judgement (pure): every inventory check, every verdict rule, the companion-name readings
// for awkward bids, the fetcher key parsers, the repair planners and the recreated payload.
import {describe, expect, it} from 'vitest'

import {BatchesJudge, judgeJid} from '../../src/lib/checks/batches.js'
import {planForget, planPurgeOrphans, planRecreate, planRescue} from '../../src/lib/repairs/plans/batches.js'
import {type BatchRecord, type CompanionKey, companionReadings} from '../../src/lib/sidekiq/batches.js'
import type {JidObservation} from '../../src/lib/sidekiq/ghost-hunt.js'
import type {Container, Sighting} from '../../src/lib/sidekiq/job-locator.js'
import {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import {buildJobPayload} from '../../src/lib/sidekiq/new-job.js'

const NOW = 1_800_000_000
const keys = new SidekiqKeys()

function batch(over: Partial<BatchRecord> = {}): BatchRecord {
  const bid = over.bid ?? 'Bid_0000000001'
  return {
    layout: 'pro',
    bid,
    key: `b-${bid}`,
    ttlMs: 86_400_000,
    fieldCount: 4,
    fields: {created_at: String(NOW - 7200), total: '3', pending: '3', kids: '0'},
    unknownFields: [],
    createdAt: NOW - 7200,
    pending: 3,
    total: 3,
    kids: 0,
    badNumbers: {},
    fragment: false,
    jids: {key: `b-${bid}-jids`, type: 'set', size: 3, pttl: 86_400_000},
    inDiedSet: false,
    indexed: true,
    ...over,
  }
}

function judge(options: Partial<ConstructorParameters<typeof BatchesJudge>[0]> = {}, only?: Set<string>): BatchesJudge {
  return new BatchesJudge({nowSeconds: NOW, staleAfterSeconds: 86_400, minAgeSeconds: 300, maxFindingsPerCheck: 100, ...options}, only)
}

function checks(j: BatchesJudge): string[] {
  return j.finish().map((f) => `${f.check}:${String(f.subject?.bid ?? f.subject?.key ?? '')}`)
}

const container = (kind: Container['kind'], key: string, extra: Partial<Container> = {}): Container => ({kind, key, ...extra})
const seen = (c: Container): Sighting => ({container: c})
const obs = (first: Sighting[], extra: Partial<JidObservation> = {}): JidObservation => ({jid: 'j'.repeat(24), batch: batch(), first, ...extra})

describe('inventory checks', () => {
  it('a healthy batch yields no finding and is judged', () => {
    const j = judge()
    j.add({kind: 'batch', batch: batch()})
    expect(checks(j)).toEqual([])
    expect(j.judged.map((b) => b.bid)).toEqual(['Bid_0000000001'])
    expect(j.summary).toMatchObject({batches: 1, pendingBatches: 1, pendingJobs: 3, pendingJids: 3})
  })

  it('negative pending, counter drift (empty set, mismatch), fragment, stale, dead', () => {
    const j = judge()
    j.add({kind: 'batch', batch: batch({bid: 'negative', pending: -2, jids: {key: 'b-negative-jids', type: 'none', size: 0, pttl: -2}})})
    j.add({kind: 'batch', batch: batch({bid: 'emptyset', pending: 4, jids: {key: 'b-emptyset-jids', type: 'none', size: 0, pttl: -2}})})
    j.add({kind: 'batch', batch: batch({bid: 'mismatch', pending: 5})})
    j.add({kind: 'batch', batch: batch({bid: 'frag', fields: {pending: '0', kids: '0', cbdeath: '1'}, createdAt: undefined, total: undefined, pending: 0, fragment: true, ttlMs: -1, jids: {key: 'b-frag-jids', type: 'none', size: 0, pttl: -2}})})
    j.add({kind: 'batch', batch: batch({bid: 'stale', createdAt: NOW - 3 * 86_400})})
    j.add({kind: 'batch', batch: batch({bid: 'died'})})
    j.add({
      kind: 'companion',
      companion: {key: 'b-died-died', layout: 'pro', type: 'set', pttl: 1000, size: 1, candidates: [{bid: 'died', part: 'died', expectedType: 'set'}], typeFits: true, parentExists: true, parentPttl: 1000, bid: 'died', part: 'died'},
    })
    j.add({kind: 'batch', batch: batch({bid: 'deadset', inDiedSet: true})})
    expect(checks(j).sort()).toEqual(
      [
        'batch/negative-pending:negative',
        'batch/counter-drift:emptyset',
        'batch/counter-drift:mismatch',
        'batch/fragment:frag',
        'batch/stale:stale',
        'batch/dead:died',
        'batch/dead:deadset',
      ].sort(),
    )
    expect(j.summary).toMatchObject({negativePending: 1, counterDrift: 2, fragments: 1, stale: 1, dead: 2, noTtl: 1})
  })

  it('a batch younger than --min-age is neither judged for drift nor searched', () => {
    const j = judge()
    j.add({kind: 'batch', batch: batch({createdAt: NOW - 10, pending: 9})})
    expect(checks(j)).toEqual([])
    expect(j.judged).toEqual([])
    expect(j.summary.tooYoung).toBe(1)
  })

  it('orphan companion keys are grouped by bid; a companion without TTL is reported even with its batch', () => {
    const orphan = (key: string, bid: string, part: string, extra: Partial<CompanionKey> = {}): CompanionKey => ({
      key,
      layout: 'pro',
      type: 'set',
      pttl: 5000,
      size: 1,
      candidates: [{bid, part, expectedType: 'set'}],
      typeFits: true,
      parentExists: false,
      bid,
      part,
      ...extra,
    })
    const j = judge()
    j.add({kind: 'companion', companion: orphan('b--gone--jids', '-gone-', 'jids')})
    j.add({kind: 'companion', companion: orphan('b--gone--died', '-gone-', 'died')})
    j.add({kind: 'companion', companion: orphan('b-kept-notify', 'kept', 'notify', {type: 'string', parentExists: true, pttl: -1})})
    j.add({kind: 'companion', companion: orphan('b-fine-jids', 'fine', 'jids', {parentExists: true})})
    const found = j.finish().filter((f) => f.check === 'batch/orphan-keys')
    expect(found.map((f) => [f.subject?.bid, f.subject?.keys])).toEqual([
      ['-gone-', ['b--gone--jids', 'b--gone--died']],
      ['kept', ['b-kept-notify']],
    ])
    expect(j.summary).toMatchObject({orphanKeys: 2, companionsWithoutTtl: 1})
    expect(j.orphanKeys().map((k) => k.key)).toEqual(['b--gone--jids', 'b--gone--died'])
  })

  it('unknown fields and unrecognised keys are reported as info, never as errors', () => {
    const j = judge()
    j.add({kind: 'batch', batch: batch({unknownFields: ['expires_at']})})
    j.add({kind: 'unrecognized', key: {key: 'b-???', type: 'hash', reason: 'a hash whose name does not hold a batch id'}})
    const f = j.finish()
    expect(f.map((x) => [x.check, x.severity])).toEqual([['batch/unrecognized', 'info']])
    expect(f[0]!.evidence).toMatchObject({unknownFields: {expires_at: 1}})
  })

  it('--bid keeps only those batches', () => {
    const j = judge({}, new Set(['wanted']))
    j.add({kind: 'batch', batch: batch({bid: 'wanted'})})
    j.add({kind: 'batch', batch: batch({bid: 'other', pending: -1})})
    expect(checks(j)).toEqual([])
    expect(j.summary.batches).toBe(1)
  })

  it('caps findings per check and counts the rest', () => {
    const j = judge({maxFindingsPerCheck: 2})
    for (let i = 0; i < 5; i++) j.add({kind: 'batch', batch: batch({bid: `neg${i}`, pending: -1})})
    const f = j.finish()
    expect(f.filter((x) => x.check === 'batch/negative-pending')).toHaveLength(2)
    expect(j.summary.unlisted).toEqual({'batch/negative-pending': 3})
    expect(f.some((x) => x.check === 'batch/findings-capped')).toBe(true)
  })
})

describe('verdicts', () => {
  const live = {ownerAlive: true, owner: 'h:1:a', heartbeatKey: 'h:1:a', queue: 'q'}
  const gone = {ownerAlive: false, owner: 'h:2:b', heartbeatKey: 'h:2:b', queue: 'q'}
  it.each([
    ['queue', 'alive', [seen(container('queue', 'queue:q'))]],
    ['schedule', 'alive', [seen(container('schedule', 'schedule'))]],
    ['work', 'alive', [seen(container('work', 'h:1:a:work'))]],
    ['live private queue', 'alive', [seen(container('private-queue', 'queue:sq|h:1:a|q', live))]],
    ['retry', 'waiting-on-retry', [seen(container('retry', 'retry'))]],
    ['dead', 'dead', [seen(container('dead', 'dead'))]],
    ['interrupted', 'dead', [seen(container('interrupted', 'interrupted'))]],
    ['dead private queue', 'stranded', [seen(container('private-queue', 'queue:sq|h:2:b|q', gone))]],
    ['dead working list', 'stranded', [seen(container('working-queue', 'working:queue:q:h:2:b', gone))]],
    ['nowhere', 'ghost', []],
    ['retry and a queue: the most hopeful wins', 'alive', [seen(container('retry', 'retry')), seen(container('queue', 'queue:q'))]],
    ['dead and stranded', 'stranded', [seen(container('dead', 'dead')), seen(container('private-queue', 'queue:sq|h:2:b|q', gone))]],
  ] as const)('%s → %s', (_, verdict, sightings) => {
    expect(judgeJid(obs([...sightings])).verdict).toBe(verdict)
  })

  it('nowhere but in -died is dead, not a ghost', () => {
    expect(judgeJid(obs([], {inDied: true})).verdict).toBe('dead')
  })

  it('the settle pass: found later wins; missing twice with a moving batch or a departed jid is unconfirmed', () => {
    expect(judgeJid(obs([], {second: [seen(container('retry', 'retry'))], batchChanged: false, leftPending: false})).verdict).toBe('waiting-on-retry')
    expect(judgeJid(obs([], {second: [], batchChanged: false, leftPending: false})).verdict).toBe('ghost')
    expect(judgeJid(obs([], {second: [], batchChanged: true, leftPending: false})).verdict).toBe('unconfirmed')
    expect(judgeJid(obs([], {second: [], batchChanged: false, leftPending: true})).verdict).toBe('unconfirmed')
    const strandedThenGone = obs([seen(container('private-queue', 'queue:sq|h:2:b|q', gone))], {second: [], batchChanged: false, leftPending: false})
    expect(judgeJid(strandedThenGone).verdict).toBe('unconfirmed')
  })

  it('addObservations counts per jid and per batch (worst jid) and lists ghosts and stranded jobs', () => {
    const j = judge()
    const b = batch()
    const strandedContainer = container('private-queue', 'queue:sq|h:2:b|q', gone)
    j.addObservations(
      [
        {jid: 'a'.repeat(24), batch: b, first: [seen(container('queue', 'queue:q'))]},
        {jid: 'b'.repeat(24), batch: b, first: []},
        {jid: 'c'.repeat(24), batch: b, first: [{container: strandedContainer, raw: '{"jid":"ccc"}'}]},
      ],
      {passes: 1, settleMs: 0},
    )
    expect(j.summary.verdicts).toEqual({alive: 1, 'waiting-on-retry': 0, dead: 0, stranded: 1, ghost: 1, unconfirmed: 0})
    expect(j.summary.batchVerdicts).toMatchObject({ghost: 1})
    expect(j.ghosts.map((o) => o.jid)).toEqual(['b'.repeat(24)])
    expect(j.stranded.map((s) => s.sighting.container.key)).toEqual(['queue:sq|h:2:b|q'])
    const f = j.finish()
    expect(f.map((x) => [x.check, x.severity])).toEqual([
      ['batch/ghost-job', 'error'],
      ['batch/stranded-job', 'warn'],
    ])
    expect(f[1]!.evidence).toMatchObject({key: 'queue:sq|h:2:b|q', owner: 'h:2:b', heartbeatKey: 'h:2:b'})
  })
})

describe('key names', () => {
  it('a companion name is read back to its bid by stripping a known suffix, never by splitting on "-"', () => {
    expect(companionReadings('pro', 'Pro7OldBatch_--jids')).toEqual([{bid: 'Pro7OldBatch_-', part: 'jids', expectedType: 'set'}])
    expect(companionReadings('pro', '--a-b--died')).toEqual([{bid: '--a-b-', part: 'died', expectedType: 'set'}])
    // "-callbacks-complete" reads two ways in the sidekiq-batch layout; both are kept.
    expect(companionReadings('sidekiq-batch', 'x1-callbacks-complete').map((c) => [c.bid, c.part]).sort()).toEqual(
      [
        ['x1', 'callbacks-complete'],
        ['x1-callbacks', 'complete'],
      ].sort(),
    )
    expect(companionReadings('pro', 'Batch0004-jids')).toEqual([{bid: 'Batch0004', part: 'jids', expectedType: 'set'}])
    expect(companionReadings('pro', '-jids')).toEqual([])
    expect(companionReadings('pro', 'abc')).toEqual([])
  })

  it('batch key names, with and without a namespace', () => {
    const ns = new SidekiqKeys('my*app')
    expect(ns.batchHash('pro', '-x-')).toBe('my*app:b--x-')
    expect(ns.batchCompanion('sidekiq-batch', '-x-', 'jids')).toBe('my*app:BID--x--jids')
    expect(ns.batchKeysPattern('pro')).toBe('my\\*app:b-*')
    expect(ns.batchKeyTail('my*app:BID--x-')).toEqual({layout: 'sidekiq-batch', tail: '-x-'})
    expect(ns.batchKeyTail('b--x-')).toBeUndefined()
    expect(keys.batchKeyTail('b--x-')).toEqual({layout: 'pro', tail: '-x-'})
  })

  it('super_fetch private queues, GitLab working lists and work keys', () => {
    expect(keys.privateQueue('queue:sq|web.1:42:0a1b2c3d4e5f|mailers')).toEqual({identity: 'web.1:42:0a1b2c3d4e5f', queue: 'mailers'})
    expect(keys.privateQueue('queue:default')).toBeUndefined()
    expect(keys.workingQueue('working:queue:default:host:123:0a1b2c3d4e5f')).toEqual({queue: 'default', identity: 'host:123:0a1b2c3d4e5f'})
    // Legacy `host:pid` identities (no nonce), read as the fetcher's own regexes read them.
    expect(keys.workingQueue('working:queue:a:b:host:123')).toEqual({queue: 'a:b', identity: 'host:123'})
    expect(keys.workingHeartbeat('host:123:0a1b2c3d4e5f')).toBe('reliable-fetcher-heartbeat-host-123-0a1b2c3d4e5f')
    expect(keys.workOwner('host:1:abc:work')).toBe('host:1:abc')
    expect(keys.workOwner('host:1:abc:workers')).toBe('host:1:abc')
    expect(keys.workOwner(':work')).toBeUndefined()
    const ns = new SidekiqKeys('ns')
    expect(ns.privateQueue('ns:queue:sq|h:1:a|q')).toEqual({identity: 'h:1:a', queue: 'q'})
    expect(ns.workingHeartbeat('h:1:a')).toBe('ns:reliable-fetcher-heartbeat-h-1-a')
    expect(ns.workOwner('other:h:1:a:work')).toBeUndefined()
  })
})

describe('repair planners', () => {
  const b = batch({bid: '-bid-'})
  const ghost: JidObservation = {jid: 'f'.repeat(24), batch: b, first: [], second: []}

  it('rescue moves the exact element back to its public queue, guarded by the owner heartbeat', () => {
    const c = container('private-queue', 'queue:sq|h:2:b|mailers', {ownerAlive: false, owner: 'h:2:b', heartbeatKey: 'h:2:b', queue: 'mailers'})
    const plan = planRescue(keys, [{observation: ghost, sighting: {container: c, raw: '{"jid":"x"}'}}])
    expect(plan.actions).toEqual([
      expect.objectContaining({kind: 'lmove', step: 'batch/rescue', from: 'queue:sq|h:2:b|mailers', to: 'queue:mailers', value: '{"jid":"x"}', toEnd: 'left', unlessExists: ['h:2:b']}),
    ])
  })

  it('recreate pushes a Sidekiq-shaped payload with the jid and bid, only while the jid is pending', () => {
    const plan = planRecreate(keys, [ghost, ghost], {jobClass: 'BatchNoopJob', queue: 'low', nowMs: 1_700_000_000_000, unit: 'float-seconds'})
    expect(plan.actions).toHaveLength(1)
    expect(plan.leftOut).toHaveLength(1)
    const a = plan.actions[0]!
    expect(a).toMatchObject({kind: 'lpush', key: 'queue:low', registerSet: 'queues', registerMember: 'low', onlyIfMember: {key: 'b--bid--jids', member: ghost.jid}})
    expect(a.value).toBe(`{"retry":true,"queue":"low","class":"BatchNoopJob","args":[],"jid":"${ghost.jid}","created_at":1700000000.000,"enqueued_at":1700000000.000,"bid":"-bid-"}`)
  })

  it('forget removes the jid and lowers pending in one action; a layout without a pending field is left out', () => {
    const plan = planForget([ghost, {...ghost, batch: batch({bid: 'pro1', fields: {total: '1'}})}])
    expect(plan.actions).toEqual([expect.objectContaining({kind: 'srem', key: 'b--bid--jids', member: ghost.jid, thenHincrby: {key: 'b--bid-', field: 'pending', by: -1}})])
    expect(plan.leftOut).toHaveLength(1)
  })

  it('purge-orphans unlinks only parentless keys of the expected type, guarded by every possible parent', () => {
    const c = (key: string, extra: Partial<CompanionKey>): CompanionKey => ({
      key,
      layout: 'sidekiq-batch',
      type: 'set',
      pttl: -1,
      size: 2,
      candidates: [
        {bid: 'x1', part: 'callbacks-complete', expectedType: 'set'},
        {bid: 'x1-callbacks', part: 'complete', expectedType: 'set'},
      ],
      typeFits: true,
      parentExists: false,
      bid: 'x1',
      part: 'callbacks-complete',
      ...extra,
    })
    const plan = planPurgeOrphans(keys, [c('BID-x1-callbacks-complete', {}), c('BID-y-complete', {type: 'hash', typeFits: false}), c('BID-z-complete', {parentExists: true})])
    expect(plan.actions).toEqual([
      expect.objectContaining({kind: 'unlink', key: 'BID-x1-callbacks-complete', expectType: 'set', unlessExists: ['BID-x1', 'BID-x1-callbacks']}),
    ])
    expect(plan.leftOut).toHaveLength(1)
  })
})

describe('recreated payloads', () => {
  it('float seconds always carry a decimal point (an integer would read as ms in Sidekiq 8); ms are integers', () => {
    const at = (unit: 'float-seconds' | 'integer-milliseconds', nowMs: number) =>
      JSON.parse(buildJobPayload({class: 'A', queue: 'q', jid: 'j', nowMs, unit}).replace(/"created_at":([0-9.]+)/, '"created_at":"$1"')).created_at
    expect(at('float-seconds', 1_700_000_000_000)).toBe('1700000000.000')
    expect(at('float-seconds', 1_700_000_000_123.9)).toBe('1700000000.123')
    expect(at('integer-milliseconds', 1_700_000_000_123.9)).toBe('1700000000123')
  })
})
