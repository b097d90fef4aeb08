import { ignore, reject } from '../wire/errors.ts'
import type { Envelope } from '../wire/envelope.ts'
import type { AcceptBid } from './bid-stream.ts'
import type { BidBody } from './messages.ts'
import { validateStreamBid, type MarketContext } from './validators.ts'

export interface StreamBidsDeps {
  ctx: MarketContext
  /** Whether the job is one of this node's jobs still taking bids. */
  ownsOpenJob: (jobId: string) => boolean
  /** Record a validated bid in its job's auction (Coordinator.onBid with viaStream). */
  take: (envelope: Envelope<BidBody>) => 'taken' | 'already-bid' | 'not-open'
  /** Whether the open auction of `jobId` took the bid `bidId` of `agent` from gossip. */
  tookByGossip: (jobId: string, bidId: string, agent: string) => boolean
}

/** Copies answered are remembered this long (by count): a bid is copied at most once, and only while its job takes bids. */
const MAX_COPIES_REMEMBERED = 1024

const decoder = new TextDecoder()

/** What a frame says it is, unauthenticated (its signature is not checked when it is a copy). */
function claims (frame: Uint8Array): { id?: unknown, signer?: unknown, jobId?: unknown } {
  try {
    const raw = JSON.parse(decoder.decode(frame)) as { id?: unknown, signer?: unknown, body?: { jobId?: unknown } } | null
    return { id: raw?.id, signer: raw?.signer, jobId: raw?.body?.jobId }
  } catch {
    return {}
  }
}

/**
 * How a coordinator judges a bid that came over the bid stream
 * (protocols/market.md "Bid stream"): every check of the bids topic, for one
 * of its own open jobs, from the agent that signed it, and one bid per agent
 * per job; and the copy of a bid it took from gossip is answered as taken.
 * Throws the refusal the answer carries.
 */
export function acceptStreamBid (deps: StreamBidsDeps): AcceptBid {
  const copies = new Set<string>()
  return async (frame, peer) => {
    // An agent whose new stream had not answered in time gossiped the same bid (bid-client.ts
    // ColdBidStreamError), and the gossiped one was taken first: this copy is answered as taken
    // (it is the same signed bid, from the agent that sent it), once; a second copy is a replay.
    const { id, signer, jobId } = claims(frame)
    if (typeof id === 'string' && typeof jobId === 'string' && signer === peer && !copies.has(id) && deps.tookByGossip(jobId, id, peer)) {
      copies.add(id)
      if (copies.size > MAX_COPIES_REMEMBERED) copies.delete(copies.values().next().value!)
      return { bidId: id }
    }
    const { envelope } = await validateStreamBid(frame, deps.ctx, peer, deps.ownsOpenJob)
    const taken = deps.take(envelope)
    if (taken === 'already-bid') throw reject('already-bid', `agent ${envelope.signer} has already bid on job ${envelope.body.jobId}: one bid per job per agent`)
    if (taken === 'not-open') throw ignore('not-open', `job ${envelope.body.jobId} stopped taking bids while this bid was checked`)
    return { bidId: envelope.id }
  }
}
