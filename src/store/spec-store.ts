import type { StoredSpec } from '../node-types.ts'
import { sublevel, values, type Db, type Sublevel } from './db.ts'

/**
 * Specs by content id. Specs are immutable, so a put for a known id is a no-op.
 * The ids are also kept in memory (a few dozen bytes each): every gossiped spec
 * is checked for being a duplicate, and that check should not cost a disk read.
 */
export class SpecStore {
  private readonly level: Sublevel
  /** The exact envelope text each received spec arrived in, served by sync (see ReceiptStore). */
  private readonly envelopes: Sublevel
  private readonly ids = new Set<string>()
  /** Records being written: readable at once, so what depends on a spec never waits for the disk. */
  private readonly writing = new Map<string, StoredSpec>()

  constructor (db: Db) {
    this.level = sublevel(db, 'specs')
    this.envelopes = sublevel(db, 'spec-envelopes')
  }

  /** Read the stored ids into memory; call once before use. */
  async load (): Promise<void> {
    for await (const id of this.level.keys()) this.ids.add(id as string)
  }

  async get (id: string): Promise<StoredSpec | null> {
    const pending = this.writing.get(id)
    if (pending != null) return pending
    return (await this.level.get(id) as StoredSpec | undefined) ?? null
  }

  /** How many specs are stored (from the in-memory ids). */
  get size (): number {
    return this.ids.size
  }

  /** Held, or being written (answered from memory, so validators can ask it before anything costly). */
  has (id: string): boolean {
    return this.ids.has(id) || this.writing.has(id)
  }

  /** `envelopeText`: the envelope exactly as it arrived, kept for sync. */
  async put (record: StoredSpec, envelopeText?: string): Promise<void> {
    this.writing.set(record.id, record)
    try {
      await this.level.put(record.id, record)
      this.ids.add(record.id)
      // After the record, so listing sees a spec as soon as it did before the text was kept.
      if (envelopeText != null) await this.envelopes.put(record.id, envelopeText)
    } finally {
      this.writing.delete(record.id)
    }
  }

  /** The text a spec arrived in, when this node kept it. */
  async envelopeText (id: string): Promise<string | null> {
    return (await this.envelopes.get(id) as string | undefined) ?? null
  }

  /** Specs in id order; with `after`/`limit`, one page of them read straight from the key range. */
  async list (page: { after?: string, limit?: number } = {}): Promise<StoredSpec[]> {
    if (page.after == null && page.limit == null) return await values<StoredSpec>(this.level)
    const range: { gt?: string, limit?: number } = {}
    if (page.after != null) range.gt = page.after
    if (page.limit != null) range.limit = page.limit
    return await this.level.values(range).all() as StoredSpec[]
  }

  /** Ids starting with `prefix`, in order, at most `limit`. */
  async idsWithPrefix (prefix: string, limit: number): Promise<string[]> {
    return await this.level.keys({ gte: prefix, lt: `${prefix}\xff`, limit }).all() as string[]
  }
}
