// INFO and CONFIG facts about a Redis server. Managed services often forbid CONFIG: each parameter
// that could not be read is recorded with the reason, so checks can say what they could not check.
import type {Connection} from './connect.js'
import {pipelinedReads} from './pipeline.js'
import {resilient} from './resilient.js'

export const CONFIG_PARAMS = ['maxmemory-policy', 'maxmemory', 'save', 'appendonly', 'timeout', 'tcp-keepalive', 'maxclients'] as const
export type ConfigParam = (typeof CONFIG_PARAMS)[number]

export interface ServerFacts {
  /** INFO fields, flattened (`redis_version`, `used_memory`, …). */
  info: Record<string, string>
  config: Partial<Record<ConfigParam, string>>
  /** CONFIG parameters that could not be read, and why. */
  configUnavailable: Partial<Record<ConfigParam, string>>
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1)
  }
  return out
}

export async function readServerFacts(conn: Connection): Promise<ServerFacts> {
  const info = parseInfo(await resilient(conn, 'reading INFO', (redis) => redis.info()))
  const replies = await pipelinedReads(conn, CONFIG_PARAMS, (param) => [['config', 'get', param]])
  const config: ServerFacts['config'] = {}
  const configUnavailable: ServerFacts['configUnavailable'] = {}
  CONFIG_PARAMS.forEach((param, i) => {
    const reply = replies[i]![0]!
    if (reply.error) {
      configUnavailable[param] = reply.error.message.split('\n')[0]
      return
    }
    const flat = reply.value as string[]
    const value = flat[1]
    if (value === undefined) configUnavailable[param] = 'not reported by CONFIG GET'
    else config[param] = value
  })
  return {info, config, configUnavailable}
}

/** "7.0.15" → [7, 0, 15]. */
export function parseVersion(text: string | undefined): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '')
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined
}

export function versionAtLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!
  return true
}
