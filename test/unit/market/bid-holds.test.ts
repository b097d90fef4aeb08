import { describe, expect, it } from 'vitest'
import { BidHolds, type HoldingBid } from '../../../src/market/bid-holds.ts'

describe('BidHolds (the places an agent\'s bids hold)', () => {
  const bid = (jobId: string, holdsUntil: number, specId = 's'): HoldingBid => ({ jobId, specId, holdsUntil })

  it('counts the holds still running per spec, and forgets those that ended', () => {
    const holds = new BidHolds<HoldingBid>()
    holds.add(bid('a', 100))
    holds.add(bid('b', 200))
    holds.add(bid('c', 150, 'other'))
    expect(holds.count('s', 50)).toBe(2)
    expect(holds.nextEnd('s', 50)).toBe(100)
    expect(holds.count('s', 120)).toBe(1)
    expect(holds.nextEnd('s', 120)).toBe(200)
    expect(holds.count('other', 120)).toBe(1)
    expect(holds.count('s', 250)).toBe(0)
    expect(holds.nextEnd('s', 250)).toBe(Infinity)
  })

  it('releases a bid, or every bid on a job awarded elsewhere, at once', () => {
    const holds = new BidHolds<HoldingBid>()
    const mine = bid('a', 500)
    holds.add(mine)
    holds.add(bid('b', 500))
    expect(holds.release(mine, 10)).toBe(true)
    expect(mine.holdsUntil).toBe(0)
    expect(holds.release(mine, 10)).toBe(false)
    expect(holds.releaseJob('s', 'b', 10)).toBe(true)
    expect(holds.releaseJob('s', 'b', 10)).toBe(false)
    expect(holds.count('s', 10)).toBe(0)
  })

  it('says a hold that had already ended was not released by the award', () => {
    const holds = new BidHolds<HoldingBid>()
    holds.add(bid('a', 100))
    expect(holds.releaseJob('s', 'a', 150)).toBe(false)
    holds.add(bid('z', 0))
    expect(holds.count('s', 0)).toBe(0)
  })
})
