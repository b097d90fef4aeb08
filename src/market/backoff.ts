/**
 * Delay before retry number `retry` (1 for the first retry): base × multiplier^(retry−1),
 * with "equal jitter" — half of it fixed, half drawn at random — so that the
 * requesters who failed together do not all come back together.
 */
export function backoffDelayMs (retry: number, baseMs: number, multiplier: number, random: () => number = Math.random): number {
  const delay = baseMs * Math.pow(multiplier, Math.max(0, retry - 1))
  return delay / 2 + random() * (delay / 2)
}

/** A counting semaphore: at most `limit` holders at once, the rest wait in order. */
export class Semaphore {
  private held = 0
  private readonly queue: Array<() => void> = []
  private readonly limit: number

  constructor (limit: number) {
    this.limit = limit
  }

  get inUse (): number {
    return this.held
  }

  /** Acquire, or give up (false) when `signal` aborts first. */
  async acquire (signal?: AbortSignal): Promise<boolean> {
    if (this.held < this.limit) {
      this.held++
      return true
    }
    if (signal?.aborted === true) return false
    return await new Promise<boolean>(resolve => {
      const grant = (): void => {
        signal?.removeEventListener('abort', giveUp)
        this.held++
        resolve(true)
      }
      const giveUp = (): void => {
        const i = this.queue.indexOf(grant)
        if (i >= 0) this.queue.splice(i, 1)
        resolve(false)
      }
      signal?.addEventListener('abort', giveUp, { once: true })
      this.queue.push(grant)
    })
  }

  release (): void {
    this.held--
    const next = this.queue.shift()
    if (next != null) next()
  }
}
