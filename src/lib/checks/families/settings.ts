// Schema pieces for settings written in a config file or `--set`: the same units as the flags
// (durations need a unit, sizes take one), parsed by the same shared helpers.
import {z} from 'zod'

import {parseDurationMs, parseDurationOrZeroMs, parseSizeBytes} from '../../command/units.js'

function parsedWith(parse: (text: string) => number, what: string) {
  return z.union([z.string(), z.number()], {error: `expected a ${what}`}).transform((value, ctx) => {
    try {
      return parse(String(value))
    } catch (err) {
      ctx.addIssue({code: 'custom', message: (err as Error).message})
      return z.NEVER
    }
  })
}

/** `500ms`, `30s`, `10m`, `1h`, `7d` → milliseconds. A bare number is refused (which unit?). */
export const duration = () => parsedWith(parseDurationMs, 'duration such as 30s, 10m or 1h')

/** A duration where `0` (none) needs no unit. */
export const durationOrZero = () => parsedWith(parseDurationOrZeroMs, 'duration such as 30s or 10m, or 0')

/** `512kb`, `100mb`, `5gb`, or a number of bytes → bytes. */
export const size = () => parsedWith(parseSizeBytes, 'size such as 512kb or 100mb')

export const percent = () => z.number().int().min(1).max(100)

export const count = (min = 0, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max)

/** A list given as a YAML/JSON array or as one comma-separated string. */
export const names = () =>
  z.union([z.array(z.string().min(1)), z.string().min(1)]).transform((v) => (Array.isArray(v) ? v : v.split(',').map((s) => s.trim()).filter(Boolean)))
