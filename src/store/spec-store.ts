import type { StoredSpec } from '../node-types.ts'
import { sublevel, values, type BatchOperation, type Db, type Sublevel } from './db.ts'
import { ReceivedIndex } from './received-index.ts'

/**
 * Specs by content id. Specs are immutable, so a put for a known id is a no-op.
 * The ids are also kept in memory (a few dozen bytes each): every gossiped spec
 * is checked for being a duplicate, and that check should not cost a disk read.
 */
export class SpecStore {
  private readonly db: Db
  private readonly level: Sublevel
  /** The exact envelope text each received spec arrived in, served by sync (see ReceiptStore). */
  private readonly envelopes: Sublevel
  private readonly ids = new Set<string>()
  /** Records being written: readable at once, so what depends on a spec never waits for the disk. */
  private readonly writing = new Map<string, StoredSpec>()
  /**
   * Ids by spec name, for looking a spec up by name without reading every spec:
   * built by the first such lookup (one read of them all, not at start-up) and
   * kept by put from then on.
   */
  private names?: Map<string, Set<string>>
  private namesBuilt?: Promise<Map<string, Set<string>>>
  /** Specs by the time this node stored them, for incremental sync. */
  readonly received: ReceivedIndex

  constructor (db: Db) {
    this.db = db
    this.level = sublevel(db, 'specs')
    this.envelopes = sublevel(db, 'spec-envelopes')
    this.received = new ReceivedIndex(db, 'specs-by-received', async id => await this.level.has(id))
  }

  /** Read the stored ids into memory; call once before use. */
  async load (): Promise<void> {
    for await (const id of this.level.keys()) this.ids.add(id as string)
    await this.received.load(() => this.level.values() as AsyncIterable<StoredSpec>)
  }

  /** Resolves once every write begun before the call has landed (or failed). */
  async flushed (): Promise<void> {
    await Promise.allSettled([...this.pendingWrites])
  }

  /** Specs stored at or after received-time `since`, oldest first. */
  async * since (since: number): AsyncIterable<StoredSpec> {
    for await (const id of this.received.idsSince(since)) {
      const record = await this.get(id)
      if (record != null) yield record
    }
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
    const write = this.write(record, envelopeText)
    this.pendingWrites.add(write)
    try {
      await write
    } finally {
      this.pendingWrites.delete(write)
    }
  }

  private readonly pendingWrites = new Set<Promise<void>>()

  private async write (record: StoredSpec, envelopeText?: string): Promise<void> {
    this.writing.set(record.id, record)
    try {
      // One batch: the record, its text and its received-time entry land together.
      const operations: BatchOperation[] = [{ type: 'put' as const, sublevel: this.level, key: record.id, value: record }]
      if (envelopeText != null) operations.push({ type: 'put' as const, sublevel: this.envelopes, key: record.id, value: envelopeText })
      operations.push(this.received.entry(record.id))
      try {
        await this.db.batch(operations)
      } finally {
        this.received.settled(record.id)
      }
      this.ids.add(record.id)
      if (this.names != null) addName(this.names, record)
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

  /** The specs named `name` (every version and variant), in id order. */
  async named (name: string): Promise<StoredSpec[]> {
    const ids = [...(await this.nameIndex()).get(name) ?? []].sort()
    const records = await Promise.all(ids.map(async id => await this.get(id)))
    return records.filter(record => record != null)
  }

  private async nameIndex (): Promise<Map<string, Set<string>>> {
    this.namesBuilt ??= (async () => {
      // Set before reading, so a spec stored meanwhile is indexed by put (a Set keeps it once).
      const names = new Map<string, Set<string>>()
      this.names = names
      for (const record of await this.list()) addName(names, record)
      return names
    })().catch(err => {
      this.names = undefined
      this.namesBuilt = undefined
      throw err
    })
    return await this.namesBuilt
  }

  /** Ids starting with `prefix`, in order, at most `limit`. */
  async idsWithPrefix (prefix: string, limit: number): Promise<string[]> {
    return await this.level.keys({ gte: prefix, lt: `${prefix}\xff`, limit }).all() as string[]
  }
}

function addName (names: Map<string, Set<string>>, record: StoredSpec): void {
  let ids = names.get(record.spec.name)
  if (ids == null) names.set(record.spec.name, ids = new Set())
  ids.add(record.id)
}
