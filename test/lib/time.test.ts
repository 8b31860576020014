import {describe, expect, it} from 'vitest'

import {timestampUnit, toEpochSeconds} from '../../src/lib/sidekiq/time.js'

describe('toEpochSeconds', () => {
  it('reads float seconds (Sidekiq <= 7)', () => {
    expect(toEpochSeconds(1713484819.123)).toBeCloseTo(1713484819.123, 3)
  })
  it('reads integer milliseconds (Sidekiq 8)', () => {
    expect(toEpochSeconds(1713484819123)).toBeCloseTo(1713484819.123, 3)
  })
  it('reads numeric strings (Oj / old Pro)', () => {
    expect(toEpochSeconds('1425992407.4565227')).toBeCloseTo(1425992407.4565, 3)
    expect(toEpochSeconds('1713484819123')).toBeCloseTo(1713484819.123, 3)
  })
  it('reads ISO8601 strings', () => {
    expect(toEpochSeconds('2024-04-18T23:20:19Z')).toBe(1713482419)
  })
  it('returns undefined for garbage, absent, zero and negative values', () => {
    for (const v of [undefined, null, 'soon', '', {}, [], 0, -5, Number.NaN, true]) expect(toEpochSeconds(v)).toBeUndefined()
  })
  it('names the encoding', () => {
    expect(timestampUnit(1713484819.5)).toBe('seconds')
    expect(timestampUnit(1713484819500)).toBe('milliseconds')
    expect(timestampUnit('1713484819')).toBe('string')
    expect(timestampUnit(undefined)).toBeUndefined()
  })
})
