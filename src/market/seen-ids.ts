/** How many body ids a node remembers per topic at once; past-expiry ones go first beyond it, then the oldest. */
export const MAX_SEEN_IDS = 50_000

/**
 * Body ids of messages already accepted on a topic, each kept until it no
 * longer matters (a bid until it expires, an award until its job's deadline).
 * Gossip deduplicates by the hash of the bytes, and one signed body has many
 * byte spellings (member order, whitespace, number forms): this is the check
 * that makes a second spelling a duplicate (Ignored, not forwarded again).
 */
export class SeenIds {
  private readonly until = new Map<string, number>()
  private readonly limit: number

  constructor (limit = MAX_SEEN_IDS) {
    this.limit = limit
  }

  has (id: string): boolean {
    return this.until.has(id)
  }

  add (id: string, until: number, now: number): void {
    if (this.until.size >= this.limit) {
      for (const [seen, end] of this.until) if (end < now) this.until.delete(seen)
    }
    if (this.until.size >= this.limit) {
      const oldest = this.until.keys().next().value
      if (oldest != null) this.until.delete(oldest)
    }
    this.until.set(id, until)
  }
}
