/**
 * Strict reading of JSON that arrives from outside the node: local API bodies,
 * handler output, inputs and outputs on the execution stream. What
 * JSON.parse lets through and the rest of the node cannot carry are refused
 * here, each with a reason naming where:
 *
 * - bytes that are not UTF-8 (TextDecoder would silently put U+FFFD in);
 * - a lone UTF-16 surrogate ("\ud800") in a string or a key: it has no UTF-8
 *   encoding, so its canonical bytes (and every hash over them) are undefined;
 * - numbers too large for a double (JSON.parse makes them Infinity);
 * - a member named `__proto__`, which every node refuses in a message
 *   (strict-json.ts, RESERVED_MEMBER_NAME): a value holding it could never be
 *   sent or hashed for one;
 * - nesting deeper than MAX_JSON_DEPTH: every walk over the value after parsing
 *   (schemas, canonical JSON, criteria) is recursive, and would hit the stack.
 *
 * Depth is measured by one pass over the text before JSON.parse, and the
 * surrogate check walks the parsed value with an explicit stack: neither can
 * run out of stack whatever it is given.
 */
import { MAX_JSON_DEPTH } from './constants.ts'
import { RESERVED_MEMBER_NAME } from './strict-json.ts'

export class JsonInputError extends Error {
  override name = 'JsonInputError'
  /** Where in the value the problem is ('' for the whole document). */
  readonly path: string
  readonly code: 'invalid-utf8' | 'not-json' | 'too-deep' | 'lone-surrogate' | 'not-finite' | 'reserved-key'

  constructor (code: JsonInputError['code'], path: string, message: string) {
    super(message)
    this.code = code
    this.path = path
  }
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Decode UTF-8, refusing malformed sequences instead of replacing them. */
export function decodeUtf8 (bytes: Uint8Array, what: string): string {
  try {
    return fatalDecoder.decode(bytes)
  } catch {
    throw new JsonInputError('invalid-utf8', '', `${what} is not valid UTF-8 (at byte ${firstInvalidUtf8(bytes)})`)
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8 (bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!
    const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1
    if (need < 0) return i
    try {
      fatalDecoder.decode(bytes.subarray(i, i + need + 1))
    } catch {
      return i
    }
    i += need + 1
  }
  return bytes.length
}

/**
 * How deep the arrays and objects of a JSON text nest, counted without parsing
 * (brackets inside strings do not count). Stops counting past `limit`.
 */
export function jsonDepth (text: string, limit: number = MAX_JSON_DEPTH): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > limit) return deepest
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return deepest
}

/** The first lone surrogate (in a string or a key), non-finite number, member named __proto__ or over-deep nesting in a value, or null. Iterative. */
export function valueProblem (value: unknown, maxDepth: number = MAX_JSON_DEPTH): { code: 'lone-surrogate' | 'too-deep' | 'not-finite' | 'reserved-key', path: string } | null {
  const stack: Array<[unknown, string, number]> = [[value, '', 0]]
  while (stack.length > 0) {
    const [item, path, depth] = stack.pop()!
    if (typeof item === 'string') {
      if (!item.isWellFormed()) return { code: 'lone-surrogate', path }
    } else if (typeof item === 'number') {
      // JSON.parse turns 1e400 into Infinity, which no JSON (and no canonical form) can carry.
      if (!Number.isFinite(item)) return { code: 'not-finite', path }
    } else if (item !== null && typeof item === 'object') {
      if (depth + 1 > maxDepth) return { code: 'too-deep', path }
      if (Array.isArray(item)) {
        for (let i = item.length - 1; i >= 0; i--) stack.push([item[i], join(path, String(i)), depth + 1])
      } else {
        const entries = Object.entries(item)
        for (let i = entries.length - 1; i >= 0; i--) {
          const [key, child] = entries[i]!
          if (!key.isWellFormed()) return { code: 'lone-surrogate', path: join(path, JSON.stringify(key)) }
          if (key === RESERVED_MEMBER_NAME) return { code: 'reserved-key', path: join(path, key) }
          stack.push([child, join(path, key), depth + 1])
        }
      }
    }
  }
  return null
}

export type ValueProblem = NonNullable<ReturnType<typeof valueProblem>>

/** A problem found by valueProblem in words, to follow the field's name. */
export function describeValueProblem (problem: ValueProblem, maxDepth: number = MAX_JSON_DEPTH): string {
  switch (problem.code) {
    case 'lone-surrogate': return 'holds a lone UTF-16 surrogate, which has no UTF-8 encoding; send well-formed Unicode text'
    case 'too-deep': return `is nested deeper than ${maxDepth} levels of arrays and objects`
    case 'not-finite': return 'is not a finite number (too large for a 64-bit float); JSON here carries finite numbers only'
    case 'reserved-key': return `is a member named "${RESERVED_MEMBER_NAME}", which no specmesh message may hold (JavaScript reads it as an object's prototype); rename it`
  }
}

function join (path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

export interface ParseJsonOptions {
  /** What the text is, for messages: "request body", "handler output". */
  what: string
  /** @default MAX_JSON_DEPTH */
  maxDepth?: number
}

/** Check a value already in memory (e.g. from an SDK caller) the way parseJson checks text. */
export function assertWellFormedValue (value: unknown, what: string, maxDepth: number = MAX_JSON_DEPTH): void {
  const problem = valueProblem(value, maxDepth)
  if (problem == null) return
  const where = problem.code === 'too-deep' || problem.path === '' ? what : `${what} field ${problem.path}`
  throw new JsonInputError(problem.code, problem.path, `${where} ${describeValueProblem(problem, maxDepth)}`)
}

/** Parse JSON text strictly: depth first (cheap, no recursion), then JSON.parse, then surrogates. */
export function parseJson (text: string, options: ParseJsonOptions): unknown {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new JsonInputError('too-deep', '', `${options.what} is nested deeper than ${maxDepth} levels of arrays and objects`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new JsonInputError('not-json', '', `${options.what} is not valid JSON: ${(err as Error).message}`)
  }
  assertWellFormedValue(value, options.what, maxDepth)
  return value
}

/** decodeUtf8 then parseJson. */
export function parseJsonBytes (bytes: Uint8Array, options: ParseJsonOptions): unknown {
  return parseJson(decodeUtf8(bytes, options.what), options)
}
