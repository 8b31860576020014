// Environment knobs of the benches (BENCH_*): integers accept `_` and `,` as digit separators.

/** A positive integer from the environment, or `fallback` when unset or empty. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw.replace(/[_,]/g, ''))
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return value
}

/** Like envInt, but `0` means "skip this part" and returns 0. */
export function envIntOrOff(name: string, fallback: number): number {
  return process.env[name] === '0' ? 0 : envInt(name, fallback)
}

/** BENCH_FILL=lua: load filler with Lua instead of DEBUG POPULATE. */
export function fillWithLua(): boolean {
  return process.env.BENCH_FILL === 'lua'
}
