// `--format junit`: each check family of each target a <testsuite>, each finding a failed
// <testcase> (type = its severity), each selected check without findings a passing one, baseline
// findings skipped, a family that could not finish an <error>. CI systems render it as test results.
import type {DoctorFinding, DoctorReport, FamilySection, TargetSection} from '../doctor.js'

/** Escape for XML text and attributes; drop characters XML 1.0 cannot carry. */
export function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3)
}

/** `queue=default key=queue:default`: what a finding is about, short. */
export function subjectText(subject: Record<string, unknown> | undefined): string {
  if (!subject) return ''
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
}

function caseName(f: DoctorFinding): string {
  const subject = subjectText(f.subject)
  return subject ? `${f.check} ${subject}` : f.check
}

function failureBody(f: DoctorFinding): string {
  const lines = [f.message]
  if (f.fix) lines.push(`fix: ${f.fix}`)
  if (f.evidence) lines.push(`evidence: ${JSON.stringify(f.evidence)}`)
  return lines.join('\n')
}

interface Suite {
  xml: string
  tests: number
  failures: number
  errors: number
  skipped: number
}

function suiteXml(name: string, t: TargetSection, timeMs: number, timestamp: string, counts: Omit<Suite, 'xml'>, body: string[]): Suite {
  return {
    ...counts,
    xml: [
      `  <testsuite name="${xml(name)}" tests="${counts.tests}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${seconds(timeMs)}" timestamp="${xml(timestamp)}" hostname="${xml(t.target)}">`,
      ...body,
      '  </testsuite>',
    ].join('\n'),
  }
}

function suite(t: TargetSection, family: FamilySection, findings: readonly DoctorFinding[], many: boolean, timestamp: string): Suite {
  const classname = `qdoctor.${family.name}`
  const cases: string[] = []
  let failures = 0
  let errors = 0
  let skipped = 0
  for (const f of findings) {
    if (f.known) {
      skipped++
      cases.push(`    <testcase classname="${xml(classname)}" name="${xml(caseName(f))}" time="0"><skipped message="${xml('known: in the baseline')}"/></testcase>`)
      continue
    }
    failures++
    cases.push(
      `    <testcase classname="${xml(classname)}" name="${xml(caseName(f))}" time="0">\n      <failure type="${f.severity}" message="${xml(`${f.severity}: ${f.message}`)}">${xml(failureBody(f))}</failure>\n    </testcase>`,
    )
  }
  const reported = new Set(findings.map((f) => f.check))
  if (family.status !== 'not-run')
    for (const check of family.checks) if (!reported.has(check)) cases.push(`    <testcase classname="${xml(classname)}" name="${xml(check)}" time="0"/>`)
  for (const why of family.incomplete ?? []) {
    errors++
    const name = family.status === 'not-run' ? `${family.name} (not run)` : `${family.name} (incomplete)`
    cases.push(`    <testcase classname="${xml(classname)}" name="${xml(name)}" time="0"><error type="incomplete" message="${xml(why)}"/></testcase>`)
  }
  const name = many ? `${family.name} @ ${t.target}` : family.name
  const properties = `    <properties><property name="target" value="${xml(t.target)}"/><property name="family" value="${xml(family.name)}"/><property name="command" value="${xml(family.command)}"/></properties>`
  return suiteXml(name, t, family.durationMs, timestamp, {tests: cases.length, failures, errors, skipped}, [properties, ...cases])
}

/** A target that could not be reached at all still shows up, as a suite with one error. */
function unreachableSuite(t: TargetSection, timestamp: string): Suite {
  const why = (t.incomplete ?? ['could not be checked']).join('; ')
  const testcase = `    <testcase classname="qdoctor.connect" name="${xml(t.target)}" time="${seconds(t.durationMs)}"><error type="unreachable" message="${xml(why)}"/></testcase>`
  return suiteXml(`connect @ ${t.target}`, t, t.durationMs, timestamp, {tests: 1, failures: 0, errors: 1, skipped: 0}, [testcase])
}

export function renderDoctorJunit(report: DoctorReport): string {
  const many = report.summary.targets.length > 1
  const suites: Suite[] = []
  for (const t of report.summary.targets) {
    const reached = t.families.some((f) => f.status !== 'not-run')
    if (!reached && !t.complete) {
      suites.push(unreachableSuite(t, report.startedAt))
      continue
    }
    for (const family of t.families)
      suites.push(suite(t, family, report.findings.filter((f) => f.target === t.target && f.family === family.name), many, report.startedAt))
  }
  const total = (k: keyof Omit<Suite, 'xml'>) => suites.reduce((sum, s) => sum + s[k], 0)
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="qdoctor doctor" tests="${total('tests')}" failures="${total('failures')}" errors="${total('errors')}" skipped="${total('skipped')}" time="${seconds(report.durationMs)}">`,
    ...suites.map((s) => s.xml),
    '</testsuites>',
    '',
  ].join('\n')
}
