// Entries of `<identity>:work` (6.5+) / `<identity>:workers` (6.0–6.4): field = thread id, value =
// {"queue", "payload", "run_at"}; payload is a JSON string inside the JSON from 6.0.2, an object before.
import {jobFromValue, type ParsedJob, parseJob} from './job.js'

export interface WorkEntry {
  tid: string
  queue?: string
  /** Epoch seconds when the job started. */
  runAt?: number
  payload: ParsedJob
  /** Set when the entry itself (not the payload) is unreadable. */
  corrupt?: string
}

export function parseWork(tid: string, raw: string): WorkEntry {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch (err) {
    return {tid, payload: {ok: false, reason: 'work entry is not JSON'}, corrupt: (err as Error).message}
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return {tid, payload: {ok: false, reason: 'work entry is not an object'}, corrupt: 'not an object'}
  const entry = value as Record<string, unknown>
  const payload = typeof entry.payload === 'string' ? parseJob(entry.payload) : jobFromValue(entry.payload)
  const runAt = typeof entry.run_at === 'number' ? (entry.run_at > 1e11 ? entry.run_at / 1000 : entry.run_at) : undefined
  return {tid, queue: typeof entry.queue === 'string' ? entry.queue : undefined, runAt, payload}
}
