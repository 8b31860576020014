// The doctor's settings: a config file found from the working directory upward (.qdoctor.yml,
// .qdoctor.yaml, .qdoctor.json, or a "qdoctor" key in package.json) or named with --config, then
// `--set family.key=value` overrides, then explicit flags. One schema validates the merged result:
// unknown keys and bad values are usage errors that say where and what is allowed.
import {lilconfig, type LilconfigResult, type Loader} from 'lilconfig'
import {parse as parseYaml} from 'yaml'
import {z} from 'zod'

import type {AnyFamily} from '../checks/families/family.js'
import {FAMILIES} from '../checks/families/registry.js'
import {count, duration, names} from '../checks/families/settings.js'

export const CONFIG_SEARCH_PLACES = ['.qdoctor.yml', '.qdoctor.yaml', '.qdoctor.json', 'package.json']

/** A usage problem in a config file, --set or --targets (exit code 2). */
export class ConfigError extends Error {}

const targetSchema = z.union([
  z.string().min(1),
  z.strictObject({
    url: z.string().min(1),
    name: z.string().min(1).optional(),
    namespace: z.string().min(1).optional(),
  }),
])

export interface TargetSpec {
  url: string
  name?: string
  namespace?: string
}

function doctorSchema(families: readonly AnyFamily[]) {
  const sections = Object.fromEntries(families.map((f) => [f.name, f.settings.prefault({})]))
  return z.strictObject({
    'fail-on': z.enum(['error', 'warn', 'info', 'never']).default('error'),
    only: names().default([]),
    skip: names().default([]),
    baseline: z.string().min(1).optional(),
    targets: z.array(targetSchema).min(1).optional(),
    concurrency: count(1, 64).default(4),
    namespace: z.string().min(1).optional(),
    timeout: duration().optional(),
    'scan-count': count(1, 100_000).optional(),
    'max-ops': count(0).optional(),
    ...sections,
  })
}

export interface DoctorConfig {
  failOn: 'error' | 'warn' | 'info' | 'never'
  only: string[]
  skip: string[]
  baseline?: string
  targets?: TargetSpec[]
  concurrency: number
  namespace?: string
  timeoutMs?: number
  scanCount?: number
  maxOps?: number
  /** Settings per family name (defaults filled in). */
  families: Record<string, unknown>
  /** The config file used, if any. */
  file?: string
}

const yamlLoader: Loader = (filepath, content) => {
  try {
    return parseYaml(content) ?? {}
  } catch (err) {
    throw new ConfigError(`${filepath} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
}

const jsonLoader: Loader = (filepath, content) => {
  try {
    return JSON.parse(content)
  } catch (err) {
    throw new ConfigError(`${filepath} is not valid JSON: ${(err as Error).message}`)
  }
}

const explorer = lilconfig('qdoctor', {
  searchPlaces: CONFIG_SEARCH_PLACES,
  loaders: {'.yml': yamlLoader, '.yaml': yamlLoader, '.json': jsonLoader, noExt: yamlLoader},
  cache: false,
})

/** The config file: the one named, or the first found from `cwd` upward; undefined when there is none. */
export async function findConfigFile(options: {path?: string; cwd?: string}): Promise<{file?: string; raw: unknown}> {
  let result: LilconfigResult
  try {
    result = options.path ? await explorer.load(options.path) : await explorer.search(options.cwd ?? process.cwd())
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ConfigError(`Config file ${options.path} does not exist.`)
    throw new ConfigError(`Could not read the config file${options.path ? ` ${options.path}` : ''}: ${(err as Error).message}`)
  }
  if (!result) return {raw: {}}
  return {file: result.filepath, raw: result.isEmpty ? {} : result.config}
}

/** `--set queues.latency-warn=10m` → {queues: {'latency-warn': '10m'}}; values are read as YAML scalars. */
export function parseSetting(assignment: string): Record<string, unknown> {
  const eq = assignment.indexOf('=')
  if (eq <= 0) throw new ConfigError(`--set ${assignment}: expected key=value (e.g. --set queues.latency-warn=10m).`)
  const path = assignment.slice(0, eq).trim().split('.')
  if (path.some((p) => p === '')) throw new ConfigError(`--set ${assignment}: "${assignment.slice(0, eq)}" is not a setting name.`)
  let value: unknown
  try {
    value = parseYaml(assignment.slice(eq + 1))
  } catch {
    value = assignment.slice(eq + 1)
  }
  let out: Record<string, unknown> = {[path[path.length - 1]!]: value ?? ''}
  for (const part of path.slice(0, -1).reverse()) out = {[part]: out}
  return out
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Deep merge of plain objects; later values win; arrays are replaced, not merged. */
export function mergeSettings(...layers: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const layer of layers) {
    if (!isPlainObject(layer)) continue
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue
      out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeSettings(out[key], value) : value
    }
  }
  return out
}

function describeIssues(error: z.ZodError, where: string, shape: Record<string, z.ZodType>): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      const section = path ? shape[path] : undefined
      const allowed = path ? keysOf(section) : Object.keys(shape)
      const named = issue.keys.map((k) => {
        const near = allowed.find((a) => squash(a) === squash(k))
        return `"${path ? `${path}.` : ''}${k}"${near ? ` (did you mean ${near}?)` : ''}`
      })
      return `${named.join(', ')}: unknown setting${issue.keys.length > 1 ? 's' : ''}${allowed.length ? ` (allowed${path ? ` in ${path}` : ''}: ${allowed.join(', ')})` : ''}`
    }
    return `${path || '(top level)'}: ${issue.message}`
  })
  return `Invalid settings in ${where}:\n  ${lines.join('\n  ')}`
}

/** `fail_on`, `failOn` and `fail-on` are the same name to a typo check. */
function squash(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '')
}

function keysOf(schema: z.ZodType | undefined): string[] {
  let s: unknown = schema
  // Unwrap prefault/default/optional to the object inside.
  for (let i = 0; i < 5 && s && typeof s === 'object' && 'def' in s; i++) {
    const def = (s as {def: {innerType?: unknown; shape?: Record<string, unknown>}}).def
    if (def.shape) return Object.keys(def.shape)
    s = def.innerType
  }
  return []
}

/**
 * Validate merged settings (file, then --set, then flags). `sources` names where they came from for
 * error messages. Throws ConfigError.
 */
export function resolveConfig(merged: Record<string, unknown>, sources: string, file?: string, families: readonly AnyFamily[] = FAMILIES): DoctorConfig {
  const schema = doctorSchema(families)
  const parsed = schema.safeParse(merged)
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, sources, schema.shape as Record<string, z.ZodType>))
  const v = parsed.data as Record<string, unknown> & z.output<ReturnType<typeof doctorSchema>>
  return {
    failOn: v['fail-on'],
    only: v.only,
    skip: v.skip,
    ...(v.baseline ? {baseline: v.baseline} : {}),
    ...(v.targets ? {targets: v.targets.map((t) => (typeof t === 'string' ? {url: t} : t))} : {}),
    concurrency: v.concurrency,
    ...(v.namespace ? {namespace: v.namespace} : {}),
    ...(v.timeout !== undefined ? {timeoutMs: v.timeout} : {}),
    ...(v['scan-count'] !== undefined ? {scanCount: v['scan-count']} : {}),
    ...(v['max-ops'] !== undefined ? {maxOps: v['max-ops']} : {}),
    families: Object.fromEntries(families.map((f) => [f.name, v[f.name]])),
    ...(file ? {file} : {}),
  }
}

/** The config file (named or found), then each `--set`, validated together. */
export async function loadDoctorConfig(options: {path?: string; cwd?: string; sets?: readonly string[]}): Promise<DoctorConfig> {
  const {file, raw} = await findConfigFile(options)
  if (raw !== undefined && !isPlainObject(raw)) throw new ConfigError(`${file}: the settings must be a mapping of names to values (found ${Array.isArray(raw) ? 'a list' : typeof raw}).`)
  const sets = (options.sets ?? []).map(parseSetting)
  const sources = [file, sets.length ? '--set' : undefined].filter(Boolean).join(' and ') || 'the defaults'
  return resolveConfig(mergeSettings(raw, ...sets), sources, file)
}
