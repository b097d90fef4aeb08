/**
 * Strict JSON for the wire. JSON.parse is lenient where two implementations
 * would disagree: it keeps the last of duplicate keys (another parser keeps the
 * first, or refuses), and it reads `1`, `1.0` and `1e0` as the same number, so
 * one message could travel under several byte spellings that each receiver
 * reads differently. This scanner runs before JSON.parse and refuses what
 * JSON.parse would silently resolve: a byte order mark or anything else before
 * the value, duplicate member names (compared after unescaping), the member
 * name `__proto__` (RESERVED_MEMBER_NAME), and nesting
 * deeper than a limit (a deep value costs every recursive walk that follows).
 * It also hands back the exact text of each top-level member that is a number,
 * so a field whose spelling matters (the envelope's `v`) can be checked.
 *
 * The grammar itself is left to JSON.parse, which runs right after: the scanner
 * only has to find strings, objects and arrays, and refuses whatever it cannot
 * read as those.
 */

export type StrictJsonCode = 'not-json' | 'duplicate-key' | 'reserved-key' | 'too-deep'

/**
 * The one member name no specmesh JSON may hold. JSON.parse keeps it as an
 * ordinary member, but most of what a JavaScript node does next with a parsed
 * object (zod's copy of a record, an assignment, a spread into a literal)
 * reads it as the object's prototype and drops it: a body with an extra
 * `"__proto__"` would check out under the id and signature of the body
 * without it, and be relayed as bytes a stricter receiver refuses.
 */
export const RESERVED_MEMBER_NAME = '__proto__'

export class StrictJsonError extends Error {
  override name = 'StrictJsonError'
  readonly code: StrictJsonCode
  constructor (code: StrictJsonCode, message: string) {
    super(message)
    this.code = code
  }
}

export interface StrictJson {
  value: unknown
  /** Exact source text of every top-level member whose value is a number, by member name. */
  topLevelNumbers: Map<string, string>
}

/** The JSON punctuation, as UTF-16 code units and (being ASCII) as UTF-8 bytes alike. */
export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const OPEN_OBJECT = 0x7b
export const CLOSE_OBJECT = 0x7d
export const OPEN_ARRAY = 0x5b
export const CLOSE_ARRAY = 0x5d
export const COMMA = 0x2c
const COLON = 0x3a
const BOM = 0xfeff
/** Member names of one object past which duplicates are looked up in a Set, not a list. */
const MANY_KEYS = 16

export function isWhitespace (c: number): boolean {
  // RFC 8259 §2: exactly these four; U+FEFF and other Unicode spaces are not JSON whitespace.
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

export function parseStrictJson (text: string, maxDepth: number): StrictJson {
  if (text.charCodeAt(0) === BOM) throw new StrictJsonError('not-json', 'the JSON text starts with a byte order mark (U+FEFF); send the JSON value alone')
  const topLevelNumbers = new Map<string, string>()
  const n = text.length
  let i = 0

  /** Where the next backslash is (-1: none left; below the scan: to look up again). */
  let slash = -2
  const fail = (what: string): never => { throw new StrictJsonError('not-json', `${what} at character ${i}`) }
  const skipWhitespace = (): void => { while (i < n && isWhitespace(text.charCodeAt(i))) i++ }

  /**
   * From an opening quote to just past the closing one; true when the string
   * holds an escape. The closing quote is found by indexOf, native and many
   * times faster than a loop over every character (every frame of a job is
   * scanned here before JSON.parse): a quote ends the string unless an odd
   * run of backslashes stands before it.
   */
  const skipString = (): boolean => {
    const open = i
    let from = open + 1
    for (;;) {
      const close = text.indexOf('"', from)
      if (close === -1) {
        i = n
        return fail('unterminated string')
      }
      let k = close - 1
      while (k > open && text.charCodeAt(k) === BACKSLASH) k--
      if ((close - 1 - k) % 2 === 0) {
        i = close + 1
        // The next backslash at or after this string, looked up again only once passed: one pass over the text in all.
        if (slash !== -1 && slash < open) slash = text.indexOf('\\', open)
        return slash !== -1 && slash < close
      }
      from = close + 1
    }
  }

  const skipPrimitive = (): void => {
    const start = i
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isWhitespace(c)) break
      i++
    }
    if (i === start) fail('a value expected')
  }

  const skipValue = (depth: number): void => {
    skipWhitespace()
    const c = text.charCodeAt(i)
    if (c === OPEN_OBJECT) skipObject(depth + 1)
    else if (c === OPEN_ARRAY) skipArray(depth + 1)
    else if (c === QUOTE) skipString()
    else skipPrimitive()
  }

  /** The unescaped text of a member name with an escape in it, from its opening quote to `i`. */
  const memberName = (start: number): string => {
    try {
      return JSON.parse(text.slice(start, i)) as string
    } catch {
      return fail('a malformed member name')
    }
  }

  const tooDeep = (depth: number): void => {
    if (depth > maxDepth) throw new StrictJsonError('too-deep', `the JSON value nests more than ${maxDepth} objects and arrays deep`)
  }

  const skipObject = (depth: number): void => {
    tooDeep(depth)
    i++
    skipWhitespace()
    if (text.charCodeAt(i) === CLOSE_OBJECT) {
      i++
      return
    }
    // A message's objects have a few members each: a list searched in place costs less than a Set's hashing.
    const keys: string[] = []
    let keySet: Set<string> | undefined
    for (;;) {
      skipWhitespace()
      if (text.charCodeAt(i) !== QUOTE) fail('a member name expected')
      const start = i
      const key = skipString() ? memberName(start) : text.slice(start + 1, i - 1)
      if (keySet != null ? keySet.has(key) : keys.includes(key)) throw new StrictJsonError('duplicate-key', `the member name ${JSON.stringify(key)} appears twice in one object; each name may appear once`)
      if (key === RESERVED_MEMBER_NAME) throw new StrictJsonError('reserved-key', `the member name "${RESERVED_MEMBER_NAME}" at character ${start} is reserved: no specmesh message may hold it (protocols/envelope.md, check 2c)`)
      if (keySet != null) keySet.add(key)
      else if (keys.push(key) > MANY_KEYS) keySet = new Set(keys)
      skipWhitespace()
      if (text.charCodeAt(i) !== COLON) fail('":" expected')
      i++
      skipWhitespace()
      const valueStart = i
      skipValue(depth)
      if (depth === 1) {
        const first = text.charCodeAt(valueStart)
        if (first === 0x2d || (first >= 0x30 && first <= 0x39)) topLevelNumbers.set(key, text.slice(valueStart, i))
      }
      skipWhitespace()
      const next = text.charCodeAt(i)
      i++
      if (next === CLOSE_OBJECT) return
      if (next !== COMMA) fail('"," or "}" expected')
    }
  }

  const skipArray = (depth: number): void => {
    tooDeep(depth)
    i++
    skipWhitespace()
    if (text.charCodeAt(i) === CLOSE_ARRAY) {
      i++
      return
    }
    for (;;) {
      skipValue(depth)
      skipWhitespace()
      const next = text.charCodeAt(i)
      i++
      if (next === CLOSE_ARRAY) return
      if (next !== COMMA) fail('"," or "]" expected')
    }
  }

  skipValue(0)
  skipWhitespace()
  if (i < n) fail('text after the JSON value')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new StrictJsonError('not-json', (err as Error).message)
  }
  return { value, topLevelNumbers }
}
