import { parseEnvelopeJson, verifyEnvelope, type Envelope } from '../wire/envelope.ts'
import { ignore, reject } from '../wire/errors.ts'
import { sameKey } from '../crypto/signatures.ts'
import type { Spec } from '../spec/index.ts'
import { ExpiringMemory } from './expiring-memory.ts'
import { SeenIds } from './seen-ids.ts'
import { bidHoldsUntil } from './constants.ts'
import { assertOnItsTopic, checkBody, notFromTheFuture } from './validators.ts'
import { LeaseBidBodySchema, LeaseBodySchema, LeaseCallBodySchema, type LeaseBidBody, type LeaseBody, type LeaseCallBody } from './lease-messages.ts'

/**
 * The validator of a spec's `leases` topic (protocols/market.md "Leases",
 * Validation): lease calls, lease bids and leases, each checked against the
 * calls this node has seen, the way job, bid and award are checked against jobs.
 */

export interface KnownLeaseCall {
  callId: string
  coordinator: string
  body: LeaseCallBody
}

/** Until when a call's bids still hold their slots (the same sum as a job's bid holds). */
export function leaseBidHoldsUntil (call: LeaseCallBody): number {
  return bidHoldsUntil({ body: call, publishedAt: call.createdAt })
}

/** Lease calls seen (ours and from gossip), kept until their last lease could have expired. */
export class LeaseCalls extends ExpiringMemory<KnownLeaseCall> {
  constructor (limit = 5_000) {
    super(limit, call => leaseBidHoldsUntil(call.body) + call.body.durationMs)
  }

  add (call: KnownLeaseCall, now: number): void {
    this.remember(call.callId, call, now)
  }
}

export interface LeaseContext {
  now: () => number
  specOf: (specId: string) => Promise<Spec | null>
  knowsSpec?: (specId: string) => boolean
  calls: LeaseCalls
  /** Lease bids and leases accepted so far, by body id. */
  seen: SeenIds
}

export function leaseContext (base: Omit<LeaseContext, 'calls' | 'seen'>, calls: LeaseCalls = new LeaseCalls()): LeaseContext {
  return { ...base, calls, seen: new SeenIds() }
}

export type LeaseGossip =
  | { type: 'lease-call', envelope: Envelope<LeaseCallBody>, spec: Spec }
  | { type: 'lease-bid', envelope: Envelope<LeaseBidBody>, call: KnownLeaseCall }
  | { type: 'lease', envelope: Envelope<LeaseBody>, call: KnownLeaseCall }

export async function validateLeaseMessage (data: Uint8Array, ctx: LeaseContext, topicSpec?: string | null): Promise<LeaseGossip> {
  const raw = parseEnvelopeJson(data)
  const type = (raw as { type?: unknown } | null)?.type
  if (type === 'lease-call') return await validateLeaseCall(raw, ctx, topicSpec)
  if (type === 'lease-bid') return validateLeaseBid(raw, ctx, topicSpec)
  if (type === 'lease') return validateLease(raw, ctx, topicSpec)
  throw reject('wrong-type', `the leases topic carries lease-call, lease-bid and lease messages, not ${JSON.stringify(type)}`)
}

async function validateLeaseCall (raw: unknown, ctx: LeaseContext, topicSpec?: string | null): Promise<LeaseGossip> {
  const envelope = checkBody(verifyEnvelope(raw, { expectType: 'lease-call' }), 'lease-call', LeaseCallBodySchema)
  const call = envelope.body
  assertOnItsTopic(topicSpec, call.specId, 'lease call')
  const now = ctx.now()
  notFromTheFuture(call.createdAt, now, 'lease call createdAt')
  if (ctx.calls.has(envelope.id)) throw ignore('duplicate', `lease call ${envelope.id} already seen`)
  if (leaseBidHoldsUntil(call) <= now) throw ignore('expired', 'the lease call\'s bidding is over')
  const spec = await ctx.specOf(call.specId)
  if (spec == null) throw ignore('unknown-spec', `lease call for spec ${call.specId}, which this node does not hold yet`)
  const ceiling = spec.budget?.maxUsd
  if (ceiling != null && call.maxUsd > ceiling) throw reject('over-budget', `lease call maxUsd ${call.maxUsd} is above the spec's budget.maxUsd ${ceiling}`)
  const limit = spec.capacity?.maxConcurrentRequests
  if (limit != null && call.slots > limit) throw reject('over-limit', `lease call asks for ${call.slots} slots; the spec's capacity.maxConcurrentRequests is ${limit}`)
  ctx.calls.add({ callId: envelope.id, coordinator: envelope.signer, body: call }, now)
  return { type: 'lease-call', envelope, spec }
}

function knownCall (ctx: LeaseContext, callId: string, what: string): KnownLeaseCall {
  const call = ctx.calls.get(callId)
  if (call == null) throw ignore('unknown-call', `${what} for lease call ${callId}, which this node has not seen`)
  return call
}

function validateLeaseBid (raw: unknown, ctx: LeaseContext, topicSpec?: string | null): LeaseGossip {
  const envelope = checkBody(verifyEnvelope(raw, { expectType: 'lease-bid' }), 'lease-bid', LeaseBidBodySchema)
  const bid = envelope.body
  assertOnItsTopic(topicSpec, bid.specId, 'lease bid')
  if (ctx.seen.has(envelope.id)) throw ignore('duplicate', `lease bid ${envelope.id} already seen`)
  const now = ctx.now()
  notFromTheFuture(bid.createdAt, now, 'lease bid createdAt')
  const call = knownCall(ctx, bid.callId, 'lease bid')
  if (bid.specId !== call.body.specId) throw reject('wrong-spec', `lease bid names spec ${bid.specId} but its call is for ${call.body.specId}`)
  if (bid.priceUsd > call.body.maxUsd) throw reject('over-ceiling', `lease bid price ${bid.priceUsd} is above the call's ceiling ${call.body.maxUsd}`)
  if (bid.slots > call.body.slots) throw reject('over-slots', `lease bid offers ${bid.slots} slots; the call asks for ${call.body.slots}`)
  if (sameKey(envelope.signer, call.coordinator)) throw reject('self-bid', 'a coordinator cannot bid on its own lease call')
  if (bid.expiresAt <= now) throw ignore('expired', 'lease bid has expired')
  ctx.seen.add(envelope.id, bid.expiresAt, now)
  return { type: 'lease-bid', envelope, call }
}

function validateLease (raw: unknown, ctx: LeaseContext, topicSpec?: string | null): LeaseGossip {
  const envelope = checkBody(verifyEnvelope(raw, { expectType: 'lease' }), 'lease', LeaseBodySchema)
  const lease = envelope.body
  assertOnItsTopic(topicSpec, lease.specId, 'lease')
  if (ctx.seen.has(envelope.id)) throw ignore('duplicate', `lease ${envelope.id} already seen`)
  const now = ctx.now()
  notFromTheFuture(lease.issuedAt, now, 'lease issuedAt')
  const call = knownCall(ctx, lease.callId, 'lease')
  if (!sameKey(envelope.signer, call.coordinator)) throw reject('not-coordinator', `lease for call ${lease.callId} is signed by ${envelope.signer}, not by the call's coordinator`)
  if (lease.specId !== call.body.specId) throw reject('wrong-spec', 'lease names a different spec than its call')
  if (lease.priceUsd > call.body.maxUsd) throw reject('over-ceiling', 'lease price is above the call\'s ceiling')
  if (lease.slots > call.body.slots) throw reject('over-slots', `lease holds ${lease.slots} slots; the call asked for ${call.body.slots}`)
  if (lease.expiresAt < lease.issuedAt || lease.expiresAt - lease.issuedAt > call.body.durationMs) throw reject('bad-term', `a lease of this call runs at most ${call.body.durationMs} ms from its award`)
  if (sameKey(lease.agent, call.coordinator)) throw reject('self-award', 'a coordinator cannot lease its own slots')
  ctx.seen.add(envelope.id, lease.expiresAt, now)
  return { type: 'lease', envelope, call }
}
