// Running a check family the two ways qdoctor does: through the shared keyspace pass (doctor) and
// through its own SCAN (the topic command), with a MONITOR that counts the SCAN calls made meanwhile.
import {Redis} from 'ioredis'

import type {AnyFamily, CheckFamily} from '../../src/lib/checks/families/family.js'
import type {Connection} from '../../src/lib/redis/connect.js'
import {type KeyPattern, KeyspaceIndex, type KeySource, ownScan} from '../../src/lib/redis/keyspace-index.js'
import type {Finding} from '../../src/lib/report/types.js'
import type {SidekiqKeys} from '../../src/lib/sidekiq/keys.js'
import type {TestDb} from './db.js'

export interface FamilyResult<S> {
  summary: S
  findings: Finding[]
  warnings: string[]
  /** SCAN calls this database saw while the family ran (the shared pass itself excluded). */
  scans: number
}

/**
 * Run `family` with `settings`, its keys served by a KeyspaceIndex pass (`shared`, registering `also`
 * as doctor would for the other families) or by its own SCAN.
 */
export async function runFamily<O, S extends object>(
  db: TestDb,
  conn: Connection,
  keys: SidekiqKeys,
  family: CheckFamily<O, S>,
  settings: O,
  mode: {shared: boolean; also?: KeyPattern[]},
): Promise<FamilyResult<S>> {
  let source: KeySource = ownScan(conn)
  if (mode.shared) {
    const index = new KeyspaceIndex(conn)
    for (const p of [...family.patterns(keys, settings), ...(mode.also ?? [])]) index.register(p)
    await index.scan({count: 50})
    source = index.source
  }
  const out = {summary: family.emptySummary(), findings: [] as Finding[], warnings: [] as string[]}
  const scans = await countScans(db, () =>
    family.run(
      {conn, keys, source, scanCount: 50, settings, progress: () => {}},
      {
        get summary() {
          return out.summary
        },
        set summary(s: S) {
          out.summary = s
        },
        add: (...f: Finding[]) => out.findings.push(...f),
        warn: (w: string) => out.warnings.push(w),
      },
    ),
  )
  return {...out, scans}
}

/** What doctor registers in the shared pass for these families (default settings). */
export function patternsOf(keys: SidekiqKeys, families: readonly AnyFamily[]): KeyPattern[] {
  return families.flatMap((f) => f.patterns(keys, f.settings.parse({})))
}

/** The same family on the same data, through the shared pass (with `also` registered) and through its own SCAN. */
export async function bothWays<O, S extends object>(db: TestDb, conn: Connection, keys: SidekiqKeys, family: CheckFamily<O, S>, settings: O, also: KeyPattern[] = []) {
  const shared = await runFamily(db, conn, keys, family, settings, {shared: true, also})
  const own = await runFamily(db, conn, keys, family, settings, {shared: false})
  return {shared, own}
}

/** The parts of a finding that do not move with the clock, sorted: two runs on the same data agree on these. */
export function stable(findings: readonly Finding[]): string[] {
  return findings.map((f) => JSON.stringify({check: f.check, severity: f.severity, subject: f.subject, fix: f.fix})).sort()
}

/** How many SCAN calls (not SSCAN/HSCAN/ZSCAN) this test database receives while `run` runs. */
export async function countScans(db: TestDb, run: () => Promise<unknown>): Promise<number> {
  const watcher = new Redis({port: db.port, host: '127.0.0.1'})
  const monitor = await watcher.monitor()
  let scans = 0
  const fence = `fence-${process.pid}-${Date.now()}`
  let fenced: () => void = () => {}
  const seenFence = new Promise<void>((resolve) => (fenced = resolve))
  monitor.on('monitor', (_time: string, args: string[], _source: string, database: string) => {
    if (Number(database) !== db.db) return
    if (args[0]?.toLowerCase() === 'scan') scans++
    if (args[0]?.toLowerCase() === 'echo' && args[1] === fence) fenced()
  })
  try {
    await run()
    // Every command sent before the fence has been seen once the fence is.
    await db.redis.echo(fence)
    await seenFence
  } finally {
    monitor.disconnect()
    watcher.disconnect()
  }
  return scans
}
