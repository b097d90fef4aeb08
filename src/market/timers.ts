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
