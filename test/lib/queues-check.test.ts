import {describe, expect, it} from 'vitest'

import {evaluateQueues} from '../../src/lib/checks/queues.js'
import type {QueueState, QueuesRead} from '../../src/lib/sidekiq/queues.js'

function q(partial: Partial<QueueState> & {name: string}): QueueState {
  return {key: `queue:${partial.name}`, size: 1, registered: true, listExists: true, paused: false, ...partial}
}

const read = (queues: QueueState[], anomalies: QueuesRead['anomalies'] = []): QueuesRead => ({queues, nowSeconds: 1000, anomalies})

describe('evaluateQueues', () => {
  it('grades latency by thresholds', () => {
    const t = {latencyWarnSeconds: 60, latencyErrorSeconds: 600}
    expect(evaluateQueues(read([q({name: 'a', latencySeconds: 59})]), t)).toEqual([])
    expect(evaluateQueues(read([q({name: 'a', latencySeconds: 61})]), t).map((f) => f.severity)).toEqual(['warn'])
    expect(evaluateQueues(read([q({name: 'a', latencySeconds: 601})]), t).map((f) => f.severity)).toEqual(['error'])
  })

  it('reports lists missing from the queues set, paused queues and wrong types', () => {
    const findings = evaluateQueues(read([q({name: 'lost', registered: false}), q({name: 'p', paused: true})], [{key: 'queue:x', problem: 'is a hash, not a list'}]))
    expect(findings.map((f) => f.check).sort()).toEqual(['queue/paused', 'queue/unregistered', 'queue/wrong-type'])
  })

  it('does not report a registered name without a list (an empty queue is normal)', () => {
    expect(evaluateQueues(read([q({name: 'empty', size: 0, listExists: false})]))).toEqual([])
  })

  it('reports an unreadable oldest job unless --deep judges every job', () => {
    const bad = q({name: 'a', size: 3, oldest: {ok: false, reason: 'not JSON'}})
    const found = evaluateQueues(read([bad]))
    expect(found.map((f) => [f.check, f.subject?.index])).toEqual([['queue/corrupt-payload', 2]])
    expect(evaluateQueues(read([bad]), undefined, true)).toEqual([])
  })
})
