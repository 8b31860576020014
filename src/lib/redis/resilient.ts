// Reads that survive a dropped connection: reconnect a bounded number of times and retry the same
// (idempotent) read. A Redis that restarted under us, or one that stays away, interrupts the run.
import type {Redis} from 'ioredis'

import type {Connection} from './connect.js'
import {isConnectionFailure, RedisUnavailableError, ScanInterruptedError} from './errors.js'

export const DEFAULT_READ_ATTEMPTS = 3

/** Run an idempotent read; on a transport failure reconnect and retry. `what` completes "while …". */
export async function resilient<T>(
  conn: Connection,
  what: string,
  read: (redis: Redis) => Promise<T>,
  attempts = DEFAULT_READ_ATTEMPTS,
): Promise<T> {
  let lastErr: unknown
  for (let attempt = 0; attempt <= attempts; attempt++) {
    try {
      const redis = await conn.redis()
      return await read(redis)
    } catch (err) {
      if (!isConnectionFailure(err)) throw err
      lastErr = err
      if (attempt === attempts) break
      let restarted: boolean
      try {
        restarted = await conn.reconnect()
      } catch (reconnectErr) {
        const reason = reconnectErr instanceof RedisUnavailableError ? reconnectErr.message : String(reconnectErr)
        throw new ScanInterruptedError(`Lost the connection while ${what} and could not reconnect: ${reason}`, reconnectErr)
      }
      if (restarted)
        throw new ScanInterruptedError(
          `Redis restarted while ${what} (its run_id changed); what was read before the restart may no longer hold.`,
          err,
        )
    }
  }
  const reason = lastErr instanceof Error ? lastErr.message : String(lastErr)
  throw new ScanInterruptedError(`Gave up while ${what} after ${attempts} reconnects: ${reason}`, lastErr)
}
