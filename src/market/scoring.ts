import type { BidBody } from './messages.ts'

/**
 * How a coordinator ranks bids (documented in protocols/market.md):
 *
 *   score = REPUTATION_WEIGHT × reputation + PRICE_WEIGHT × (1 − price / ceiling)
 *
 * reputation is the coordinator's own estimate in [0, 1] of the agent's success
 * on this spec (NEUTRAL_REPUTATION for an agent it knows nothing of); price is
 * the bid's, ceiling the job's maxUsd. Higher wins. Reputation weighs more than
 * price so a cheap agent with a poor record loses to a fairly priced reliable
 * one, while a newcomer at neutral can still win on price.
 * Ties: lower price, then shorter estimate, then the smaller bid id, so the
 * ranking is deterministic given the same bids and the same reputations.
 */
export const REPUTATION_WEIGHT = 0.7
export const PRICE_WEIGHT = 0.3
export const NEUTRAL_REPUTATION = 0.5

export interface RankedBid {
  bidId: string
  agent: string
  body: BidBody
  reputation: number
  score: number
  /** Set once an attempt has used this bid. */
  tried?: boolean
}

export function scoreBid (priceUsd: number, ceilingUsd: number, reputation: number): number {
  const priceShare = ceilingUsd > 0 ? Math.min(1, priceUsd / ceilingUsd) : (priceUsd > 0 ? 1 : 0)
  const clamped = Math.min(1, Math.max(0, reputation))
  return REPUTATION_WEIGHT * clamped + PRICE_WEIGHT * (1 - priceShare)
}

export function rankBids (
  bids: Array<{ bidId: string, agent: string, body: BidBody }>,
  ceilingUsd: number,
  reputationOf: (agent: string) => number = () => NEUTRAL_REPUTATION
): RankedBid[] {
  return bids
    .map(bid => {
      const reputation = reputationOf(bid.agent)
      return { ...bid, reputation, score: scoreBid(bid.body.priceUsd, ceilingUsd, reputation) }
    })
    .sort(compareRanked)
}

/** Best first: higher score, then lower price, shorter estimate, smaller bid id. */
export function compareRanked (a: RankedBid, b: RankedBid): number {
  return b.score - a.score ||
    a.body.priceUsd - b.body.priceUsd ||
    a.body.estimatedMs - b.body.estimatedMs ||
    (a.bidId < b.bidId ? -1 : a.bidId > b.bidId ? 1 : 0)
}
