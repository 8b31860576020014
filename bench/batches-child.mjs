// Runs the built CLI in this process (exactly what bin/run.js does) so that its peak RSS and wall time
// can be read at exit. Plain JS on purpose: run with bare `node`. Spawned by bench/batches.bench.ts.
//
//   node bench/batches-child.mjs <metrics.json> batches --ghosts --settle 0 --json --url redis://…
//
// stdout is the CLI's own; the metrics file gets {wallMs, maxRssKB, vmHwmKB, exitCode}.
import {readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {execute} from '@oclif/core'

const [metricsOut, ...args] = process.argv.slice(2)
if (!metricsOut || args.length === 0) throw new Error('usage: batches-child.mjs <metrics.json> <qdoctor args…>')
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const t0 = performance.now()

process.on('exit', (code) => {
  let vmHwmKB = null
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) vmHwmKB = Number(m[1])
  } catch {
    // not Linux
  }
  writeFileSync(metricsOut, JSON.stringify({wallMs: performance.now() - t0, maxRssKB: process.resourceUsage().maxRSS, vmHwmKB, exitCode: process.exitCode ?? code}))
})

await execute({dir: pathToFileURL(join(ROOT, 'bin', 'run.js')).href, args})
