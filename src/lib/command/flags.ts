// Shared flag builders and the global flags of design.md §3.
import {Flags} from '@oclif/core'

import {DEFAULT_SCAN_COUNT} from '../redis/scan.js'
import {humanBytes, humanSeconds} from '../report/style.js'
import {parseDurationMs, parseSizeBytes} from './units.js'

/** Help shows a default of 3600000 ms as "1h". */
const defaultAs =
  (format: (n: number) => string) =>
  async ({options}: {options: {default?: unknown}}): Promise<string | undefined> =>
    typeof options.default === 'number' ? format(options.default) : undefined

/** A duration flag whose value is milliseconds. */
export const durationFlag = Flags.custom<number>({
  parse: async (input) => parseDurationMs(input),
  helpValue: '<duration>',
  defaultHelp: defaultAs((ms) => humanSeconds(ms / 1000).replace(/ /g, '')),
})

/** A size flag whose value is bytes. */
export const sizeFlag = Flags.custom<number>({
  parse: async (input) => parseSizeBytes(input),
  helpValue: '<size>',
  defaultHelp: defaultAs((n) => humanBytes(n).replace(/ /g, '').toLowerCase()),
})

export const DEFAULT_URL = 'redis://127.0.0.1:6379/0'
export const DEFAULT_MAX_OPS = 5000

export const globalFlags = {
  url: Flags.string({
    helpGroup: 'GLOBAL',
    summary: 'Redis URL (redis:// or rediss://); the password is never printed.',
    env: 'REDIS_URL',
    default: DEFAULT_URL,
  }),
  namespace: Flags.string({
    helpGroup: 'GLOBAL',
    summary: 'redis-namespace prefix used by Sidekiq <= 6 (keys look like <ns>:queue:default).',
  }),
  sentinel: Flags.string({
    helpGroup: 'GLOBAL',
    summary: 'Sentinel host:port (repeatable); the URL then supplies password and db only.',
    multiple: true,
  }),
  'sentinel-name': Flags.string({
    helpGroup: 'GLOBAL',
    summary: 'Name of the primary the sentinels monitor (default mymaster).',
  }),
  'tls-ca': Flags.file({helpGroup: 'GLOBAL', summary: 'CA certificate (PEM) for rediss:// connections.', exists: true}),
  'tls-insecure': Flags.boolean({helpGroup: 'GLOBAL', summary: 'Do not verify the server certificate (testing only).'}),
  timeout: durationFlag({helpGroup: 'GLOBAL', summary: 'Connect and per-command timeout.', default: 10_000}),
  'scan-count': Flags.integer({
    helpGroup: 'GLOBAL',
    summary: 'COUNT hint for SCAN/SSCAN/ZSCAN/HSCAN.',
    default: DEFAULT_SCAN_COUNT,
    min: 1,
    max: 100_000,
  }),
  'max-ops': Flags.integer({
    helpGroup: 'GLOBAL',
    summary: 'Budget of Redis commands per second (0 = unlimited).',
    default: DEFAULT_MAX_OPS,
    min: 0,
  }),
  'fail-on': Flags.option({
    helpGroup: 'GLOBAL',
    summary: 'Lowest severity that makes the exit code 1.',
    options: ['error', 'warn', 'info', 'never'] as const,
    default: 'error' as const,
  })(),
  color: Flags.boolean({
    helpGroup: 'GLOBAL',
    summary: 'Colour in tables (--no-color or NO_COLOR turns it off).',
    default: true,
    allowNo: true,
  }),
  quiet: Flags.boolean({helpGroup: 'GLOBAL', summary: 'Print only findings (no summary tables, no progress).', char: 'q'}),
  verbose: Flags.boolean({helpGroup: 'GLOBAL', summary: 'Print extra detail (and stack traces of internal errors).', char: 'v'}),
}
