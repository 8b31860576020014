// One target of `qdoctor doctor`: connect, one SCAN pass for every family that needs keys by
// pattern, then each selected family in turn. A family that cannot finish marks itself (and the
// target) incomplete and the others still run; an unreachable target is a section saying why.
import type {AnyFamily, FamilyOutput} from '../checks/families/family.js'
import type {Selection} from '../checks/families/registry.js'
import {Connection, type ConnectionSpec} from '../redis/connect.js'
import {classifyRedisError, RedisUnavailableError, ScanInterruptedError} from '../redis/errors.js'
import {KeyspaceIndex} from '../redis/keyspace-index.js'
import {redactSecrets} from '../redis/redact.js'
import {DEFAULT_SCAN_COUNT} from '../redis/scan.js'
import {countFindings, type DoctorFinding, emptyCounts, type FamilySection, targetExitCode, type TargetSection, worstStatus} from '../report/doctor.js'
import type {FailOn} from '../report/exit-status.js'
import type {Finding} from '../report/types.js'
import {SidekiqKeys} from '../sidekiq/keys.js'
import type {Baseline} from './baseline.js'
import type {TargetSpec} from './config.js'

export interface TargetRunOptions {
  target: TargetSpec
  /** How to connect (url, sentinels, TLS, timeout, --max-ops); the url is the target's. */
  connection: Omit<ConnectionSpec, 'url'>
  namespace?: string
  scanCount?: number
  selection: Selection
  /** Settings per family name. */
  settings: Record<string, unknown>
  failOn: FailOn
  baseline?: Baseline
  progress?: (text: string) => void
}

export interface TargetResult {
  section: TargetSection
  findings: DoctorFinding[]
}

class FamilySink implements FamilyOutput<object> {
  readonly findings: Finding[] = []
  readonly warnings: string[] = []
  constructor(public summary: object) {}
  add(...findings: Finding[]): void {
    this.findings.push(...findings)
  }
  warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message)
  }
}

/** Why a read failed, in one sentence without secrets. */
function reasonOf(err: unknown, conn: Connection): string {
  let message: string
  if (err instanceof RedisUnavailableError || err instanceof ScanInterruptedError) message = err.message
  else if (err instanceof Error && err.name === 'ReplyError') message = classifyRedisError(err, conn.target).message
  else message = `internal error: ${err instanceof Error ? err.message : String(err)}`
  return redactSecrets(message, conn.secrets)
}

export async function runTarget(o: TargetRunOptions): Promise<TargetResult> {
  const started = Date.now()
  let conn: Connection
  try {
    conn = new Connection({...o.connection, url: o.target.url})
  } catch (err) {
    // A malformed URL among several targets: that target cannot be checked; the others still are.
    return unreachable(o, o.target.name ?? o.target.url, (err as Error).message, started)
  }
  const label = o.target.name ?? conn.target
  try {
    try {
      await conn.redis()
    } catch (err) {
      return unreachable(o, label, reasonOf(err, conn), started)
    }
    return await checkTarget(o, conn, label, started)
  } finally {
    await conn.quit()
  }
}

function unreachable(o: TargetRunOptions, label: string, reason: string, started: number): TargetResult {
  const families = o.selection.families.map(({family, checks}) => notRun(family, checks, 'the target could not be reached'))
  return {
    section: {
      target: label,
      ...(o.target.name ? {name: o.target.name} : {}),
      complete: false,
      incomplete: [reason],
      exitCode: targetExitCode(false, [], o.failOn),
      durationMs: Date.now() - started,
      counts: emptyCounts(),
      families,
    },
    findings: [],
  }
}

function notRun(family: AnyFamily, checks: Set<string>, why: string): FamilySection {
  return {
    name: family.name,
    title: family.title,
    command: family.command,
    status: 'not-run',
    durationMs: 0,
    counts: emptyCounts(),
    checks: [...checks],
    figures: [],
    summary: {},
    incomplete: [why],
  }
}

async function checkTarget(o: TargetRunOptions, conn: Connection, label: string, started: number): Promise<TargetResult> {
  const keys = new SidekiqKeys(o.namespace)
  const progress = o.progress ?? (() => {})
  const scanCount = o.scanCount ?? DEFAULT_SCAN_COUNT
  const index = new KeyspaceIndex(conn)
  const patterned = new Set<string>()
  for (const {family} of o.selection.families) {
    const patterns = family.patterns(keys, o.settings[family.name])
    if (patterns.length) patterned.add(family.name)
    for (const p of patterns) index.register(p)
  }
  const incomplete: string[] = []
  let scanFailure: string | undefined
  if (index.patterns.length) {
    progress(`Scanning the keyspace (MATCH ${index.match}) once for ${patterned.size} check families…`)
    try {
      await index.scan({count: scanCount, onProgress: (p) => progress(`Scanning the keyspace… ${p.calls} SCAN calls, ${p.keys} keys of interest`)})
    } catch (err) {
      if (!(err instanceof ScanInterruptedError || err instanceof RedisUnavailableError)) throw err
      scanFailure = reasonOf(err, conn)
      incomplete.push(`keyspace scan: ${scanFailure}`)
    }
  }

  const sections: FamilySection[] = []
  const findings: DoctorFinding[] = []
  const warnings: string[] = []
  for (const {family, checks} of o.selection.families) {
    if (scanFailure && patterned.has(family.name)) {
      sections.push(notRun(family, checks, `the keyspace scan did not finish: ${scanFailure}`))
      continue
    }
    const familyStarted = Date.now()
    const sink = new FamilySink(family.emptySummary())
    const familyIncomplete: string[] = []
    try {
      await family.run({conn, keys, source: index.source, scanCount, settings: o.settings[family.name], progress: (text) => progress(`${family.name}: ${text}`)}, sink)
    } catch (err) {
      const reason = reasonOf(err, conn)
      familyIncomplete.push(reason)
      incomplete.push(`${family.name}: ${reason}`)
    }
    const kept: DoctorFinding[] = sink.findings
      .filter((f) => o.selection.keeps(family.name, f.check))
      .map((f) => {
        const d: DoctorFinding = {...f, target: label, family: family.name}
        if (o.baseline?.has(d)) d.known = true
        return d
      })
    findings.push(...kept)
    warnings.push(...sink.warnings.map((w) => `${family.name}: ${w}`))
    const counts = countFindings(kept)
    sections.push({
      name: family.name,
      title: family.title,
      command: family.command,
      status: familyIncomplete.length ? 'incomplete' : worstStatus(counts),
      durationMs: Date.now() - familyStarted,
      counts,
      checks: [...checks],
      figures: family.figures(sink.summary),
      summary: sink.summary,
      ...(familyIncomplete.length ? {incomplete: familyIncomplete} : {}),
      ...(sink.warnings.length ? {warnings: sink.warnings} : {}),
    })
  }
  const complete = incomplete.length === 0
  return {
    section: {
      target: label,
      ...(o.target.name ? {name: o.target.name} : {}),
      complete,
      ...(complete ? {} : {incomplete}),
      exitCode: targetExitCode(complete, findings, o.failOn),
      durationMs: Date.now() - started,
      counts: countFindings(findings),
      ...(index.patterns.length
        ? {keyspace: {match: index.match, patterns: index.patterns.length, scanCalls: index.progress.calls, keysMatched: index.progress.keys}}
        : {}),
      families: sections,
      ...(warnings.length ? {warnings} : {}),
    },
    findings,
  }
}
