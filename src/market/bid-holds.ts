/** A bid of ours that may hold a place (a slot or a queue place) for its job. */
export interface HoldingBid {
  jobId: string
  specId: string
  /** Until when the bid holds its place; 0 once it holds none (awarded, lost, refused). */
  holdsUntil: number
}

/**
 * The places our bids hold, per spec. Only bids still holding one are kept:
 * counting them costs what is held (at most a spec's slots and queue places),
 * not every bid still valid (those stay until their job's deadline, thousands
 * at a few dozen jobs a second).
 */
export class BidHolds<B extends HoldingBid> {
  private readonly bySpec = new Map<string, Set<B>>()

  /** A new bid holding its place until its holdsUntil. */
  add (bid: B): void {
    if (bid.holdsUntil <= 0) return
    let holding = this.bySpec.get(bid.specId)
    if (holding == null) {
      holding = new Set()
      this.bySpec.set(bid.specId, holding)
    }
    holding.add(bid)
  }

  /** The bid holds no place any more; whether it held one until now. */
  release (bid: B, now: number): boolean {
    const held = bid.holdsUntil > now
    bid.holdsUntil = 0
    this.forget(bid)
    return held
  }

  /** The bids on `jobId` release their places (its award went to someone else); whether any held one. */
  releaseJob (specId: string, jobId: string, now: number): boolean {
    let released = false
    for (const bid of this.bySpec.get(specId) ?? []) {
      if (bid.jobId === jobId && this.release(bid, now)) released = true
    }
    return released
  }

  /** Places held on the spec now; holds that have ended are dropped on the way. */
  count (specId: string, now: number): number {
    const holding = this.bySpec.get(specId)
    if (holding == null) return 0
    let n = 0
    for (const bid of holding) {
      if (bid.holdsUntil > now) n++
      else this.forget(bid)
    }
    return n
  }

  /** When the next hold on the spec ends (Infinity when none is held). */
  nextEnd (specId: string, now: number): number {
    let next = Infinity
    for (const bid of this.bySpec.get(specId) ?? []) if (bid.holdsUntil > now) next = Math.min(next, bid.holdsUntil)
    return next
  }

  private forget (bid: B): void {
    const holding = this.bySpec.get(bid.specId)
    if (holding == null) return
    holding.delete(bid)
    if (holding.size === 0) this.bySpec.delete(bid.specId)
  }
}
