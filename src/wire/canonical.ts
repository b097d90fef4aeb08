import { RESERVED_MEMBER_NAME } from './strict-json.ts'

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Ids and signatures are computed over these bytes, so two nodes that hold the
 * same logical value always agree on its hash whatever key order or whitespace
 * it arrived in. ECMAScript's JSON.stringify already serialises strings and
 * numbers exactly as RFC 8785 requires; what it lacks is key sorting (by UTF-16
 * code units) and rejection of values JSON cannot carry.
 */
export class NotCanonicalizableError extends Error {
  override name = 'NotCanonicalizableError'
}

/** Canonical texts already computed, by object (see canonicalize's `known`). */
export interface KnownCanonical {
  get: (value: object) => string | undefined
}

/**
 * `parts`, when given, receives the canonical text of every object inside
 * `value` (and of `value`), so a message embedded in another (a claim in a
 * receipt) need not be canonicalized again to check its own id and signature.
 * `known`, when given, holds the canonical text of objects inside `value`
 * whose text was already computed (a body sealed earlier, embedded in a new
 * message): used as is, not computed again. The caller vouches that those
 * objects have not changed since.
 */
export function canonicalize (value: unknown, parts?: WeakMap<object, string>, known?: KnownCanonical): string {
  try {
    return writeFast(value, parts, known)
  } catch (err) {
    if (err !== UNREPRESENTABLE) throw err
    // Walked again, naming where: the path of every value is built only for the message.
    return write(value, '$', parts, known)
  }
}

/**
 * The written form of member names (`"name":`), by name: messages use a few
 * dozen names over and over. Names first seen once the cache is full are
 * written each time.
 */
const memberNames = new Map<string, string>()
const MEMBER_NAMES_LIMIT = 1024
/** Longer names (a stranger's message may hold any) are not kept: the cache stays small. */
const MEMBER_NAME_CACHED_CHARS = 64

function memberName (k: string): string {
  const cached = memberNames.get(k)
  if (cached != null) return cached
  if (!k.isWellFormed() || k === RESERVED_MEMBER_NAME) throw UNREPRESENTABLE
  const text = JSON.stringify(k) + ':'
  if (memberNames.size < MEMBER_NAMES_LIMIT && k.length <= MEMBER_NAME_CACHED_CHARS) memberNames.set(k, text)
  return text
}

/** What writeFast throws for a value JSON cannot carry; canonicalize then finds where, by write. */
const UNREPRESENTABLE = new NotCanonicalizableError('not representable in canonical JSON')

/**
 * write without the path of each value (a string built for every member, used
 * only in an error): every id and signature of every message is computed over
 * this text, so it is the hot path; same output, same refusals.
 */
function writeFast (value: unknown, parts?: WeakMap<object, string>, known?: KnownCanonical): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'string':
      if (!value.isWellFormed()) throw UNREPRESENTABLE
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw UNREPRESENTABLE
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) {
        let text = '['
        for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + writeFast(value[i], parts, known)
        return text + ']'
      }
      const record = value as Record<string, unknown>
      const already = known?.get(record)
      if (already != null) {
        parts?.set(record, already)
        return already
      }
      const keys = Object.keys(record).sort()
      let text = '{'
      let first = true
      for (const k of keys) {
        const member = record[k]
        if (member === undefined) continue
        text += (first ? '' : ',') + memberName(k) + writeFast(member, parts, known)
        first = false
      }
      text += '}'
      parts?.set(record, text)
      return text
    }
    default:
      throw UNREPRESENTABLE
  }
}

const encoder = new TextEncoder()

export function canonicalBytes (value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value))
}

function write (value: unknown, path: string, parts?: WeakMap<object, string>, known?: KnownCanonical): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'string':
      // A lone surrogate has no UTF-8 encoding: other implementations would hash it differently.
      if (!value.isWellFormed()) throw new NotCanonicalizableError(`${path}: string holds an unpaired UTF-16 surrogate`)
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new NotCanonicalizableError(`${path}: ${value} is not a finite number`)
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) {
        return '[' + value.map((item, i) => write(item, `${path}[${i}]`, parts, known)).join(',') + ']'
      }
      const record = value as Record<string, unknown>
      const already = known?.get(record)
      if (already != null) {
        parts?.set(record, already)
        return already
      }
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
      const keys = Object.keys(record).filter(k => record[k] !== undefined).sort()
      for (const k of keys) {
        if (!k.isWellFormed()) throw new NotCanonicalizableError(`${path}: key holds an unpaired UTF-16 surrogate`)
        // Receivers refuse it (strict-json.ts): a node must not sign or hash what no peer would accept.
        if (k === RESERVED_MEMBER_NAME) throw new NotCanonicalizableError(`${path}: a member named "${RESERVED_MEMBER_NAME}" is reserved (JavaScript reads it as an object's prototype); rename it`)
      }
      const text = '{' + keys.map(k => JSON.stringify(k) + ':' + write(record[k], `${path}.${k}`, parts, known)).join(',') + '}'
      parts?.set(record, text)
      return text
    }
    default:
      throw new NotCanonicalizableError(`${path}: a ${typeof value} cannot be represented in JSON`)
  }
}
