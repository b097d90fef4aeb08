/**
 * Waiting for a condition without polling: it is checked again only when
 * something it depends on has changed, so a wait costs nothing while idle and
 * ends the moment the change that satisfies it lands.
 */

/**
 * Resolves at the next change of one thing a wait depends on, after `maxWaitMs`
 * at most, or when `signal` aborts (the shape of CapacityTable.changed).
 */
export type NextChange = (maxWaitMs: number, signal: AbortSignal) => Promise<void>

/** Until `holds()` or `deadline` (epoch ms) passes, re-checked at each change of `changes`; whether it held. */
export async function until (holds: () => boolean, deadline: number, changes: readonly NextChange[]): Promise<boolean> {
  while (!holds()) {
    const left = deadline - Date.now()
    if (left <= 0) return false
    const stop = new AbortController()
    await Promise.race(changes.map(async next => { await next(left, stop.signal) }))
    stop.abort()
  }
  return true
}

interface EventSource<Type extends string> {
  addEventListener: (type: Type, listener: () => void) => void
  removeEventListener: (type: Type, listener: () => void) => void
}

/** The next of `types` on `target` (an EventTarget such as libp2p or its pubsub), as a NextChange. */
export function nextEvent<Type extends string> (target: EventSource<Type>, ...types: Type[]): NextChange {
  return async (maxWaitMs, signal) => {
    if (signal.aborted) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, Math.max(0, maxWaitMs))
      for (const type of types) target.addEventListener(type, done)
      signal.addEventListener('abort', done, { once: true })
      function done (): void {
        clearTimeout(timer)
        for (const type of types) target.removeEventListener(type, done)
        signal.removeEventListener('abort', done)
        resolve()
      }
    })
  }
}
