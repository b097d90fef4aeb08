import type { Startable } from '@libp2p/interface'
import { encodeEnvelope, type Envelope } from '../wire/envelope.ts'
import type { ReceiptBody } from './messages.ts'
import { batchBytes, encodeReceiptBatch, MAX_RECEIPT_BATCH_BYTES, MAX_RECEIPTS_PER_BATCH } from './receipt-batch.ts'

/** How long the first receipt of a batch waits for others (ReceiptBatcherInit.flushMs). */
export const DEFAULT_RECEIPT_FLUSH_MS = 20

export interface ReceiptBatcherInit {
  /** Publishes one gossip message. */
  publish: (topic: string, bytes: Uint8Array) => Promise<void>
  /**
   * How long the first receipt of a batch waits for others before the batch
   * goes out: long enough to gather a busy coordinator's receipts, short
   * enough that nobody waits on a receipt. 0: no batches, every receipt goes
   * alone, right after its caller's turn (as before batches; for comparisons).
   * At 5 ms a coordinator at 250–350 jobs/s sent batches of one or two:
   * nearly a gossip message per receipt, each signed, encrypted per mesh
   * peer, decoded, verified and forwarded by every party; 20 ms gathers four
   * times as many per message.
   * @default 20
   */
  flushMs?: number
  /** Receipts in one batch at most; a full batch goes out at once. @default MAX_RECEIPTS_PER_BATCH (64) */
  maxReceipts?: number
  /** Bytes of one batch at most; a receipt that would pass it goes into the next. @default MAX_RECEIPT_BATCH_BYTES (131,072) */
  maxBytes?: number
  onPublishFailed?: (topic: string, err: Error) => void
}

interface Pending {
  topic: string
  receipts: Uint8Array[]
  bytes: number
  timer: ReturnType<typeof setTimeout>
}

/**
 * Gathers the receipts a coordinator signs into batches (protocols/market.md
 * "Receipt batches"), one per spec: flushed `flushMs` after its first receipt,
 * or as soon as it is full by count or by bytes. A batch of one goes out as the
 * receipt alone. Receipts are stored before they get here, so a batch lost to
 * a crash costs only the gossip: peers still get its receipts by sync.
 */
export class ReceiptBatcher implements Startable {
  private readonly init: ReceiptBatcherInit
  private readonly flushMs: number
  private readonly maxReceipts: number
  private readonly maxBytes: number
  /** By topic and spec: under the global topics one topic carries every spec, and a batch holds one spec. */
  private readonly pending = new Map<string, Pending>()
  private running = true

  constructor (init: ReceiptBatcherInit) {
    this.init = init
    this.flushMs = init.flushMs ?? DEFAULT_RECEIPT_FLUSH_MS
    this.maxReceipts = Math.max(1, Math.min(init.maxReceipts ?? MAX_RECEIPTS_PER_BATCH, MAX_RECEIPTS_PER_BATCH))
    this.maxBytes = Math.min(init.maxBytes ?? MAX_RECEIPT_BATCH_BYTES, MAX_RECEIPT_BATCH_BYTES)
  }

  start (): void {
    this.running = true
  }

  /** Sends what is pending now: nothing signed is held back by a stop. */
  stop (): void {
    this.running = false
    for (const key of [...this.pending.keys()]) this.flush(key)
  }

  /** `bytes`: the receipt already encoded (encodeEnvelope's bytes), when the caller has them. */
  add (topic: string, receipt: Envelope<ReceiptBody>, bytes: Uint8Array = encodeEnvelope(receipt)): void {
    if (!this.running) {
      this.send(topic, bytes)
      return
    }
    if (this.flushMs <= 0) {
      // Off the caller's path: publishing encrypts a frame for every mesh peer.
      setImmediate(() => { this.send(topic, bytes) })
      return
    }
    const key = `${topic} ${receipt.body.specId}`
    let batch = this.pending.get(key)
    if (batch != null && batchBytes(batch.receipts.length + 1, batch.bytes + bytes.byteLength) > this.maxBytes) {
      this.flush(key)
      batch = undefined
    }
    if (batch == null) {
      batch = { topic, receipts: [], bytes: 0, timer: setTimeout(() => { this.flush(key) }, this.flushMs) }
      batch.timer.unref?.()
      this.pending.set(key, batch)
    }
    batch.receipts.push(bytes)
    batch.bytes += bytes.byteLength
    if (batch.receipts.length >= this.maxReceipts) this.flush(key)
  }

  /** Receipts waiting to go out, over every spec. */
  get waiting (): number {
    let n = 0
    for (const batch of this.pending.values()) n += batch.receipts.length
    return n
  }

  private flush (key: string): void {
    const batch = this.pending.get(key)
    if (batch == null) return
    this.pending.delete(key)
    clearTimeout(batch.timer)
    this.send(batch.topic, batch.receipts.length === 1 ? batch.receipts[0]! : encodeReceiptBatch(batch.receipts))
  }

  private send (topic: string, bytes: Uint8Array): void {
    this.init.publish(topic, bytes).catch(err => { this.init.onPublishFailed?.(topic, err as Error) })
  }
}
