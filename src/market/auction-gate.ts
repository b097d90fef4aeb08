import { after } from './timers.ts'

export interface AuctionGateOptions {
  /** Auctions at once to start with. @default 16 */
  initial?: number
  /** Never fewer than this at once, however late bids come. @default 2 */
  min?: number
  /** Never more than this at once. @default 1024 */
  max?: number
  now?: () => number
}

interface Waiter {
  grant: () => void
}

/**
 * How many auctions of one spec a coordinator runs at once (job calls out,
 * bidding not over), adapted to how fast bids come back, as TCP adapts its
 * window (AIMD): an auction whose first bid came within its bid window widens
 * the limit (by one per limit's worth of such auctions); one whose first bid
 * came later, or never, halves it, once per round (auctions opened before the
 * last cut do not cut again: they were all in the same queue). Jobs beyond the
 * limit wait here in order, unpublished. A job call whose bids cannot come
 * back in time costs every agent of the spec its validation and a bid, and
 * the job fails with "no agent bid" all the same: at 64 jobs in flight on a
 * saturated mesh that was 466 of 1,000 jobs (bench:jobs).
 */
export class AuctionGate {
  private limitValue: number
  private readonly min: number
  private readonly max: number
  private readonly now: () => number
  private inUse = 0
  private readonly waiters: Waiter[] = []
  private lastCutAt = -Infinity

  constructor (options: AuctionGateOptions = {}) {
    this.min = Math.max(1, options.min ?? 2)
    this.max = Math.max(this.min, options.max ?? 1024)
    this.limitValue = Math.min(this.max, Math.max(this.min, options.initial ?? 16))
    this.now = options.now ?? Date.now
  }

  /** Auctions allowed at once now (whole). */
  get limit (): number {
    return Math.floor(this.limitValue)
  }

  /** Auctions open now, and jobs waiting for one. */
  get open (): number { return this.inUse }
  get waiting (): number { return this.waiters.length }

  /**
   * A place for one auction: at once while fewer than the limit are open,
   * else in turn. False when `until` (epoch ms) passes or `signal` aborts first.
   */
  async acquire (until: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) return false
    if (this.waiters.length === 0 && this.inUse < this.limit) {
      this.inUse++
      return true
    }
    if (until <= this.now()) return false
    return await new Promise<boolean>(resolve => {
      const done = (granted: boolean): void => {
        cancel()
        signal?.removeEventListener('abort', leave)
        resolve(granted)
      }
      const waiter: Waiter = { grant: () => { done(true) } }
      const leave = (): void => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
        done(false)
      }
      const cancel = after(until - this.now(), leave)
      signal?.addEventListener('abort', leave, { once: true })
      this.waiters.push(waiter)
    })
  }

  /**
   * The auction's bidding is over. `openedAt`: when its job call went out;
   * `inTime`: whether a first bid came within its window (true), later or
   * never (false), or it says nothing either way (undefined: it ended before
   * bidding did, e.g. cancelled).
   */
  release (openedAt: number, inTime?: boolean): void {
    this.inUse = Math.max(0, this.inUse - 1)
    if (inTime === true) this.limitValue = Math.min(this.max, this.limitValue + 1 / this.limitValue)
    else if (inTime === false && openedAt >= this.lastCutAt) {
      this.limitValue = Math.max(this.min, this.limitValue / 2)
      this.lastCutAt = this.now()
    }
    while (this.waiters.length > 0 && this.inUse < this.limit) {
      this.inUse++
      this.waiters.shift()!.grant()
    }
  }
}
