import { ExpiringMemory } from './expiring-memory.ts'

/** How many body ids a node remembers per topic at once; past-expiry ones go first beyond it, then the oldest. */
export const MAX_SEEN_IDS = 50_000

/**
 * Body ids of messages already accepted on a topic, each kept until it no
 * longer matters (a bid until it expires, an award until its job's deadline).
 * Gossip deduplicates by the hash of the bytes, and one signed body has many
 * byte spellings (member order, whitespace, number forms): this is the check
 * that makes a second spelling a duplicate (Ignored, not forwarded again).
 */
export class SeenIds extends ExpiringMemory<number> {
  constructor (limit = MAX_SEEN_IDS) {
    super(limit, until => until)
  }

  add (id: string, until: number, now: number): void {
    this.remember(id, until, now)
  }
}
