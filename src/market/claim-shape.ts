import { MAX_OUTPUT_BYTES, MAX_REASON_CHARS, PROTOCOL_VERSION } from '../wire/constants.ts'
import { MAX_DURATION_MS } from './messages.ts'

/**
 * Whether a parsed claim envelope plainly meets EnvelopeSchema's and
 * ClaimBodySchema's rules, checked by hand: the coordinator opens one claim
 * per job on its hot path, where the two zod parses took about 30 µs of its
 * ~1.5 ms per leased job. Only ever a shortcut to the same verdict: true
 * means both schemas accept the value; false means "ask them" (verifyClaim
 * then runs them, so a bad claim is refused with their words). Anything
 * unusual (an extra or inherited key, an undefined member, an object that is
 * not plain) is false here. test/unit/market/claim-shape.test.ts holds it to
 * the schemas case by case.
 */
export function plainlyShapedClaim (raw: unknown): boolean {
  if (!isPlainRecord(raw) || !onlyKeys(raw, ENVELOPE_KEYS, 6)) return false
  if (raw.type !== 'claim' || raw.v !== PROTOCOL_VERSION) return false
  if (!isWireString(raw.id, 1, 128) || !isWireString(raw.signer, 1, 128)) return false
  if (typeof raw.sig !== 'string' || !SIGNATURE.test(raw.sig)) return false
  const body = raw.body
  if (!isPlainRecord(body) || !onlyKeys(body, BODY_KEYS)) return false
  if (!isWireString(body.jobId, 1, 128) || !isWireString(body.awardId, 1, 128)) return false
  if (typeof body.outcome !== 'string' || !OUTCOMES.has(body.outcome)) return false
  if (!isInteger(body.startedAt, 0, Number.MAX_SAFE_INTEGER) || !isInteger(body.endedAt, 0, Number.MAX_SAFE_INTEGER)) return false
  if (typeof body.costUsd !== 'number' || !Number.isFinite(body.costUsd) || body.costUsd < 0) return false
  if ('outputHash' in body && (typeof body.outputHash !== 'string' || !SHA256_HEX.test(body.outputHash))) return false
  if ('outputSize' in body && !isInteger(body.outputSize, 0, MAX_OUTPUT_BYTES)) return false
  if ('reason' in body && !isWireString(body.reason, 0, MAX_REASON_CHARS)) return false
  if ('retryAfterMs' in body && !isInteger(body.retryAfterMs, 0, MAX_DURATION_MS)) return false
  if ('stopping' in body && body.stopping !== true) return false
  return true
}

const ENVELOPE_KEYS = new Set(['type', 'v', 'id', 'body', 'signer', 'sig'])
const BODY_KEYS = new Set(['jobId', 'awardId', 'outcome', 'outputHash', 'outputSize', 'startedAt', 'endedAt', 'costUsd', 'reason', 'retryAfterMs', 'stopping'])
const OUTCOMES = new Set(['success', 'refused', 'error', 'timeout', 'cancelled'])
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/
const SHA256_HEX = /^[0-9a-f]{64}$/

function isPlainRecord (value: unknown): value is Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Own enumerable keys all among `allowed` (and exactly `count` of them, when given), none holding undefined. */
function onlyKeys (value: Record<string, unknown>, allowed: Set<string>, count?: number): boolean {
  const keys = Object.keys(value)
  if (count != null && keys.length !== count) return false
  for (const key of keys) if (!allowed.has(key) || value[key] === undefined) return false
  return true
}

/** A string of `min` to `max` UTF-16 code units (wireString's binding rule; code points are never more). */
function isWireString (value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max
}

function isInteger (value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}
