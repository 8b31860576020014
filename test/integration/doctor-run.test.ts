// How one doctor run behaves when a family fails or finds things: the failing family is incomplete
// (exit 3) and the others still report; selection filters findings; a baseline marks them known;
// several targets are checked with a bound on concurrency.
import {z} from 'zod'
import {describe, expect, it} from 'vitest'

import type {CheckFamily} from '../../src/lib/checks/families/family.js'
import {selectChecks} from '../../src/lib/checks/families/registry.js'
import {Baseline} from '../../src/lib/doctor/baseline.js'
import {runTarget} from '../../src/lib/doctor/run.js'
import {mapLimit} from '../../src/lib/doctor/targets.js'
import {useTestDb} from '../helpers/db.js'

const t = useTestDb()

const noSettings = z.strictObject({})

function family(name: string, run: CheckFamily['run'], patterns: CheckFamily['patterns'] = () => []): CheckFamily {
  return {
    name,
    title: name,
    command: `qdoctor ${name}`,
    checks: [
      {id: `${name}/one`, severities: ['error'], title: 'one'},
      {id: `${name}/two`, severities: ['warn'], title: 'two'},
    ],
    settings: noSettings,
    patterns,
    emptySummary: () => ({}),
    run,
    figures: () => [{name: `${name}_figure`, help: 'a figure', value: 7}],
  }
}

const finds: CheckFamily = family(
  'finds',
  async (ctx, out) => {
    const keys: string[] = []
    for await (const page of ctx.source({match: 'thing:*'})) keys.push(...page)
    out.summary = {keys: keys.sort()}
    out.add({check: 'finds/one', severity: 'error', message: 'one', subject: {key: 'thing:1'}}, {check: 'finds/two', severity: 'warn', message: 'two', subject: {key: 'thing:2'}})
  },
  () => [{match: 'thing:*'}],
)
const breaks: CheckFamily = family('breaks', async (_ctx, out) => {
  out.add({check: 'breaks/one', severity: 'error', message: 'seen before the failure'})
  throw new Error('boom')
})
const replyError: CheckFamily = family('denied', async (ctx) => {
  const redis = await ctx.conn.redis()
  await redis.call('NO-SUCH-COMMAND')
})

const spec = () => ({target: {url: t.db.url}, connection: {timeoutMs: 5000, maxOps: 0}, settings: {finds: {}, breaks: {}, denied: {}}, failOn: 'error' as const})

describe('runTarget', () => {
  it('marks a failing family incomplete (exit 3) and still runs and reports the others', async () => {
    await t.db.redis.mset('thing:1', 'a', 'thing:2', 'b', 'other', 'c')
    const {section, findings} = await runTarget({...spec(), selection: selectChecks([], [], [breaks, finds, replyError])})
    expect(section.complete).toBe(false)
    expect(section.exitCode).toBe(3)
    const [b, f, d] = section.families
    expect(b).toMatchObject({name: 'breaks', status: 'incomplete', incomplete: ['internal error: boom']})
    expect(f).toMatchObject({name: 'finds', status: 'error', counts: {error: 1, warn: 1, info: 0, known: 0}, summary: {keys: ['thing:1', 'thing:2']}, figures: [{name: 'finds_figure', value: 7}]})
    expect(d!.status).toBe('incomplete')
    expect(d!.incomplete![0]).toMatch(/unknown command/i)
    expect(section.incomplete).toEqual(['breaks: internal error: boom', `denied: ${d!.incomplete![0]}`])
    // What a family reported before it failed is kept.
    expect(findings.map((x) => `${x.family}:${x.check}`)).toEqual(['breaks:breaks/one', 'finds:finds/one', 'finds:finds/two'])
    expect(findings.every((x) => x.target === t.db.url)).toBe(true)
    expect(section.keyspace).toMatchObject({match: 'thing:*', patterns: 1, keysMatched: 2})
  })

  it('keeps only selected checks, and marks baseline findings known (they do not fail the run)', async () => {
    await t.db.redis.mset('thing:1', 'a')
    const only = await runTarget({...spec(), selection: selectChecks(['finds/two'], [], [finds, breaks])})
    expect(only.section.families.map((f) => f.name)).toEqual(['finds'])
    expect(only.findings.map((f) => f.check)).toEqual(['finds/two'])
    expect(only.section.exitCode).toBe(0)
    const known = new Baseline('b.json', [{check: 'finds/one', subject: {key: 'thing:1'}}])
    const withBaseline = await runTarget({...spec(), baseline: known, selection: selectChecks(['finds'], [], [finds])})
    expect(withBaseline.findings.map((f) => [f.check, f.known ?? false])).toEqual([
      ['finds/one', true],
      ['finds/two', false],
    ])
    expect(withBaseline.section.counts).toEqual({error: 0, warn: 1, info: 0, known: 1})
    expect(withBaseline.section.exitCode).toBe(0)
    expect((await runTarget({...spec(), failOn: 'warn', baseline: known, selection: selectChecks(['finds'], [], [finds])})).section.exitCode).toBe(1)
  })

  it('reports a target that cannot be reached as a section with the reason, every family not run', async () => {
    const {section} = await runTarget({...spec(), target: {url: 'redis://127.0.0.1:1/0', name: 'nowhere'}, selection: selectChecks([], [], [finds])})
    expect(section).toMatchObject({target: 'nowhere', name: 'nowhere', complete: false, exitCode: 3, families: [{name: 'finds', status: 'not-run'}]})
    expect(section.incomplete![0]).toMatch(/Connection refused/)
  })
})

describe('mapLimit', () => {
  it('never has more than the limit in flight, and keeps the input order', async () => {
    let inFlight = 0
    let peak = 0
    const out = await mapLimit([50, 10, 30, 5, 20, 1], 2, async (ms, i) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise((r) => setTimeout(r, ms))
      inFlight--
      return i
    })
    expect(out).toEqual([0, 1, 2, 3, 4, 5])
    expect(peak).toBe(2)
  })
})
