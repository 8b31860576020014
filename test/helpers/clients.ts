// Real client connections for the connections tests: named ioredis clients that never reconnect (a
// killed one must stay gone) and raw sockets sending inline commands (HELLO 3, an unfinished MULTI,
// half a huge bulk string). Every one is closed by closeClients().
import {connect, type Socket} from 'node:net'
import {Redis} from 'ioredis'

const closers: Array<() => void> = []

export async function named(port: number, name: string): Promise<Redis> {
  const c = new Redis({port, host: '127.0.0.1', connectionName: name, retryStrategy: () => null, maxRetriesPerRequest: 0, lazyConnect: true})
  c.on('error', () => {})
  await c.connect()
  await c.ping()
  closers.push(() => c.disconnect())
  return c
}

export async function raw(port: number, ...writes: Array<string | Buffer>): Promise<Socket> {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  s.on('data', () => {})
  await new Promise((resolve) => s.once('connect', resolve))
  for (const w of writes) s.write(w)
  closers.push(() => s.destroy())
  return s
}

export function closeClients(): void {
  for (const close of closers.splice(0)) close()
}
