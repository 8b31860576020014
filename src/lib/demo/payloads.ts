// Genuine-looking Sidekiq 7.x job payloads for the demo dataset: the fields and encodings Sidekiq
// writes (float-second timestamps, a zlib+base64 error_backtrace, the Active Job wrapper).
import {randomBytes, randomUUID} from 'node:crypto'
import {deflateSync} from 'node:zlib'

export const SIDEKIQ_VERSION = '7.2.4'
export const ACTIVE_JOB_WRAPPER = 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper'

/** 12 random bytes as hex, like SecureRandom.hex(12). */
export function newJid(): string {
  return randomBytes(12).toString('hex')
}

/** A Pro bid: SecureRandom.urlsafe_base64(10) (14 characters). */
export function newBid(): string {
  return randomBytes(10).toString('base64url')
}

export interface JobOptions {
  class: string
  queue: string
  args: unknown[]
  /** Epoch seconds. */
  enqueuedAt: number
  createdAt?: number
  jid?: string
  bid?: string
  retry?: boolean | number
  /** Wrap as an Active Job (class = the wrapper, wrapped = this class). */
  activeJob?: boolean
}

export type Payload = Record<string, unknown>

export function job(o: JobOptions): Payload {
  const jid = o.jid ?? newJid()
  const base: Payload = {
    retry: o.retry ?? true,
    queue: o.queue,
    class: o.activeJob ? ACTIVE_JOB_WRAPPER : o.class,
    ...(o.activeJob ? {wrapped: o.class} : {}),
    args: o.activeJob
      ? [{job_class: o.class, job_id: randomUUID(), provider_job_id: null, queue_name: o.queue, priority: null, arguments: o.args, executions: 0, exception_executions: {}, locale: 'en', timezone: 'UTC', enqueued_at: new Date(o.enqueuedAt * 1000).toISOString()}]
      : o.args,
    jid,
    created_at: o.createdAt ?? o.enqueuedAt,
    ...(o.bid ? {bid: o.bid} : {}),
    enqueued_at: o.enqueuedAt,
  }
  return base
}

/** Sidekiq 6+ stores the backtrace compressed: Base64(Zlib::Deflate(JSON)). */
export function compressedBacktrace(lines: string[]): string {
  return deflateSync(Buffer.from(JSON.stringify(lines))).toString('base64')
}

export interface FailureOptions {
  errorClass: string
  errorMessage: string
  /** Epoch seconds of the first failure. */
  failedAt: number
  retryCount: number
  /** Epoch seconds of the last retry. */
  retriedAt?: number
  backtrace?: string[]
}

/** The job as the retry or dead set holds it after failures. */
export function failed(payload: Payload, f: FailureOptions): Payload {
  return {
    ...payload,
    error_message: f.errorMessage,
    error_class: f.errorClass,
    failed_at: f.failedAt,
    retry_count: f.retryCount,
    ...(f.retriedAt !== undefined ? {retried_at: f.retriedAt} : {}),
    error_backtrace: compressedBacktrace(
      f.backtrace ?? [
        `/app/app/jobs/${String(payload.wrapped ?? payload.class).replace(/::/g, '/').toLowerCase()}.rb:23:in 'perform'`,
        "/usr/local/bundle/gems/sidekiq-7.2.4/lib/sidekiq/processor.rb:202:in 'execute_job'",
        "/usr/local/bundle/gems/sidekiq-7.2.4/lib/sidekiq/processor.rb:170:in 'block (2 levels) in process'",
      ],
    ),
  }
}

/** A Pro failinfo value: what Sidekiq::Batch::Status#failure_info reads back. */
export function failinfoValue(errorClass: string, message: string, backtraceLines: number): string {
  const backtrace = Array.from({length: backtraceLines}, (_, i) => `/app/app/services/import/row_${i % 40}.rb:${10 + (i % 90)}:in 'call'`)
  return JSON.stringify({errtype: errorClass, errmsg: message, backtrace})
}
