// Several Redis servers in one run (Sidekiq shards): a --targets file, and a bounded pool that
// checks them concurrently while keeping their order in the report.
import {readFileSync} from 'node:fs'

import {ConfigError, type TargetSpec} from './config.js'

/**
 * A --targets file: one target per line, `URL [name]`; blank lines and `#` comments are ignored.
 * (URLs with a password belong in a file with tight permissions, or in REDIS_URL.)
 */
export function readTargetsFile(path: string): TargetSpec[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`Cannot read the --targets file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}.`)
  }
  const targets: TargetSpec[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim()
    if (!line) return
    const [url, ...rest] = line.split(/\s+/)
    if (!/^rediss?:\/\//.test(url!)) throw new ConfigError(`${path}:${i + 1}: expected a redis:// or rediss:// URL, then an optional name.`)
    targets.push({url: url!, ...(rest.length ? {name: rest.join(' ')} : {})})
  })
  if (targets.length === 0) throw new ConfigError(`The --targets file ${path} lists no target.`)
  return targets
}

/** Map with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}
