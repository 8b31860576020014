// A temp directory for repair journals, removed by cleanup().
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export interface JournalDir {
  dir: string
  path: (name: string) => string
  cleanup: () => void
}

export function journalDir(): JournalDir {
  const dir = mkdtempSync(join(tmpdir(), 'qdoctor-journals-'))
  let n = 0
  return {
    dir,
    path: (name: string) => join(dir, `${++n}-${name}.jsonl`),
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}

/** Wait until the journal at `path` holds at least `count` outcome lines (a run to kill mid-way); false on timeout. */
export async function waitForOutcomes(path: string, count: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : ''
    if ((text.match(/"type":"outcome"/g) ?? []).length >= count) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return false
}
