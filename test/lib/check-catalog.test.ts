// Every check id a family can report is documented in the README (severity, why, fix), so the list
// users read for --only/--skip and baselines cannot fall behind the code.
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {checkCatalog, FAMILIES} from '../../src/lib/checks/families/registry.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('check catalog', () => {
  it('has unique ids, each with severities and a title', () => {
    const catalog = checkCatalog()
    expect(catalog.length).toBeGreaterThan(FAMILIES.length)
    expect(new Set(catalog.map((c) => c.id)).size).toBe(catalog.length)
    for (const c of catalog) {
      expect(c.severities.length, c.id).toBeGreaterThan(0)
      expect(c.title.length, c.id).toBeGreaterThan(5)
    }
  })

  it('is documented in the README: every check id appears in a check table row', () => {
    const rows = readme.split('\n').filter((line) => line.startsWith('| `'))
    const missing = checkCatalog().filter((c) => !rows.some((row) => row.includes(`\`${c.id}\``)))
    expect(missing.map((c) => c.id)).toEqual([])
  })

  it('names each family in the README doctor table', () => {
    for (const f of FAMILIES) expect(readme, f.name).toMatch(new RegExp(`^\\| \`${f.name}\` \\|`, 'm'))
  })
})
