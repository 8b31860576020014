// What the benches print and keep: number formats, tables, medians, and bench/results.json, which
// holds one section per bench (each bench rewrites its own section and keeps the others).
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import Table from 'cli-table3'

import {redisCliVersion} from './server.js'

export const RESULTS = join(dirname(dirname(fileURLToPath(import.meta.url))), 'results.json')

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`
}
export function fmtMB(mb: number): string {
  return `${mb.toFixed(1)} MB`
}
export function fmtKeys(n: number): string {
  return n.toLocaleString('en-US')
}
export function signed(mb: number): string {
  return `${mb >= 0 ? '+' : ''}${mb.toFixed(1)} MB`
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A borderless-styled cli-table3 table (no colours, so it reads the same in a log file). */
export function table(head: string[]): Table.Table {
  return new Table({head, style: {head: [], border: []}})
}

export function machineInfo(redisServer: string): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryGB: Math.round(os.totalmem() / 1024 ** 3),
    /** 1, 5 and 15 minutes, when the results are written: other work on the machine slows every tool, unevenly. */
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    redisServer,
    redisCli: redisCliVersion(),
  }
}

/** Write this bench's section of bench/results.json, keeping the other benches' sections. Returns the path. */
export function writeResults(section: string, results: object): string {
  let all: Record<string, unknown> = {}
  if (existsSync(RESULTS)) {
    try {
      const previous = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>
      // Before bench/lib, the file held the SCAN bench's results alone, at the top level.
      all = 'generatedAt' in previous && 'sizes' in previous ? {scan: previous} : previous
    } catch {
      all = {} // unreadable: start over
    }
  }
  all[section] = results
  writeFileSync(RESULTS, JSON.stringify(all, null, 2) + '\n')
  return RESULTS
}

/**
 * The end of a bench: write its section of bench/results.json (when it ran, on what machine, then
 * `results`), say where, and list any mismatches under `heading`. Returns the exit code (1 when
 * something did not match).
 */
export function finishBench(section: string, redisServer: string, results: object, mismatches: string[], heading = 'COUNT MISMATCH'): number {
  console.log(`\nwrote ${writeResults(section, {generatedAt: new Date().toISOString(), machine: machineInfo(redisServer), ...results})}`)
  if (!mismatches.length) return 0
  console.error(`\n${heading}:`)
  for (const m of mismatches) console.error(`  ${m}`)
  return 1
}
