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
  /**
   * Where `qdoctor dead --stop-loop` sets the dead set aside while a looping retry_all winds down (a
   * fixed name: a second run, or the report, finds one left behind by an interrupted run).
   */
  get deadQuarantine(): string {
    return this.key('dead:qdoctor-quarantine')
  }
  /** Sidekiq's all-time failure counter (flushed by each server process on its heartbeat). */
  get statFailed(): string {
    return this.key('stat:failed')
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

  // ---- batches (Sidekiq Pro `b-<bid>` and the sidekiq-batch gem's `BID-<bid>`) -------------------

  /** The batch hash of a layout: `b-<bid>` (Pro) or `BID-<bid>` (sidekiq-batch). */
  batchHash(layout: BatchLayout, bid: string): string {
    return this.key(BATCH_PREFIX[layout] + bid)
  }
  /** A companion key of a layout, derived from the bid (never by splitting a key name on '-'). */
  batchCompanion(layout: BatchLayout, bid: string, part: string): string {
    return this.key(`${BATCH_PREFIX[layout]}${bid}-${part}`)
  }
  /** SCAN pattern for every key of a layout (hashes and companions). */
  batchKeysPattern(layout: BatchLayout): string {
    return this.pattern(`${BATCH_PREFIX[layout]}*`)
  }
  /** The layout and the text after its prefix, for a key under `b-` or `BID-` (undefined otherwise). */
  batchKeyTail(key: string): {layout: BatchLayout; tail: string} | undefined {
    const bare = this.strip(key)
    if (this.prefix && bare === key) return undefined
    for (const layout of BATCH_LAYOUTS) if (bare.startsWith(BATCH_PREFIX[layout])) return {layout, tail: bare.slice(BATCH_PREFIX[layout].length)}
    return undefined
  }
  /** Pro's index of live batches (ZSET, member = bid). */
  get batchesIndex(): string {
    return this.key('batches')
  }
  /** Pro's set of dead batches (member = bid). */
  get batchDied(): string {
    return this.key('batch-died')
  }

  // ---- reliable fetchers: Pro super_fetch private queues and GitLab working queues -------------

  /** `queue:sq|<identity>|<queue>` → owner identity and public queue name (Pro 3.5+ super_fetch). */
  privateQueue(key: string): {identity: string; queue: string} | undefined {
    const name = this.queueName(key)
    if (name === undefined || !name.startsWith('sq|')) return undefined
    const rest = name.slice(3)
    const bar = rest.indexOf('|')
    if (bar <= 0 || bar === rest.length - 1) return undefined
    return {identity: rest.slice(0, bar), queue: rest.slice(bar + 1)}
  }
  /** SCAN pattern for GitLab reliable-fetch working lists. */
  get workingQueuePattern(): string {
    return this.pattern('working:queue:*')
  }
  /**
   * `working:queue:<name>:<identity>` → queue and identity, as gitlab-sidekiq-fetcher's
   * WORKING_QUEUE_REGEX reads it (`host:pid:nonce`, or the legacy `host:pid`).
   */
  workingQueue(key: string): {identity: string; queue: string} | undefined {
    const bare = this.strip(key)
    if (this.prefix && bare === key) return undefined
    const m = /^working:queue:(.*):([^:]*:[0-9]*:[0-9a-f]*)$/.exec(bare) ?? /^working:queue:(.*):([^:]*:[0-9]*)$/.exec(bare)
    return m && m[1] ? {queue: m[1], identity: m[2]!} : undefined
  }
  /** GitLab reliable fetch's liveness key of an identity (':' become '-'). */
  workingHeartbeat(identity: string): string {
    return this.key(`reliable-fetcher-heartbeat-${identity.replace(/:/g, '-')}`)
  }
  /** GitLab reliable fetch's quarantine of jobs interrupted too often (ZSET). */
  get interrupted(): string {
    return this.key('interrupted')
  }
  /** SCAN pattern covering `<identity>:work` and `<identity>:workers`. */
  get workPattern(): string {
    return this.pattern('*:work*')
  }
  /** The identity of a `<identity>:work` / `<identity>:workers` key (undefined for other keys). */
  workOwner(key: string): string | undefined {
    const bare = this.strip(key)
    if (this.prefix && bare === key) return undefined
    for (const suffix of [':work', ':workers']) if (bare.endsWith(suffix) && bare.length > suffix.length) return bare.slice(0, -suffix.length)
    return undefined
  }

  // ---- stats counters (snapshot export/import) ------------------------------------------------

  /** SCAN pattern for the `stat:*` counters. */
  get statsPattern(): string {
    return this.pattern('stat:*')
  }
  /** `stat:processed`, `stat:failed` and their daily `stat:<name>:YYYY-MM-DD` copies (§2.6). */
  isStatCounter(key: string): boolean {
    const bare = this.strip(key)
    if (this.prefix && bare === key) return false
    return /^stat:(processed|failed)(:\d{4}-\d{2}-\d{2})?$/.test(bare)
  }
}

export type BatchLayout = 'pro' | 'sidekiq-batch'
export const BATCH_LAYOUTS: readonly BatchLayout[] = ['pro', 'sidekiq-batch']
const BATCH_PREFIX: Record<BatchLayout, string> = {pro: 'b-', 'sidekiq-batch': 'BID-'}

/**
 * Companion keys of a batch, per layout, with the Redis type each should have (sidekiq-data-model.md
 * §6.1 for Pro, §8 for sidekiq-batch). `confidence` is the data model's word for the layout fact.
 */
export const BATCH_COMPANIONS: Record<BatchLayout, ReadonlyArray<{part: string; type: string; confidence: 'certain' | 'likely' | 'guess'}>> = {
  pro: [
    {part: 'jids', type: 'set', confidence: 'likely'},
    {part: 'failinfo', type: 'hash', confidence: 'likely'},
    {part: 'failed', type: 'set', confidence: 'guess'},
    {part: 'died', type: 'set', confidence: 'likely'},
    {part: 'complete', type: 'set', confidence: 'likely'},
    {part: 'success', type: 'set', confidence: 'likely'},
    {part: 'notify', type: 'string', confidence: 'likely'},
    {part: 'cbsucc', type: 'string', confidence: 'likely'},
    {part: 'pending', type: 'string', confidence: 'certain'},
  ],
  'sidekiq-batch': [
    {part: 'jids', type: 'set', confidence: 'certain'},
    {part: 'failed', type: 'set', confidence: 'certain'},
    {part: 'success', type: 'set', confidence: 'certain'},
    {part: 'complete', type: 'set', confidence: 'certain'},
    {part: 'callbacks-success', type: 'set', confidence: 'certain'},
    {part: 'callbacks-complete', type: 'set', confidence: 'certain'},
  ],
}

/** Is `bid` shaped like a batch id (URL-safe base64; may start or end with '-')? */
export function isBid(bid: string): boolean {
  return BID_PATTERN.test(bid)
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
