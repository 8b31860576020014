// Readers for the job sorted sets `schedule`, `retry` and `dead` (score = epoch float seconds).
import type {Connection} from '../redis/connect.js'
import {zsetPages} from '../redis/paged.js'
import {type ParsedJob, parseJob} from './job.js'
import type {SidekiqKeys} from './keys.js'

export type JobSetName = 'schedule' | 'retry' | 'dead'

export interface SortedJob {
  member: string
  score: number
  parsed: ParsedJob
}

export function jobSetKey(keys: SidekiqKeys, set: JobSetName): string {
  return keys[set]
}

/** Pages of parsed entries in ascending score order; corrupt members come back with `parsed.ok === false`. */
export async function* sortedJobs(conn: Connection, keys: SidekiqKeys, set: JobSetName, pageSize?: number): AsyncGenerator<SortedJob[]> {
  for await (const page of zsetPages(conn, jobSetKey(keys, set), pageSize)) {
    yield page.map(({member, score}) => ({member, score, parsed: parseJob(member)}))
  }
}
