import { z } from 'zod'
import { isCanonicalPeerId } from '../crypto/signatures.ts'
import { MAX_NONCE_CHARS, MAX_REASON_CHARS } from '../wire/constants.ts'
import { wireString } from '../wire/text.ts'
import { BidWindowMsSchema, JobBodySchema, MAX_ATTEMPT, MAX_DURATION_MS, MAX_SLOTS } from './messages.ts'

/**
 * Bodies of the lease messages (protocols/market.md "Leases"). A lease is a
 * coordinator's hold on some of an agent's slots of one spec for a while, won
 * in an auction of its own; the jobs sent under it skip the per-job auction but
 * keep their own signed award-equivalent (lease-award), claim and receipt.
 */

const peerId = wireString(128, 1).refine(isCanonicalPeerId, 'a PeerId in canonical base58btc form')
const cid = wireString(128, 1)
const epochMs = z.number().int().nonnegative()
const usd = z.number().finite().nonnegative()
const slots = z.number().int().positive().max(MAX_SLOTS)

/** Longest lease a call may ask for: short enough that a better or cheaper agent gets its chance soon. */
export const MAX_LEASE_MS = 600_000

/** A coordinator's call for lease bids, on the spec's `leases` topic. */
export const LeaseCallBodySchema = z.object({
  specId: cid,
  /** Executions at once the coordinator wants, over every lease it awards for this call. */
  slots,
  /** How long each lease runs from its award. */
  durationMs: z.number().int().positive().max(MAX_LEASE_MS),
  /** The ceiling of a lease bid's price per job; never above the spec's budget.maxUsd. */
  maxUsd: usd,
  bidWindowMs: BidWindowMsSchema,
  createdAt: epochMs,
  nonce: wireString(MAX_NONCE_CHARS, 1)
}).strict()
export type LeaseCallBody = z.infer<typeof LeaseCallBodySchema>

/** An agent's offer for a lease call, on the same topic. */
export const LeaseBidBodySchema = z.object({
  callId: cid,
  specId: cid,
  /** Price per job run under the lease. */
  priceUsd: usd,
  /** Slots it offers: at most the call's, at most its free slots now. */
  slots,
  estimatedMs: z.number().int().nonnegative().max(MAX_DURATION_MS),
  load: z.object({ inFlight: z.number().int().nonnegative().max(MAX_SLOTS), limit: slots }).strict(),
  createdAt: epochMs,
  /** Until when its slots are held for this call; after it the bid no longer stands. */
  expiresAt: epochMs,
  addrs: z.array(wireString(256)).max(8).optional()
}).strict()
export type LeaseBidBody = z.infer<typeof LeaseBidBodySchema>

/** The coordinator's award of a lease: first sent over the execution stream, then gossiped on the topic. */
export const LeaseBodySchema = z.object({
  callId: cid,
  specId: cid,
  bidId: cid,
  agent: peerId,
  /** At most the bid's slots. */
  slots,
  /** The bid's price per job. */
  priceUsd: usd,
  issuedAt: epochMs,
  /** issuedAt + the call's durationMs: no lease-award is issued after it. */
  expiresAt: epochMs
}).strict()
export type LeaseBody = z.infer<typeof LeaseBodySchema>

/**
 * One job under a lease: the award-equivalent frame, signed by the coordinator.
 * It embeds the job's body (never gossiped for a leased job), whose content id
 * is `jobId`, so the agent knows the input hash, deadlines and ceiling it
 * would have read from the job call.
 */
export const LeaseAwardBodySchema = z.object({
  leaseId: cid,
  jobId: cid,
  job: JobBodySchema,
  agent: peerId,
  /** The lease's price (the agent refuses any other). */
  priceUsd: usd,
  attempt: z.number().int().positive().max(MAX_ATTEMPT),
  issuedAt: epochMs
}).strict()
export type LeaseAwardBody = z.infer<typeof LeaseAwardBodySchema>

/** Either party ends a lease: a frame on the execution stream the lease was opened on. */
export const LeaseEndBodySchema = z.object({
  leaseId: cid,
  reason: wireString(MAX_REASON_CHARS),
  endedAt: epochMs
}).strict()
export type LeaseEndBody = z.infer<typeof LeaseEndBodySchema>
