// How bin/run.js and bin/dev.js load the commands. oclif reads oclif.manifest.json (written by
// `npm run build`: scripts/oclif-manifest.mjs) and then imports only the command that runs. A manifest
// describes one build of dist/commands. tsc rewrites every output file, so when any compiled command
// is newer than the manifest (a `tsc` without the manifest step, a build in progress), and always for
// the TypeScript sources (bin/dev.js), oclif is handed a root plugin that ignores the manifest and
// imports every command, as it does when there is none: slower, never stale.
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Is oclif.manifest.json at least as new as every compiled command, and does it list as many? */
export function manifestIsFresh(dir = root) {
  let manifest
  try {
    manifest = statSync(join(dir, 'oclif.manifest.json'))
  } catch {
    return false
  }
  const commands = join(dir, 'dist', 'commands')
  let files
  try {
    files = readdirSync(commands, {recursive: true}).filter((f) => typeof f === 'string' && f.endsWith('.js'))
  } catch {
    return false
  }
  if (files.length === 0 || files.some((f) => statSync(join(commands, f)).mtimeMs > manifest.mtimeMs)) return false
  // And it lists one command per compiled file (not a manifest cut short or written by hand).
  try {
    return Object.keys(JSON.parse(readFileSync(join(dir, 'oclif.manifest.json'), 'utf8')).commands ?? {}).length === files.length
  } catch {
    return false
  }
}

/** What to hand to oclif's execute() as loadOptions. */
export async function loadOptions({development = false} = {}) {
  if (!development && manifestIsFresh()) return root
  // What execute({development: true}) sets, needed before the plugin looks for the commands (src/ then).
  if (development) process.env.NODE_ENV = 'development'
  const plugin = new Plugin({root, type: 'core', isRoot: true, ignoreManifest: true})
  await plugin.load()
  return {root, plugins: new Map([[plugin.name, plugin]])}
}
