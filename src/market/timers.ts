/**
 * Node timers overflow past 2^31−1 ms (about 24.8 days) and then fire at once;
 * specs may name deadlines much further away. These helpers re-arm instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Call `fn` after `ms`, however far away; returns a cancel function. */
export function after (ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined
  const at = Date.now() + Math.max(0, ms)
  const arm = (): void => {
    const left = at - Date.now()
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left))
    // A deadline alone never keeps the process alive: the node's sockets do that.
    timer.unref()
  }
  arm()
  return () => { clearTimeout(timer) }
}

/** Like AbortSignal.timeout(ms) (a TimeoutError reason), valid for any delay. */
export function timeoutSignal (ms: number): AbortSignal {
  if (ms <= MAX_TIMER_MS) return AbortSignal.timeout(Math.max(1, ms))
  const controller = new AbortController()
  after(ms, () => { controller.abort(new DOMException('The operation timed out.', 'TimeoutError')) })
  return controller.signal
}

/**
 * A signal that aborts (a TimeoutError reason, as timeoutSignal's) after `ms`
 * unless `clear` is called first. For a wait that usually ends well before its
 * limit, many times a second (an attempt within its execution window):
 * AbortSignal.timeout's timer outlives the wait, pending until it fires or the
 * signal is collected, so a coordinator at a few hundred jobs a second carried
 * tens of thousands of them; this one's timer goes when the wait does.
 */
export function clearableTimeout (ms: number): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const clear = after(Math.max(1, ms), () => { controller.abort(new DOMException('The operation timed out.', 'TimeoutError')) })
  return { signal: controller.signal, clear }
}

/** What a bid window waits on: the bids so far, the bidders still expected, and how to wake the wait. */
export interface BidWindow {
  bids: { readonly length: number }
  expected: { readonly size: number }
  /** Set while the window is waited on: a new bid calls it so the wait looks again. */
  wake?: () => void
}

/**
 * The all-but-one close of a job auction (protocols/market.md "Bid window"): with at least
 * ALL_BUT_ONE_MIN_EXPECTED agents expected at the window's opening, once all of them but one
 * have bid, the window waits for the last one only as long again as the others took since the
 * opening, and at least ALL_BUT_ONE_MIN_GRACE_SHARE of the window, never past its close. One
 * stalled agent then no longer holds every auction of the spec open to its end.
 */
export interface AllButOne {
  /** When the window opened (the job call's publication). */
  openedAt: number
  /** How many agents were expected to bid at the opening. */
  expectedAtOpen: number
}
export const ALL_BUT_ONE_MIN_EXPECTED = 3
export const ALL_BUT_ONE_MIN_GRACE_SHARE = 0.1

/**
 * Wait for bids until `closesAt`, or sooner once every expected bidder has bid
 * (and at least one bid is in), or, with `allButOne`, a grace after all but one
 * of them have; with no bid by then, on until `graceUntil` for a first one.
 * Ends at once when `stopped()` says so (checked on every wake).
 * The one bid-window wait of job auctions and lease calls.
 */
export async function collectBids (window: BidWindow, closesAt: number, graceUntil: number, stopped: () => boolean, now: () => number = Date.now, allButOne?: AllButOne): Promise<void> {
  const waitUntil = async (until: number, done: () => boolean): Promise<void> => {
    while (!done() && !stopped() && now() < until) {
      await new Promise<void>(resolve => {
        const cancel = after(until - now(), resolve)
        window.wake = () => { cancel(); resolve() }
      })
      window.wake = undefined
    }
  }
  const allIn = (): boolean => window.expected.size === 0 && window.bids.length > 0
  const oneShort = (): boolean => allButOne != null && allButOne.expectedAtOpen >= ALL_BUT_ONE_MIN_EXPECTED && window.expected.size <= 1 && window.bids.length > 0
  await waitUntil(closesAt, () => allIn() || oneShort())
  if (allButOne != null && !allIn() && oneShort()) {
    const grace = Math.max(ALL_BUT_ONE_MIN_GRACE_SHARE * (closesAt - allButOne.openedAt), now() - allButOne.openedAt)
    await waitUntil(Math.min(closesAt, now() + grace), allIn)
  }
  if (window.bids.length === 0) await waitUntil(graceUntil, () => window.bids.length > 0)
}
