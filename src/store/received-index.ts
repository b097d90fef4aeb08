import { sublevel, type BatchOperation, type Db, type Sublevel } from './db.ts'

/** Zero-padded so that lexicographic key order is time order. */
const stampKey = (ms: number): string => ms.toString().padStart(15, '0')
/** Sorts after every stamp key (digits), so a range scan of stamps never meets it. */
const FLOOR_KEY = '~floor'
const INDEXED_KEY = '~indexed'
/** Stamp keys are digits then `!`: everything below this. */
const STAMPS_END = '~'
/** A write this store was told of but never saw land (a failed batch) stops holding cursors back after this. */
const PENDING_GIVE_UP_MS = 60_000

/**
 * A store's records by the time this node stored them (its "received time"),
 * so that sync can answer "everything since cursor N" by a range scan instead
 * of reading the whole store (protocols/sync.md, "Cursors").
 *
 * Stamps never go backwards, within a run (each is at least the last) or
 * across restarts (at least the highest cursor handed out, kept on disk as
 * the floor), so a wall clock stepped back cannot hide a new record below a
 * cursor a peer already holds.
 */
export class ReceivedIndex {
  private readonly db: Db
  private readonly level: Sublevel
  private readonly now: () => number
  /** Every future stamp is at least this. */
  private floor = 0
  /** Writes stamped but not yet known to have landed: stamp by record id, with when it was stamped. */
  private readonly pending = new Map<string, { stamp: number, since: number }>()
  /** For writes batched by someone else (ReceiptStore.operations): has the record landed yet? */
  private readonly landed: (id: string) => Promise<boolean>

  constructor (db: Db, name: string, landed: (id: string) => Promise<boolean>, now: () => number = Date.now) {
    this.db = db
    this.level = sublevel(db, name)
    this.landed = landed
    this.now = now
  }

  /**
   * Read the floor; on a store written before this index existed, index every
   * record once by its own receivedAt (idempotent: a crash midway redoes it).
   */
  async load (existing: () => AsyncIterable<{ id: string, receivedAt: number }>): Promise<void> {
    if (await this.level.get(INDEXED_KEY) == null) {
      let batch: BatchOperation[] = []
      for await (const record of existing()) {
        batch.push(this.put(record.receivedAt, record.id))
        if (batch.length >= 1000) {
          await this.db.batch(batch)
          batch = []
        }
      }
      batch.push({ type: 'put' as const, sublevel: this.level, key: INDEXED_KEY, value: 1 })
      await this.db.batch(batch)
    }
    const floor = await this.level.get(FLOOR_KEY) as number | undefined
    const last = await this.level.keys({ lt: STAMPS_END, reverse: true, limit: 1 }).all() as string[]
    const lastStamp = last.length > 0 ? Number(last[0]!.slice(0, last[0]!.indexOf('!'))) : 0
    this.floor = Math.max(floor ?? 0, lastStamp)
  }

  private put (stamp: number, id: string): BatchOperation {
    return { type: 'put' as const, sublevel: this.level, key: `${stampKey(stamp)}!${id}`, value: id }
  }

  /**
   * The index entry for a record about to be written, stamped now; the write
   * counts as in flight until `landed(id)` is called (or the record is seen stored).
   */
  entry (id: string): BatchOperation {
    const now = this.now()
    const stamp = Math.max(now, this.floor)
    this.floor = stamp
    this.pending.set(id, { stamp, since: now })
    return this.put(stamp, id)
  }

  /** The batch holding `id`'s entry has been written (or failed: then it was never visible). */
  settled (id: string): void {
    this.pending.delete(id)
  }

  /** Ids stored at or after stamp `since`, oldest first. */
  async * idsSince (since: number): AsyncIterable<string> {
    for await (const id of this.level.values({ gte: stampKey(since), lt: STAMPS_END })) yield id as string
  }

  /**
   * A cursor: a stamp below which every record this store will ever hold is
   * already visible to a read that starts after this returns. That is now, or
   * the stamp of the oldest write still in flight when one is: the margin for
   * writes in flight, measured rather than guessed (a fixed margin of M ms would
   * re-send everything that arrived in the last M ms before every sync, and
   * still miss a write slower than M). Later stamps are at least the cursor, so
   * it is kept as the floor (on disk: a restart must not stamp below it either).
   */
  async cursor (): Promise<number> {
    const now = this.now()
    // Raised first: a write stamped while the checks below wait must not fall under the cursor.
    this.floor = Math.max(this.floor, now)
    let cursor = this.floor
    for (const [id, { stamp, since }] of [...this.pending]) {
      if (await this.landed(id) || now - since > PENDING_GIVE_UP_MS) this.pending.delete(id)
      else cursor = Math.min(cursor, stamp)
    }
    await this.level.put(FLOOR_KEY, this.floor)
    return cursor
  }
}
