import type { z } from 'zod'
import { authenticateEmbedded, authenticateShaped, openEnvelope, parseEnvelopeJson, verifyEnvelope, type Envelope, type MessageType } from '../wire/envelope.ts'
import { ignore, reject } from '../wire/errors.ts'
import { MAX_CLOCK_SKEW_MS } from '../wire/constants.ts'
import { sameKey } from '../crypto/signatures.ts'
import { jobDeadlines, type Spec } from '../spec/index.ts'
import { canonicalBytes } from '../wire/canonical.ts'
import { AwardBodySchema, BidBodySchema, MAX_AWARD_BIDS_BYTES, CapacityBodySchema, ClaimBodySchema, JobBodySchema, MAX_ADVERT_TTL_MS, ReceiptBodySchema, type AwardBody, type BidBody, type CapacityBody, type ClaimBody, type JobBody, type ReceiptBody } from './messages.ts'
import type { KnownJob, RecentJobs } from './recent-jobs.ts'
import { SeenIds } from './seen-ids.ts'
import { plainlyShapedClaim } from './claim-shape.ts'
import { plainlyShapedReceiptBody } from './body-shapes.ts'

/**
 * One validator per market topic, Lodestar style: each authenticates the
 * envelope, checks the body's shape and what it claims against what this node
 * knows, and throws a MessageValidationError carrying Reject or Ignore.
 */

export interface MarketContext {
  now: () => number
  specOf: (specId: string) => Promise<Spec | null>
  /** Whether the spec is held, answered from memory: the cheap check before any signature. */
  knowsSpec?: (specId: string) => boolean
  jobs: RecentJobs
  /** Bids and awards accepted so far, by body id (jobs are deduplicated by `jobs`). */
  seenBids: SeenIds
  seenAwards: SeenIds
  /** This node's PeerId (the bid stream tells a job of another coordinator from one it never saw). */
  self?: string
  /** How long a bid or award waits for a job not seen yet (a node's gossip contexts: JOB_AWAIT_MS). @default 0 */
  jobAwaitMs?: number
}

/** What the job, receipt and capacity validators need: no duplicate memories of bids and awards. */
export type BaseContext = Pick<MarketContext, 'now' | 'specOf' | 'knowsSpec' | 'jobs' | 'self'>

/** A context with fresh duplicate memories. */
export function marketContext (base: BaseContext): MarketContext {
  return { ...base, seenBids: new SeenIds(), seenAwards: new SeenIds() }
}

export function openTyped<T> (data: Uint8Array, type: MessageType, schema: z.ZodType<T>): Envelope<T> {
  return checkBody(openEnvelope(data, { expectType: type }), type, schema)
}

/**
 * Cheap checks first: a message that is useless to this node (a job for a spec it
 * does not hold, a bid for a job it never saw, one already expired) is Ignored
 * after a JSON parse and a lookup in memory — microseconds — before the costly
 * part (canonical JSON, content id, Ed25519). Then the full checks, on the same
 * parsed value. What is Ignored here is not yet authenticated, so it never
 * counts against the signer, only (by the validation guard) against the peer
 * that made us read it.
 */
// The cheap checks read the same parsed body the schema then accepts, so what
// they Ignore (an expired job or bid) needs no second check after it.
function openCheaply<T> (data: Uint8Array, type: MessageType, schema: z.ZodType<T>, cheap: (body: Record<string, unknown>) => void, canonicalParts?: WeakMap<object, string>, plainly?: (body: unknown) => boolean, parsed?: { raw: unknown }): Envelope<T> {
  const { raw, body } = parsed != null ? cheapView(parsed.raw) : parseForCheapChecks(data)
  if (body != null) cheap(body)
  return checkBody(verifyEnvelope(raw, { expectType: type, canonicalParts }), type, schema, plainly)
}

/**
 * openCheaply with an asynchronous cheap check: a bid or award for a job not seen yet waits
 * for the job (RecentJobs.awaitJob) before its signature is checked, so a flood of them for
 * jobs nobody sent still costs no signature check.
 */
async function openAfter<T> (data: Uint8Array, type: MessageType, schema: z.ZodType<T>, cheap: (body: Record<string, unknown>) => Promise<void>): Promise<Envelope<T>> {
  const { raw, body } = parseForCheapChecks(data)
  if (body != null) await cheap(body)
  return checkBody(verifyEnvelope(raw, { expectType: type }), type, schema)
}

/** The parsed envelope, and its body when that is an object (what a cheap check reads; nothing is authenticated yet). */
function parseForCheapChecks (data: Uint8Array): { raw: unknown, body: Record<string, unknown> | null } {
  return cheapView(parseEnvelopeJson(data))
}

function cheapView (raw: unknown): { raw: unknown, body: Record<string, unknown> | null } {
  const body = (raw as { body?: unknown } | null)?.body
  return { raw, body: body != null && typeof body === 'object' && !Array.isArray(body) ? body as Record<string, unknown> : null }
}

/**
 * The schema only checks: the envelope returned is the one passed in, with its raw
 * parsed body, never zod's parsed copy. Callers depend on that identity: the
 * canonical text of a body (and of a claim embedded in a receipt) is remembered in
 * a WeakMap keyed by the raw body object (`canonicalParts`, `authenticateEmbedded`
 * in src/wire/envelope.ts), so returning a copy would make every later lookup miss
 * and canonicalize the body again.
 */
export function checkBody<T> (envelope: Envelope, type: MessageType, schema: z.ZodType<T>, plainly?: (body: unknown) => boolean): Envelope<T> {
  // `plainly`: a hand-written shortcut to the schema's verdict (body-shapes.ts); false asks the schema.
  if (plainly?.(envelope.body) === true) return envelope as Envelope<T>
  const parsed = schema.safeParse(envelope.body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw reject('bad-body', `${type} field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`)
  }
  return envelope as Envelope<T>
}

/**
 * On a spec's own topic the message must be about that spec
 * (protocols/market.md "Topics"): one that is not was sent where it does not
 * belong, by a peer that did not check it, and is Rejected. `topicSpec` is
 * null on the global topics, where any spec goes.
 */
export function assertOnItsTopic (topicSpec: string | null | undefined, bodySpec: string, what: string): void {
  if (topicSpec != null && bodySpec !== topicSpec) throw reject('wrong-topic', `${what} for spec ${bodySpec} arrived on the topic of spec ${topicSpec}`)
}

export function notFromTheFuture (ms: number, now: number, what: string): void {
  if (ms > now + MAX_CLOCK_SKEW_MS) throw reject('from-the-future', `${what} is ${ms - now} ms ahead of this node's clock (limit ${MAX_CLOCK_SKEW_MS} ms)`)
}

export async function validateJob (data: Uint8Array, ctx: BaseContext, topicSpec?: string | null): Promise<{ envelope: Envelope<JobBody>, spec: Spec }> {
  const now = ctx.now()
  const envelope = openCheaply(data, 'job', JobBodySchema, body => {
    if (typeof body.specId === 'string' && ctx.knowsSpec != null && !ctx.knowsSpec(body.specId)) throw ignore('unknown-spec', `job for spec ${body.specId}, which this node does not hold yet`)
    if (typeof body.deadline === 'number' && body.deadline <= now) throw ignore('expired', 'job is past its deadline')
  })
  const job = envelope.body
  assertOnItsTopic(topicSpec, job.specId, 'job')
  notFromTheFuture(job.createdAt, now, 'job createdAt')
  if (ctx.jobs.get(envelope.id) != null) throw ignore('duplicate', `job ${envelope.id} already seen`)
  if (job.softDeadline != null && job.softDeadline > job.deadline) throw reject('impossible-deadlines', 'job softDeadline is after its deadline')
  // Bids and awards for this job arriving while the spec is looked up wait for the verdict (RecentJobs.arriving).
  const arrived = ctx.jobs.arriving(envelope.id)
  try {
    const spec = await ctx.specOf(job.specId)
    if (spec == null) throw ignore('unknown-spec', `job ${envelope.id} is for spec ${job.specId}, which this node does not hold yet`)
    assertJobWithinSpec(job, spec)
    ctx.jobs.add({ jobId: envelope.id, coordinator: envelope.signer, body: job, publishedAt: Math.max(job.createdAt, now) })
    return { envelope, spec }
  } finally {
    arrived()
  }
}

/** Not known, not being validated, and not come within JOB_AWAIT_MS: the cheap Ignore before any signature check of a bid or award. */
const unknownJob = async (ctx: MarketContext, jobId: unknown): Promise<boolean> => typeof jobId === 'string' && !await ctx.jobs.awaitJob(jobId, ctx.jobAwaitMs ?? 0)

/** A job may tighten its spec's limits, never loosen them. */
export function assertJobWithinSpec (job: JobBody, spec: Spec): void {
  const ceiling = spec.budget?.maxUsd
  if (ceiling != null && job.maxUsd > ceiling) {
    throw reject('over-budget', `job maxUsd ${job.maxUsd} is above the spec's budget.maxUsd ${ceiling}`)
  }
  const limits = jobDeadlines(spec, job.createdAt)
  if (limits.deadline != null && job.deadline > limits.deadline) {
    throw reject('deadline-too-loose', `job deadline ${new Date(job.deadline).toISOString()} is later than the spec allows (${new Date(limits.deadline).toISOString()})`)
  }
  if (limits.softDeadline != null && (job.softDeadline == null || job.softDeadline > limits.softDeadline)) {
    throw reject('soft-deadline-too-loose', 'job softDeadline is missing or later than the spec allows')
  }
}

export async function validateBid (data: Uint8Array, ctx: MarketContext, topicSpec?: string | null): Promise<{ envelope: Envelope<BidBody>, job: KnownJob }> {
  const now = ctx.now()
  const envelope = await openAfter(data, 'bid', BidBodySchema, async body => {
    if (await unknownJob(ctx, body.jobId)) throw ignore('unknown-job', `bid for job ${String(body.jobId)}, which this node has not seen`)
    if (typeof body.expiresAt === 'number' && body.expiresAt <= now) throw ignore('expired', 'bid has expired')
  })
  const bid = envelope.body
  assertOnItsTopic(topicSpec, bid.specId, 'bid')
  // Before the duplicate check, so that the checks from there on run in one turn.
  if (ctx.jobs.get(bid.jobId) == null) await ctx.jobs.settled(bid.jobId)
  if (ctx.seenBids.has(envelope.id)) throw ignore('duplicate', `bid ${envelope.id} already seen`)
  notFromTheFuture(bid.createdAt, now, 'bid createdAt')
  const job = ctx.jobs.get(bid.jobId)
  if (job == null) throw ignore('unknown-job', `bid for job ${bid.jobId}, which this node has not seen`)
  if (bid.specId !== job.body.specId) throw reject('wrong-spec', `bid names spec ${bid.specId} but job ${bid.jobId} is for ${job.body.specId}`)
  if (bid.priceUsd > job.body.maxUsd) throw reject('over-ceiling', `bid price ${bid.priceUsd} is above the job's ceiling ${job.body.maxUsd}`)
  if (sameKey(envelope.signer, job.coordinator)) throw reject('self-bid', 'a coordinator cannot bid on its own job')
  ctx.seenBids.add(envelope.id, Math.min(bid.expiresAt, job.body.deadline), now)
  return { envelope, job }
}

/**
 * A bid that came over the bid stream (protocols/market.md "Bid stream"):
 * first, from memory, that it is for one of this coordinator's open jobs and
 * signed (so it says) by the stream's own peer; then every check of a gossiped
 * bid. What this throws is the answer's refusal code.
 */
export async function validateStreamBid (data: Uint8Array, ctx: MarketContext, peer: string, ownsOpenJob: (jobId: string) => boolean): Promise<{ envelope: Envelope<BidBody>, job: KnownJob }> {
  const raw = parseEnvelopeJson(data) as { signer?: unknown, body?: { jobId?: unknown } } | null
  const jobId = raw?.body?.jobId
  if (typeof jobId === 'string' && !ownsOpenJob(jobId)) {
    const known = ctx.jobs.get(jobId)
    if (known != null && !sameKey(known.coordinator, ctx.self ?? '')) throw ignore('not-my-job', `job ${jobId} is coordinated by ${known.coordinator}, not by this node: send the bid to the job's signer`)
    throw ignore('not-open', `job ${jobId} is not an open job of this coordinator (unknown, or its auction has ended)`)
  }
  if (typeof raw?.signer === 'string' && raw.signer !== peer) throw reject('not-the-bidder', `a bid signed by ${raw.signer} arrived on the bid stream of ${peer}: an agent sends its own bids only`)
  return await validateBid(data, ctx, null)
}

export async function validateAward (data: Uint8Array, ctx: MarketContext, topicSpec?: string | null): Promise<{ envelope: Envelope<AwardBody>, job: KnownJob }> {
  const envelope = await openAfter(data, 'award', AwardBodySchema, async body => {
    if (await unknownJob(ctx, body.jobId)) throw ignore('unknown-job', `award for job ${String(body.jobId)}, which this node has not seen`)
  })
  const award = envelope.body
  assertOnItsTopic(topicSpec, award.specId, 'award')
  if (ctx.jobs.get(award.jobId) == null) await ctx.jobs.settled(award.jobId)
  if (ctx.seenAwards.has(envelope.id)) throw ignore('duplicate', `award ${envelope.id} already seen`)
  notFromTheFuture(award.issuedAt, ctx.now(), 'award issuedAt')
  const job = ctx.jobs.get(award.jobId)
  if (job == null) throw ignore('unknown-job', `award for job ${award.jobId}, which this node has not seen`)
  if (!sameKey(envelope.signer, job.coordinator)) throw reject('not-coordinator', `award for job ${award.jobId} is signed by ${envelope.signer}, not by the job's coordinator`)
  if (award.specId !== job.body.specId) throw reject('wrong-spec', 'award names a different spec than its job')
  if (award.priceUsd > job.body.maxUsd) throw reject('over-ceiling', 'award price is above the job ceiling')
  if (sameKey(award.agent, job.coordinator)) throw reject('self-award', 'a coordinator cannot award its own job to itself')
  if (award.bids != null) checkEmbeddedBids(award, job)
  ctx.seenAwards.add(envelope.id, job.body.deadline, ctx.now())
  return { envelope, job }
}

/**
 * The bids an award embeds (bids that came over the bid stream) must be what
 * a gossiped bid would have had to be: each authentic, for this job and spec,
 * within the ceiling, not the coordinator's own, one per agent; and the
 * awarded bid among them, at its price. Bounded in bytes as well as count.
 */
export function checkEmbeddedBids (award: AwardBody, job: KnownJob): void {
  const bids = award.bids ?? []
  const bytes = canonicalBytes(bids).byteLength
  if (bytes > MAX_AWARD_BIDS_BYTES) throw reject('too-large', `award embeds ${bytes} bytes of bids; the limit is ${MAX_AWARD_BIDS_BYTES}`)
  const agents = new Set<string>()
  let awarded: Envelope<BidBody> | undefined
  for (const [i, raw] of bids.entries()) {
    let bid: Envelope<BidBody>
    try {
      bid = checkBody(verifyEnvelope(raw, { expectType: 'bid' }), 'bid', BidBodySchema)
    } catch (err) {
      throw reject('bad-embedded-bid', `award bids[${i}]: ${(err as Error).message}`)
    }
    const b = bid.body
    if (b.jobId !== award.jobId || b.specId !== job.body.specId) throw reject('bad-embedded-bid', `award bids[${i}] is for another job or spec`)
    if (b.priceUsd > job.body.maxUsd) throw reject('bad-embedded-bid', `award bids[${i}] price ${b.priceUsd} is above the job's ceiling ${job.body.maxUsd}`)
    if (sameKey(bid.signer, job.coordinator)) throw reject('bad-embedded-bid', `award bids[${i}] is signed by the job's coordinator`)
    if (agents.has(bid.signer)) throw reject('bad-embedded-bid', `award bids[${i}] is a second bid from agent ${bid.signer}`)
    agents.add(bid.signer)
    if (bid.id === award.bidId) awarded = bid
  }
  if (awarded == null) throw reject('bad-embedded-bid', `award names bid ${award.bidId}, which is not among the bids it embeds`)
  if (!sameKey(awarded.signer, award.agent) || awarded.body.priceUsd !== award.priceUsd) {
    throw reject('bad-embedded-bid', 'award agent or price differs from the embedded bid it names')
  }
}

export function openClaim (data: Uint8Array): Envelope<ClaimBody> {
  return openTyped(data, 'claim', ClaimBodySchema)
}

/**
 * Authenticate a claim (embedded in a receipt, or parsed from its frame).
 * `canonicalParts` receives the canonical text of its body, for the receipt
 * that will carry it (see seal's `known`).
 */
export function verifyClaim (raw: unknown, canonicalParts?: WeakMap<object, string>): Envelope<ClaimBody> {
  // A plainly well-formed claim (every one an honest agent sends) skips the
  // schemas; anything else gets their full verdict, and their words.
  if (plainlyShapedClaim(raw)) return authenticateShaped(raw as Envelope, canonicalParts) as Envelope<ClaimBody>
  return checkBody(verifyEnvelope(raw, { expectType: 'claim', canonicalParts }), 'claim', ClaimBodySchema)
}

/**
 * Receipts are judged on their own: they must stand as proof without the job
 * in memory. When the job is known, though, only its coordinator may sign one.
 */
/**
 * `parsed`: `data` already through parseEnvelopeJson (an execution stream's
 * frame, parsed to read its type), untouched since: not parsed again.
 */
export async function validateReceipt (data: Uint8Array, ctx: BaseContext, topicSpec?: string | null, parsed?: { raw: unknown }): Promise<{ envelope: Envelope<ReceiptBody>, spec: Spec }> {
  // The embedded claim's body is canonicalized once, as part of the receipt's.
  const canonicalParts = new WeakMap<object, string>()
  const envelope = openCheaply(data, 'receipt', ReceiptBodySchema, body => {
    if (typeof body.specId === 'string' && ctx.knowsSpec != null && !ctx.knowsSpec(body.specId)) throw ignore('unknown-spec', `receipt for spec ${body.specId}, which this node does not hold yet`)
  }, canonicalParts, plainlyShapedReceiptBody, parsed)
  const receipt = envelope.body
  assertOnItsTopic(topicSpec, receipt.specId, 'receipt')
  notFromTheFuture(receipt.verdictAt, ctx.now(), 'receipt verdictAt')
  if (sameKey(receipt.agent, envelope.signer)) throw reject('self-receipt', 'a coordinator cannot sign a receipt for its own execution')
  if (receipt.startedAt > receipt.endedAt) throw reject('impossible-times', 'receipt ends before it starts')
  const job = ctx.jobs.get(receipt.jobId)
  if (job != null && !sameKey(envelope.signer, job.coordinator)) throw reject('not-coordinator', `receipt for job ${receipt.jobId} is signed by ${envelope.signer}, not by the job's coordinator`)
  const spec = await ctx.specOf(receipt.specId)
  if (spec == null) throw ignore('unknown-spec', `receipt for spec ${receipt.specId}, which this node does not hold yet`)
  const ceiling = spec.budget?.maxUsd
  if (ceiling != null && receipt.costUsd > ceiling) throw reject('over-budget', `receipt charges ${receipt.costUsd}, above the spec's budget.maxUsd ${ceiling}`)
  if (receipt.claim != null) {
    // ReceiptBodySchema has checked the claim's shape as verifyClaim would (envelope and body): only its id and signature are left.
    const claim = authenticateEmbedded(receipt.claim, canonicalParts) as Envelope<ClaimBody>
    if (!sameKey(claim.signer, receipt.agent)) throw reject('claim-signer', 'embedded claim is not signed by the receipt\'s agent')
    if (claim.body.jobId !== receipt.jobId || claim.body.awardId !== receipt.awardId) throw reject('claim-mismatch', 'embedded claim is for another job or award')
    if (receipt.outputHash != null && claim.body.outputHash !== receipt.outputHash) throw reject('claim-mismatch', 'receipt output hash differs from the agent\'s claim')
  }
  if (receipt.outcome === 'unreachable' && receipt.claim != null) {
    throw reject('claim-mismatch', 'an unreachable receipt says the agent never answered, yet embeds its claim')
  }
  const delivered = receipt.outcome === 'success' || receipt.outcome === 'criteria-failed'
  if (delivered && (receipt.claim == null || receipt.outputHash == null)) {
    throw reject('unproven-output', `a ${receipt.outcome} receipt must carry the agent's claim and the output hash`)
  }
  if (delivered && receipt.claim?.body.outcome !== 'success') {
    throw reject('claim-mismatch', `a ${receipt.outcome} receipt needs a claim of success, not ${receipt.claim?.body.outcome}`)
  }
  if (!delivered && receipt.costUsd !== 0) {
    throw reject('charged-for-nothing', `a ${receipt.outcome} receipt delivered nothing and must charge 0, not ${receipt.costUsd}`)
  }
  if (receipt.claim != null && receipt.costUsd > receipt.claim.body.costUsd + 1e-12) {
    throw reject('over-claim', `receipt charges ${receipt.costUsd}, more than the agent claimed (${receipt.claim.body.costUsd})`)
  }
  return { envelope, spec }
}

export async function validateCapacity (data: Uint8Array, ctx: BaseContext, topicSpec?: string | null): Promise<Envelope<CapacityBody>> {
  const envelope = openTyped(data, 'capacity', CapacityBodySchema)
  const advert = envelope.body
  // On a spec's topic an advert speaks for that spec alone: one entry, or none to withdraw.
  if (topicSpec != null && advert.specs.length > 1) throw reject('wrong-topic', `a capacity advert on the topic of spec ${topicSpec} must name that spec alone, not ${advert.specs.length} specs`)
  for (const entry of advert.specs) assertOnItsTopic(topicSpec, entry.specId, 'capacity advert')
  const now = ctx.now()
  notFromTheFuture(advert.issuedAt, now, 'capacity issuedAt')
  if (advert.expiresAt <= advert.issuedAt || advert.expiresAt - advert.issuedAt > MAX_ADVERT_TTL_MS) {
    throw reject('bad-ttl', `a capacity advert may live at most ${MAX_ADVERT_TTL_MS} ms`)
  }
  if (advert.expiresAt <= now) throw ignore('expired', 'capacity advert has expired')
  return envelope
}
