// Judges queue state: latency, unregistered lists, paused queues, wrong types, corrupt payloads.
import type {Finding} from '../report/types.js'
import type {CorruptJob, QueuesRead} from '../sidekiq/queues.js'

export interface QueueThresholds {
  latencyWarnSeconds: number
  latencyErrorSeconds: number
}

export const DEFAULT_QUEUE_THRESHOLDS: QueueThresholds = {latencyWarnSeconds: 300, latencyErrorSeconds: 3600}

/** Corrupt payloads listed one by one per queue; the rest are counted. */
export const MAX_CORRUPT_FINDINGS_PER_QUEUE = 50

/** With `deep`, corrupt payloads come from the full walk, so the oldest job is not judged twice. */
export function evaluateQueues(read: QueuesRead, t: QueueThresholds = DEFAULT_QUEUE_THRESHOLDS, deep = false): Finding[] {
  const findings: Finding[] = []
  for (const q of read.queues) {
    if (q.latencySeconds !== undefined && q.latencySeconds >= t.latencyWarnSeconds)
      findings.push({
        check: 'queue/latency',
        severity: q.latencySeconds >= t.latencyErrorSeconds ? 'error' : 'warn',
        message: `Queue "${q.name}" has waited ${Math.round(q.latencySeconds)}s for its oldest job (${q.size} jobs queued)${q.paused ? '; it is paused' : ''}.`,
        subject: {queue: q.name, key: q.key},
        evidence: {latencySeconds: q.latencySeconds, size: q.size, oldestJid: q.oldest?.ok ? q.oldest.job.jid : undefined},
        fix: q.paused ? `Unpause queue "${q.name}" if that was not intended.` : `Check that processes listen to "${q.name}" (qdoctor processes) and have capacity.`,
      })
    if (q.listExists && !q.registered)
      findings.push({
        check: 'queue/unregistered',
        severity: 'warn',
        message: `List ${q.key} holds ${q.size} jobs but "${q.name}" is not in the queues set: the Web UI does not show it.`,
        subject: {queue: q.name, key: q.key},
        evidence: {size: q.size},
        fix: `redis-cli SADD queues ${q.name}  (or drain it if nothing should run there)`,
      })
    if (q.paused)
      findings.push({
        check: 'queue/paused',
        severity: 'info',
        message: `Queue "${q.name}" is paused with ${q.size} jobs waiting.`,
        subject: {queue: q.name},
        evidence: {size: q.size},
      })
    if (!deep && q.oldest && !q.oldest.ok)
      findings.push(corruptFinding({key: q.key, queue: q.name, index: q.size - 1, reason: q.oldest.reason, preview: ''}))
  }
  for (const a of read.anomalies)
    findings.push({
      check: 'queue/wrong-type',
      severity: 'warn',
      message: `${a.key} ${a.problem}: Sidekiq cannot use it.`,
      subject: {key: a.key},
      fix: 'Inspect it with redis-cli TYPE/DUMP; qdoctor never touches it.',
    })
  return findings
}

export function corruptFinding(c: CorruptJob): Finding {
  return {
    check: 'queue/corrupt-payload',
    severity: 'error',
    message: `Job at index ${c.index} of ${c.key} cannot be read: ${c.reason}. A worker fetching it will fail or discard it.`,
    subject: {key: c.key, queue: c.queue, index: c.index},
    evidence: {reason: c.reason, preview: c.preview},
    fix: `redis-cli LINDEX ${c.key} ${c.index}  (inspect, then LREM the exact value if it is garbage)`,
  }
}
