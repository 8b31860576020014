// One test file's repair bed: a private database (emptied before each test), a qdoctor connection
// to it and a journal directory, all set up and torn down by the file's hooks.
import {afterAll, beforeAll, beforeEach} from 'vitest'

import type {Connection} from '../../src/lib/redis/connect.js'
import {type TestDb, testDb} from './db.js'
import {journalDir, newConnection} from './repairs.js'

export interface RepairBed {
  readonly db: TestDb
  readonly conn: Connection
  readonly journals: ReturnType<typeof journalDir>
}

/** Call at the top of a test file; the fields are ready inside tests. */
export function repairBed(): RepairBed {
  const state: {db?: TestDb; conn?: Connection} = {}
  const journals = journalDir()
  beforeAll(async () => {
    state.db = await testDb()
    state.conn = newConnection(state.db.url)
  })
  afterAll(async () => {
    await state.conn?.quit()
    await state.db?.close()
    journals.cleanup()
  })
  beforeEach(async () => state.db?.reset())
  return {
    get db() {
      return state.db!
    },
    get conn() {
      return state.conn!
    },
    journals,
  }
}
