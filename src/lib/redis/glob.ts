// Redis glob patterns (SCAN MATCH, KEYS) matched on the client, with the server's rules
// (util.c stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]` (a reversed range is swapped), `\x` escapes.
// Case-sensitive, like SCAN.

const SPECIAL = new Set(['*', '?', '[', '\\'])

function escapeRegExp(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch
}

/** A matcher equivalent to `SCAN … MATCH pattern` for one key. */
export function globMatcher(pattern: string): (key: string) => boolean {
  const re = new RegExp(`^${globToRegExpSource(pattern)}$`, 's')
  return (key) => re.test(key)
}

function globToRegExpSource(pattern: string): string {
  const chars = [...pattern]
  let out = ''
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!
    if (ch === '*') {
      out += '.*'
    } else if (ch === '?') {
      out += '.'
    } else if (ch === '\\' && i + 1 < chars.length) {
      out += escapeRegExp(chars[++i]!)
    } else if (ch === '[') {
      const [cls, next] = characterClass(chars, i + 1)
      out += cls
      i = next
    } else {
      out += escapeRegExp(ch)
    }
  }
  return out
}

/** `[…]` starting after the bracket: the RegExp class and the index of its closing bracket. */
function characterClass(chars: string[], start: number): [string, number] {
  let i = start
  let negate = false
  if (chars[i] === '^') {
    negate = true
    i++
  }
  const parts: string[] = []
  for (; i < chars.length && chars[i] !== ']'; i++) {
    let ch = chars[i]!
    if (ch === '\\' && i + 1 < chars.length) ch = chars[++i]!
    if (chars[i + 1] === '-' && i + 2 < chars.length && chars[i + 2] !== ']') {
      let end = chars[i + 2]!
      i += 2
      if (end === '\\' && i + 1 < chars.length) end = chars[++i]!
      const [lo, hi] = ch.codePointAt(0)! <= end.codePointAt(0)! ? [ch, end] : [end, ch]
      parts.push(`${escapeClass(lo)}-${escapeClass(hi)}`)
    } else {
      parts.push(escapeClass(ch))
    }
  }
  // Redis reads an unterminated class up to the end of the pattern.
  if (parts.length === 0) return [negate ? '[\\s\\S]' : '(?!)', i]
  return [`[${negate ? '^' : ''}${parts.join('')}]`, i]
}

function escapeClass(ch: string): string {
  return /[\\\]^-]/.test(ch) ? `\\${ch}` : ch
}

/** The literal text every key matching `pattern` starts with (up to the first wildcard or escape). */
export function literalPrefix(pattern: string): string {
  let out = ''
  for (const ch of pattern) {
    if (SPECIAL.has(ch)) break
    out += ch
  }
  return out
}

/** One SCAN MATCH pattern that every key of `patterns` matches: their common literal prefix, then `*`. */
export function coveringPattern(patterns: readonly string[]): string {
  if (patterns.length === 0) return '*'
  let prefix = literalPrefix(patterns[0]!)
  for (const p of patterns.slice(1)) {
    const other = literalPrefix(p)
    let n = 0
    while (n < prefix.length && n < other.length && prefix[n] === other[n]) n++
    prefix = prefix.slice(0, n)
  }
  return `${prefix}*`
}
