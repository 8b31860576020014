// Real Sidekiq for integration tests: Debian's ruby-sidekiq (6.4.1) pushes genuine payloads
// (seed.rb) and a real `sidekiq` server process produces retries, dead jobs, heartbeats and
// in-progress work. Missing ruby/sidekiq fails loudly: these tests never skip silently.
import {execFile, execFileSync, spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'
import {promisify} from 'node:util'
import {Redis} from 'ioredis'

import {ROOT} from './cli.js'

const execFileAsync = promisify(execFile)

export const SIDEKIQ_FIXTURES = join(ROOT, 'test', 'fixtures', 'sidekiq')
export const APP_RB = join(SIDEKIQ_FIXTURES, 'app.rb')
export const SEED_RB = join(SIDEKIQ_FIXTURES, 'seed.rb')

export interface SidekiqInstall {
  /** Sidekiq::VERSION, e.g. "6.4.1". */
  version: string
  /** Absolute path of the `sidekiq` executable. */
  bin: string
  /** `<identity>:workers` before 6.5, `<identity>:work` from 6.5 on. */
  workSuffix: ':workers' | ':work'
}

let install: SidekiqInstall | undefined

/** Ruby, the sidekiq gem and the `sidekiq` CLI, or a loud error saying how to get them. */
export function requireSidekiq(): SidekiqInstall {
  if (install) return install
  const hint = 'The real-Sidekiq integration tests need ruby and Sidekiq 6.x (apt-get install -y ruby-sidekiq).'
  let version: string
  try {
    version = execFileSync('ruby', ['-e', 'require "sidekiq"; print Sidekiq::VERSION'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim()
  } catch (err) {
    throw new Error(`ruby with the sidekiq gem is not available: ${(err as Error).message.split('\n')[0]}. ${hint}`)
  }
  const major = Number(version.split('.')[0])
  // 7.0 dropped the Sidekiq::Worker-era API and float timestamps these fixtures rely on.
  if (major !== 6) throw new Error(`Sidekiq ${version} found; the fixtures in ${SIDEKIQ_FIXTURES} are written for Sidekiq 6.x. ${hint}`)
  const bin = findOnPath('sidekiq')
  if (!bin) throw new Error(`the "sidekiq" executable is not on PATH. ${hint}`)
  const [, minor] = version.split('.').map(Number)
  install = {version, bin, workSuffix: minor! < 5 ? ':workers' : ':work'}
  return install
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** What seed.rb `base` pushed (jids in push order; queue lists hold the newest at index 0). */
export interface BaseSeed {
  sidekiq: string
  mode: 'base'
  queues: Record<'default' | 'mailers' | 'critical' | 'bulk', string[]>
  queueSizes: Record<'default' | 'mailers' | 'critical' | 'bulk', number>
  /** Epoch seconds (float) just before the first push. */
  pushedAt: number
  bigIntJid: string
  twoTo60Jid: string
  criticalJid: string
  scheduled: Array<{jid: string; delay: number}>
  bigInt: string
  twoTo60: string
}

/** What seed.rb `live` pushed into queue `live`. */
export interface LiveSeed {
  sidekiq: string
  mode: 'live'
  queues: {live: string[]}
  queueSizes: {live: number}
  dieJid: string
  retryJid: string
  slowJid: string
}

/** Run seed.rb against `url` and return its JSON summary. */
export async function seedSidekiq(url: string): Promise<BaseSeed>
export async function seedSidekiq(url: string, mode: 'base'): Promise<BaseSeed>
export async function seedSidekiq(url: string, mode: 'live'): Promise<LiveSeed>
export async function seedSidekiq(url: string, mode: 'base' | 'live' = 'base'): Promise<BaseSeed | LiveSeed> {
  requireSidekiq()
  guardUrl(url)
  let stdout: string
  try {
    ;({stdout} = await execFileAsync('ruby', [SEED_RB, mode], {cwd: ROOT, env: {...process.env, REDIS_URL: url}, timeout: 30_000}))
  } catch (err) {
    const e = err as Error & {stdout?: string; stderr?: string}
    throw new Error(`seed.rb ${mode} failed: ${e.message}\nstdout: ${e.stdout ?? ''}\nstderr: ${e.stderr ?? ''}`)
  }
  const last = stdout.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(last) as BaseSeed | LiveSeed
  } catch {
    throw new Error(`seed.rb ${mode} did not print a JSON summary:\n${stdout}`)
  }
}

export interface StartSidekiqOptions {
  queues: string[]
  concurrency?: number
  /** `-t`: seconds a TERM waits for busy jobs before requeueing them (default 1). */
  shutdownTimeout?: number
  /** `-g`: the process tag (info.tag). */
  tag?: string
  /**
   * Heartbeat interval in seconds. Undefined keeps Sidekiq's own (5 s in 6.x); a shorter one only
   * changes how often the beat is written, not what it writes (see app.rb).
   */
  beatSeconds?: number
  /** How long to wait for the first heartbeat. */
  startTimeoutMs?: number
}

export interface WaitForOptions {
  timeoutMs?: number
  intervalMs?: number
  /** Completes "timed out waiting for …". */
  what?: string
}

export interface SidekiqProcess {
  pid: number
  /** `host:pid:nonce`, from the first heartbeat. */
  identity: string
  /** A client on the same database as the process (closed by stop()). */
  redis: Redis
  /** Everything the process printed so far (its log). */
  output: () => string
  /** Poll until `predicate` returns something other than undefined/false/null, and return it. */
  waitFor: <T>(predicate: (redis: Redis) => Promise<T | undefined | false | null>, options?: WaitForOptions) => Promise<T>
  /** TERM, wait for exit (shutdown timeout + a margin), then KILL. Resolves with the exit code. */
  stop: () => Promise<number | null>
  readonly exited: boolean
}

/** Start `sidekiq -r app.rb -q … -c N` against `url` and wait for its first heartbeat. */
export async function startSidekiq(url: string, options: StartSidekiqOptions): Promise<SidekiqProcess> {
  const {bin} = requireSidekiq()
  guardUrl(url)
  const shutdownTimeout = options.shutdownTimeout ?? 1
  const args = ['-r', APP_RB, ...options.queues.flatMap((q) => ['-q', q]), '-c', String(options.concurrency ?? 2), '-t', String(shutdownTimeout)]
  if (options.tag) args.push('-g', options.tag)
  const env: NodeJS.ProcessEnv = {...process.env, REDIS_URL: url}
  delete env.DYNO // would replace the hostname in the identity
  if (options.beatSeconds !== undefined) env.QDOCTOR_BEAT_PAUSE = String(options.beatSeconds)
  const child = spawn(bin, args, {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  let log = ''
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  let exitCode: number | null | undefined
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve((exitCode = code))))
  // Never leave a sidekiq behind if the test process dies first.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  if (!child.pid) throw new Error(`could not start ${bin}`)
  const pid = child.pid
  const redis = new Redis(url, {maxRetriesPerRequest: 1})
  redis.on('error', () => {})

  const waitFor = async <T>(predicate: (r: Redis) => Promise<T | undefined | false | null>, o: WaitForOptions = {}): Promise<T> => {
    const deadline = Date.now() + (o.timeoutMs ?? 15_000)
    for (;;) {
      const value = await predicate(redis)
      if (value !== undefined && value !== false && value !== null) return value
      if (exitCode !== undefined) throw new Error(`sidekiq (pid ${pid}) exited with ${exitCode} while waiting for ${o.what ?? 'a condition'}:\n${log}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what ?? 'a condition'} (sidekiq pid ${pid}); its log:\n${log}`)
      await sleep(o.intervalMs ?? 50)
    }
  }

  let stopping: Promise<number | null> | undefined
  const stop = (): Promise<number | null> => {
    stopping ??= (async () => {
      if (exitCode === undefined) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), (shutdownTimeout + 10) * 1000)
        await exit
        clearTimeout(timer)
      }
      process.removeListener('exit', killOnExit)
      redis.disconnect()
      return exitCode ?? null
    })()
    return stopping
  }

  let identity: string
  try {
    // The first beat runs at boot: `processes` gains `<host>:<pid>:<nonce>` with info.pid = our child.
    identity = await waitFor(
      async (r) => {
        const members = await r.smembers('processes')
        return members.find((m) => new RegExp(`:${pid}:[0-9a-f]+$`).test(m))
      },
      {timeoutMs: options.startTimeoutMs ?? 20_000, what: 'the first heartbeat'},
    )
  } catch (err) {
    await stop()
    throw err
  }
  return {
    pid,
    identity,
    redis,
    output: () => log,
    waitFor,
    stop,
    get exited() {
      return exitCode !== undefined
    },
  }
}

function guardUrl(url: string): void {
  const port = new URL(url).port
  if (port === '' || port === '6379') throw new Error(`refusing to point Sidekiq at ${url}: tests never use port 6379`)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
