// CLIENT LIST lines as servers print them: Redis 7.0 (recorded from redis-server 7.0.15), Redis 7.2+
// with lib-name/lib-ver set by CLIENT SETINFO, Redis 8 (io-thread, watch), Valkey 8 (capa, tot-net-*)
// and an older server without resp.
import {describe, expect, it} from 'vitest'

import {hasFlag, hostOf, libLabel, parseClientLine, parseClientList, protocolLabel} from '../../src/lib/redis/client-list.js'

// Recorded from redis-server 7.0.15: a replica link, a BLPOP with timeout 0, a SUBSCRIBE, and redis-cli itself.
const REDIS_70 = `id=3 addr=127.0.0.1:55440 laddr=127.0.0.1:7391 fd=8 name= age=1 idle=1 flags=S db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=psync user=default redir=-1 resp=2
id=6 addr=127.0.0.1:55456 laddr=127.0.0.1:7391 fd=9 name= age=1 idle=1 flags=b db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=13 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22309 events=r cmd=blpop user=default redir=-1 resp=2
id=7 addr=127.0.0.1:55472 laddr=127.0.0.1:7391 fd=11 name= age=1 idle=1 flags=P db=0 sub=1 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22328 events=r cmd=subscribe user=default redir=-1 resp=2
id=8 addr=127.0.0.1:55484 laddr=127.0.0.1:7391 fd=12 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|list user=default redir=-1 resp=2
`

// Redis 7.2/7.4 format: a Sidekiq 8.1.5+ fetcher (redis-client with driver_info, RESP3) and a redis-rb 4 client (lib fields empty).
const REDIS_72 = [
  'id=4121 addr=10.0.3.17:43908 laddr=10.0.0.5:6379 fd=27 name= age=86213 idle=1 flags=b db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=21 multi-mem=0 rbs=1024 rbp=42 obl=0 oll=0 omem=0 tot-mem=1949 events=r cmd=brpop user=default redir=-1 resp=3 lib-name=redis-client(sidekiq_v8.1.5) lib-ver=0.28.0',
  'id=4188 addr=10.0.3.22:51870 laddr=10.0.0.5:6379 fd=31 name=Sidekiq-server-PID-812 age=7200 idle=5400 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=5 obl=0 oll=0 omem=0 tot-mem=1928 events=r cmd=hset user=default redir=-1 resp=2 lib-name= lib-ver=',
]

// Redis 8.0: `watch` and `io-thread` appear; an open MULTI with queued commands.
const REDIS_80 =
  'id=77 addr=[2001:db8::7]:60112 laddr=[2001:db8::5]:6379 fd=12 name=reporting age=900 idle=850 flags=x db=3 sub=0 psub=0 ssub=0 multi=2 watch=1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=96 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=3114 events=r cmd=incr user=app redir=-1 resp=3 lib-name=redis-rb lib-ver=6.0.0 io-thread=0'

// Valkey 8.x: `capa`, `tot-net-in`, `tot-net-out`, `tot-cmds`; a unix-socket client with a big output buffer.
const VALKEY_8 =
  'id=19 addr=/var/run/valkey/valkey.sock:0 laddr=/var/run/valkey/valkey.sock:0 fd=9 name=exporter age=31 idle=0 flags=U capa=redirect db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=412 omem=67108864 tot-mem=67131168 events=rw cmd=scan user=default redir=-1 resp=2 lib-name=valkey-go lib-ver=1.0.52 tot-net-in=18440 tot-net-out=90211337 tot-cmds=523'

// Redis 5/6: no resp, no laddr, no lib fields.
const REDIS_5 = 'id=2 addr=192.168.1.9:50322 fd=7 name= age=12 idle=12 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=0 obl=0 oll=0 omem=0 events=r cmd=get'

describe('parseClientLine', () => {
  it('reads a Redis 7.0 CLIENT LIST reply: every line, flags, resp, and no lib fields', () => {
    const clients = parseClientList(REDIS_70)
    expect(clients.map((c) => [c.id, c.flags, c.cmd])).toEqual([
      ['3', 'S', 'psync'],
      ['6', 'b', 'blpop'],
      ['7', 'P', 'subscribe'],
      ['8', 'N', 'client|list'],
    ])
    const blocked = clients[1]!
    expect(blocked).toMatchObject({addr: '127.0.0.1:55456', host: '127.0.0.1', name: '', ageSeconds: 1, idleSeconds: 1, db: 0, multi: -1, watch: 0, resp: 2, user: 'default'})
    expect(blocked.libName).toBeUndefined()
    expect(libLabel(blocked)).toBe('(not reported)')
    expect(hasFlag(blocked, 'b')).toBe(true)
    expect(clients[2]!.subscriptions).toBe(1)
    expect(clients[3]).toMatchObject({qbuf: 26, totMem: 37658})
    // Fields qdoctor does not type are kept as printed.
    expect(clients[0]!.fields).toMatchObject({laddr: '127.0.0.1:7391', 'qbuf-free': '20474', rbs: '1024', events: 'r', redir: '-1'})
    expect(clients[0]!.line).toBe(REDIS_70.split('\n')[0])
  })

  it('reads lib-name/lib-ver (Redis 7.2+), empty when the client never called CLIENT SETINFO', () => {
    const [sidekiq8, rb4] = REDIS_72.map(parseClientLine)
    expect(sidekiq8).toMatchObject({id: '4121', host: '10.0.3.17', resp: 3, libName: 'redis-client(sidekiq_v8.1.5)', libVer: '0.28.0', idleSeconds: 1, ageSeconds: 86213})
    expect(libLabel(sidekiq8!)).toBe('redis-client(sidekiq_v8.1.5) 0.28.0')
    expect(protocolLabel(sidekiq8!)).toBe('RESP3')
    expect(rb4).toMatchObject({name: 'Sidekiq-server-PID-812', resp: 2, libName: '', libVer: ''})
    expect(libLabel(rb4!)).toBe('(not set)')
  })

  it('reads Redis 8 fields (watch, io-thread), an open MULTI and an IPv6 address', () => {
    const c = parseClientLine(REDIS_80)
    expect(c).toMatchObject({addr: '[2001:db8::7]:60112', host: '2001:db8::7', name: 'reporting', flags: 'x', db: 3, multi: 2, watch: 1, cmd: 'incr', user: 'app', resp: 3})
    expect(c.fields['io-thread']).toBe('0')
    expect(c.fields['multi-mem']).toBe('96')
  })

  it('reads a Valkey 8 line, keeping the fields Redis does not have (capa, tot-net-*)', () => {
    const c = parseClientLine(VALKEY_8)
    expect(c).toMatchObject({host: '/var/run/valkey/valkey.sock', flags: 'U', omem: 67108864, totMem: 67131168, cmd: 'scan', libName: 'valkey-go', libVer: '1.0.52'})
    expect(c.fields).toMatchObject({capa: 'redirect', 'tot-net-in': '18440', 'tot-net-out': '90211337', 'tot-cmds': '523'})
    expect(protocolLabel(c)).toBe('RESP2')
  })

  it('reads an old line without resp or lib fields, and tolerates odd tokens', () => {
    const c = parseClientLine(REDIS_5)
    expect(c.resp).toBeUndefined()
    expect(protocolLabel(c)).toBe('unknown')
    expect(c).toMatchObject({id: '2', host: '192.168.1.9', idleSeconds: 12, subscriptions: 0, totMem: 0})
    const odd = parseClientLine('id=9 addr=1.2.3.4:5 flags=N strange cmd=GET name=a=b')
    expect(odd.fields.strange).toBe('')
    expect(odd.cmd).toBe('get')
    expect(odd.name).toBe('a=b')
  })

  it('hostOf strips the port from IPv4, bracketed IPv6 and unix socket addresses', () => {
    expect(hostOf('10.0.0.5:51234')).toBe('10.0.0.5')
    expect(hostOf('[::1]:6379')).toBe('::1')
    expect(hostOf('/tmp/redis.sock:0')).toBe('/tmp/redis.sock')
    expect(hostOf('')).toBe('')
  })

  it('ignores blank lines and CRLF endings', () => {
    expect(parseClientList(`\r\n${REDIS_5}\r\n\r\n${REDIS_80}\r\n`).map((c) => c.id)).toEqual(['2', '77'])
  })
})
