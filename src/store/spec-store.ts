import type { StoredSpec } from '../node-types.ts'
import { sublevel, values, type Db, type Sublevel } from './db.ts'

/**
 * Specs by content id. Specs are immutable, so a put for a known id is a no-op.
 * The ids are also kept in memory (a few dozen bytes each): every gossiped spec
 * is checked for being a duplicate, and that check should not cost a disk read.
 */
export class SpecStore {
  private readonly level: Sublevel
  private readonly ids = new Set<string>()
  /** Records being written: readable at once, so what depends on a spec never waits for the disk. */
  private readonly writing = new Map<string, StoredSpec>()

  constructor (db: Db) {
    this.level = sublevel(db, 'specs')
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

  has (id: string): boolean {
    return this.ids.has(id)
  }

  async put (record: StoredSpec): Promise<void> {
    this.writing.set(record.id, record)
    try {
      await this.level.put(record.id, record)
      this.ids.add(record.id)
    } finally {
      this.writing.delete(record.id)
    }
  }

  async list (): Promise<StoredSpec[]> {
    return await values<StoredSpec>(this.level)
  }
}
