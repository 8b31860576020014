// `npm run bench`: the benches one after another, each in a process of its own (each starts and stops
// its own redis-server, never on 6379). Every bench runs even if an earlier one failed; the exit code
// is the first non-zero one. Ctrl-C stops the running bench (it cleans up) and starts no other.
//
//   node --import tsx bench/run-all.ts              # all of BENCHES, in order
//   node --import tsx bench/run-all.ts failinfo     # only these
import {spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
/** bench/<name>.bench.ts, in the order `npm run bench` runs them. */
const BENCHES = ['scan', 'failinfo', 'batches', 'dead']

const asked = process.argv.slice(2)
const unknown = asked.filter((name) => !BENCHES.includes(name))
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.join(', ')}`)
  process.exit(2)
}

let interrupted = false
// The terminal sends Ctrl-C to the whole process group: the running bench stops its redis-server itself.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (interrupted = true))

function runBench(name: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, `${name}.bench.ts`)], {stdio: 'inherit'})
    child.on('error', (err) => {
      console.error(`bench ${name}: ${err.message}`)
      resolve(1)
    })
    child.on('close', (code, signal) => resolve(code ?? (signal ? 130 : 1)))
  })
}

const results: Array<[string, number]> = []
for (const name of asked.length ? asked : BENCHES) {
  if (interrupted) break
  console.log(`\n=== bench/${name}.bench.ts ===\n`)
  const t0 = performance.now()
  const code = await runBench(name)
  results.push([name, code])
  console.log(`\n=== bench/${name}.bench.ts: ${code === 0 ? 'ok' : `exit ${code}`} (${((performance.now() - t0) / 1000).toFixed(0)} s) ===`)
}
if (results.length > 1) console.log(`\nbenches: ${results.map(([name, code]) => `${name} ${code === 0 ? 'ok' : `exit ${code}`}`).join(', ')}`)
process.exit(interrupted ? 130 : (results.find(([, code]) => code !== 0)?.[1] ?? 0))
