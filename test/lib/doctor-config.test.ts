// The doctor's settings: found from the working directory upward, validated with clear errors,
// --set on top; and the --only/--skip selection.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {selectChecks} from '../../src/lib/checks/families/registry.js'
import {ConfigError, loadDoctorConfig, parseSetting} from '../../src/lib/doctor/config.js'
import {Baseline, canonicalJson} from '../../src/lib/doctor/baseline.js'
import {readTargetsFile} from '../../src/lib/doctor/targets.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-config-'))
})
afterEach(() => {
  rmSync(dir, {recursive: true, force: true})
})

function write(rel: string, text: string): string {
  const path = join(dir, rel)
  mkdirSync(join(path, '..'), {recursive: true})
  writeFileSync(path, text)
  return path
}

async function configError(options: Parameters<typeof loadDoctorConfig>[0]): Promise<string> {
  try {
    await loadDoctorConfig(options)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('config file discovery', () => {
  it('finds .qdoctor.yml in a parent directory and parses units', async () => {
    const file = write('.qdoctor.yml', 'fail-on: warn\nskip: [redis/persistence]\nqueues:\n  latency-warn: 10m\n  latency-error: 2h\nfailinfo:\n  warn-bytes: 50mb\n')
    mkdirSync(join(dir, 'a', 'b'), {recursive: true})
    const config = await loadDoctorConfig({cwd: join(dir, 'a', 'b')})
    expect(config.file).toBe(file)
    expect(config.failOn).toBe('warn')
    expect(config.skip).toEqual(['redis/persistence'])
    expect(config.families.queues).toMatchObject({'latency-warn': 600_000, 'latency-error': 7_200_000, deep: false, 'page-size': 500})
    expect(config.families.failinfo).toMatchObject({'warn-bytes': 50 * 1024 * 1024, 'error-bytes': 1024 * 1024 * 1024})
    // Untouched families get their defaults.
    expect(config.families.server).toEqual({'memory-warn': 80, 'memory-error': 95})
  })

  it('reads .qdoctor.json and the "qdoctor" key of package.json; the nearest wins', async () => {
    write('package.json', JSON.stringify({name: 'app', qdoctor: {'fail-on': 'info', concurrency: 2}}))
    expect(await loadDoctorConfig({cwd: dir})).toMatchObject({failOn: 'info', concurrency: 2, file: join(dir, 'package.json')})
    write('sub/.qdoctor.json', JSON.stringify({'fail-on': 'never'}))
    expect(await loadDoctorConfig({cwd: join(dir, 'sub')})).toMatchObject({failOn: 'never', concurrency: 4})
  })

  it('uses the defaults when there is no file, and --config names one anywhere', async () => {
    const none = await loadDoctorConfig({cwd: dir})
    expect(none).toMatchObject({failOn: 'error', only: [], skip: [], concurrency: 4})
    expect(none.file).toBeUndefined()
    const named = write('elsewhere/ci.yaml', 'only: queues,failinfo\n')
    expect((await loadDoctorConfig({path: named, cwd: dir})).only).toEqual(['queues', 'failinfo'])
  })
})

describe('config validation errors', () => {
  it('names an unknown top-level key and lists the allowed ones', async () => {
    const file = write('.qdoctor.yml', 'fail_on: warn\n')
    const message = await configError({cwd: dir})
    expect(message).toContain(file)
    expect(message).toMatch(/"fail_on" \(did you mean fail-on\?\): unknown setting/)
    expect(message).toMatch(/allowed: .*fail-on/)
  })

  it('names an unknown key inside a family section with that family’s settings', async () => {
    write('.qdoctor.yml', 'queues:\n  latency_warn: 5m\n')
    const message = await configError({cwd: dir})
    expect(message).toMatch(/"queues\.latency_warn" \(did you mean latency-warn\?\): unknown setting \(allowed in queues: latency-warn, latency-error, deep, page-size, queue\)/)
  })

  it('reports bad values with their path: a duration without unit, a bad enum, a wrong type, a bad size', async () => {
    write('.qdoctor.yml', 'fail-on: sometimes\nconcurrency: 0\nqueues:\n  latency-warn: 300\nfailinfo:\n  warn-bytes: lots\n  exact: yes please\n')
    const message = await configError({cwd: dir})
    expect(message).toMatch(/fail-on: .*"error"/)
    expect(message).toMatch(/concurrency: .*>=\s*1/i)
    expect(message).toMatch(/queues\.latency-warn: "300" needs a unit/)
    expect(message).toMatch(/failinfo\.warn-bytes: "lots" is not a size/)
    expect(message).toMatch(/failinfo\.exact: .*boolean/)
  })

  it('reports a file that is not YAML, not a mapping, or missing', async () => {
    write('.qdoctor.yml', 'queues: [unclosed\n')
    expect(await configError({cwd: dir})).toMatch(/is not valid YAML/)
    rmSync(join(dir, '.qdoctor.yml'))
    write('.qdoctor.yml', '- just\n- a list\n')
    expect(await configError({cwd: dir})).toMatch(/must be a mapping/)
    expect(await configError({path: join(dir, 'nope.yml')})).toMatch(/does not exist/)
  })
})

describe('--set', () => {
  it('parses dotted keys and YAML scalars, and overrides the file', async () => {
    expect(parseSetting('queues.latency-warn=10m')).toEqual({queues: {'latency-warn': '10m'}})
    expect(parseSetting('queues.deep=true')).toEqual({queues: {deep: true}})
    expect(parseSetting('server.memory-warn=70')).toEqual({server: {'memory-warn': 70}})
    expect(() => parseSetting('no-equals-sign')).toThrow(ConfigError)
    write('.qdoctor.yml', 'queues:\n  latency-warn: 10m\n  deep: true\n')
    const config = await loadDoctorConfig({cwd: dir, sets: ['queues.latency-warn=1m', 'server.memory-warn=70']})
    expect(config.families.queues).toMatchObject({'latency-warn': 60_000, deep: true})
    expect(config.families.server).toMatchObject({'memory-warn': 70})
    expect(await configError({cwd: dir, sets: ['queues.bogus=1']})).toMatch(/and --set:[\s\S]*"queues\.bogus": unknown setting/)
  })
})

describe('--only / --skip', () => {
  const run = (only: string[], skip: string[] = []) => selectChecks(only, skip)
  const names = (s: ReturnType<typeof run>) => s.families.map((f) => f.family.name)

  it('selects families, check ids and areas; skips win', () => {
    expect(names(run([]))).toEqual(['server', 'connections', 'processes', 'queues', 'batches', 'dead', 'failinfo'])
    expect(names(run(['queues']))).toEqual(['queues'])
    const byCheck = run(['failinfo/no-ttl', 'queue/latency'])
    expect(names(byCheck)).toEqual(['queues', 'failinfo'])
    expect([...byCheck.families[0]!.checks]).toEqual(['queue/latency'])
    expect(byCheck.keeps('queues', 'queue/paused')).toBe(false)
    expect(byCheck.keeps('failinfo', 'failinfo/no-ttl')).toBe(true)
    const area = run(['queue/*'])
    expect([...area.families[0]!.checks]).toEqual(['queue/latency', 'queue/unregistered', 'queue/paused', 'queue/wrong-type', 'queue/corrupt-payload'])
    const skipped = run([], ['server', 'queue/paused'])
    expect(names(skipped)).toEqual(['connections', 'processes', 'queues', 'batches', 'dead', 'failinfo'])
    expect(skipped.keeps('queues', 'queue/paused')).toBe(false)
    expect(skipped.keeps('queues', 'queue/latency')).toBe(true)
  })

  it('reports one fact once: connection/rejected supersedes redis/rejected-connections only while it runs', () => {
    const serverChecks = (s: ReturnType<typeof run>) => s.families.find((f) => f.family.name === 'server')?.checks
    const all = run([])
    expect(serverChecks(all)?.has('redis/rejected-connections')).toBe(false)
    expect(all.keeps('server', 'redis/rejected-connections')).toBe(false)
    expect(all.keeps('connections', 'connection/rejected')).toBe(true)
    for (const alone of [run(['server']), run([], ['connection/rejected']), run([], ['connections'])]) {
      expect(serverChecks(alone)?.has('redis/rejected-connections')).toBe(true)
      expect(alone.keeps('server', 'redis/rejected-connections')).toBe(true)
    }
  })

  it('rejects a name that is neither a family nor a check id, listing both', () => {
    expect(() => run(['queue'])).toThrow(/"queue" is neither a check family nor a check id\. Families: server, connections, processes, queues, batches, dead, failinfo\. Check ids: .*queue\/latency/)
    expect(() => run([], ['nope/*'])).toThrow(/neither/)
  })
})

describe('baseline identity', () => {
  it('matches by check id and subject whatever the key order; per-target entries only their target', () => {
    expect(canonicalJson({b: 1, a: {d: [1, {y: 2, x: 1}], c: null}})).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}')
    const b = new Baseline('b.json', [
      {check: 'queue/latency', subject: {queue: 'default', key: 'queue:default'}},
      {check: 'failinfo/orphan', subject: {key: 'b-x-failinfo'}, target: 'shard-a'},
    ])
    expect(b.has({check: 'queue/latency', subject: {key: 'queue:default', queue: 'default'}, target: 'anything'})).toBe(true)
    expect(b.has({check: 'queue/latency', subject: {queue: 'mailers', key: 'queue:mailers'}, target: 'anything'})).toBe(false)
    expect(b.has({check: 'failinfo/orphan', subject: {key: 'b-x-failinfo'}, target: 'shard-a'})).toBe(true)
    expect(b.has({check: 'failinfo/orphan', subject: {key: 'b-x-failinfo'}, target: 'shard-b'})).toBe(false)
  })
})

describe('--targets file', () => {
  it('reads URL [name] lines, skipping comments and blanks', () => {
    const file = write('targets.txt', '# shards\nredis://a:6380/0 shard a\n\n  rediss://:pw@b:6380/1   # second\n')
    expect(readTargetsFile(file)).toEqual([{url: 'redis://a:6380/0', name: 'shard a'}, {url: 'rediss://:pw@b:6380/1'}])
    expect(() => readTargetsFile(write('bad.txt', 'http://nope\n'))).toThrow(/bad\.txt:1: expected a redis:\/\//)
    expect(() => readTargetsFile(write('empty.txt', '# nothing\n'))).toThrow(/lists no target/)
  })
})
