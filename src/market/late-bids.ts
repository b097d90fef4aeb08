/** How long a late bid counts as evidence that bids on its spec are late. */
export const LATE_BID_MEMORY_MS = 30_000
/** Late bids remembered per spec, and jobs closed without a bid remembered in all. */
export const MAX_REMEMBERED = 256

/**
 * Per spec: the bids on this coordinator's own jobs that came back late, a
 * first bid after its job's window or a bid on an auction already closed
 * without one. When a job then gets no bid at all although agents with room
 * and price advertise the spec, these say why: not that the agents declined,
 * but that their bids could not arrive in time on a saturated node or mesh
 * (bench:jobs at 64 in flight; no-bid.ts cause 'late').
 */
export class LateBids {
  private readonly now: () => number
  private readonly late = new Map<string, number[]>()
  /** Our jobs whose auction closed without a bid: job id → spec id, oldest first. */
  private readonly closedEmpty = new Map<string, string>()

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  /** A first bid came after the window, in its grace. */
  firstBidLate (specId: string): void {
    this.record(specId)
  }

  /** The job's auction closed without a bid: a bid for it from now on is a late one. */
  closedWithoutBid (jobId: string, specId: string): void {
    if (this.closedEmpty.size >= MAX_REMEMBERED) this.closedEmpty.delete(this.closedEmpty.keys().next().value!)
    this.closedEmpty.set(jobId, specId)
  }

  /** A bid for a job with no open auction: counted when that job's auction closed without one. */
  bidAfterClose (jobId: string): boolean {
    const specId = this.closedEmpty.get(jobId)
    if (specId == null) return false
    this.record(specId)
    return true
  }

  /** Late bids on the spec within the last LATE_BID_MEMORY_MS. */
  recent (specId: string): number {
    const times = this.late.get(specId)
    if (times == null) return 0
    const since = this.now() - LATE_BID_MEMORY_MS
    while (times.length > 0 && times[0] < since) times.shift()
    if (times.length === 0) this.late.delete(specId)
    return times.length
  }

  private record (specId: string): void {
    let times = this.late.get(specId)
    if (times == null) {
      times = []
      this.late.set(specId, times)
    }
    times.push(this.now())
    if (times.length > MAX_REMEMBERED) times.shift()
  }
}
