// Child processes of the benches: wall time of the whole process, and its peak RSS. Every child is
// tracked so that Ctrl-C or a failure stops it together with the bench redis-server.
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import {join} from 'node:path'

export interface RunResult {
  wallMs: number
  stdout: string
  stderr: string
  code: number
}

export interface RunOptions {
  /** Exit codes that count as success (default: only 0). */
  okCodes?: readonly number[]
  /** Added to the bench's environment. */
  env?: Record<string, string>
}

/** Children still running: cleanup() kills them. */
export const children = new Set<ChildProcess>()

export function killChildren(): void {
  for (const child of children) child.kill('SIGTERM')
}

/** Run a command to completion; rejects on a signal or an exit code outside `okCodes`. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const okCodes = options.okCodes ?? [0]
  return new Promise((resolve, reject) => {
    const env = {...process.env, ...options.env}
    delete env.NODE_OPTIONS // node children must be bare node, not node + tsx
    const t0 = performance.now()
    const child = spawn(cmd, args, {stdio: ['ignore', 'pipe', 'pipe'], env})
    children.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - t0
      children.delete(child)
      const stdout = Buffer.concat(out).toString()
      const stderr = Buffer.concat(err).toString()
      if (code === null || !okCodes.includes(code)) reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`))
      else resolve({wallMs, stdout, stderr, code})
    })
  })
}

export type PeakRssSource = 'gnu-time' | 'vmhwm-probe'

export interface PeakRssResult extends RunResult {
  /** Peak resident set size of the child (kB). */
  peakRssKB: number
  peakRssSource: PeakRssSource
  /** CPU time of the child, user + system (ms). */
  cpuMs: number
}

const GNU_TIME = '/usr/bin/time'
let gnuTime: boolean | undefined

/** GNU time with `-f %M` (peak RSS in kB, from wait4's rusage). BusyBox and BSD time lack -f/-o. */
export function hasGnuTime(): boolean {
  if (gnuTime === undefined) {
    try {
      // %M goes to stderr (stdout is the command's own).
      gnuTime = /^\d+$/m.test(spawnSync(GNU_TIME, ['-f', '%M', 'true'], {encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe']}).stderr ?? '')
    } catch {
      gnuTime = false
    }
  }
  return gnuTime
}

/** Preloaded into a node child when GNU time is missing: writes "<VmHWM kB> <user s> <system s>" at exit, as `-f '%M %U %S'` would. */
const VMHWM_PROBE =
  'data:text/javascript,' +
  encodeURIComponent(
    "import {readFileSync, writeFileSync} from 'node:fs';" +
      "process.on('exit', () => { const m = /^VmHWM:\\s+(\\d+)\\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));" +
      'const cpu = process.cpuUsage();' +
      'writeFileSync(process.env.BENCH_PEAK_RSS_FILE, `${m ? Number(m[1]) : process.resourceUsage().maxRSS} ${cpu.user / 1e6} ${cpu.system / 1e6}`) })',
  )

/** "<kB> <user s> <system s>", the last line of the file (GNU time puts "Command exited…" lines before it). */
function readUsage(file: string): {peakRssKB: number; cpuMs: number} {
  const lines = readFileSync(file, 'utf8').trim().split('\n')
  const [kb, user, sys] = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number)
  if (!Number.isFinite(kb)) throw new Error(`could not read the peak RSS from ${file}: ${lines.join(' / ')}`)
  return {peakRssKB: kb!, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000}
}

/**
 * Run a command and measure its peak RSS: under `/usr/bin/time -f %M` when GNU time is there, else
 * (node commands only) with a preloaded probe that reads the child's own VmHWM as it exits.
 * The wall time is the whole process, start to exit.
 */
export async function runWithPeakRss(cmd: string, args: string[], options: RunOptions = {}): Promise<PeakRssResult> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'qdoctor-bench-rss-'))
  const rssFile = join(tmp, 'rss')
  try {
    if (hasGnuTime()) {
      const result = await run(GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args], options)
      return {...result, ...readUsage(rssFile), peakRssSource: 'gnu-time'}
    }
    if (cmd !== process.execPath && cmd !== 'node') throw new Error(`no GNU time at ${GNU_TIME}: peak RSS can only be measured for node commands`)
    const result = await run(cmd, ['--import', VMHWM_PROBE, ...args], {...options, env: {...options.env, BENCH_PEAK_RSS_FILE: rssFile}})
    return {...result, ...readUsage(rssFile), peakRssSource: 'vmhwm-probe'}
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
}
