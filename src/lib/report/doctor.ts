// The report of `qdoctor doctor` (and `qdoctor demo`): the Report contract, whose summary holds one
// section per target and, in it, one per check family. Findings carry their target and family, and
// `known: true` when a baseline lists them (known findings never fail the run).
import {EXIT, exitCodeFor, type FailOn} from './exit-status.js'
import type {Finding, Report, Severity} from './types.js'

/** A key number for dashboards: failinfo bytes, dead-set size, ghost jobs, connections… */
export interface Figure {
  /** Metric name without the `qdoctor_` prefix, snake_case with its unit (`failinfo_bytes`). */
  name: string
  help: string
  value: number
  labels?: Record<string, string>
}

export interface DoctorFinding extends Finding {
  /** The target's redacted URL (or its name). */
  target: string
  family: string
  /** In the baseline: reported, but never fails the run. */
  known?: boolean
}

export interface SeverityCounts {
  error: number
  warn: number
  info: number
  /** Findings (of any severity) that are in the baseline. */
  known: number
}

/** `worst` severity among new findings, `ok` when none; `incomplete` when it could not finish; `not-run`. */
export type FamilyStatus = Severity | 'ok' | 'incomplete' | 'not-run'

export interface FamilySection {
  name: string
  title: string
  /** The topic command that shows this family in full. */
  command: string
  status: FamilyStatus
  durationMs: number
  counts: SeverityCounts
  /** The check ids run (after --only/--skip). */
  checks: string[]
  figures: Figure[]
  summary: object
  incomplete?: string[]
  warnings?: string[]
}

export interface TargetSection {
  target: string
  name?: string
  complete: boolean
  incomplete?: string[]
  /** This target's exit code (design.md §5); the run's is the worst of them. */
  exitCode: number
  durationMs: number
  counts: SeverityCounts
  /** The one SCAN pass shared by the families that need keys by pattern. */
  keyspace?: {match: string; patterns: number; scanCalls: number; keysMatched: number}
  families: FamilySection[]
  warnings?: string[]
}

export interface DoctorSummary {
  failOn: FailOn
  targets: TargetSection[]
  counts: SeverityCounts
  baseline?: {file: string; entries: number; known: number; new: number}
  /** The config file used, if any. */
  config?: string
  /** Set by `qdoctor demo`: the throwaway server and what was seeded. */
  demo?: Record<string, unknown>
}

export type DoctorReport = Omit<Report<DoctorSummary>, 'findings'> & {findings: DoctorFinding[]}

export function emptyCounts(): SeverityCounts {
  return {error: 0, warn: 0, info: 0, known: 0}
}

export function countFindings(findings: readonly DoctorFinding[], into: SeverityCounts = emptyCounts()): SeverityCounts {
  for (const f of findings) {
    if (f.known) into.known++
    else into[f.severity]++
  }
  return into
}

/** The worst severity among new findings, or `ok`. */
export function worstStatus(counts: SeverityCounts): Severity | 'ok' {
  return counts.error ? 'error' : counts.warn ? 'warn' : counts.info ? 'info' : 'ok'
}

/** A target's exit code: 3 if incomplete, else 1 when a new finding reaches --fail-on, else 0. */
export function targetExitCode(complete: boolean, findings: readonly DoctorFinding[], failOn: FailOn): number {
  return exitCodeFor({complete, findings: findings.filter((f) => !f.known)}, failOn)
}

/** The worst exit code of the run: could not check (3) > findings (1) > ok (0). */
export function worstExitCode(codes: readonly number[]): number {
  const rank = (c: number) => (c === EXIT.unavailable ? 3 : c === EXIT.findings ? 2 : c === EXIT.ok ? 0 : 1)
  return codes.reduce((worst, c) => (rank(c) > rank(worst) ? c : worst), EXIT.ok)
}
