// A private database on the shared test redis-server for one test file. DB numbers are handed out
// by an INCR on DB 0 of that server (never the machine's 6379), so parallel files never collide.
import {Redis} from 'ioredis'
import {afterAll, beforeAll, beforeEach, inject} from 'vitest'

import {Connection} from '../../src/lib/redis/connect.js'
import {type JournalDir, journalDir} from './journals.js'

export interface TestDb {
  url: string
  redis: Redis
  db: number
  port: number
  /** Empty this test database (test-only: product code never flushes). */
  reset: () => Promise<void>
  close: () => Promise<void>
}

export async function testDb(): Promise<TestDb> {
  const port = inject('redisPort')
  if (!port || port === 6379) throw new Error('test redis port missing or 6379')
  const admin = new Redis({port, host: '127.0.0.1', db: 0})
  const db = await admin.incr('qdoctor-test:next-db')
  admin.disconnect()
  if (db >= 64) throw new Error('out of test databases (raise --databases in test/helpers/redis-server.ts)')
  const redis = new Redis({port, host: '127.0.0.1', db})
  return {
    url: `redis://127.0.0.1:${port}/${db}`,
    redis,
    db,
    port,
    reset: async () => {
      await redis.flushdb()
    },
    close: async () => {
      await redis.flushdb()
      redis.disconnect()
    },
  }
}

/**
 * The usual file setup: a private DB (emptied before each test), connections that are closed after
 * the file, and a journal directory. Call at the top level of a test file.
 */
export function useTestDb(): {readonly db: TestDb; conn: (maxOps?: number, url?: string) => Connection; journals: JournalDir} {
  let db: TestDb | undefined
  const conns: Connection[] = []
  const journals = journalDir()
  beforeAll(async () => {
    db = await testDb()
  })
  afterAll(async () => {
    for (const c of conns) await c.quit()
    await db?.close()
    journals.cleanup()
  })
  beforeEach(async () => {
    await db!.reset()
  })
  return {
    get db() {
      if (!db) throw new Error('useTestDb(): the database is ready only inside tests and hooks')
      return db
    },
    conn: (maxOps = 0, url?: string) => {
      const c = new Connection({url: url ?? db!.url, timeoutMs: 5000, maxOps})
      conns.push(c)
      return c
    },
    journals,
  }
}
