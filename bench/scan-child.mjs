// One qdoctor scan in a process of its own, so its peak RSS is the scan layer's alone (no tsx loader,
// no key loading). Plain JS on purpose: run with bare `node`. Spawned by bench/scan.bench.ts.
//
//   node bench/scan-child.mjs --url redis://127.0.0.1:PORT/0 --match 'b-*-failinfo' [--type hash]
//        [--count N] [--keys-out FILE] [--baseline]
//
// --baseline connects and PINGs without scanning: the RSS floor of node + ioredis + qdoctor's modules.
// Prints one JSON line: {keys, uniqueKeys, calls, batches, scanCount, scanMs, maxRssKB, vmHwmKB, retainedHeapMB}.
// retainedHeapMB is the JS heap after a full GC (needs --expose-gc; null without it), the found keys still held.
import {readFileSync, writeFileSync} from 'node:fs'
import {parseArgs} from 'node:util'

import {Connection} from '../dist/lib/redis/connect.js'
import {DEFAULT_SCAN_COUNT, scanKeys} from '../dist/lib/redis/scan.js'

const {values} = parseArgs({
  options: {
    url: {type: 'string'},
    match: {type: 'string'},
    type: {type: 'string'},
    count: {type: 'string'},
    'keys-out': {type: 'string'},
    baseline: {type: 'boolean', default: false},
  },
})
if (!values.url) throw new Error('--url is required')

const count = values.count ? Number(values.count) : undefined
const conn = new Connection({url: values.url, timeoutMs: 10_000, maxOps: 0})
const keys = []
let calls = 0
let batches = 0

const t0 = performance.now()
try {
  if (values.baseline) {
    await (await conn.redis()).ping()
  } else {
    const options = {match: values.match, type: values.type, count, onProgress: (p) => (calls = p.calls)}
    for await (const batch of scanKeys(conn, options)) {
      batches++
      for (const key of batch) keys.push(key)
    }
  }
} finally {
  await conn.quit()
}
const scanMs = performance.now() - t0

// Read the peaks before writing the key list, so the bench's own bookkeeping is not counted.
const maxRssKB = process.resourceUsage().maxRSS
let vmHwmKB = null
try {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
  if (m) vmHwmKB = Number(m[1])
} catch {
  // not Linux
}
let retainedHeapMB = null
if (typeof globalThis.gc === 'function') {
  globalThis.gc()
  retainedHeapMB = process.memoryUsage().heapUsed / 1024 / 1024
}
if (values['keys-out']) writeFileSync(values['keys-out'], keys.join('\n'))

process.stdout.write(
  JSON.stringify({
    keys: keys.length,
    uniqueKeys: new Set(keys).size,
    calls,
    batches,
    scanCount: count ?? DEFAULT_SCAN_COUNT,
    scanMs,
    maxRssKB,
    vmHwmKB,
    retainedHeapMB,
  }) + '\n',
)
