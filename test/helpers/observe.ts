import { TOPICS } from '../../src/wire/constants.ts'
import { parseSpecTopic } from '../../src/market/topics.ts'
import type { TestNode } from './mesh.ts'

export interface JobEnvelopeSeen {
  id: string
  at: number
}

/** Collect every job message the node accepts from gossip, as it arrives. */
export function observeJobs (node: TestNode): JobEnvelopeSeen[] {
  const seen: JobEnvelopeSeen[] = []
  const decoder = new TextDecoder()
  node.libp2p.services.pubsub.addEventListener('message', event => {
    if (event.detail.topic !== TOPICS.jobs && parseSpecTopic(event.detail.topic)?.kind !== 'jobs') return
    seen.push({ id: (JSON.parse(decoder.decode(event.detail.data)) as { id: string }).id, at: Date.now() })
  })
  return seen
}

export interface ReceiptMessagesSeen {
  /** Gossip messages on receipts topics the node accepted: a batch counts once. */
  messages: number
  /** Receipts in them, one entry per receipt (a batch of n adds n). */
  receiptIds: string[]
  /** How many receipts each message carried, in arrival order. */
  sizes: number[]
}

/** Count the receipt gossip messages the node accepts, and the receipts they carry (protocols/market.md "Receipt batches"). */
export function observeReceiptMessages (node: TestNode): ReceiptMessagesSeen {
  const seen: ReceiptMessagesSeen = { messages: 0, receiptIds: [], sizes: [] }
  const decoder = new TextDecoder()
  node.libp2p.services.pubsub.addEventListener('message', event => {
    if (event.detail.topic !== TOPICS.receipts && parseSpecTopic(event.detail.topic)?.kind !== 'receipts') return
    const value = JSON.parse(decoder.decode(event.detail.data)) as { id: string } | Array<{ id: string }>
    const receipts = Array.isArray(value) ? value : [value]
    seen.messages++
    seen.sizes.push(receipts.length)
    for (const r of receipts) seen.receiptIds.push(r.id)
  })
  return seen
}
