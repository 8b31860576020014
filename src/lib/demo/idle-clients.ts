// Connections that sit idle on the demo server, as leaked pools and forgotten consoles do: the
// connections check has something to find. Held open until close().
import {Redis} from 'ioredis'

export const IDLE_CLIENT_NAMES = ['reporting-cron-pool', 'rails-console-ops', 'legacy-api-pool']

export interface IdleClients {
  names: string[]
  close(): Promise<void>
}

export async function openIdleClients(url: string, names: readonly string[] = IDLE_CLIENT_NAMES): Promise<IdleClients> {
  const clients: Redis[] = []
  try {
    for (const name of names) {
      const client = new Redis(url, {lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectionName: name})
      client.on('error', () => {})
      clients.push(client)
      await client.connect()
      await client.ping()
    }
  } catch (err) {
    for (const c of clients) c.disconnect()
    throw err
  }
  return {
    names: [...names],
    close: async () => {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
    },
  }
}
