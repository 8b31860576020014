// CLIENT LIST: one line per connection, `field=value` pairs separated by spaces. Every field is
// kept (servers keep adding them: resp in 7.0, lib-name/lib-ver in 7.2, io-thread in 8.0, Valkey's
// capa and tot-net-*); the ones qdoctor judges are typed. Where CLIENT is renamed or forbidden
// (managed Redis), the read says so instead of failing.
import type {Connection} from './connect.js'
import {isConnectionFailure} from './errors.js'
import {pipelinedReads, type Reply} from './pipeline.js'

export interface ClientInfo {
  id: string
  /** `ip:port`, `[ipv6]:port` or `/path/to.sock:0`, as Redis prints it. */
  addr: string
  /** The address without its port: `10.0.0.5`, `::1`, `/tmp/redis.sock`. */
  host: string
  /** Empty when the client never ran CLIENT SETNAME. */
  name: string
  ageSeconds: number
  /** Seconds since the last command (for a blocked client: since the blocking call began). */
  idleSeconds: number
  /** Flag letters (`N` = none, `b` blocked, `P` pub/sub, `S` replica, `M` master, `x` MULTI, `O` MONITOR, …). */
  flags: string
  db?: number
  /** Channel, pattern and shard-channel subscriptions. */
  subscriptions: number
  /** Commands queued in an open MULTI; -1 outside a transaction. */
  multi: number
  /** Keys WATCHed (Redis 7.4+/8.0; 0 when the server does not report it). */
  watch: number
  /** Query buffer, output buffer and total client memory, in bytes. */
  qbuf: number
  omem: number
  totMem: number
  /** The last command, lower case (`brpop`, `client|list`). */
  cmd: string
  user?: string
  /** 2 or 3; undefined before Redis 7.0. */
  resp?: number
  /** Set by CLIENT SETINFO (Redis 7.2+): '' when the client did not set it, undefined when the server does not report it. */
  libName?: string
  libVer?: string
  /** Every field as the server printed it, unknown ones included. */
  fields: Record<string, string>
  /** The line itself (journaled before a kill). */
  line: string
}

export type ClientListResult =
  | {available: true; clients: ClientInfo[]; /** This connection's own id (undefined when CLIENT ID is refused). */ ownId?: string}
  | {available: false; /** The server's answer, e.g. "ERR unknown command 'CLIENT'" or a NOPERM. */ reason: string}

/** Parse one CLIENT LIST (or CLIENT INFO) line. */
export function parseClientLine(line: string): ClientInfo {
  const fields: Record<string, string> = {}
  for (const token of line.trim().split(/\s+/)) {
    if (!token) continue
    const eq = token.indexOf('=')
    if (eq < 0) fields[token] = ''
    else fields[token.slice(0, eq)] = token.slice(eq + 1)
  }
  const addr = fields.addr ?? ''
  const resp = int(fields.resp)
  return {
    id: fields.id ?? '',
    addr,
    host: hostOf(addr),
    name: fields.name ?? '',
    ageSeconds: int(fields.age) ?? 0,
    idleSeconds: int(fields.idle) ?? 0,
    flags: fields.flags ?? '',
    ...(int(fields.db) !== undefined ? {db: int(fields.db)} : {}),
    subscriptions: (int(fields.sub) ?? 0) + (int(fields.psub) ?? 0) + (int(fields.ssub) ?? 0),
    multi: int(fields.multi) ?? -1,
    watch: int(fields.watch) ?? 0,
    qbuf: int(fields.qbuf) ?? 0,
    omem: int(fields.omem) ?? 0,
    totMem: int(fields['tot-mem']) ?? 0,
    cmd: (fields.cmd ?? '').toLowerCase(),
    ...(fields.user !== undefined ? {user: fields.user} : {}),
    ...(resp !== undefined ? {resp} : {}),
    ...(fields['lib-name'] !== undefined ? {libName: fields['lib-name']} : {}),
    ...(fields['lib-ver'] !== undefined ? {libVer: fields['lib-ver']} : {}),
    fields,
    line: line.trim(),
  }
}

/** Parse a whole CLIENT LIST reply (one client per line). */
export function parseClientList(text: string): ClientInfo[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map(parseClientLine)
}

/** `10.0.0.5:51234` → `10.0.0.5`; `[::1]:6379` → `::1`; `/tmp/redis.sock:0` → `/tmp/redis.sock`. */
export function hostOf(addr: string): string {
  if (addr.startsWith('[')) {
    const close = addr.indexOf(']')
    if (close > 0) return addr.slice(1, close)
  }
  const colon = addr.lastIndexOf(':')
  return colon > 0 ? addr.slice(0, colon) : addr
}

export function hasFlag(client: Pick<ClientInfo, 'flags'>, flag: string): boolean {
  return client.flags.includes(flag)
}

/** `redis-client(sidekiq_v8.1.5) 0.28.0`; `(not set)` on 7.2+ without CLIENT SETINFO; `(not reported)` before 7.2. */
export function libLabel(c: Pick<ClientInfo, 'libName' | 'libVer'>): string {
  if (c.libName === undefined) return '(not reported)'
  if (c.libName === '') return '(not set)'
  return c.libVer ? `${c.libName} ${c.libVer}` : c.libName
}

export function protocolLabel(c: Pick<ClientInfo, 'resp'>): string {
  return c.resp === undefined ? 'unknown' : `RESP${c.resp}`
}

/**
 * CLIENT ID and CLIENT LIST, pipelined on one connection (so the id is the id of the connection
 * that listed). A refused CLIENT (renamed, forbidden by ACL or by a managed service) is not an
 * error: the result says it is unavailable and why.
 */
export async function readClientList(conn: Connection): Promise<ClientListResult> {
  const [[idReply, listReply]] = (await pipelinedReads(conn, [0], () => [
    ['client', 'id'],
    ['client', 'list'],
  ])) as [[Reply, Reply]]
  if (listReply.error) {
    if (isConnectionFailure(listReply.error)) throw listReply.error
    return {available: false, reason: listReply.error.message.split('\n')[0] ?? String(listReply.error)}
  }
  const text = Buffer.isBuffer(listReply.value) ? listReply.value.toString('utf8') : String(listReply.value ?? '')
  const ownId = idReply.error || idReply.value === undefined ? undefined : String(idReply.value)
  return {available: true, clients: parseClientList(text), ...(ownId !== undefined ? {ownId} : {})}
}

function int(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  const n = Number(text)
  return Number.isFinite(n) ? n : undefined
}
