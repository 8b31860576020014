// The JSON contract of design.md §4 as a schema, to check documents a command printed. Strict where
// the contract is (field names, severities, check-id shape), open where commands add their own
// (summary, evidence, subject).
import {z} from 'zod'

export const CHECK_ID = /^[a-z0-9]+(-[a-z0-9]+)*\/[a-z0-9]+(-[a-z0-9]+)*$/

export const findingSchema = z.object({
  check: z.string().regex(CHECK_ID),
  severity: z.enum(['error', 'warn', 'info']),
  message: z.string().min(1),
  subject: z.record(z.string(), z.unknown()).optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
  fix: z.string().min(1).optional(),
})

export const reportSchema = z.object({
  qdoctor: z.string().min(1),
  command: z.string().min(1),
  target: z.string(),
  startedAt: z.iso.datetime(),
  durationMs: z.number().int().nonnegative(),
  complete: z.boolean(),
  incomplete: z.array(z.string().min(1)).min(1).optional(),
  summary: z.record(z.string(), z.unknown()),
  findings: z.array(findingSchema),
  actions: z.array(z.object({step: z.string(), status: z.enum(['planned', 'applied', 'skipped', 'failed', 'not-reached'])}).loose()).optional(),
  journal: z.string().optional(),
  warnings: z.array(z.string()).optional(),
  error: z.object({message: z.string(), exitCode: z.number().int()}).optional(),
})

const counts = z.strictObject({error: z.number().int().nonnegative(), warn: z.number().int().nonnegative(), info: z.number().int().nonnegative(), known: z.number().int().nonnegative()})

const figure = z.strictObject({name: z.string().regex(/^[a-z][a-z0-9_]*$/), help: z.string().min(1), value: z.number(), labels: z.record(z.string(), z.string()).optional()})

const family = z.strictObject({
  name: z.string(),
  title: z.string(),
  command: z.string().startsWith('qdoctor '),
  status: z.enum(['error', 'warn', 'info', 'ok', 'incomplete', 'not-run']),
  durationMs: z.number().int().nonnegative(),
  counts,
  checks: z.array(z.string().regex(CHECK_ID)),
  figures: z.array(figure),
  summary: z.record(z.string(), z.unknown()),
  incomplete: z.array(z.string()).optional(),
  warnings: z.array(z.string()).optional(),
})

const target = z.strictObject({
  target: z.string(),
  name: z.string().optional(),
  complete: z.boolean(),
  incomplete: z.array(z.string()).optional(),
  exitCode: z.union([z.literal(0), z.literal(1), z.literal(3)]),
  durationMs: z.number().int().nonnegative(),
  counts,
  keyspace: z.strictObject({match: z.string(), patterns: z.number().int().positive(), scanCalls: z.number().int().nonnegative(), keysMatched: z.number().int().nonnegative()}).optional(),
  families: z.array(family),
  warnings: z.array(z.string()).optional(),
})

/** `qdoctor doctor` (and demo): the contract, with the doctor's summary and findings that name target and family. */
export const doctorReportSchema = reportSchema.extend({
  command: z.enum(['doctor', 'demo']),
  summary: z.strictObject({
    failOn: z.enum(['error', 'warn', 'info', 'never']),
    targets: z.array(target).min(1),
    counts,
    baseline: z.strictObject({file: z.string(), entries: z.number().int(), known: z.number().int(), new: z.number().int()}).optional(),
    config: z.string().optional(),
    demo: z.record(z.string(), z.unknown()).optional(),
  }),
  findings: z.array(findingSchema.extend({target: z.string().min(1), family: z.string().min(1), known: z.boolean().optional()})),
})

export type DoctorDocument = z.infer<typeof doctorReportSchema>

/** Parse or throw with every problem listed (a readable test failure). */
export function checkDoctorReport(json: unknown): DoctorDocument {
  const parsed = doctorReportSchema.safeParse(json)
  if (!parsed.success) throw new Error(`not a doctor report:\n${z.prettifyError(parsed.error)}`)
  return parsed.data
}
