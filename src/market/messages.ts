import { z } from 'zod'
import { isCanonicalPeerId } from '../crypto/signatures.ts'
import { MAX_BID_WINDOW_MS, MAX_INPUT_BYTES, MAX_NONCE_CHARS, MAX_OUTPUT_BYTES, MAX_REASON_CHARS, MIN_BID_WINDOW_MS } from '../wire/constants.ts'
import { wireString } from '../wire/text.ts'
import { SignatureSchema } from '../wire/envelope.ts'
import { MAX_CONCURRENT_REQUESTS, MAX_DURATION_SECONDS, MAX_RETRIES } from '../spec/constants.ts'

/**
 * Bodies of the market's signed messages. Every body is the `body` of an
 * envelope (src/wire/envelope.ts); its id is the envelope id and its author is
 * the envelope signer, so neither is repeated inside the body. Times are epoch
 * milliseconds; money is USD as a JSON number.
 */

const peerId = wireString(128, 1).refine(isCanonicalPeerId, 'a PeerId in canonical base58btc form')
const cid = wireString(128, 1)
/** Payload hashes are sha2-256 of the RFC 8785 canonical JSON of the value, so formatting never matters. */
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha2-256 hash as 64 lowercase hex digits')
const epochMs = z.number().int().nonnegative()
const usd = z.number().finite().nonnegative()

/** The one rule for a job's bid window, shared by the API, the CLI, workflows, the SDK and the validator. */
export const BidWindowMsSchema = z.number({ error: `a whole number of milliseconds from ${MIN_BID_WINDOW_MS} to ${MAX_BID_WINDOW_MS}` })
  .int(`a whole number of milliseconds from ${MIN_BID_WINDOW_MS} to ${MAX_BID_WINDOW_MS}`)
  .min(MIN_BID_WINDOW_MS, `at least ${MIN_BID_WINDOW_MS} ms (the wire limit: peers Reject a job with a shorter bid window)`)
  .max(MAX_BID_WINDOW_MS, `at most ${MAX_BID_WINDOW_MS} ms (the wire limit)`)

/** The problem with a bid window, in words, or null when it is within the wire's limits. */
export function bidWindowProblem (value: unknown, shown: string = String(value)): string | null {
  const parsed = BidWindowMsSchema.safeParse(value)
  return parsed.success ? null : `${shown} is not allowed: ${parsed.error.issues[0]?.message ?? 'invalid'}`
}

/**
 * Text made fit to publish: well-formed Unicode, no control characters, at most
 * `limit` characters (cut with an ellipsis). Every reason a node signs goes
 * through this, so none can fail its own validation (MAX_REASON_CHARS).
 */
export function publishableReason (text: string, limit: number = MAX_REASON_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.toWellFormed().replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').trim()
  if (clean.length <= limit) return clean
  let cut = clean.slice(0, limit - 1)
  // Never end on half a surrogate pair.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1)
  return `${cut}…`
}

/**
 * Upper bounds on counts and durations: no honest node states more, and a
 * coordinator that sums or sorts these never meets a number too large to mean
 * anything. Slots never exceed what a spec may allow (capacity.maxConcurrentRequests);
 * a queue is at most as long again; attempts at most 1 + capacity.maxRetries.
 */
export const MAX_SLOTS = MAX_CONCURRENT_REQUESTS
export const MAX_QUEUE = MAX_CONCURRENT_REQUESTS
export const MAX_ATTEMPT = 1 + MAX_RETRIES
/** Estimates and retry hints: at most the longest duration a spec may name (30 days). */
export const MAX_DURATION_MS = MAX_DURATION_SECONDS * 1000
const slots = z.number().int().nonnegative().max(MAX_SLOTS)
const durationMs = z.number().int().nonnegative().max(MAX_DURATION_MS)
const attempt = z.number().int().positive().max(MAX_ATTEMPT)

/** A call for bids. The input itself never travels on gossip: only its hash and size. */
export const JobBodySchema = z.object({
  specId: cid,
  inputHash: sha256Hex,
  inputSize: z.number().int().nonnegative().max(MAX_INPUT_BYTES),
  /** The requester's price ceiling for one attempt; never above the spec's budget. */
  maxUsd: usd,
  /** Absolute times computed from the spec at submission; never looser than the spec's. */
  softDeadline: epochMs.optional(),
  deadline: epochMs,
  /** Bids signed after createdAt + bidWindowMs are not considered. */
  bidWindowMs: BidWindowMsSchema,
  createdAt: epochMs,
  /** Makes two submissions of the same input distinct jobs. */
  nonce: wireString(MAX_NONCE_CHARS, 1)
}).strict()
export type JobBody = z.infer<typeof JobBodySchema>

export const BidBodySchema = z.object({
  jobId: cid,
  specId: cid,
  priceUsd: usd,
  estimatedMs: durationMs,
  /** The agent's executions of this spec in flight when it bid, and its limit. */
  load: z.object({ inFlight: slots, limit: slots.min(1) }).strict(),
  createdAt: epochMs,
  expiresAt: epochMs,
  /** Where the coordinator can dial the agent for the execution stream. */
  addrs: z.array(wireString(256)).max(8).optional()
}).strict()
export type BidBody = z.infer<typeof BidBodySchema>

/**
 * Bids an award embeds at most (protocols/market.md "Award"): when bids travel
 * over the bid stream nobody but the coordinator saw them, so the award carries
 * the ones it ranked for followers to audit. Bounded in count and in bytes of
 * their canonical JSON (a bid with 8 long addresses is about 2.7 KB).
 */
export const MAX_AWARD_BIDS = 16
export const MAX_AWARD_BIDS_BYTES = 48 * 1024

/** A signed bid envelope inside an award: its shape only; the award's validator authenticates each. */
export const EmbeddedBidSchema = z.object({
  type: z.literal('bid'),
  v: z.literal(1),
  id: cid,
  body: BidBodySchema,
  signer: peerId,
  sig: z.string()
}).strict()
export type EmbeddedBid = z.infer<typeof EmbeddedBidSchema>

export const AwardBodySchema = z.object({
  jobId: cid,
  specId: cid,
  bidId: cid,
  agent: peerId,
  priceUsd: usd,
  /** 1 for the first award of a job, 2 for the first retry, … */
  attempt,
  deadline: epochMs,
  issuedAt: epochMs,
  /**
   * The bids the coordinator ranked for this job, best first as it ranked them
   * (the awarded one among them), when any came over the bid stream; absent
   * when every bid was gossiped (followers saw them on the bids topic).
   */
  bids: z.array(EmbeddedBidSchema).min(1).max(MAX_AWARD_BIDS).optional()
}).strict()
export type AwardBody = z.infer<typeof AwardBodySchema>

/**
 * `cancelled`: the requester cancelled the job during the attempt. `unreachable`: the
 * coordinator could not open an execution stream to the agent (no claim). New values
 * go at the end: reputation keeps counts indexed by position.
 */
export const OUTCOMES = ['success', 'criteria-failed', 'timeout', 'refused', 'error', 'cancelled', 'unreachable'] as const
export type Outcome = typeof OUTCOMES[number]

/** The agent's signed account of one attempt, returned over the execution stream. */
export const ClaimBodySchema = z.object({
  jobId: cid,
  awardId: cid,
  outcome: z.enum(['success', 'refused', 'error', 'timeout', 'cancelled']),
  outputHash: sha256Hex.optional(),
  outputSize: z.number().int().nonnegative().max(MAX_OUTPUT_BYTES).optional(),
  startedAt: epochMs,
  endedAt: epochMs,
  costUsd: usd,
  reason: wireString(MAX_REASON_CHARS).optional(),
  /** With outcome refused because the agent is at capacity: when to try again. */
  retryAfterMs: durationMs.optional(),
  /** With outcome refused: the agent is shutting down and takes no more awards; do not award it again. */
  stopping: z.literal(true).optional()
}).strict()
export type ClaimBody = z.infer<typeof ClaimBodySchema>

/**
 * The coordinator's signed verdict on one attempt. It embeds the agent's signed
 * claim when there is one (an agent that hung or never answered has none), so
 * one receipt carries both signatures: spec + receipt is the whole proof.
 */
export const ReceiptBodySchema = z.object({
  specId: cid,
  jobId: cid,
  awardId: cid,
  agent: peerId,
  attempt,
  inputHash: sha256Hex,
  outputHash: sha256Hex.optional(),
  startedAt: epochMs,
  endedAt: epochMs,
  /** The job's deadline, so the receipt alone shows whether the attempt met it. */
  deadline: epochMs,
  /** What this attempt cost the coordinator (0 when nothing is owed). */
  costUsd: usd,
  outcome: z.enum(OUTCOMES),
  reason: wireString(MAX_REASON_CHARS).optional(),
  claim: z.object({
    type: z.literal('claim'),
    v: z.literal(1),
    id: cid,
    body: ClaimBodySchema,
    signer: peerId,
    // As EnvelopeSchema has it: this schema is the embedded claim's whole shape check (validators.ts validateReceipt).
    sig: SignatureSchema
  }).strict().nullable(),
  verdictAt: epochMs
}).strict()
export type ReceiptBody = z.infer<typeof ReceiptBodySchema>

/** Longest life a capacity advert may claim; a stale advert must never hold a coordinator back for long. */
export const MAX_ADVERT_TTL_MS = 30_000
export const MAX_ADVERT_SPECS = 64

/** An agent's signed, short-lived statement of the specs it serves and its load on each. */
export const CapacityBodySchema = z.object({
  specs: z.array(z.object({
    specId: cid,
    /** Executions of this spec running now, for every coordinator together. */
    inFlight: slots,
    /** Awards waiting in its queue for a slot, and places held by its open bids (at most every slot and queue place). */
    queued: z.number().int().nonnegative().max(MAX_SLOTS + MAX_QUEUE),
    /** How many awards its queue takes beyond `limit` (they wait there; they never run beyond it). */
    queue: z.number().int().nonnegative().max(MAX_QUEUE),
    /** The most it admits at once (never above the spec's capacity.maxConcurrentRequests). */
    limit: slots.min(1),
    priceUsd: usd
  }).strict()).max(MAX_ADVERT_SPECS),
  issuedAt: epochMs,
  expiresAt: epochMs
}).strict()
export type CapacityBody = z.infer<typeof CapacityBodySchema>

/** Why a coordinator refused a bid sent over the bid stream: the validator's code (bad-signature, duplicate, …). */
export const BID_ANSWER_CODE_CHARS = 64

/**
 * The coordinator's answer to one bid frame on the bid stream. Not signed: the
 * stream is the coordinator's authenticated channel (noise), and the answer
 * only tells the agent whether to keep holding a place for the bid.
 */
export const BidAnswerSchema = z.object({
  type: z.literal('bid-answer'),
  /** The bid's id, when the frame was a readable envelope. */
  bidId: cid.optional(),
  accepted: z.boolean(),
  /** With accepted false: the validator's code, e.g. `bad-signature`, `duplicate`, `not-my-job`. */
  code: wireString(BID_ANSWER_CODE_CHARS, 1).optional(),
  /** With accepted false: the reason in words. */
  reason: wireString(MAX_REASON_CHARS).optional()
}).strict()
export type BidAnswer = z.infer<typeof BidAnswerSchema>
