import { z } from 'zod'
import { EnvelopeSchema, type Envelope } from '../wire/envelope.ts'
import { MAX_MESSAGE_BYTES } from '../wire/constants.ts'
import { MessageValidationError, reject } from '../wire/errors.ts'
import { JsonArrayError, splitJsonArray } from '../wire/json-array.ts'
import { CLOSE_ARRAY, COMMA, OPEN_ARRAY } from '../wire/strict-json.ts'
import { ReceiptBodySchema, type ReceiptBody } from './messages.ts'
import { validateReceipt, type BaseContext } from './validators.ts'

/**
 * Receipt batches (protocols/market.md "Receipt batches"): many receipts in one
 * gossip message on a spec's receipts topic, so a coordinator finishing
 * hundreds of jobs a second does not send hundreds of gossip messages a second.
 *
 * A batch is an unsigned container: a JSON array of complete receipt
 * envelopes, each signed by its coordinator and verifiable on its own. Nothing
 * signs the grouping, because nothing depends on it: each receipt is stored,
 * synced and audited alone. What a relayer can do with it is repackage
 * receipts that already verify, which only repeats what the mesh already
 * holds (each receipt is deduplicated by its id); it cannot forge one.
 */

/** Most receipts in one batch. */
export const MAX_RECEIPTS_PER_BATCH = 64
/** Largest batch, in bytes: a batch is one gossip message, under the same limit as any other. */
export const MAX_RECEIPT_BATCH_BYTES = MAX_MESSAGE_BYTES


/** The published shape of a batch (protocols/schemas/receipt-batch.schema.json). */
export const ReceiptBatchSchema = z.array(EnvelopeSchema.extend({ type: z.literal('receipt'), body: ReceiptBodySchema })).min(1).max(MAX_RECEIPTS_PER_BATCH)

/** A receipts-topic message is a batch when its first byte is `[`; a single receipt is an object. */
export function isReceiptBatch (data: Uint8Array): boolean {
  return data[0] === OPEN_ARRAY
}

/** `[r1,r2,…]` from the bytes of each receipt envelope, which it keeps exactly. */
export function encodeReceiptBatch (receipts: readonly Uint8Array[]): Uint8Array {
  const size = 2 + receipts.reduce((sum, r) => sum + r.byteLength, 0) + Math.max(0, receipts.length - 1)
  const out = new Uint8Array(size)
  out[0] = OPEN_ARRAY
  let at = 1
  receipts.forEach((r, i) => {
    if (i > 0) out[at++] = COMMA
    out.set(r, at)
    at += r.byteLength
  })
  out[at] = CLOSE_ARRAY
  return out
}

/** Bytes a batch of receipts of these sizes takes: brackets and commas included. */
export function batchBytes (count: number, receiptBytes: number): number {
  return receiptBytes + 2 + Math.max(0, count - 1)
}

export interface BatchedReceipt {
  envelope: Envelope<ReceiptBody>
  /** The receipt envelope exactly as it stood in the batch: what the node stores and syncs. */
  bytes: Uint8Array
}

/**
 * The batch checks of protocols/market.md, in order: size, shape, then every
 * receipt through the receipt topic's own checks (1 to 16), one spec and one
 * signer throughout, no receipt twice. Any receipt that would be Rejected alone
 * Rejects the whole batch, and any Ignored one Ignores it: a node Accepts (and
 * so forwards) a batch only when it would Accept each receipt in it, so an
 * honest relay never forwards, and is never penalized for, a forged receipt.
 * Duplicates of stored receipts and the signer quota are the caller's to check.
 */
export async function validateReceiptBatch (data: Uint8Array, ctx: BaseContext, topicSpec?: string | null): Promise<BatchedReceipt[]> {
  if (data.byteLength > MAX_RECEIPT_BATCH_BYTES) {
    throw reject('too-large', `receipt batch is ${data.byteLength} bytes; the limit is ${MAX_RECEIPT_BATCH_BYTES}: send fewer receipts per batch`)
  }
  let elements: Uint8Array[]
  try {
    elements = splitJsonArray(data, MAX_RECEIPTS_PER_BATCH)
  } catch (err) {
    if (!(err instanceof JsonArrayError)) throw err
    throw reject('bad-batch', `receipt batch is not a JSON array of at most ${MAX_RECEIPTS_PER_BATCH} receipts: ${err.message}`)
  }
  if (elements.length === 0) throw reject('bad-batch', 'receipt batch is empty: a batch holds 1 to 64 receipts')
  const out: BatchedReceipt[] = []
  const ids = new Set<string>()
  for (const [i, bytes] of elements.entries()) {
    let envelope: Envelope<ReceiptBody>
    try {
      envelope = (await validateReceipt(bytes, ctx, topicSpec)).envelope
    } catch (err) {
      if (!(err instanceof MessageValidationError)) throw err
      throw new MessageValidationError(err.action, err.code, `receipt ${i + 1} of ${elements.length} in the batch: ${err.message}`)
    }
    const first = out[0]?.envelope ?? envelope
    if (envelope.body.specId !== first.body.specId) throw reject('mixed-batch', `receipt ${i + 1} of the batch is for spec ${envelope.body.specId}, receipt 1 for ${first.body.specId}: a batch holds one spec's receipts`)
    if (envelope.signer !== first.signer) throw reject('mixed-batch', `receipt ${i + 1} of the batch is signed by ${envelope.signer}, receipt 1 by ${first.signer}: a batch holds one coordinator's receipts`)
    if (ids.has(envelope.id)) throw reject('duplicate-in-batch', `receipt ${envelope.id} appears twice in one batch`)
    ids.add(envelope.id)
    out.push({ envelope, bytes })
  }
  return out
}
