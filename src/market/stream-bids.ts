import { ignore, MessageValidationError, reject } from '../wire/errors.ts'
import { parseEnvelopeJson, type Envelope } from '../wire/envelope.ts'
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
  /** The stream's peer bid on `jobId` after its auction closed (Coordinator.onBidAfterClose: counted as late when it closed without a bid). */
  cameAfterClose: (jobId: string, agent: string) => void
}

/** Copies answered are remembered this long (by count): a bid is copied at most once, and only while its job takes bids. */
const MAX_COPIES_REMEMBERED = 1024

/**
 * How a coordinator judges a bid that came over the bid stream
 * (protocols/market.md "Bid stream"): every check of the bids topic, for one
 * of its own open jobs, from the agent that signed it, and one bid per agent
 * per job; and the copy of a bid it took from gossip is answered as taken.
 * Throws the refusal the answer carries.
 */
export function acceptStreamBid (deps: StreamBidsDeps): AcceptBid {
  const copies = new Set<string>()
  /**
   * An agent whose new stream had not answered in time gossiped the same bid (bid-client.ts
   * ColdBidStreamError), and the gossiped one was taken first: this copy, refused as a
   * duplicate, is answered as taken, once. The duplicate check comes after every other check,
   * so the copy is the same signed bid (its id is its body's content id) from the agent that
   * signed it (the stream's peer); a second copy stays the duplicate it is.
   */
  const answeredAsCopy = (frame: Uint8Array, peer: string): string | undefined => {
    const raw = parseEnvelopeJson(frame) as { id: string, body: { jobId: string } }
    if (copies.has(raw.id) || !deps.tookByGossip(raw.body.jobId, raw.id, peer)) return undefined
    copies.add(raw.id)
    if (copies.size > MAX_COPIES_REMEMBERED) copies.delete(copies.values().next().value!)
    return raw.id
  }
  /**
   * A bid refused because its job takes no bids: a bid by gossip that came so late
   * counts as late (Coordinator.onBid), and so does one by stream. Its signature is not
   * checked (the auction is over), but the stream's peer is authenticated by the
   * connection and only its own bid is counted, for a job of ours that closed without one.
   */
  const noteAfterClose = (frame: Uint8Array, peer: string): void => {
    const raw = parseEnvelopeJson(frame) as { signer?: unknown, body?: { jobId?: unknown } } | null
    if (raw?.signer === peer && typeof raw.body?.jobId === 'string') deps.cameAfterClose(raw.body.jobId, peer)
  }
  return async (frame, peer) => {
    let envelope: Envelope<BidBody>
    try {
      ({ envelope } = await validateStreamBid(frame, deps.ctx, peer, deps.ownsOpenJob))
    } catch (err) {
      const copy = err instanceof MessageValidationError && err.code === 'duplicate' ? answeredAsCopy(frame, peer) : undefined
      if (copy != null) return { bidId: copy }
      if (err instanceof MessageValidationError && err.code === 'not-open') noteAfterClose(frame, peer)
      throw err
    }
    const taken = deps.take(envelope)
    if (taken === 'already-bid') throw reject('already-bid', `agent ${envelope.signer} has already bid on job ${envelope.body.jobId}: one bid per job per agent`)
    if (taken === 'not-open') throw ignore('not-open', `job ${envelope.body.jobId} stopped taking bids while this bid was checked`)
    return { bidId: envelope.id }
  }
}
