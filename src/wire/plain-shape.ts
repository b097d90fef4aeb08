import { PROTOCOL_VERSION } from './constants.ts'
import { MESSAGE_TYPES, type MessageType } from './envelope.ts'

/**
 * Hand-written shortcuts to the wire schemas' verdict, for the messages a node
 * opens on its hot path (every envelope, and the bodies of a leased job's
 * frames): a zod parse of a small envelope took about 20 µs, a receipt's or a
 * lease-award's body 30 µs, where the whole message is checked in a few.
 * Only ever a shortcut to the same verdict: true means the schema accepts the
 * value and its parsed copy holds the same members; false means "ask the
 * schema" (so a bad message is still refused with its words). Anything
 * unusual (an extra, inherited, non-enumerable or undefined member, an object
 * that is not plain) is false. The tests beside each shortcut hold it to its
 * schema over many altered values (test/unit/wire/plain-shape.test.ts,
 * test/unit/market/claim-shape.test.ts, test/unit/market/body-shapes.test.ts).
 */

// Built at first use: envelope.ts imports this module, so MESSAGE_TYPES is not there yet while it loads.
let types: Set<string> | undefined
const ENVELOPE_KEYS = new Set(['type', 'v', 'id', 'body', 'signer', 'sig'])
/** SignatureSchema's rule (src/wire/envelope.ts). */
export const SIGNATURE = /^[A-Za-z0-9_-]{86}$/
/** The market schemas' sha256Hex rule. */
export const SHA256_HEX = /^[0-9a-f]{64}$/

/**
 * Whether `raw` plainly meets EnvelopeSchema (and is of `type`, when given),
 * its body a record zod would copy member for member.
 */
export function plainlyShapedEnvelope (raw: unknown, type?: MessageType): raw is Record<string, unknown> & { body: Record<string, unknown> } {
  if (!isPlainRecord(raw) || !onlyKeys(raw, ENVELOPE_KEYS, 6)) return false
  if (type != null ? raw.type !== type : typeof raw.type !== 'string' || !(types ??= new Set(MESSAGE_TYPES)).has(raw.type)) return false
  if (raw.v !== PROTOCOL_VERSION) return false
  if (!isWireString(raw.id, 1, 128) || !isWireString(raw.signer, 1, 128)) return false
  if (typeof raw.sig !== 'string' || !SIGNATURE.test(raw.sig)) return false
  return isPlainRecord(raw.body) && isPlainBodyRecord(raw.body)
}

/**
 * A body zod's `z.record(z.string(), z.unknown())` accepts and copies whole:
 * only enumerable string keys (zod drops the others, or refuses a symbol),
 * no own `__proto__` (zod leaves it out of its copy) and no own `constructor`
 * (zod's plain-object test reads it).
 */
function isPlainBodyRecord (body: Record<string, unknown>): boolean {
  if (Object.hasOwn(body, '__proto__') || Object.hasOwn(body, 'constructor')) return false
  return Reflect.ownKeys(body).length === Object.keys(body).length
}

export function isPlainRecord (value: unknown): value is Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Own enumerable keys all among `allowed` (and exactly `count` of them, when
 * given), none holding undefined, and no other own keys (non-enumerable or
 * symbol) that a schema would see or drop.
 */
export function onlyKeys (value: Record<string, unknown>, allowed: Set<string>, count?: number): boolean {
  const keys = Object.keys(value)
  if (count != null && keys.length !== count) return false
  for (const key of keys) if (!allowed.has(key) || value[key] === undefined) return false
  return Reflect.ownKeys(value).length === keys.length
}

/** A string of `min` to `max` UTF-16 code units (wireString's binding rule; code points are never more). */
export function isWireString (value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max
}

/** z.number().int() within [min, max] (zod's int is a safe integer). */
export function isInteger (value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

/** The schemas' epochMs: a non-negative safe integer. */
export function isEpochMs (value: unknown): value is number {
  return isInteger(value, 0, Number.MAX_SAFE_INTEGER)
}

/** The schemas' usd: a finite non-negative number. */
export function isUsd (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}
