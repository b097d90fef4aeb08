import type { CapacityBody } from './messages.ts'

/** Above this many agents, expired adverts are dropped on the next update. */
const PRUNE_ABOVE = 1024
/** A single wait never exceeds this; callers loop and re-check. */
const MAX_WAIT_MS = 60_000

export interface AdvertisedLoad {
  /** Executions running, awards queued for a slot and places held by bids. */
  inFlight: number
  /** Executions at once. */
  limit: number
  /** Awards the agent queues beyond `limit`. */
  queue: number
  priceUsd: number
  issuedAt: number
}

/**
 * The latest capacity advert of every agent, as gossip delivered them. A
 * coordinator reads it to know who serves a spec and who is saturated, and
 * waits on `changed()` instead of polling when everyone is.
 */
export class CapacityTable {
  /**
   * By agent and scope: the spec of the per-spec topic the advert came on, or
   * '' for the global topic (where one advert covers every spec an agent serves).
   */
  private readonly adverts = new Map<string, { agent: string, advert: CapacityBody }>()
  private waiters: Array<() => void> = []
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  /** Record an advert (of one spec's topic, or of the global one); false when one of the agent at least as new is already held there. */
  update (agent: string, advert: CapacityBody, scope = ''): boolean {
    const key = `${agent} ${scope}`
    const held = this.adverts.get(key)
    if (held != null && held.advert.issuedAt >= advert.issuedAt) return false
    this.adverts.set(key, { agent, advert })
    // Forget agents whose last advert has expired, so the table tracks the live mesh only.
    if (this.adverts.size > PRUNE_ABOVE) {
      const now = this.now()
      for (const [k, seen] of this.adverts) if (seen.advert.expiresAt <= now) this.adverts.delete(k)
    }
    this.notify()
    return true
  }

  /** The agent's advertised load on a spec, if it has a live advert naming it. */
  load (agent: string, specId: string): AdvertisedLoad | undefined {
    const now = this.now()
    for (const scope of [specId, '']) {
      const advert = this.adverts.get(`${agent} ${scope}`)?.advert
      if (advert == null || advert.expiresAt <= now) continue
      const entry = advert.specs.find(s => s.specId === specId)
      if (entry != null) return { inFlight: entry.inFlight + entry.queued, limit: entry.limit, queue: entry.queue, priceUsd: entry.priceUsd, issuedAt: advert.issuedAt }
    }
    return undefined
  }

  /** Agents with a live advert for the spec. */
  agentsServing (specId: string): string[] {
    const now = this.now()
    const out = new Set<string>()
    for (const { agent, advert } of this.adverts.values()) {
      if (advert.expiresAt > now && advert.specs.some(s => s.specId === specId)) out.add(agent)
    }
    return [...out]
  }

  /** Something changed that may free capacity: an advert, or one of our own executions ending. */
  notify (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  /** Resolves at the next change, after `maxWaitMs` (adverts also expire silently), or when `signal` aborts. */
  async changed (maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, Math.min(MAX_WAIT_MS, Math.max(0, maxWaitMs)))
      signal?.addEventListener('abort', done, { once: true })
      function done (): void {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      this.waiters.push(done)
    })
  }
}
