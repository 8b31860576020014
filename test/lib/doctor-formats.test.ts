// The doctor's formats with hostile text (payload previews, key names and error messages carry
// anything): parsed back, the text survives exactly, and nothing breaks the document around it.
import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import type {DoctorFinding, DoctorReport} from '../../src/lib/report/doctor.js'
import {renderDoctorJunit} from '../../src/lib/report/formats/junit.js'
import {renderDoctorMarkdown} from '../../src/lib/report/formats/markdown.js'
import {renderDoctorPrometheus} from '../../src/lib/report/formats/prometheus.js'
import {renderDoctorTable} from '../../src/lib/report/formats/table.js'
import {makeStyle} from '../../src/lib/report/style.js'
import {gauge, parseExposition} from '../helpers/exposition.js'

const NASTY = `Job <script>&amp; "quoted" 'single' | pipe \\ backslash\nnewline \u0001ctl ✓ 💥`
const TARGET = 'shard "a"\\b'

function report(): DoctorReport {
  const findings: DoctorFinding[] = [
    {check: 'queue/corrupt-payload', severity: 'error', message: NASTY, subject: {key: 'queue:we|rd<&>', index: 3}, fix: 'redis-cli LINDEX "queue:we|rd" 3 `x`', target: TARGET, family: 'queues'},
    {check: 'queue/paused', severity: 'info', message: 'paused', subject: {queue: 'bulk'}, target: TARGET, family: 'queues', known: true},
  ]
  const counts = {error: 1, warn: 0, info: 0, known: 1}
  return {
    qdoctor: '0.0.0',
    command: 'doctor',
    target: TARGET,
    startedAt: '2026-11-22T08:00:00.000Z',
    durationMs: 1234,
    complete: false,
    incomplete: ['second: Connection refused'],
    summary: {
      failOn: 'error',
      counts,
      baseline: {file: 'b.json', entries: 1, known: 1, new: 1},
      targets: [
        {
          target: TARGET,
          complete: true,
          exitCode: 1,
          durationMs: 1000,
          counts,
          families: [
            {
              name: 'queues',
              title: 'Queues',
              command: 'qdoctor queues',
              status: 'error',
              durationMs: 12,
              counts,
              checks: ['queue/corrupt-payload', 'queue/paused', 'queue/latency'],
              figures: [{name: 'queue_jobs', help: 'Jobs waiting in a queue.\nSecond line \\ slash.', value: 3, labels: {queue: 'we"ird\nname\\'}}],
              summary: {},
            },
          ],
        },
        {target: 'second', complete: false, incomplete: ['Connection refused'], exitCode: 3, durationMs: 5, counts: {error: 0, warn: 0, info: 0, known: 0}, families: [{name: 'queues', title: 'Queues', command: 'qdoctor queues', status: 'not-run', durationMs: 0, counts: {error: 0, warn: 0, info: 0, known: 0}, checks: ['queue/latency'], figures: [], summary: {}, incomplete: ['the target could not be reached']}]},
      ],
    },
    findings,
  }
}

describe('junit', () => {
  it('is well-formed XML whose attributes and text give back the messages', () => {
    const xml = renderDoctorJunit(report())
    expect(XMLValidator.validate(xml)).toBe(true)
    const doc = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', processEntities: true, htmlEntities: true, isArray: (n) => ['testsuite', 'testcase'].includes(n)}).parse(xml)
    const suites = doc.testsuites.testsuite
    expect(suites.map((s: {name: string}) => s.name)).toEqual([`queues @ ${TARGET}`, 'connect @ second'])
    const [first, second] = suites
    expect(first).toMatchObject({tests: '3', failures: '1', skipped: '1', errors: '0', hostname: TARGET})
    const failed = first.testcase.find((c: Record<string, unknown>) => c.failure)
    // XML 1.0 cannot carry U+0001: it becomes U+FFFD; everything else comes back as written.
    expect(failed.failure.message).toBe(`error: ${NASTY.replace('\u0001', '\uFFFD')}`)
    expect(failed.failure['#text']).toContain('fix: redis-cli LINDEX "queue:we|rd" 3 `x`')
    expect(failed.name).toBe('queue/corrupt-payload key=queue:we|rd<&> index=3')
    expect(first.testcase.find((c: Record<string, unknown>) => c.skipped).skipped.message).toBe('known: in the baseline')
    expect(first.testcase.filter((c: Record<string, unknown>) => !c.failure && !c.skipped).map((c: {name: string}) => c.name)).toEqual(['queue/latency'])
    expect(second).toMatchObject({errors: '1', tests: '1'})
    expect(second.testcase[0].error).toMatchObject({type: 'unreachable', message: 'Connection refused'})
    expect(doc.testsuites).toMatchObject({tests: '4', failures: '1', errors: '1', skipped: '1'})
  })
})

describe('prometheus', () => {
  it('escapes label values and help text so a strict parser reads them back', () => {
    const text = renderDoctorPrometheus(report(), new Map([['queue/corrupt-payload', ['error']], ['queue/paused', ['info']], ['queue/latency', ['error', 'warn']]]))
    const metrics = parseExposition(text)
    const findings = gauge(metrics, 'qdoctor_check_findings').samples
    expect(findings.map((s) => [s.labels.check, s.labels.severity, s.value])).toEqual([
      ['queue/corrupt-payload', 'error', 1],
      ['queue/paused', 'info', 1],
      ['queue/latency', 'error', 0],
      ['queue/latency', 'warn', 0],
    ])
    expect(findings[0]!.labels.target).toBe(TARGET)
    expect(gauge(metrics, 'qdoctor_check_known_findings').samples.find((s) => s.labels.check === 'queue/paused')?.value).toBe(1)
    const jobs = gauge(metrics, 'qdoctor_queue_jobs')
    expect(jobs.samples).toEqual([{labels: {target: TARGET, queue: 'we"ird\nname\\'}, value: 3}])
    expect(jobs.help).toBe('Jobs waiting in a queue.\nSecond line \\ slash.')
    // The unreachable target: up 0, and no family series for it.
    expect(gauge(metrics, 'qdoctor_up').samples.map((s) => [s.labels.target, s.value])).toEqual([
      [TARGET, 1],
      ['second', 0],
    ])
    expect(findings.every((s) => s.labels.target === TARGET)).toBe(true)
  })
})

describe('markdown and table', () => {
  it('keeps table rows and list items on one line, with pipes and HTML escaped', () => {
    const md = renderDoctorMarkdown(report())
    expect(md).toMatch(/^## qdoctor doctor: incomplete$/m)
    const item = md.split('\n').find((l) => l.startsWith('- **queue/corrupt-payload**'))!
    expect(item).toContain('\\| pipe')
    expect(item).toContain('&lt;script&gt;')
    expect(item).toContain('``')
    expect(md).toMatch(/^> \*\*Incomplete\*\* — Connection refused\. These results are partial\.$/m)
    expect(md).toContain('_1 known findings (in the baseline) not listed._')
    const table = renderDoctorTable(makeStyle(false), report())
    expect(table).toContain(`Target ${TARGET}`)
    expect(table).toMatch(/Errors \(1\)\n {2}queue\/corrupt-payload {2}Job <script>/)
    expect(table).not.toContain('queue/paused  paused')
    expect(table).toContain('1 known findings (in the baseline) not listed.')
    expect(table).toContain('INCOMPLETE: Connection refused')
  })
})
