// Turns what ioredis and the server throw into one plain sentence a person on call can act on.

export type FailureKind =
  | 'refused'
  | 'dns'
  | 'auth'
  | 'acl'
  | 'tls'
  | 'timeout'
  | 'loading'
  | 'closed'
  | 'readonly'
  | 'other'

/** A failure that means "could not check" (exit code 3 at the command layer). */
export class RedisUnavailableError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    override readonly cause?: unknown,
  ) {
    super(message)
    this.name = 'RedisUnavailableError'
  }
}

/** A scan or paged read that could not finish; what was read so far is partial. */
export class ScanInterruptedError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message)
    this.name = 'ScanInterruptedError'
  }
}

const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|EPROTO|ERR_OSSL)/

function codeOf(err: unknown): string {
  const code = (err as {code?: unknown})?.code
  return typeof code === 'string' ? code : ''
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Classify an error from ioredis/Redis. `target` is the redacted address shown to the user. */
export function classifyRedisError(err: unknown, target: string): RedisUnavailableError {
  if (err instanceof RedisUnavailableError) return err
  const code = codeOf(err)
  const msg = messageOf(err)
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg))
    return new RedisUnavailableError(`Connection refused by ${target}: is Redis running and listening there?`, 'refused', err)
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN/.test(msg))
    return new RedisUnavailableError(`Could not resolve the host of ${target} (DNS lookup failed).`, 'dns', err)
  if (/sentinels are unreachable|master.*(not found|unknown)|sentinel/i.test(msg))
    return new RedisUnavailableError(`Could not get the primary from ${target}: ${firstLine(msg)}`, 'refused', err)
  if (/^(WRONGPASS|NOAUTH)|invalid password|invalid username-password/i.test(msg) || /AUTH.*without any password/i.test(msg))
    return new RedisUnavailableError(
      `Authentication failed for ${target}: the password (or user) in the URL was rejected or is missing.`,
      'auth',
      err,
    )
  if (/^NOPERM/.test(msg))
    return new RedisUnavailableError(
      `The Redis user has no permission for a command qdoctor needs (ACL NOPERM) on ${target}: ${firstLine(msg)}`,
      'acl',
      err,
    )
  if (/^LOADING/.test(msg))
    return new RedisUnavailableError(`${target} is loading its dataset into memory; try again when it has finished.`, 'loading', err)
  if (/^READONLY/.test(msg))
    return new RedisUnavailableError(`${target} is a read-only replica; writes must go to the primary.`, 'readonly', err)
  if (TLS_CODES.test(code) || /certificate|SSL routines|TLS|wrong version number/i.test(msg))
    return new RedisUnavailableError(`TLS handshake with ${target} failed: ${firstLine(msg)}`, 'tls', err)
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(msg))
    return new RedisUnavailableError(`Timed out talking to ${target} (raise --timeout if the server is just slow).`, 'timeout', err)
  if (/Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable|enableOfflineQueue/i.test(msg) || code === 'ECONNRESET')
    return new RedisUnavailableError(`The connection to ${target} was closed.`, 'closed', err)
  return new RedisUnavailableError(`Redis error from ${target}: ${firstLine(msg)}`, 'other', err)
}

/** Is this a transport failure worth a reconnect-and-retry (as opposed to a reply error like WRONGTYPE)? */
export function isConnectionFailure(err: unknown): boolean {
  const kind = classifyRedisError(err, '').kind
  return kind === 'refused' || kind === 'closed' || kind === 'timeout' || kind === 'dns' || kind === 'loading'
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text
}

/** A reply error for a key of another type than the command expects. */
export function isWrongType(err: unknown): boolean {
  return /^WRONGTYPE/.test(messageOf(err))
}
