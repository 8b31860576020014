// bin/oclif-options.js: oclif.manifest.json is used only while it describes the compiled commands.
import {mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {ROOT} from '../helpers/cli.js'

const options = join(ROOT, 'bin', 'oclif-options.js')
const {manifestIsFresh} = (await import(options)) as {manifestIsFresh: (dir: string) => boolean}

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, {recursive: true, force: true})
  dir = undefined
})

/** A package root with compiled commands at `commandsAt` and a manifest listing `listed` commands at `manifestAt` (epoch s). */
function root(commandsAt: number, manifestAt: number | undefined, listed = 2): string {
  dir = mkdtempSync(join(tmpdir(), 'qdoctor-manifest-'))
  mkdirSync(join(dir, 'dist', 'commands', 'dead'), {recursive: true})
  for (const f of ['undo.js', join('dead', 'index.js')]) {
    writeFileSync(join(dir, 'dist', 'commands', f), '')
    utimesSync(join(dir, 'dist', 'commands', f), commandsAt, commandsAt)
  }
  if (manifestAt !== undefined) {
    const commands = Object.fromEntries(['undo', 'dead', 'extra'].slice(0, listed).map((id) => [id, {id}]))
    writeFileSync(join(dir, 'oclif.manifest.json'), JSON.stringify({commands, version: '0.1.0'}))
    utimesSync(join(dir, 'oclif.manifest.json'), manifestAt, manifestAt)
  }
  return dir
}

describe('oclif manifest freshness', () => {
  it('uses a manifest written after the build that lists every compiled command', () => {
    expect(manifestIsFresh(root(1000, 2000))).toBe(true)
  })
  it('ignores a missing manifest, one older than any compiled command, or one listing another number of commands', () => {
    expect(manifestIsFresh(root(1000, undefined))).toBe(false)
    expect(manifestIsFresh(root(2000, 1000))).toBe(false)
    expect(manifestIsFresh(root(1000, 2000, 1))).toBe(false)
    expect(manifestIsFresh(root(1000, 2000, 3))).toBe(false)
  })
})
