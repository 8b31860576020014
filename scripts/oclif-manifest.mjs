#!/usr/bin/env node
// Writes oclif.manifest.json after `tsc` (run by `npm run build`), with @oclif/core's own loader: the
// same Plugin.load() that oclif runs when there is no manifest, which imports every command and turns
// each into its cached form (cacheCommand). With the manifest, `qdoctor <command>` imports only that
// command instead of all of them (~0.15 s of start-up). The `oclif manifest` CLI does the same but
// needs Node 22. bin/oclif-options.js ignores a manifest older than dist/commands, so a plain `tsc`
// (or a half-finished build) never leaves a stale manifest in charge.
import {renameSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(root, 'oclif.manifest.json')
const plugin = new Plugin({root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true})
try {
  await plugin.load()
  if (Object.keys(plugin.manifest.commands).length === 0) throw new Error('no commands under dist/commands')
} catch (err) {
  // A command that cannot be imported fails when it runs, with its own error; the build itself is
  // fine. Without a manifest every command is imported at start-up (slower, not wrong).
  rmSync(target, {force: true})
  console.warn(`oclif-manifest: no manifest written (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`)
  process.exit(0)
}
const ids = Object.keys(plugin.manifest.commands)
// Written aside and renamed: a CLI starting meanwhile reads the old manifest or the new one, never half of one.
writeFileSync(`${target}.tmp`, JSON.stringify(plugin.manifest, null, 2) + '\n')
renameSync(`${target}.tmp`, target)
console.log(`oclif.manifest.json: ${ids.length} commands`)
