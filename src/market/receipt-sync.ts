import { encodeEnvelope } from '../wire/envelope.ts'
import type { SyncKind } from '../net/sync.ts'
import type { TopicValidator } from '../net/gossip.ts'
import type { ReceiptStore } from '../store/receipt-store.ts'

const textBytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/**
 * The `receipt` sync kind: the receipts a request selects (since a cursor, of
 * some specs, naming an agent, by id), at most `perSigner` of any one signer
 * per answer, each in the bytes it arrived in; ingested by `validate`, the
 * receipt topic's validator, which stores what it accepts before resolving.
 */
export function receiptSyncKind (receipts: ReceiptStore, perSigner: number, validate: TopicValidator): SyncKind {
  return {
    records: async function * (selection) {
      const served = new Map<string, number>()
      for await (const record of receipts.select(selection)) {
        const signer = record.envelope.signer
        const count = served.get(signer) ?? 0
        if (count >= perSigner) continue
        served.set(signer, count + 1)
        const text = await receipts.envelopeText(record.id)
        yield text != null ? textBytes(text) : encodeEnvelope(record.envelope)
      }
    },
    signerQuota: perSigner,
    validate,
    cursor: async () => await receipts.received.cursor()
  }
}
