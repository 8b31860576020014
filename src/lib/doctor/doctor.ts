// A whole `qdoctor doctor` run: every target checked (concurrently, bounded), then one report with a
// section per target. `qdoctor demo` runs the same.
import {selectChecks} from '../checks/families/registry.js'
import type {ConnectionSpec} from '../redis/connect.js'
import {redactUrl} from '../redis/redact.js'
import {countFindings, type DoctorFinding, type DoctorReport, type DoctorSummary, emptyCounts, targetExitCode, worstExitCode} from '../report/doctor.js'
import type {Baseline} from './baseline.js'
import type {DoctorConfig, TargetSpec} from './config.js'
import {runTarget} from './run.js'
import {mapLimit} from './targets.js'

export interface DoctorRunOptions {
  targets: TargetSpec[]
  connection: Omit<ConnectionSpec, 'url'>
  config: DoctorConfig
  baseline?: Baseline
  version: string
  command?: string
  progress?: (text: string) => void
}

export async function runDoctor(o: DoctorRunOptions): Promise<{report: DoctorReport; exitCode: number}> {
  const started = new Date()
  const selection = selectChecks(o.config.only, o.config.skip)
  const many = o.targets.length > 1
  const results = await mapLimit(o.targets, o.config.concurrency, (target) =>
    runTarget({
      target,
      connection: o.connection,
      namespace: target.namespace ?? o.config.namespace,
      scanCount: o.config.scanCount,
      selection,
      settings: o.config.families,
      failOn: o.config.failOn,
      baseline: o.baseline,
      progress: o.progress ? (text) => o.progress!(many ? `${target.name ?? redactUrl(target.url)}: ${text}` : text) : undefined,
    }),
  )
  const findings: DoctorFinding[] = results.flatMap((r) => r.findings)
  const sections = results.map((r) => r.section)
  const incomplete = sections.flatMap((s) => (s.incomplete ?? []).map((why) => (many ? `${s.target}: ${why}` : why)))
  const warnings = sections.flatMap((s) => (s.warnings ?? []).map((w) => (many ? `${s.target}: ${w}` : w)))
  const summary: DoctorSummary = {failOn: o.config.failOn, targets: sections, counts: countFindings(findings, emptyCounts())}
  if (o.baseline) summary.baseline = {file: o.baseline.file, entries: o.baseline.entries.length, known: summary.counts.known, new: findings.length - summary.counts.known}
  if (o.config.file) summary.config = o.config.file
  const report: DoctorReport = {
    qdoctor: o.version,
    command: o.command ?? 'doctor',
    target: sections.map((s) => s.target).join(', '),
    startedAt: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    complete: incomplete.length === 0,
    ...(incomplete.length ? {incomplete} : {}),
    summary,
    findings,
    ...(warnings.length ? {warnings} : {}),
  }
  return {report, exitCode: worstExitCode(sections.map((s) => s.exitCode))}
}

/** After writing a baseline from this run, its findings are known: recount and recompute exit codes. */
export function markAllKnown(report: DoctorReport, file: string, entries: number): number {
  for (const f of report.findings) f.known = true
  const s = report.summary
  s.counts = countFindings(report.findings)
  for (const t of s.targets) {
    const own = report.findings.filter((f) => f.target === t.target)
    t.counts = countFindings(own)
    t.exitCode = targetExitCode(t.complete, own, s.failOn)
    for (const fam of t.families) {
      if (fam.status === 'not-run' || fam.status === 'incomplete') continue
      fam.counts = countFindings(own.filter((f) => f.family === fam.name))
      fam.status = 'ok'
    }
  }
  s.baseline = {file, entries, known: report.findings.length, new: 0}
  return worstExitCode(s.targets.map((t) => t.exitCode))
}
