// Passwords must never reach any output: reports, tables, errors, journals.

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. Unparseable input is returned with any `:pw@` masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@')
  }
}

/** Replace every occurrence of each secret in `text` (error messages may echo a URL or an AUTH argument). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) {
    if (!secret) continue
    out = out.split(secret).join('***')
    const encoded = encodeURIComponent(secret)
    if (encoded !== secret) out = out.split(encoded).join('***')
  }
  return out
}

/** The secrets a connection URL carries (password, and its percent-decoded form). */
export function secretsOf(url: string | undefined): string[] {
  if (!url) return []
  try {
    const parsed = new URL(url)
    if (!parsed.password) return []
    return [...new Set([parsed.password, decodeURIComponent(parsed.password)])]
  } catch {
    const match = /\/\/[^:/@]*:([^@]*)@/.exec(url)
    return match?.[1] ? [match[1]] : []
  }
}
