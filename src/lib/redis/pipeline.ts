// Follow-up reads (TYPE, LLEN, MEMORY USAGE, HGET…) sent pipelined in bounded batches, each
// command's own error kept with its result so one WRONGTYPE key never sinks the others.
import type {Connection} from './connect.js'
import {isConnectionFailure} from './errors.js'
import {resilient} from './resilient.js'

export type Command = [name: string, ...args: Array<string | number | Buffer>]

export interface Reply {
  value?: unknown
  error?: Error
}

export const DEFAULT_PIPELINE_BATCH = 200

/**
 * For each item, run the commands `commandsFor(item)` returns; result[i][j] is the reply to item i's
 * command j. Reads only: a batch is retried whole after a reconnect.
 */
export async function pipelinedReads<T>(
  conn: Connection,
  items: readonly T[],
  commandsFor: (item: T) => Command[],
  batchSize = DEFAULT_PIPELINE_BATCH,
): Promise<Reply[][]> {
  const out: Reply[][] = []
  for (let start = 0; start < items.length; start += batchSize) {
    const slice = items.slice(start, start + batchSize)
    const perItem = slice.map(commandsFor)
    const flat = perItem.flat()
    await conn.budget.take(flat.length)
    const raw = await resilient(conn, 'reading keys', async (redis) => {
      const results = await redis.pipeline(flat.map(([name, ...args]) => [name, ...args])).exec()
      // ioredis reports a dropped connection per command; surface it once so the batch is retried.
      const transport = results?.find(([err]) => err && isConnectionFailure(err))?.[0]
      if (transport) throw transport
      return results ?? []
    })
    let k = 0
    for (const commands of perItem) out.push(commands.map(() => toReply(raw[k++])))
  }
  return out
}

function toReply(entry: [Error | null, unknown] | undefined): Reply {
  if (!entry) return {error: new Error('no reply')}
  const [error, value] = entry
  return error ? {error} : {value}
}
