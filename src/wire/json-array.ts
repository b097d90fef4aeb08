/**
 * The bytes of each element of a top-level JSON array, without parsing them.
 *
 * A receipt batch (protocols/market.md "Receipt batches") is a JSON array of
 * receipt envelopes, and each receipt must be stored and synced in exactly the
 * bytes it arrived in (protocols/sync.md): so the batch is cut into its
 * elements' byte ranges here, and each element is then read by the strict
 * envelope parser as if it had arrived alone. The scan works on UTF-8 bytes:
 * every byte it looks for is ASCII, and no byte of a multi-byte UTF-8 sequence
 * is ASCII, so no decoding is needed to find them.
 *
 * The scanner only tracks strings and nesting depth to find the top-level
 * commas; whether each element is well-formed JSON is the element parser's
 * business. It refuses what it cannot split: a text that is not one array,
 * an empty element, unbalanced brackets, an unterminated string.
 */

import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COMMA, isWhitespace, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './strict-json.ts'

export class JsonArrayError extends Error {
  override name = 'JsonArrayError'
}

/**
 * Views (no copies) of the elements of the array `bytes` holds, in order, each
 * without the whitespace around it. `maxElements` bounds the work: one more
 * element than that is refused before it is scanned to its end.
 */
export function splitJsonArray (bytes: Uint8Array, maxElements: number): Uint8Array[] {
  const n = bytes.byteLength
  let i = 0
  const skipWhitespace = (): void => { while (i < n && isWhitespace(bytes[i]!)) i++ }
  const fail = (what: string): never => { throw new JsonArrayError(`${what} at byte ${i}`) }

  skipWhitespace()
  if (bytes[i] !== OPEN_ARRAY) fail('a JSON array expected')
  i++
  skipWhitespace()
  const elements: Uint8Array[] = []
  if (bytes[i] === CLOSE_ARRAY) {
    i++
    skipWhitespace()
    if (i < n) fail('text after the array')
    return elements
  }
  for (;;) {
    if (elements.length >= maxElements) throw new JsonArrayError(`more than ${maxElements} elements`)
    skipWhitespace()
    const start = i
    let depth = 0
    let end = -1
    while (i < n) {
      const c = bytes[i]!
      if (c === QUOTE) {
        i++
        while (i < n && bytes[i] !== QUOTE) i += bytes[i] === BACKSLASH ? 2 : 1
        if (i >= n) fail('unterminated string')
        i++
        continue
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++
      else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (depth === 0) {
          if (c !== CLOSE_ARRAY) fail('unbalanced "}"')
          end = i
          break
        }
        depth--
      } else if (c === COMMA && depth === 0) {
        end = i
        break
      }
      i++
    }
    if (end < 0) fail('unterminated array')
    let last = end
    while (last > start && isWhitespace(bytes[last - 1]!)) last--
    if (last === start) fail('an element expected')
    elements.push(bytes.subarray(start, last))
    i = end + 1
    if (bytes[end] === CLOSE_ARRAY) break
  }
  skipWhitespace()
  if (i < n) fail('text after the array')
  return elements
}
