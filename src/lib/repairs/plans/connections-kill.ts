// Plans `qdoctor connections --kill`: which clients to CLIENT KILL. A client is a candidate when it
// has been idle for --idle-after (or blocked for --blocked-after) and matches every filter given
// (--addr, --name, --lib, --cmd). Never planned: qdoctor's own connection, replication links
// (flags S/M) and, unless asked, pub/sub listeners (flag P).
import {type ClientInfo, libLabel} from '../../redis/client-list.js'
import {globMatcher} from '../../redis/glob.js'
import {type ClientKind, classifyClient, INFRASTRUCTURE_KINDS} from '../../sidekiq/clients.js'
import type {ClientKillAction} from '../actions.js'

export interface KillFilters {
  idleAfterSeconds: number
  blockedAfterSeconds: number
  /** `ip:port` (one connection) or `ip` (a host); any of them. */
  addr?: string[]
  /** Client names as Redis glob patterns (`*`, `?`, `[…]`); any of them. */
  name?: string[]
  /** lib-name, or `lib-name lib-ver`, as glob patterns; any of them. */
  lib?: string[]
  /** Last command (`brpop`, `client|list`), any of them. */
  cmd?: string[]
  includePubsub: boolean
}

export interface KillPlan {
  actions: ClientKillAction[]
  /** Clients that matched but are protected, per kind. */
  spared: Partial<Record<ClientKind, number>>
}

export function planClientKills(clients: readonly ClientInfo[], ownId: string | undefined, f: KillFilters): KillPlan {
  const plan: KillPlan = {actions: [], spared: {}}
  const names = f.name?.map(globMatcher)
  const libs = f.lib?.map(globMatcher)
  const cmds = f.cmd?.map((c) => c.toLowerCase())
  for (const c of clients) {
    if (!c.id || !c.addr) continue
    if (f.addr && !f.addr.some((a) => a === c.addr || a === c.host)) continue
    if (names && !names.some((matches) => matches(c.name))) continue
    if (libs && !(c.libName && libs.some((matches) => matches(c.libName!) || matches(libLabel(c))))) continue
    if (cmds && !cmds.includes(c.cmd)) continue
    const kind = classifyClient(c, ownId)
    const stale = c.idleSeconds >= f.idleAfterSeconds || (kind === 'blocked' && c.idleSeconds >= f.blockedAfterSeconds)
    if (!stale) continue
    if (INFRASTRUCTURE_KINDS.includes(kind) || (kind === 'pubsub' && !f.includePubsub)) {
      plan.spared[kind] = (plan.spared[kind] ?? 0) + 1
      continue
    }
    plan.actions.push({
      kind: 'client-kill',
      step: 'client-kill',
      id: c.id,
      expectAddr: c.addr,
      clientLine: c.line,
      detail: `CLIENT KILL ID ${c.id} (${c.addr}${c.name ? ` name=${c.name}` : ''}, ${kind}, idle ${c.idleSeconds}s, cmd ${c.cmd || '?'})`,
      subject: {id: c.id, addr: c.addr, name: c.name},
    })
  }
  return plan
}
