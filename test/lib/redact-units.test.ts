import {describe, expect, it} from 'vitest'

import {parseDurationMs, parseSizeBytes} from '../../src/lib/command/units.js'
import {redactSecrets, redactUrl, secretsOf} from '../../src/lib/redis/redact.js'
import {classifyRedisError} from '../../src/lib/redis/errors.js'

describe('redaction', () => {
  it('masks the password of a URL and keeps the rest', () => {
    expect(redactUrl('redis://:s3cret@10.0.0.5:6379/2')).toBe('redis://:***@10.0.0.5:6379/2')
    expect(redactUrl('rediss://app:p%40ss@host:6380/0')).toBe('rediss://app:***@host:6380/0')
    expect(redactUrl('redis://127.0.0.1:6379/0')).toBe('redis://127.0.0.1:6379/0')
  })
  it('masks secrets (raw and percent-encoded) anywhere in a text', () => {
    const secrets = secretsOf('redis://:p@ss word@host:6379')
    expect(redactSecrets('AUTH p@ss word failed for redis://:p%40ss%20word@host', secrets)).not.toMatch(/p@ss|p%40ss/)
  })
  it('classifies errors into plain sentences', () => {
    expect(classifyRedisError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {code: 'ECONNREFUSED'}), 'T').kind).toBe('refused')
    expect(classifyRedisError(new Error('WRONGPASS invalid username-password pair'), 'T').kind).toBe('auth')
    expect(classifyRedisError(new Error('NOAUTH Authentication required.'), 'T').kind).toBe('auth')
    expect(classifyRedisError(new Error("NOPERM this user has no permissions to run the 'config' command"), 'T').kind).toBe('acl')
    expect(classifyRedisError(new Error('LOADING Redis is loading the dataset in memory'), 'T').kind).toBe('loading')
    expect(classifyRedisError(Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), {code: 'ENOTFOUND'}), 'T').kind).toBe('dns')
    expect(classifyRedisError(Object.assign(new Error('self-signed certificate'), {code: 'DEPTH_ZERO_SELF_SIGNED_CERT'}), 'T').kind).toBe('tls')
    expect(classifyRedisError(Object.assign(new Error('connect ETIMEDOUT'), {code: 'ETIMEDOUT'}), 'T').kind).toBe('timeout')
  })
})

describe('units', () => {
  it('parses durations with units', () => {
    expect(parseDurationMs('500ms')).toBe(500)
    expect(parseDurationMs('30s')).toBe(30_000)
    expect(parseDurationMs('10m')).toBe(600_000)
    expect(parseDurationMs('1h')).toBe(3_600_000)
    expect(parseDurationMs('7d')).toBe(604_800_000)
  })
  it('rejects bare numbers, negatives and garbage', () => {
    expect(() => parseDurationMs('10')).toThrow(/needs a unit/)
    expect(() => parseDurationMs('-5s')).toThrow(/not a duration/)
    expect(() => parseDurationMs('soon')).toThrow(/not a duration/)
  })
  it('parses sizes', () => {
    expect(parseSizeBytes('512kb')).toBe(512 * 1024)
    expect(parseSizeBytes('100mb')).toBe(100 * 1024 * 1024)
    expect(parseSizeBytes('5gb')).toBe(5 * 1024 ** 3)
    expect(parseSizeBytes('1024')).toBe(1024)
    expect(() => parseSizeBytes('lots')).toThrow(/not a size/)
  })
})
