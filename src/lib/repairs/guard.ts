// Before any write: refuse a replica (its writes would be lost, or refused, at the next sync) and a
// server still loading its dataset. Actions that write no keys (CLIENT KILL) are fine on a replica.
import type {Connection} from '../redis/connect.js'
import {isConnectionFailure, RedisUnavailableError} from '../redis/errors.js'
import {parseInfo} from '../redis/server-info.js'

/** A write the engine will not make on this server (exit code 4 at the command layer). */
export class WriteRefusedError extends Error {}

export interface WriteGuardOptions {
  /** The actions write no keys (CLIENT KILL): a replica is no reason to refuse them. */
  keyless?: boolean
}

/** Why writes to a server with these INFO fields must be refused, or undefined when they may proceed. */
export function writeRefusal(info: Record<string, string>, target: string, options: WriteGuardOptions = {}): string | undefined {
  const role = info.role
  if (!options.keyless && (role === 'slave' || role === 'replica')) {
    const primary = info.master_host ? ` of ${info.master_host}:${info.master_port ?? '?'}` : ''
    return `Refusing to write to ${target}: it is a replica (role:${role})${primary}. Run the repair against the primary.`
  }
  if (info.loading === '1' || info.async_loading === '1')
    return `Refusing to write to ${target}: it is still loading its dataset (loading:1). Try again when loading has finished.`
  return undefined
}

/** Throws WriteRefusedError unless the server is a primary (any role when `keyless`) that has finished loading. */
export async function assertWritable(conn: Connection, options: WriteGuardOptions = {}): Promise<void> {
  let redis
  try {
    redis = await conn.redis()
  } catch (err) {
    if (err instanceof RedisUnavailableError && err.kind === 'loading')
      throw new WriteRefusedError(`Refusing to write to ${conn.target}: it is still loading its dataset. Try again when loading has finished.`)
    throw err
  }
  await conn.budget.take(2)
  let info: Record<string, string>
  try {
    info = {...parseInfo(await redis.info('replication')), ...parseInfo(await redis.info('persistence'))}
  } catch (err) {
    if (isConnectionFailure(err)) throw err
    // INFO renamed or forbidden: ROLE says primary or replica (which keyless actions need not know).
    if (options.keyless) return
    try {
      const role = (await redis.call('ROLE')) as unknown[]
      info = {role: String(role[0])}
    } catch (roleErr) {
      if (isConnectionFailure(roleErr)) throw roleErr
      throw new WriteRefusedError(
        `Refusing to write to ${conn.target}: could not verify that it is a primary (INFO and ROLE were refused: ${(err as Error).message.split('\n')[0]}).`,
      )
    }
  }
  const refusal = writeRefusal(info, conn.target, options)
  if (refusal) throw new WriteRefusedError(refusal)
}
