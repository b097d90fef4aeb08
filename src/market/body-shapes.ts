import { isCanonicalPeerId } from '../crypto/signatures.ts'
import { MAX_BID_WINDOW_MS, MAX_INPUT_BYTES, MAX_NONCE_CHARS, MAX_REASON_CHARS, MIN_BID_WINDOW_MS } from '../wire/constants.ts'
import { isEpochMs, isInteger, isPlainRecord, isUsd, isWireString, onlyKeys, SHA256_HEX, SIGNATURE } from '../wire/plain-shape.ts'
import { plainlyShapedClaimBody } from './claim-shape.ts'
import { MAX_ATTEMPT, OUTCOMES } from './messages.ts'

/**
 * The bodies of a leased job's frames checked by hand: the lease-award (with
 * the job it carries) the agent opens and the receipt it gets back, and the
 * job body a coordinator checks before sealing it. Their zod parses were about
 * 60 µs of the leased agent's ~1.1 ms per job. Shortcuts to the schemas'
 * verdict only (src/wire/plain-shape.ts): true means JobBodySchema,
 * LeaseAwardBodySchema or ReceiptBodySchema accepts the body; false means ask
 * it. test/unit/market/body-shapes.test.ts holds each to its schema.
 */

/** JobBodySchema's rules. */
export function plainlyShapedJobBody (body: unknown): boolean {
  if (!isPlainRecord(body) || !onlyKeys(body, JOB_KEYS)) return false
  if (!isCid(body.specId) || !isSha256Hex(body.inputHash) || !isInteger(body.inputSize, 0, MAX_INPUT_BYTES)) return false
  if (!isUsd(body.maxUsd) || !isEpochMs(body.deadline) || !isEpochMs(body.createdAt)) return false
  if ('softDeadline' in body && !isEpochMs(body.softDeadline)) return false
  if (!isInteger(body.bidWindowMs, MIN_BID_WINDOW_MS, MAX_BID_WINDOW_MS)) return false
  return isWireString(body.nonce, 1, MAX_NONCE_CHARS)
}

/** LeaseAwardBodySchema's rules. */
export function plainlyShapedLeaseAwardBody (body: unknown): boolean {
  if (!isPlainRecord(body) || !onlyKeys(body, LEASE_AWARD_KEYS, LEASE_AWARD_KEYS.size)) return false
  if (!isCid(body.leaseId) || !isCid(body.jobId) || !isPeerId(body.agent)) return false
  if (!isUsd(body.priceUsd) || !isInteger(body.attempt, 1, MAX_ATTEMPT) || !isEpochMs(body.issuedAt)) return false
  return plainlyShapedJobBody(body.job)
}

/** ReceiptBodySchema's rules, the claim it embeds included. */
export function plainlyShapedReceiptBody (body: unknown): boolean {
  if (!isPlainRecord(body) || !onlyKeys(body, RECEIPT_KEYS_ALLOWED)) return false
  if (!isCid(body.specId) || !isCid(body.jobId) || !isCid(body.awardId) || !isPeerId(body.agent)) return false
  if (!isInteger(body.attempt, 1, MAX_ATTEMPT) || !isSha256Hex(body.inputHash)) return false
  if ('outputHash' in body && !isSha256Hex(body.outputHash)) return false
  if (!isEpochMs(body.startedAt) || !isEpochMs(body.endedAt) || !isEpochMs(body.deadline) || !isEpochMs(body.verdictAt)) return false
  if (!isUsd(body.costUsd) || typeof body.outcome !== 'string' || !RECEIPT_OUTCOMES.has(body.outcome)) return false
  if ('reason' in body && !isWireString(body.reason, 0, MAX_REASON_CHARS)) return false
  return body.claim === null || plainlyShapedEmbeddedClaim(body.claim)
}

/** The receipt's claim: an envelope held to EnvelopeSchema's rules by ReceiptBodySchema itself (its v the literal 1, its signer a canonical PeerId). */
function plainlyShapedEmbeddedClaim (claim: unknown): boolean {
  if (!isPlainRecord(claim) || !onlyKeys(claim, CLAIM_ENVELOPE_KEYS, CLAIM_ENVELOPE_KEYS.size)) return false
  if (claim.type !== 'claim' || claim.v !== 1 || !isCid(claim.id) || !isPeerId(claim.signer)) return false
  if (typeof claim.sig !== 'string' || !SIGNATURE.test(claim.sig)) return false
  return plainlyShapedClaimBody(claim.body)
}

const isCid = (value: unknown): boolean => isWireString(value, 1, 128)
const isPeerId = (value: unknown): boolean => isWireString(value, 1, 128) && isCanonicalPeerId(value)
const isSha256Hex = (value: unknown): boolean => typeof value === 'string' && SHA256_HEX.test(value)

const JOB_KEYS = new Set(['specId', 'inputHash', 'inputSize', 'maxUsd', 'softDeadline', 'deadline', 'bidWindowMs', 'createdAt', 'nonce'])
const LEASE_AWARD_KEYS = new Set(['leaseId', 'jobId', 'job', 'agent', 'priceUsd', 'attempt', 'issuedAt'])
const RECEIPT_KEYS_ALLOWED = new Set(['specId', 'jobId', 'awardId', 'agent', 'attempt', 'inputHash', 'outputHash', 'startedAt', 'endedAt', 'deadline', 'costUsd', 'outcome', 'reason', 'claim', 'verdictAt'])
const CLAIM_ENVELOPE_KEYS = new Set(['type', 'v', 'id', 'body', 'signer', 'sig'])
const RECEIPT_OUTCOMES = new Set<string>(OUTCOMES)
