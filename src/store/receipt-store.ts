import type { Envelope } from '../wire/envelope.ts'
import type { ReceiptBody } from '../market/messages.ts'
import { sublevel, type BatchOperation, type Db, type Sublevel } from './db.ts'
import { ReceivedIndex } from './received-index.ts'

export interface StoredReceipt {
  id: string
  envelope: Envelope<ReceiptBody>
  receivedAt: number
}

export interface ReceiptQuery {
  agent?: string
  specId?: string
  jobId?: string
  limit?: number
}

/** What a sync peer asks for (protocols/sync.md): every filter given must match. */
export interface ReceiptSelection {
  /** Only receipts this node stored at or after this received-time cursor. */
  since?: number
  /** Only receipts of these spec ids. */
  specs?: readonly string[]
  /** Only receipts naming this agent. */
  agent?: string
  /** Only these receipts. */
  ids?: readonly string[]
}

/**
 * A stored receipt's JSON around its envelope's text: the bytes JSON.stringify
 * of the record gives (its keys in this order), so a record written either way
 * reads back the same.
 */
function storedReceiptText (record: StoredReceipt, envelopeText: string): string {
  return `{"id":${JSON.stringify(record.id)},"envelope":${envelopeText},"receivedAt":${JSON.stringify(record.receivedAt)}}`
}

/** Zero-padded so that lexicographic key order is time order. */
const timeKey = (ms: number): string => ms.toString().padStart(15, '0')

/**
 * Receipts by id, with secondary indexes by agent, spec and job. The record and
 * its index entries are written in one LevelDB batch, so a crash never leaves
 * an index pointing at nothing or a receipt missing from an index.
 */
export class ReceiptStore {
  private readonly db: Db
  private readonly byId: Sublevel
  private readonly byAgent: Sublevel
  private readonly bySpec: Sublevel
  private readonly byJob: Sublevel
  private readonly bySigner: Sublevel
  /**
   * The exact envelope text each received receipt arrived in: sync serves
   * those bytes, so a receipt keeps its gossip message id. Receipts this node
   * signed, and those stored by older versions, have none (re-encoded instead).
   */
  private readonly envelopes: Sublevel
  /** Receipts held per signing coordinator, once load() has counted them. */
  private signerCounts: Map<string, number> | null = null
  /** Receipts by the time this node stored them, for incremental sync. */
  readonly received: ReceivedIndex

  constructor (db: Db) {
    this.db = db
    this.byId = sublevel(db, 'receipts')
    this.byAgent = sublevel(db, 'receipts-by-agent')
    this.bySpec = sublevel(db, 'receipts-by-spec')
    this.byJob = sublevel(db, 'receipts-by-job')
    this.bySigner = sublevel(db, 'receipts-by-signer')
    this.envelopes = sublevel(db, 'receipt-envelopes')
    this.received = new ReceivedIndex(db, 'receipts-by-received', async id => await this.byId.has(id))
  }

  /**
   * Count the receipts held per signer (keys only), indexing by signer any
   * receipt stored before that index existed. Call once before countBySigner.
   */
  async load (): Promise<void> {
    const counts = new Map<string, number>()
    for await (const key of this.bySigner.keys()) {
      const signer = (key as string).slice(0, (key as string).indexOf('!'))
      counts.set(signer, (counts.get(signer) ?? 0) + 1)
    }
    if (counts.size === 0) {
      const missing: BatchOperation[] = []
      for await (const record of this.all()) {
        missing.push(this.signerEntry(record))
        counts.set(record.envelope.signer, (counts.get(record.envelope.signer) ?? 0) + 1)
      }
      if (missing.length > 0) await this.db.batch(missing)
    }
    this.signerCounts = counts
    await this.received.load(() => this.all())
  }

  /** How many receipts signed by this coordinator are held (0 before load()). */
  countBySigner (signer: string): number {
    return this.signerCounts?.get(signer) ?? 0
  }

  private signerEntry (record: StoredReceipt): BatchOperation {
    return { type: 'put' as const, sublevel: this.bySigner, key: `${record.envelope.signer}!${timeKey(record.envelope.body.endedAt)}!${record.id}`, value: record.id }
  }

  async has (id: string): Promise<boolean> {
    return await this.byId.has(id)
  }

  /** Which of these receipts are stored, in one LevelDB call (a gossip batch's receipts). */
  async hasMany (ids: string[]): Promise<boolean[]> {
    return await this.byId.hasMany(ids)
  }

  async get (id: string): Promise<StoredReceipt | null> {
    return (await this.byId.get(id) as StoredReceipt | undefined) ?? null
  }

  /** Receipt ids starting with `prefix`, in order, at most `limit`. */
  async idsWithPrefix (prefix: string, limit: number): Promise<string[]> {
    return await this.byId.keys({ gte: prefix, lt: `${prefix}\xff`, limit }).all() as string[]
  }

  /** `envelopeText`: the envelope exactly as it arrived, kept for sync. */
  async put (record: StoredReceipt, envelopeText?: string): Promise<void> {
    const operations = this.operations(record)
    if (envelopeText != null) operations.push({ type: 'put' as const, sublevel: this.envelopes, key: record.id, value: envelopeText })
    try {
      await this.db.batch(operations)
    } finally {
      this.received.settled(record.id)
    }
  }

  /** The text a receipt arrived in, when this node kept it. */
  async envelopeText (id: string): Promise<string | null> {
    return (await this.envelopes.get(id) as string | undefined) ?? null
  }

  /**
   * Write many receipts in one batch (a gossip batch of receipts, benchmarks);
   * `envelopeTexts[i]`, when given, is the exact text records[i] arrived in.
   */
  async putMany (records: StoredReceipt[], envelopeTexts: ReadonlyArray<string | undefined> = []): Promise<void> {
    const operations = records.flatMap((r, i) => {
      const text = envelopeTexts[i]
      return text != null ? [...this.operations(r), { type: 'put' as const, sublevel: this.envelopes, key: r.id, value: text }] : this.operations(r)
    })
    try {
      await this.db.batch(operations)
    } finally {
      for (const r of records) this.received.settled(r.id)
    }
  }

  /**
   * The batch operations that store a receipt and its index entries; for
   * atomic writes with other records. The receipt counts as being written
   * (holding sync cursors back) until it is seen stored. `envelopeText`: the
   * envelope's JSON text, already made (for its frame and its gossip): the
   * record is then written around it rather than encoded again.
   */
  operations (record: StoredReceipt, envelopeText?: string): BatchOperation[] {
    const body = record.envelope.body
    const suffix = `${timeKey(body.endedAt)}!${record.id}`
    // Counted when the batch is built: a batch that then fails overcounts, which only tightens a bound.
    if (this.signerCounts != null) this.signerCounts.set(record.envelope.signer, this.countBySigner(record.envelope.signer) + 1)
    return [
      this.signerEntry(record),
      envelopeText != null
        ? { type: 'put' as const, sublevel: this.byId, key: record.id, value: storedReceiptText(record, envelopeText), valueEncoding: 'utf8' }
        : { type: 'put' as const, sublevel: this.byId, key: record.id, value: record },
      { type: 'put' as const, sublevel: this.byAgent, key: `${body.agent}!${suffix}`, value: record.id },
      { type: 'put' as const, sublevel: this.bySpec, key: `${body.specId}!${suffix}`, value: record.id },
      { type: 'put' as const, sublevel: this.byJob, key: `${body.jobId}!${suffix}`, value: record.id },
      this.received.entry(record.id)
    ]
  }

  /**
   * Receipts matching every given filter, oldest first; with `limit`, the
   * newest `limit` of them (still oldest first).
   */
  async query (query: ReceiptQuery = {}): Promise<StoredReceipt[]> {
    const limit = query.limit ?? Infinity
    const [index, prefix] = query.jobId != null
      ? [this.byJob, query.jobId]
      : query.agent != null
        ? [this.byAgent, query.agent]
        : query.specId != null
          ? [this.bySpec, query.specId]
          : [null, null]
    if (index == null) {
      const all: StoredReceipt[] = []
      for await (const record of this.byId.values()) all.push(record as StoredReceipt)
      all.sort((a, b) => a.envelope.body.endedAt - b.envelope.body.endedAt)
      return limit >= all.length ? all : all.slice(all.length - limit)
    }
    const matches = (r: StoredReceipt): boolean =>
      (query.agent == null || r.envelope.body.agent === query.agent) &&
      (query.specId == null || r.envelope.body.specId === query.specId) &&
      (query.jobId == null || r.envelope.body.jobId === query.jobId)
    // Index keys sort by time: walk newest first so a limit keeps the newest.
    const out: StoredReceipt[] = []
    for await (const id of index.values({ gte: `${prefix}!`, lt: `${prefix}!\xff`, reverse: true })) {
      if (out.length >= limit) break
      const record = await this.get(id as string)
      if (record != null && matches(record)) out.push(record)
    }
    return out.reverse()
  }

  /**
   * The receipts a sync peer asked for, without reading the rest: by id, by
   * received time, by agent or by spec, whichever index narrows it; the other
   * filters are checked on each record read. `since` with `ids` is not a
   * selection the protocol allows (the sync request schema refuses it).
   */
  async * select (selection: ReceiptSelection): AsyncIterable<StoredReceipt> {
    const specs = selection.specs != null ? new Set(selection.specs) : null
    const matches = (r: StoredReceipt): boolean =>
      (selection.agent == null || r.envelope.body.agent === selection.agent) &&
      (specs == null || specs.has(r.envelope.body.specId))
    if (selection.ids != null) yield * this.read(new Set(selection.ids), matches)
    else if (selection.since != null) yield * this.read(this.received.idsSince(selection.since), matches)
    else if (selection.agent != null) yield * this.read(this.indexIds(this.byAgent, selection.agent), matches)
    else if (specs != null) for (const spec of specs) yield * this.read(this.indexIds(this.bySpec, spec), matches)
    else yield * this.all()
  }

  private async * read (ids: AsyncIterable<string> | Iterable<string>, matches: (r: StoredReceipt) => boolean): AsyncIterable<StoredReceipt> {
    for await (const id of ids) {
      const record = await this.get(id)
      if (record != null && matches(record)) yield record
    }
  }

  private async * indexIds (index: Sublevel, prefix: string): AsyncIterable<string> {
    for await (const id of index.values({ gte: `${prefix}!`, lt: `${prefix}!\xff` })) yield id as string
  }

  /** Every stored receipt, in key order, without loading them all at once. */
  async * all (): AsyncIterable<StoredReceipt> {
    for await (const record of this.byId.values()) yield record as StoredReceipt
  }
}
