import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../src/crypto/signatures.ts'
import { encodeEnvelope, seal, type Envelope } from '../../src/wire/envelope.ts'
import { MAX_MESSAGE_BYTES, TOPICS } from '../../src/wire/constants.ts'
import { specTopic } from '../../src/market/topics.ts'
import type { ReceiptBody } from '../../src/market/messages.ts'
import { encodeReceiptBatch, MAX_RECEIPTS_PER_BATCH } from '../../src/market/receipt-batch.ts'
import { verifyReceipt } from '../../src/market/receipt-verify.ts'
import type { Spec } from '../../src/spec/index.ts'
import { startNode, stopAll, waitForAdverts, waitForSpecMesh, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { observeReceiptMessages } from '../helpers/observe.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Receipt batches on real nodes (issue 13): a coordinator that finishes many
 * jobs at once sends fewer receipt messages than receipts, and a follower
 * holds each receipt, verifiable on its own. A peer that sends a batch with a
 * forged receipt, an oversized batch or a batch on another spec's topic is
 * Rejected (and its score drops), and nothing of that batch is stored.
 */
let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const output = { entities: [{ name: 'Ada', confidence: 90 }] }
const JOBS = 30

async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

/** A receipt a coordinator key may sign without any job: the agent could not be reached, nothing is charged. */
function unreachable (coordinator: Signer, specId: string, agent: string, i: number, reason = 'could not reach the agent'): Envelope<ReceiptBody> {
  const now = Date.now()
  return seal('receipt', {
    specId, jobId: `bagaaierajob${i}`, awardId: `bagaaieraaward${i}`, agent, attempt: 1, inputHash: 'b'.repeat(64),
    startedAt: now - 50, endedAt: now - 10, deadline: now + 60_000, costUsd: 0, outcome: 'unreachable', reason, claim: null, verdictAt: now
  } satisfies ReceiptBody, coordinator)
}

const batchOf = (receipts: Array<Envelope<object>>): Uint8Array => encodeReceiptBatch(receipts.map(r => encodeEnvelope(r)))
const rejectedAs = (node: TestNode, topic: string, from: string, code: string): number =>
  node.verdicts.filter(v => v.topic === topic && v.from === from && v.verdict === 'reject' && v.reason?.startsWith(`${code}:`) === true).length
const scoreAt = (node: TestNode, peer: string): number => (node.libp2p.services.pubsub as unknown as { getScore: (id: string) => number }).getScore(peer)

describe('receipt batches on gossip (real nodes on 127.0.0.1)', () => {
  it(`a coordinator finishing ${JOBS} jobs at once sends fewer receipt messages than receipts; the follower holds every receipt, each verifiable alone`, async () => {
    const coordinator = await startNode()
    nodes.push(coordinator)
    const bootstrap = [coordinator.multiaddrs()[0]!]
    const agent = await startNode({ bootstrap })
    nodes.push(agent)
    const follower = await startNode({ bootstrap, follow: 'all' })
    nodes.push(follower)
    await waitForTopicPeers(nodes, TOPICS.specs)
    const published = await coordinator.publishSpec(sampleSpec('batched-receipts', { capacity: { maxConcurrentRequests: 8, maxConcurrentRetries: 1, backoffMultiplier: 2, maxRetries: 3, timeoutSeconds: 30 } }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(published.id)))).every(Boolean), { what: 'the spec on every node' })
    await agent.serve(published.id, async () => output, { priceUsd: 0.1, estimatedMs: 5 })
    await waitForSpecMesh(nodes, published.id)
    await waitForAdverts(coordinator, published.id, 1)
    const seen = observeReceiptMessages(follower)

    const results = await Promise.all(Array.from({ length: JOBS }, async (_, i) => await coordinator.submitJob(published.id, { text: `job ${i}` }, { bidWindowMs: 300 })))
    const ids = results.map(r => r.receipt?.id).filter((id): id is string => id != null)
    expect(results.filter(r => r.status !== 'succeeded').map(r => r.reason)).toEqual([])
    const signed = (await coordinator.listReceipts({ specId: published.id })).map(r => r.id)
    expect(signed.length).toBeGreaterThanOrEqual(JOBS)

    await waitFor(() => new Set(seen.receiptIds).size >= signed.length, { what: `all ${signed.length} receipts on gossip at the follower` })
    // Fewer gossip messages than receipts: some carried several.
    expect(seen.messages).toBeLessThan(signed.length)
    expect(Math.max(...seen.sizes)).toBeGreaterThan(1)
    expect(new Set(seen.receiptIds)).toEqual(new Set(signed))
    const spec = (await follower.getSpec(published.id))!.spec as Spec
    for (const id of ids) {
      const held = await follower.getReceipt(id)
      expect(held, id).not.toBeNull()
      const report = verifyReceipt(held!.envelope, { spec })
      expect(report.ok, JSON.stringify(report.checks.filter(c => !c.ok))).toBe(true)
    }
    // Nothing an honest node sent was refused anywhere.
    for (const node of nodes) expect(node.verdicts.filter(v => v.verdict === 'reject'), node.peerId).toEqual([])
  })

  it('Rejects a batch with a forged receipt (storing none of it, the sender\'s score falls), an oversized batch, one of too many receipts, and a batch on another spec\'s topic', async () => {
    const follower = await startNode({ follow: 'all' })
    nodes.push(follower)
    const forger = await startNode({ bootstrap: [follower.multiaddrs()[0]!], follow: 'all' })
    nodes.push(forger)
    await waitForTopicPeers(nodes, TOPICS.specs)
    const { id: specId } = await follower.publishSpec(sampleSpec('forged-batches'))
    const { id: otherSpec } = await follower.publishSpec(sampleSpec('forged-batches-other'))
    await waitFor(async () => (await forger.getSpec(specId)) != null && (await forger.getSpec(otherSpec)) != null, { what: 'both specs at the forger' })
    await waitForSpecMesh(nodes, specId, ['receipts'])
    await waitForSpecMesh(nodes, otherSpec, ['receipts'])
    const pubsub = forger.libp2p.services.pubsub
    const topic = specTopic(specId, 'receipts')
    const key = await testKey(41)
    const agent = (await testKey(42)).peerId
    const from = forger.peerId

    // Two good receipts around a forged one (its body changed after signing).
    const good = [1, 2].map(i => unreachable(key, specId, agent, i))
    const victim = unreachable(key, specId, agent, 3)
    const forged = { ...victim, body: { ...victim.body, reason: 'rewritten by a relay' } }
    expect(scoreAt(follower, from)).toBeGreaterThanOrEqual(0)
    await pubsub.publish(topic, batchOf([good[0]!, forged, good[1]!]))
    await waitFor(() => rejectedAs(follower, topic, from, 'id-mismatch') === 1, { what: 'the follower to Reject the batch with the forged receipt' })
    expect(follower.verdicts.find(v => v.from === from)?.reason).toMatch(/receipt 2 of 3 in the batch/)
    for (const r of [...good, victim]) expect(await follower.getReceipt(r.id)).toBeNull()
    await waitFor(() => scoreAt(follower, from) < 0, { what: 'the forger\'s score at the follower to fall' })

    // Over the message limit (but under gossipsub's own frame limit, so it reaches the validator).
    const long: Array<Envelope<ReceiptBody>> = []
    while (batchOf(long).byteLength <= MAX_MESSAGE_BYTES) long.push(unreachable(key, specId, agent, 100 + long.length, 'x'.repeat(2000)))
    await pubsub.publish(topic, batchOf(long))
    await waitFor(() => rejectedAs(follower, topic, from, 'too-large') === 1, { what: 'the follower to Reject the oversized batch' })
    // More receipts than a batch holds, each small.
    const many = Array.from({ length: MAX_RECEIPTS_PER_BATCH + 1 }, (_, i) => unreachable(key, specId, agent, 200 + i))
    await pubsub.publish(topic, batchOf(many))
    await waitFor(() => rejectedAs(follower, topic, from, 'bad-batch') === 1, { what: 'the follower to Reject a batch of 65 receipts' })
    // The spec's receipts on the other spec's topic.
    const elsewhere = specTopic(otherSpec, 'receipts')
    await pubsub.publish(elsewhere, batchOf([1, 2].map(i => unreachable(key, specId, agent, 300 + i))))
    await waitFor(() => rejectedAs(follower, elsewhere, from, 'wrong-topic') === 1, { what: 'the follower to Reject the batch on the wrong topic' })
    expect(await follower.listReceipts()).toEqual([])
  })
})
