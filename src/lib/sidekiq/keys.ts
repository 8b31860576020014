// Sidekiq's key names, namespace-aware. The only place in qdoctor that spells them.
// redis-namespace (Sidekiq <= 6) prefixes key names, never values: members of `queues` and
// `processes` stay bare and are turned into keys here.

export class SidekiqKeys {
  readonly prefix: string

  constructor(readonly namespace?: string) {
    this.prefix = namespace ? `${namespace}:` : ''
  }

  /** Any Sidekiq key name, prefixed. */
  key(name: string): string {
    return this.prefix + name
  }

  /** A SCAN MATCH pattern, prefixed (glob characters in the namespace are escaped). */
  pattern(glob: string): string {
    return escapeGlob(this.prefix) + glob
  }

  /** The bare name of a prefixed key (as Sidekiq itself would see it). */
  strip(key: string): string {
    return this.prefix && key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key
  }

  get queues(): string {
    return this.key('queues')
  }
  get paused(): string {
    return this.key('paused')
  }
  get schedule(): string {
    return this.key('schedule')
  }
  get retry(): string {
    return this.key('retry')
  }
  get dead(): string {
    return this.key('dead')
  }
  get processes(): string {
    return this.key('processes')
  }

  queue(name: string): string {
    return this.key(`queue:${name}`)
  }

  /** Pattern for every queue list (including ones missing from `queues`). */
  get queuePattern(): string {
    return this.pattern('queue:*')
  }

  /** The queue name of a `queue:<name>` key, or undefined for other keys. */
  queueName(key: string): string | undefined {
    const bare = this.strip(key)
    return bare.startsWith('queue:') ? bare.slice('queue:'.length) : undefined
  }

  /** Heartbeat hash of a process identity (`host:pid:nonce`). */
  process(identity: string): string {
    return this.key(identity)
  }
  /** In-progress work hash: `<identity>:work` from 6.5, `<identity>:workers` before. */
  work(identity: string): string {
    return this.key(`${identity}:work`)
  }
  workers(identity: string): string {
    return this.key(`${identity}:workers`)
  }
  signals(identity: string): string {
    return this.key(`${identity}-signals`)
  }

  /** Sidekiq Pro batch hash `b-<bid>`. */
  batch(bid: string): string {
    return this.key(`b-${bid}`)
  }
  /** A batch companion key `b-<bid>-<part>` (jids, failinfo, failed, died, notify, …). */
  batchPart(bid: string, part: string): string {
    return this.key(`b-${bid}-${part}`)
  }
  get failinfoPattern(): string {
    return this.pattern('b-*-failinfo')
  }
  /**
   * The bid of a `b-<bid>-failinfo` key. Bids are URL-safe base64 and may contain or end with '-',
   * so the fixed prefix and suffix are stripped rather than splitting on '-'.
   */
  failinfoBid(key: string): string | undefined {
    const bare = this.strip(key)
    if (!bare.startsWith('b-') || !bare.endsWith('-failinfo')) return undefined
    const bid = bare.slice(2, -'-failinfo'.length)
    return BID_PATTERN.test(bid) ? bid : undefined
  }
}

/** Pro 2+: urlsafe_base64(10) (14 chars); Pro 1: 16 hex. Kept loose: any URL-safe base64 run. */
const BID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

/** Pro super_fetch private queues are `queue:sq|<identity>|<queue>`: not public queues. */
export function isPrivateQueueName(name: string): boolean {
  return name.includes('|')
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
