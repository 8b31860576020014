// Durations (`500ms`, `30s`, `7d`) and sizes (`512kb`, `5gb`) for every flag, parsed by well-kept
// libraries; the only rules added here are "a unit is required" and "no negatives".
import bytes from 'bytes'
import parseDuration from 'parse-duration'

const BARE_NUMBER = /^\s*\d+(\.\d+)?\s*$/

/** Milliseconds, or throws an Error whose message is shown as a usage error. */
export function parseDurationMs(input: string): number {
  if (BARE_NUMBER.test(input)) throw new Error(`"${input}" needs a unit: e.g. ${input}s, ${input}m, ${input}h or ${input}d`)
  const ms = parseDuration(input)
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0)
    throw new Error(`"${input}" is not a duration (examples: 500ms, 30s, 10m, 1h, 7d)`)
  return ms
}

/** Like parseDurationMs, but a bare `0` (none at all) needs no unit. */
export function parseDurationOrZeroMs(input: string): number {
  return input.trim() === '0' ? 0 : parseDurationMs(input)
}

/** Bytes (1 kb = 1024 bytes), or throws an Error shown as a usage error. */
export function parseSizeBytes(input: string): number {
  const n = BARE_NUMBER.test(input) ? Number(input) : bytes.parse(input.trim())
  if (n === null || !Number.isFinite(n) || n < 0) throw new Error(`"${input}" is not a size (examples: 512kb, 100mb, 5gb)`)
  return Math.round(n)
}
