import type { Envelope } from '../wire/envelope.ts'
import type { ReceiptBody } from '../market/messages.ts'
import { sublevel, type BatchOperation, type Db, type Sublevel } from './db.ts'

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

  constructor (db: Db) {
    this.db = db
    this.byId = sublevel(db, 'receipts')
    this.byAgent = sublevel(db, 'receipts-by-agent')
    this.bySpec = sublevel(db, 'receipts-by-spec')
    this.byJob = sublevel(db, 'receipts-by-job')
    this.bySigner = sublevel(db, 'receipts-by-signer')
    this.envelopes = sublevel(db, 'receipt-envelopes')
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
    await this.db.batch(operations)
  }

  /** The text a receipt arrived in, when this node kept it. */
  async envelopeText (id: string): Promise<string | null> {
    return (await this.envelopes.get(id) as string | undefined) ?? null
  }

  /** Write many receipts in one batch (sync and benchmarks). */
  async putMany (records: StoredReceipt[]): Promise<void> {
    await this.db.batch(records.flatMap(r => this.operations(r)))
  }

  /** The batch operations that store a receipt and its index entries; for atomic writes with other records. */
  operations (record: StoredReceipt): BatchOperation[] {
    const body = record.envelope.body
    const suffix = `${timeKey(body.endedAt)}!${record.id}`
    // Counted when the batch is built: a batch that then fails overcounts, which only tightens a bound.
    if (this.signerCounts != null) this.signerCounts.set(record.envelope.signer, this.countBySigner(record.envelope.signer) + 1)
    return [
      this.signerEntry(record),
      { type: 'put' as const, sublevel: this.byId, key: record.id, value: record },
      { type: 'put' as const, sublevel: this.byAgent, key: `${body.agent}!${suffix}`, value: record.id },
      { type: 'put' as const, sublevel: this.bySpec, key: `${body.specId}!${suffix}`, value: record.id },
      { type: 'put' as const, sublevel: this.byJob, key: `${body.jobId}!${suffix}`, value: record.id }
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

  /** Every stored receipt, in key order, without loading them all at once. */
  async * all (): AsyncIterable<StoredReceipt> {
    for await (const record of this.byId.values()) yield record as StoredReceipt
  }
}
