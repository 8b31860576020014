// Helpers for the repair-engine tests: connections, DUMP snapshots, journals in a temp dir, undo.
import {type ChildProcess, spawn} from 'node:child_process'
import {connect as tcpConnect} from 'node:net'
import {copyFileSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'
import type {Redis} from 'ioredis'

import {Connection} from '../../src/lib/redis/connect.js'
import type {Action} from '../../src/lib/repairs/actions.js'
import {type ApplyOptions, type ApplyResult, applyActions} from '../../src/lib/repairs/apply.js'
import {JournalWriter, readJournal} from '../../src/lib/repairs/journal.js'
import {planUndo} from '../../src/lib/repairs/undo.js'

export function newConnection(url: string, maxOps = 0): Connection {
  return new Connection({url, timeoutMs: 5000, maxOps})
}

/** DUMP of each key (hex), null when absent. */
export async function dumps(redis: Redis, keys: readonly string[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {}
  for (const k of keys) {
    const d = await redis.dumpBuffer(k)
    out[k] = d ? d.toString('hex') : null
  }
  return out
}

/**
 * The DUMP (hex) Redis produces for a key RESTOREd from `dumpHex`. Compact encodings dump the same
 * bytes; hash-table encodings (sets of strings, big hashes) can dump their members in another order
 * after a RESTORE, so "byte for byte" for a restored key means: equal to this.
 */
export async function asRestored(redis: Redis, dumpHex: string | null): Promise<string | null> {
  if (dumpHex === null) return null
  const scratch = 'qdoctor-test:as-restored'
  await redis.restore(scratch, 0, Buffer.from(dumpHex, 'hex'), 'REPLACE')
  const out = (await redis.dumpBuffer(scratch)).toString('hex')
  await redis.del(scratch)
  return out
}

/** DUMPs expected after undo: `unlinked` keys as Redis serialises their RESTORE, the rest unchanged. */
export async function expectedAfterUndo(redis: Redis, before: Record<string, string | null>, unlinked: readonly string[]): Promise<Record<string, string | null>> {
  const out = {...before}
  for (const k of unlinked) out[k] = await asRestored(redis, before[k] ?? null)
  return out
}

import {freePort, startRedis} from './redis-server.js'

export {journalDir} from './journals.js'

export function openJournal(path: string, target = 'redis://127.0.0.1/0'): JournalWriter {
  return JournalWriter.create({qdoctor: 'test', command: 'qdoctor test', target, startedAt: new Date().toISOString()}, path)
}

/** Apply with a fresh journal at `path`; the journal is ended (unless stopped) and closed. */
export async function applyJournaled(conn: Connection, actions: Action[], path: string, options: Omit<ApplyOptions, 'journal'> = {}): Promise<ApplyResult> {
  const journal = openJournal(path, conn.target)
  try {
    const result = await applyActions(conn, actions, {...options, journal})
    if (!result.stopped) journal.end(result.counts)
    return result
  } finally {
    journal.close()
  }
}

/** Undo a journal through the engine, as `qdoctor undo` does. */
export async function undoJournal(conn: Connection, path: string, options: {force?: boolean; mode?: 'apply' | 'check'} = {}): Promise<ApplyResult> {
  const plan = planUndo(readJournal(path), {force: options.force ?? false})
  return applyActions(conn, plan.actions, {mode: options.mode ?? 'apply'})
}

export function statuses(result: ApplyResult): string[] {
  return result.records.map((r) => r.status)
}

/**
 * A redis-server that is still loading its dataset: started on a copy of `rdbDir` with a per-key
 * load delay. Resolves once it accepts connections (while it answers LOADING).
 */
export async function startLoadingRedis(rdbDir: string, port: number): Promise<{port: number; stop: () => Promise<void>; process: ChildProcess}> {
  if (port === 6379) throw new Error('refusing 6379')
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', rdbDir, '--key-load-delay', '2000', '--loading-process-events-interval-bytes', '1024'],
    {stdio: 'ignore'},
  )
  const deadline = Date.now() + 5000
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (up) break
    if (Date.now() > deadline) throw new Error('loading redis-server did not start')
    await new Promise((r) => setTimeout(r, 20))
  }
  return {
    port,
    process: proc,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve())
        proc.kill('SIGKILL')
      })
    },
  }
}

/** A redis-server that stays in LOADING for a few seconds: an RDB of 3,000 keys loaded with a per-key delay. */
export async function startSlowLoadingRedis(workDir: string): Promise<{port: number; stop: () => Promise<void>}> {
  const source = await startRedis()
  const rdbDir = join(workDir, `rdb-${source.port}`)
  mkdirSync(rdbDir)
  try {
    const s = source.client(0)
    await s.eval(`for i = 1, 3000 do redis.call('SET', 'k' .. i, 'v') end return 1`, 0)
    await s.save()
    copyFileSync(join(source.dir, 'dump.rdb'), join(rdbDir, 'dump.rdb'))
  } finally {
    await source.stop()
  }
  return startLoadingRedis(rdbDir, await freePort())
}
