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
}

/**
 * How a coordinator judges a bid that came over the bid stream
 * (protocols/market.md "Bid stream"): every check of the bids topic, for one
 * of its own open jobs, from the agent that signed it, and one bid per agent
 * per job. Throws the refusal the answer carries.
 */
export function acceptStreamBid (deps: StreamBidsDeps): AcceptBid {
  return async (frame, peer) => {
    const { envelope } = await validateStreamBid(frame, deps.ctx, peer, deps.ownsOpenJob)
    const taken = deps.take(envelope)
    if (taken === 'already-bid') throw reject('already-bid', `agent ${envelope.signer} has already bid on job ${envelope.body.jobId}: one bid per job per agent`)
    if (taken === 'not-open') throw ignore('not-open', `job ${envelope.body.jobId} stopped taking bids while this bid was checked`)
    return { bidId: envelope.id }
  }
}
