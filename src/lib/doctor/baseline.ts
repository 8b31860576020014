// A baseline: the findings a team has accepted for now, by check id + subject. Findings in it are
// reported as known and never fail the run, so qdoctor can be adopted on a messy Redis and fail only
// on regressions. Written from a single-target run it applies to any target; from a multi-target run
// each entry keeps its target (shards each have their own known problems).
import {readFileSync, renameSync, writeFileSync} from 'node:fs'

import {z} from 'zod'

import type {DoctorFinding} from '../report/doctor.js'
import {ConfigError} from './config.js'

const entrySchema = z.object({
  check: z.string().min(1),
  subject: z.record(z.string(), z.unknown()).optional(),
  target: z.string().optional(),
  severity: z.enum(['error', 'warn', 'info']).optional(),
  message: z.string().optional(),
})

const fileSchema = z.object({
  qdoctor: z.string().optional(),
  createdAt: z.string().optional(),
  findings: z.array(entrySchema),
})

export type BaselineEntry = z.infer<typeof entrySchema>

/** Same JSON for the same value, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(value) ?? 'null'
}

function identity(check: string, subject: Record<string, unknown> | undefined): string {
  return `${check} ${canonicalJson(subject ?? {})}`
}

export class Baseline {
  private readonly anyTarget = new Set<string>()
  private readonly perTarget = new Set<string>()

  constructor(
    readonly file: string,
    readonly entries: readonly BaselineEntry[],
  ) {
    for (const e of entries) {
      const id = identity(e.check, e.subject)
      if (e.target === undefined) this.anyTarget.add(id)
      else this.perTarget.add(`${e.target}\u0000${id}`)
    }
  }

  has(f: Pick<DoctorFinding, 'check' | 'subject' | 'target'>): boolean {
    const id = identity(f.check, f.subject)
    return this.anyTarget.has(id) || this.perTarget.has(`${f.target}\u0000${id}`)
  }
}

export function readBaseline(file: string): Baseline {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw new ConfigError(missing ? `Baseline ${file} does not exist (create it with --write-baseline ${file}).` : `Cannot read baseline ${file}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`Baseline ${file} is not JSON: ${(err as Error).message}`)
  }
  const parsed = fileSchema.safeParse(json)
  if (!parsed.success) throw new ConfigError(`Baseline ${file} is not a qdoctor baseline: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`)
  return new Baseline(file, parsed.data.findings)
}

/** Record `findings` (deduplicated, sorted) as the new baseline; written whole, then renamed into place. */
export function writeBaseline(file: string, findings: readonly DoctorFinding[], version: string, perTarget: boolean): number {
  const entries = new Map<string, BaselineEntry>()
  for (const f of findings) {
    const entry: BaselineEntry = {
      check: f.check,
      ...(f.subject ? {subject: f.subject} : {}),
      ...(perTarget ? {target: f.target} : {}),
      severity: f.severity,
      message: f.message,
    }
    const key = `${perTarget ? f.target : ''}\u0000${identity(f.check, f.subject)}`
    if (!entries.has(key)) entries.set(key, entry)
  }
  const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e)
  const doc = {qdoctor: version, createdAt: new Date().toISOString(), findings: sorted}
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n')
  renameSync(tmp, file)
  return sorted.length
}
