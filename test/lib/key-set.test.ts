// KeySet: the compact, exact de-duplication set behind scanKeys. It must answer exactly as a
// Set<string> would, for ASCII, multi-byte and long (>= 255 bytes) keys, across table growth.
import {describe, expect, it} from 'vitest'

import {KeySet} from '../../src/lib/redis/scan.js'

describe('KeySet', () => {
  it('adds each distinct key once, as a Set<string> does', () => {
    const ks = new KeySet()
    const ref = new Set<string>()
    const alphabet = ['a', 'b', '-', ':', 'ä', '日', '😀', '0', '{', '}']
    let seed = 42
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return Math.floor((seed / 2_147_483_648) * n)
    }
    for (let i = 0; i < 50_000; i++) {
      const len = rand(20) === 0 ? 250 + rand(200) : rand(9)
      let key = ''
      for (let j = 0; j < len; j++) key += alphabet[rand(alphabet.length)]
      expect(ks.add(key), key).toBe(!ref.has(key))
      ref.add(key)
    }
    expect(ks.size).toBe(ref.size)
    // Everything added is found again after all the growth.
    for (const key of ref) expect(ks.add(key)).toBe(false)
  })

  it('tells apart keys that differ only in length or in their last byte', () => {
    const ks = new KeySet()
    const long = 'x'.repeat(300)
    for (const key of ['', 'a', 'aa', 'b-abc-failinfo', 'b-abc-failinfO', long, `${long}y`, 'é', 'e\u0301'])
      expect(ks.add(key), key).toBe(true)
    expect(ks.add(long)).toBe(false)
    expect(ks.add('')).toBe(false)
    expect(ks.size).toBe(9)
  })
})
