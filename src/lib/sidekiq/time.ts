// Sidekiq timestamps come as float seconds (<= 7.x), integer milliseconds (8.x), numeric strings
// (Oj / old Pro) or ISO8601 strings. JSON.parse erases the float/int distinction, so magnitude decides.

/** Above this a number is milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973. */
const MS_THRESHOLD = 1e11

/** Epoch seconds (float), or undefined when the value is absent or unreadable. */
export function toEpochSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? fromNumber(value) : undefined
  if (typeof value !== 'string' || value.trim() === '') return undefined
  const trimmed = value.trim()
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(trimmed)) return toEpochSeconds(Number(trimmed))
  const parsed = Date.parse(trimmed)
  return Number.isNaN(parsed) ? undefined : parsed / 1000
}

function fromNumber(n: number): number {
  return n > MS_THRESHOLD ? n / 1000 : n
}

/** Which encoding a timestamp uses, for reports ("ms" means a Sidekiq 8 payload). */
export function timestampUnit(value: unknown): 'seconds' | 'milliseconds' | 'string' | undefined {
  if (typeof value === 'number') return value > MS_THRESHOLD ? 'milliseconds' : 'seconds'
  if (typeof value === 'string') return 'string'
  return undefined
}
