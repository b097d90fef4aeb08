import type { StoredSpec } from '../node-types.ts'
import { sublevel, values, type Db, type Sublevel } from './db.ts'

/** Specs by content id. Specs are immutable, so a put for a known id is a no-op. */
export class SpecStore {
  private readonly level: Sublevel

  constructor (db: Db) {
    this.level = sublevel(db, 'specs')
  }

  async get (id: string): Promise<StoredSpec | null> {
    return (await this.level.get(id) as StoredSpec | undefined) ?? null
  }

  async has (id: string): Promise<boolean> {
    return await this.level.has(id)
  }

  async put (record: StoredSpec): Promise<void> {
    await this.level.put(record.id, record)
  }

  async list (): Promise<StoredSpec[]> {
    return await values<StoredSpec>(this.level)
  }
}
