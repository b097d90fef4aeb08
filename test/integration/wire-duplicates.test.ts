import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../src/crypto/signatures.ts'
import { hashHex } from '../../src/crypto/content-id.ts'
import { canonicalBytes } from '../../src/wire/canonical.ts'
import { seal, type Envelope } from '../../src/wire/envelope.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { specTopic } from '../../src/market/topics.ts'
import type { BidBody, JobBody, ReceiptBody } from '../../src/market/messages.ts'
import { startNode, stopAll, waitForSpecMesh, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { openDb } from '../../src/store/db.ts'
import { homePaths } from '../../src/store/home.ts'
import { ReceiptStore } from '../../src/store/receipt-store.ts'

/**
 * Issue 15, item 4, on real nodes in a line A – B – C: gossip deduplicates by
 * the hash of the bytes, so one signed bid written N ways was N messages that
 * B validated, accepted and forwarded N times. Now B forwards the first and
 * Ignores the rest as duplicates by body id. Receipts: bounded per signer,
 * and a late joiner gets them by sync in the very bytes B received.
 */
let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

/** The same envelope, one byte spelling per variant: member order and whitespace differ, the value does not. */
function spellings (envelope: Envelope<object>): Uint8Array[] {
  const e = envelope as Envelope<Record<string, unknown>>
  const reversedBody = Object.fromEntries(Object.entries(e.body).reverse())
  const texts = [
    JSON.stringify(e),
    JSON.stringify(e, null, 1),
    JSON.stringify({ sig: e.sig, signer: e.signer, body: reversedBody, id: e.id, v: e.v, type: e.type }),
    JSON.stringify(e, null, '\t')
  ]
  return texts.map(t => new TextEncoder().encode(t))
}

/** Counts messages the node accepted on a topic (pubsub 'message' fires only after a validator's Accept). */
function countAccepted (node: TestNode, topic: string): () => number {
  let count = 0
  node.libp2p.services.pubsub.addEventListener('message', event => { if (event.detail.topic === topic) count++ })
  return () => count
}

const ignoredAs = (node: TestNode, topic: string, code: string): number =>
  node.verdicts.filter(v => v.topic === topic && v.verdict === 'ignore' && v.reason?.startsWith(`${code}:`) === true).length

describe('duplicates by body id, receipts per signer, sync of original bytes (real nodes)', () => {
  it('forwards one bid written four ways once, keeps at most receiptsPerSigner receipts of one signer, and serves a late joiner the bytes it received', async () => {
    const a = await startNode()
    nodes.push(a)
    const b = await startNode({ bootstrap: [a.multiaddrs()[0]!], market: { receiptsPerSigner: 2 } })
    nodes.push(b)
    const c = await startNode({ bootstrap: [b.multiaddrs()[0]!] })
    nodes.push(c)
    await waitForTopicPeers(nodes, TOPICS.specs)
    const { id: specId } = await a.publishSpec(sampleSpec('dup-check'))
    await waitFor(async () => (await c.getSpec(specId)) != null, { what: 'the spec at C' })
    // All three follow the spec, so B relays its traffic between A and C.
    for (const node of nodes) node.subscriptions.join(specId, 'following')
    await waitForSpecMesh(nodes, specId, ['jobs', 'bids', 'receipts'])
    const topic = { jobs: specTopic(specId, 'jobs'), bids: specTopic(specId, 'bids'), receipts: specTopic(specId, 'receipts') }
    const jobsAtC = countAccepted(c, topic.jobs)
    const bidsAtC = countAccepted(c, topic.bids)

    const coordinator = await testKey(11)
    const agent = await testKey(12)
    const now = Date.now()
    const input = { text: 'x' }
    const jobBody: JobBody = { specId, inputHash: hashHex(canonicalBytes(input)), inputSize: canonicalBytes(input).byteLength, maxUsd: 0.1, deadline: now + 60_000, bidWindowMs: 100, createdAt: now, nonce: 'dup-1' }
    const job = seal('job', jobBody, coordinator)
    await a.libp2p.services.pubsub.publish(topic.jobs, spellings(job)[0]!)
    await waitFor(() => jobsAtC() >= 1, { what: 'the job at C' })

    const bidBody: BidBody = { jobId: job.id, specId, priceUsd: 0.05, estimatedMs: 100, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: now + 30_000 }
    const bid = seal('bid', bidBody, agent)
    const bids = spellings(bid)
    expect(new Set(bids.map(x => Buffer.from(x).toString('hex'))).size).toBe(4)
    for (const bytes of bids) await a.libp2p.services.pubsub.publish(topic.bids, bytes)
    await waitFor(() => ignoredAs(b, topic.bids, 'duplicate') === 3, { what: 'B to ignore three spellings as duplicates' })
    await waitFor(() => bidsAtC() >= 1, { what: 'the bid at C' })
    expect(bidsAtC()).toBe(1)

    // Three receipts by one coordinator key: B holds two, the third is Ignored.
    const receipts: Array<Envelope<ReceiptBody>> = [1, 2, 3].map(i => seal('receipt', {
      specId, jobId: job.id, awardId: `bagaaieraaward${i}`, agent: agent.peerId, attempt: 1, inputHash: jobBody.inputHash,
      startedAt: now, endedAt: now + i, deadline: jobBody.deadline, costUsd: 0, outcome: 'timeout', reason: 'no answer', claim: null, verdictAt: now + i
    } satisfies ReceiptBody, coordinator))
    const pretty = new TextEncoder().encode(JSON.stringify(receipts[0], null, 2))
    await a.libp2p.services.pubsub.publish(topic.receipts, pretty)
    await waitFor(async () => (await b.getReceipt(receipts[0]!.id)) != null, { what: 'the first receipt at B' })
    for (const r of receipts.slice(1)) await a.libp2p.services.pubsub.publish(topic.receipts, spellings(r)[0]!)
    await waitFor(() => ignoredAs(b, topic.receipts, 'signer-quota') === 1, { what: 'B to ignore the third receipt of one signer' })
    expect((await b.listReceipts()).length).toBe(2)

    // A late joiner syncing from B alone receives the first receipt in the bytes B received (pretty-printed).
    // A follower of every spec: a bystander would pull no receipt by sync (spec-topics.test.ts).
    const d = await startNode({ bootstrap: [b.multiaddrs()[0]!], follow: 'all' })
    nodes.push(d)
    await waitFor(async () => await d.getReceipt(receipts[0]!.id), { what: 'the receipt at D by sync' })
    // D keeps the text each receipt arrived in: read it from D's store once D has stopped.
    await d.stop()
    const db = await openDb(homePaths(d.home).db)
    try {
      expect(await new ReceiptStore(db).envelopeText(receipts[0]!.id)).toBe(new TextDecoder().decode(pretty))
    } finally {
      await db.close()
    }
  })
})
