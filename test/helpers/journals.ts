// A temp directory for repair journals, removed by cleanup().
import {mkdtempSync, rmSync} from 'node:fs'
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
