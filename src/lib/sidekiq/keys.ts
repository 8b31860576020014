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
}

/** Pro super_fetch private queues are `queue:sq|<identity>|<queue>`: not public queues. */
export function isPrivateQueueName(name: string): boolean {
  return name.includes('|')
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
