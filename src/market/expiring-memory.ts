/**
 * A bounded in-memory table whose entries each matter until a time of their
 * own. Past `limit` entries, adding one first drops those already expired,
 * then (if still full) the oldest added: the table never grows past its limit,
 * and what is dropped is what matters least. (A Map iterates in insertion
 * order, so the oldest is its first key.)
 */
export class ExpiringMemory<V> {
  private readonly entries = new Map<string, V>()
  private readonly limit: number
  private readonly expiresAt: (value: V) => number

  constructor (limit: number, expiresAt: (value: V) => number) {
    this.limit = limit
    this.expiresAt = expiresAt
  }

  has (key: string): boolean {
    return this.entries.has(key)
  }

  get (key: string): V | undefined {
    return this.entries.get(key)
  }

  get size (): number {
    return this.entries.size
  }

  protected forget (key: string): void {
    this.entries.delete(key)
  }

  protected remember (key: string, value: V, now: number): void {
    if (this.entries.size >= this.limit) this.prune(now)
    if (this.entries.size >= this.limit) {
      const oldest = this.entries.keys().next().value
      if (oldest != null) this.entries.delete(oldest)
    }
    this.entries.set(key, value)
  }

  /** Drop every entry whose time is before `now`. */
  prune (now: number): void {
    for (const [key, value] of this.entries) if (this.expiresAt(value) < now) this.entries.delete(key)
  }
}
