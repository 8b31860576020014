// Which jobs of a sorted set a repair or an export selects (--class, --error, --jid, --older-than,
// --newer-than, --queue, --corrupt). Every filter given must match; the values of one repeatable
// filter are alternatives. Ages come from the entry's score (for `dead`: the time of death), measured
// on the Redis clock. Entries that cannot be parsed only ever match "no filter at all" or --corrupt.
import type {ParsedJob} from './job.js'

export interface JobFilterSpec {
  /** `class`, or the Active Job class in `wrapped`. */
  classes?: string[]
  /** A case-insensitive substring, or `/regex/flags`, matched against "ErrorClass: message". */
  error?: string
  jids?: string[]
  olderThanSeconds?: number
  newerThanSeconds?: number
  queues?: string[]
  /** Only entries that are not a readable job payload. */
  corrupt?: boolean
}

export interface FilterableEntry {
  score: number
  parsed: ParsedJob
}

export type JobMatcher = (entry: FilterableEntry) => boolean

/** A filter value that cannot be used (shown as a usage error). */
export class FilterError extends Error {}

export function isEmptyFilter(spec: JobFilterSpec): boolean {
  return (
    !spec.classes?.length &&
    spec.error === undefined &&
    !spec.jids?.length &&
    spec.olderThanSeconds === undefined &&
    spec.newerThanSeconds === undefined &&
    !spec.queues?.length &&
    !spec.corrupt
  )
}

/** `/timeout/i` → a RegExp; anything else → a case-insensitive substring test. */
export function errorMatcher(pattern: string): (text: string) => boolean {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern)
  if (!m) {
    const needle = pattern.toLowerCase()
    return (text) => text.toLowerCase().includes(needle)
  }
  let re: RegExp
  try {
    re = new RegExp(m[1]!, m[2]!.replace(/g|y/g, ''))
  } catch (err) {
    throw new FilterError(`--error ${pattern}: not a valid regular expression (${(err as Error).message})`)
  }
  return (text) => re.test(text)
}

export function compileJobFilter(spec: JobFilterSpec, nowSeconds: number): JobMatcher {
  if (isEmptyFilter(spec)) return () => true
  const classes = spec.classes?.length ? new Set(spec.classes) : undefined
  const jids = spec.jids?.length ? new Set(spec.jids) : undefined
  const queues = spec.queues?.length ? new Set(spec.queues) : undefined
  const error = spec.error !== undefined ? errorMatcher(spec.error) : undefined
  const {olderThanSeconds: older, newerThanSeconds: newer} = spec
  return ({score, parsed}) => {
    if (spec.corrupt && parsed.ok) return false
    const age = nowSeconds - score
    if (older !== undefined && age < older) return false
    if (newer !== undefined && age > newer) return false
    if (!parsed.ok) return !classes && !jids && !queues && !error
    const job = parsed.job
    if (classes && !classes.has(job.class) && !classes.has(job.displayClass)) return false
    if (jids && !jids.has(job.jid)) return false
    if (queues && !queues.has(job.queue ?? 'default')) return false
    if (error && !error(`${job.errorClass ?? ''}: ${job.errorMessage ?? ''}`)) return false
    return true
  }
}

/** "class HardJob or MailJob, error /timeout/i, older than 7d" (for prompts and notes). */
export function describeFilter(spec: JobFilterSpec, humanAge: (seconds: number) => string): string {
  const parts: string[] = []
  if (spec.classes?.length) parts.push(`class ${spec.classes.join(' or ')}`)
  if (spec.error !== undefined) parts.push(`error ${spec.error}`)
  if (spec.jids?.length) parts.push(`jid ${spec.jids.join(' or ')}`)
  if (spec.queues?.length) parts.push(`queue ${spec.queues.join(' or ')}`)
  if (spec.olderThanSeconds !== undefined) parts.push(`older than ${humanAge(spec.olderThanSeconds)}`)
  if (spec.newerThanSeconds !== undefined) parts.push(`newer than ${humanAge(spec.newerThanSeconds)}`)
  if (spec.corrupt) parts.push('unreadable entries only')
  return parts.length ? parts.join(', ') : 'every entry'
}
