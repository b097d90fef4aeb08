import { describe, expect, it } from 'vitest'
import { compareRanked, rankBids, scoreBid, NEUTRAL_REPUTATION, PRICE_WEIGHT, REPUTATION_WEIGHT } from '../../../src/market/scoring.ts'
import type { BidBody } from '../../../src/market/messages.ts'

const bid = (bidId: string, agent: string, priceUsd: number, estimatedMs = 100) => ({
  bidId, agent, body: { jobId: 'j', specId: 's', priceUsd, estimatedMs, load: { inFlight: 0, limit: 1 }, createdAt: 0, expiresAt: 1 } satisfies BidBody
})

describe('award scoring', () => {
  it('is 0.7 × reputation + 0.3 × (1 − price/ceiling), clamped', () => {
    expect(REPUTATION_WEIGHT + PRICE_WEIGHT).toBe(1)
    expect(scoreBid(0.25, 0.5, 0.5)).toBeCloseTo(0.7 * 0.5 + 0.3 * 0.5)
    expect(scoreBid(0, 0.5, 1)).toBeCloseTo(1)
    expect(scoreBid(1, 0.5, 2)).toBeCloseTo(0.7) // price share capped at 1, reputation at 1
    expect(scoreBid(0, 0, NEUTRAL_REPUTATION)).toBeCloseTo(0.35 + 0.3)
  })

  it('with no reputation, the cheapest bid wins', () => {
    const ranked = rankBids([bid('b1', 'a', 0.3), bid('b2', 'b', 0.1), bid('b3', 'c', 0.2)], 0.5)
    expect(ranked.map(r => r.agent)).toEqual(['b', 'c', 'a'])
  })

  it('a cheap agent with a poor record loses to a fairly priced reliable one; a newcomer still beats it', () => {
    const reputation: Record<string, number> = { cheapBad: 0.2, reliable: 0.9 }
    const ranked = rankBids([bid('b1', 'cheapBad', 0.05), bid('b2', 'reliable', 0.3), bid('b3', 'newcomer', 0.2)], 0.5, a => reputation[a] ?? NEUTRAL_REPUTATION)
    expect(ranked.map(r => r.agent)).toEqual(['reliable', 'newcomer', 'cheapBad'])
  })

  it('breaks ties by price, then estimate, then bid id, whatever the input order', () => {
    const bids = [bid('b9', 'x', 0.2, 50), bid('b1', 'y', 0.2, 50), bid('b5', 'z', 0.2, 10)]
    const orders = [bids, [...bids].reverse(), [bids[1]!, bids[2]!, bids[0]!]]
    for (const order of orders) {
      // Same price and reputation: the shorter estimate first, then the smaller bid id.
      expect(rankBids(order, 0.5).map(r => r.bidId)).toEqual(['b5', 'b1', 'b9'])
    }
    const merged = [...rankBids([bids[0]!], 0.5), ...rankBids([bids[1]!, bids[2]!], 0.5)].sort(compareRanked)
    expect(merged.map(r => r.bidId)).toEqual(['b5', 'b1', 'b9'])
  })
})
