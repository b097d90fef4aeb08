/**
 * Looks a spec's providers up again and again, with backoff, for as long as
 * the node is on the spec's topics as a coordinator or a follower.
 *
 * Why: a coordinator meets a spec's agents only through the DHT (a node in
 * between that is not on the spec's topics relays none of its traffic), and
 * one lookup is not enough. The first one often runs before the agents' own
 * provider records have landed (an agent that just started serving is still
 * placing them), or it finds only some of them within its time limit on a
 * busy mesh; once one agent's advert has room the coordinator had no reason
 * to look again, so it kept bidding among the one or two agents it had met
 * (bench:scale at 100 nodes: 1 of the spec's 3 agents). An agent that starts
 * serving later is found the same way.
 */
import type { LogFn } from './reconnect.ts'

export interface ProviderSeekerInit {
  /** One lookup and dial of the spec's providers; resolves to how many it newly connected to. */
  lookup: (specId: string) => Promise<number>
  /** Delay before the first repeat, and after a lookup that met someone new. */
  firstDelayMs: number
  /** Longest delay between two lookups of one spec. */
  maxDelayMs: number
  /** @default no logging */
  log?: LogFn
}

interface Seeking {
  timer?: NodeJS.Timeout
  /** When seek() began it (Date.now()). */
  since: number
  delayMs: number
  lookups: number
}

/**
 * The schedule: a lookup after `firstDelayMs`, then each delay doubles up to
 * `maxDelayMs`; a lookup that connected to a new provider starts the doubling
 * over (more agents may be arriving). A lookup that fails counts as one that
 * met nobody.
 */
export class ProviderSeeker {
  private readonly init: ProviderSeekerInit
  private readonly seeking = new Map<string, Seeking>()
  private stopped = false

  constructor (init: ProviderSeekerInit) {
    this.init = init
  }

  /** Start looking the spec's providers up in the background (nothing if already doing so). */
  seek (specId: string): void {
    if (this.stopped || this.seeking.has(specId)) return
    const entry: Seeking = { since: Date.now(), delayMs: this.init.firstDelayMs, lookups: 0 }
    this.seeking.set(specId, entry)
    this.schedule(specId, entry)
  }

  /** Stop looking the spec up (the node left its topics). */
  forget (specId: string): void {
    clearTimeout(this.seeking.get(specId)?.timer)
    this.seeking.delete(specId)
  }

  /** When the spec began to be sought (Date.now()); undefined when it is not. */
  soughtSince (specId: string): number | undefined {
    return this.seeking.get(specId)?.since
  }

  /** The specs being sought, with the delay before each one's next lookup. */
  sought (): Array<{ specId: string, nextDelayMs: number, lookups: number }> {
    return [...this.seeking].map(([specId, e]) => ({ specId, nextDelayMs: e.delayMs, lookups: e.lookups }))
  }

  start (): void {
    this.stopped = false
  }

  stop (): void {
    this.stopped = true
    for (const entry of this.seeking.values()) clearTimeout(entry.timer)
    this.seeking.clear()
  }

  private schedule (specId: string, entry: Seeking): void {
    entry.timer = setTimeout(() => { void this.run(specId, entry) }, entry.delayMs)
    entry.timer.unref()
  }

  private async run (specId: string, entry: Seeking): Promise<void> {
    let met = 0
    try {
      met = await this.init.lookup(specId)
    } catch (err) {
      this.init.log?.('discovery.seek-failed', { level: 'debug', specId, error: (err as Error).message })
    }
    entry.lookups++
    // Forgotten or stopped while the lookup ran.
    if (this.seeking.get(specId) !== entry) return
    entry.delayMs = met > 0 ? this.init.firstDelayMs : Math.min(entry.delayMs * 2, this.init.maxDelayMs)
    this.schedule(specId, entry)
  }
}
