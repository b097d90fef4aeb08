import { MAX_OUTPUT_BYTES, MAX_REASON_CHARS } from '../wire/constants.ts'
import { isEpochMs, isInteger, isPlainRecord, isUsd, isWireString, onlyKeys, plainlyShapedEnvelope, SHA256_HEX } from '../wire/plain-shape.ts'
import { MAX_DURATION_MS } from './messages.ts'

/**
 * Whether a parsed claim envelope plainly meets EnvelopeSchema's and
 * ClaimBodySchema's rules, checked by hand: the coordinator opens one claim
 * per job on its hot path, where the two zod parses took about 30 µs of its
 * ~1.5 ms per leased job. Only ever a shortcut to the same verdict (see
 * src/wire/plain-shape.ts): true means both schemas accept the value; false
 * means "ask them" (verifyClaim then runs them, so a bad claim is refused with
 * their words). test/unit/market/claim-shape.test.ts holds it to the schemas
 * case by case.
 */
export function plainlyShapedClaim (raw: unknown): boolean {
  return plainlyShapedEnvelope(raw, 'claim') && plainlyShapedClaimBody(raw.body)
}

/** ClaimBodySchema's rules, by hand (for a claim's frame, and the claim a receipt embeds). */
export function plainlyShapedClaimBody (body: unknown): boolean {
  if (!isPlainRecord(body) || !onlyKeys(body, BODY_KEYS)) return false
  if (!isWireString(body.jobId, 1, 128) || !isWireString(body.awardId, 1, 128)) return false
  if (typeof body.outcome !== 'string' || !OUTCOMES.has(body.outcome)) return false
  if (!isEpochMs(body.startedAt) || !isEpochMs(body.endedAt) || !isUsd(body.costUsd)) return false
  if ('outputHash' in body && (typeof body.outputHash !== 'string' || !SHA256_HEX.test(body.outputHash))) return false
  if ('outputSize' in body && !isInteger(body.outputSize, 0, MAX_OUTPUT_BYTES)) return false
  if ('reason' in body && !isWireString(body.reason, 0, MAX_REASON_CHARS)) return false
  if ('retryAfterMs' in body && !isInteger(body.retryAfterMs, 0, MAX_DURATION_MS)) return false
  if ('stopping' in body && body.stopping !== true) return false
  return true
}

const BODY_KEYS = new Set(['jobId', 'awardId', 'outcome', 'outputHash', 'outputSize', 'startedAt', 'endedAt', 'costUsd', 'reason', 'retryAfterMs', 'stopping'])
const OUTCOMES = new Set(['success', 'refused', 'error', 'timeout', 'cancelled'])
