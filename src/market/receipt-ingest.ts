import type { Envelope } from '../wire/envelope.ts'
import { ignore, reject, type MessageValidationError } from '../wire/errors.ts'
import type { ReceiptStore, StoredReceipt } from '../store/receipt-store.ts'
import { sameKey } from '../crypto/signatures.ts'
import type { ReceiptBody } from './messages.ts'
import { isReceiptBatch, validateReceiptBatch } from './receipt-batch.ts'
import { validateReceipt, type BaseContext } from './validators.ts'

export interface ReceiptIngestDeps {
  receipts: ReceiptStore
  ctx: BaseContext
  /** Receipts held per signer (protocols/market.md check 18). */
  perSigner: number
  onReceipt?: (receipt: StoredReceipt) => void
  now?: () => number
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })

interface PendingReceipt {
  envelope: Envelope<ReceiptBody>
  bytes: Uint8Array
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * A receipt frame on an execution stream (execute/1.3.0, protocols/market.md
 * "Receipt frame"): every check of the receipts topic, then it must be a
 * receipt of `agent`'s work (the node reading the stream) signed by
 * `coordinator` (the stream's other end); anything else is Rejected
 * `not-ours`: a coordinator has no reason to send it there.
 */
export async function validateOwnReceipt (data: Uint8Array, ctx: BaseContext, agent: string, coordinator: string, parsed?: { raw: unknown }): Promise<Envelope<ReceiptBody>> {
  const { envelope } = await validateReceipt(data, ctx, null, parsed)
  if (!sameKey(envelope.body.agent, agent) || !sameKey(envelope.signer, coordinator)) {
    throw reject('not-ours', `receipt ${envelope.id} on the execution stream is for agent ${envelope.body.agent}, signed by ${envelope.signer}: only the receipts of this agent's work, signed by the stream's coordinator, come there`)
  }
  return envelope
}

/**
 * Takes receipts in from the receipts topic (one receipt or a batch) and from
 * sync (one receipt per record): validates, deduplicates by receipt id across
 * every path, applies the signer quota, and stores each receipt alone in the
 * bytes it arrived in, before the validation resolves (so gossipsub forwards
 * only what is on disk).
 */
export class ReceiptIngest {
  private readonly deps: ReceiptIngestDeps
  /** Receipts being written: a second copy arriving meanwhile is a duplicate. */
  private readonly inFlight = new Set<string>()
  /** Single receipts validated this turn, waiting to be looked up and written together (keepNew). */
  private singles: PendingReceipt[] = []
  private readonly now: () => number

  constructor (deps: ReceiptIngestDeps) {
    this.deps = deps
    this.now = deps.now ?? Date.now
  }

  /** A receipts-topic message: a batch when it is a JSON array, else one receipt. */
  async message (data: Uint8Array, topicSpec: string | null): Promise<void> {
    if (isReceiptBatch(data)) await this.batch(data, topicSpec)
    else await this.single(data, topicSpec)
  }

  /** One receipt envelope (a gossip message, or a sync record). */
  async single (data: Uint8Array, topicSpec: string | null = null): Promise<void> {
    const { envelope } = await validateReceipt(data, this.deps.ctx, topicSpec)
    await this.keepNew(envelope, data)
  }

  /**
   * A receipt frame on an execution stream (execute/1.3.0), judged by
   * validateOwnReceipt for `agent` (this node) and the stream's `coordinator`,
   * then stored as a receipt from the topic would be. `parsed`: the frame as
   * the stream's reader parsed it (validateReceipt's).
   */
  async ownReceipt (data: Uint8Array, agent: string, coordinator: string, parsed?: { raw: unknown }): Promise<void> {
    await this.keepNew(await validateOwnReceipt(data, this.deps.ctx, agent, coordinator, parsed), data)
  }

  /**
   * Store one validated receipt unless it is held already (Ignored:
   * duplicate) or its signer is over quota. The receipts validated in one
   * turn of the event loop are looked up and written together (one hasMany,
   * one batch): an agent under a lease takes a receipt frame per job, and a
   * LevelDB lookup and a batch for each were a sixth of its CPU (bench:jobs).
   */
  private async keepNew (envelope: Envelope<ReceiptBody>, data: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.singles.push({ envelope, bytes: data, resolve, reject })
      if (this.singles.length === 1) setImmediate(() => { void this.keepSingles() })
    })
  }

  /** The receipts keepNew gathered: each is stored, or its promise fails with why not. */
  private async keepSingles (): Promise<void> {
    const group = this.singles
    this.singles = []
    // Each id is claimed before the lookup: a copy that arrives while it runs
    // (in a later turn, or in a batch) is a duplicate, not a second write.
    const claimed: PendingReceipt[] = []
    for (const r of group) {
      if (this.inFlight.has(r.envelope.id)) {
        r.reject(this.duplicateError(r.envelope.id))
        continue
      }
      this.inFlight.add(r.envelope.id)
      claimed.push(r)
    }
    if (claimed.length === 0) return
    const release = (r: PendingReceipt, err: Error): void => {
      this.inFlight.delete(r.envelope.id)
      r.reject(err)
    }
    let stored: boolean[]
    try {
      stored = await this.deps.receipts.hasMany(claimed.map(r => r.envelope.id))
    } catch (err) {
      for (const r of claimed) release(r, err as Error)
      return
    }
    const fresh: PendingReceipt[] = []
    const fits = this.quotaOfOneWrite()
    for (const [i, r] of claimed.entries()) {
      const { id, signer } = r.envelope
      if (stored[i] === true) {
        release(r, this.duplicateError(id))
        continue
      }
      if (!fits(signer)) {
        release(r, this.quotaError(signer))
        continue
      }
      fresh.push(r)
    }
    if (fresh.length === 0) return
    try {
      // store() releases the claims once written (or failed).
      await this.store(fresh)
    } catch (err) {
      for (const r of fresh) r.reject(err as Error)
      return
    }
    for (const r of fresh) r.resolve()
  }

  private duplicateError (id: string): MessageValidationError {
    return ignore('duplicate', `receipt ${id} is already stored`)
  }

  /**
   * A batch: Accepted when every receipt in it passes the topic's checks and at
   * least one is new to this node (those are stored, in one write); Ignored as
   * `duplicate` (or `signer-quota`) when none is.
   */
  async batch (data: Uint8Array, topicSpec: string | null): Promise<void> {
    const receipts = await validateReceiptBatch(data, this.deps.ctx, topicSpec)
    // Claimed before the lookup, as keepSingles does: a copy arriving while it
    // runs (alone, by sync, in another batch) is a duplicate, not a second
    // write, a second count against the signer's quota and a second receipt
    // event for the API's subscribers.
    const claimed = receipts.filter(r => !this.inFlight.has(r.envelope.id))
    for (const r of claimed) this.inFlight.add(r.envelope.id)
    try {
      const stored = await this.deps.receipts.hasMany(claimed.map(r => r.envelope.id))
      const fresh: typeof receipts = []
      const fits = this.quotaOfOneWrite()
      let overQuota = 0
      for (const [i, receipt] of claimed.entries()) {
        if (stored[i] === true) continue
        if (!fits(receipt.envelope.signer)) {
          overQuota++
          continue
        }
        fresh.push(receipt)
      }
      if (fresh.length === 0) {
        if (overQuota > 0) this.assertQuota(receipts[0]!.envelope.signer)
        throw ignore('duplicate', `every receipt of the batch (${receipts.length}) is already stored`)
      }
      await this.store(fresh)
    } finally {
      for (const r of claimed) this.inFlight.delete(r.envelope.id)
    }
  }

  /**
   * For one write: whether one more receipt by `signer` fits its quota, counting
   * those of the same write already let through (each call that answers true
   * takes a place).
   */
  private quotaOfOneWrite (): (signer: string) => boolean {
    const taken = new Map<string, number>()
    return signer => {
      const n = taken.get(signer) ?? 0
      if (this.deps.receipts.countBySigner(signer) + n >= this.deps.perSigner) return false
      taken.set(signer, n + 1)
      return true
    }
  }

  /** One key must not fill the store (or every sync answer) with receipts of its own making. */
  private assertQuota (signer: string): void {
    if (this.deps.receipts.countBySigner(signer) >= this.deps.perSigner) throw this.quotaError(signer)
  }

  private quotaError (signer: string): MessageValidationError {
    return ignore('signer-quota', `this node already holds ${this.deps.perSigner} receipts signed by ${signer}`)
  }

  private async store (receipts: Array<{ envelope: Envelope<ReceiptBody>, bytes: Uint8Array }>): Promise<void> {
    for (const r of receipts) this.inFlight.add(r.envelope.id)
    try {
      const receivedAt = this.now()
      const records: StoredReceipt[] = receipts.map(r => ({ id: r.envelope.id, envelope: r.envelope, receivedAt }))
      await this.deps.receipts.putMany(records, receipts.map(r => utf8.decode(r.bytes)))
      for (const record of records) this.deps.onReceipt?.(record)
    } finally {
      for (const r of receipts) this.inFlight.delete(r.envelope.id)
    }
  }
}
