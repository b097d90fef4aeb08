import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { signerFromPrivateKey, type Signer } from '../../src/crypto/signatures.ts'
import { encodeEnvelope, seal, type Envelope } from '../../src/wire/envelope.ts'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { parseSpecTopic } from '../../src/market/topics.ts'
import type { ReceiptBody } from '../../src/market/messages.ts'
import type { JobResult } from '../../src/market/coordinator.ts'
import { startNode, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Who holds a spec's receipts (issue 13's fan-out, protocols/market.md
 * "Topics: who receives what" and "Receipt frame"): the coordinators and the
 * followers of the spec, on its receipts topic; an agent serving it is not on
 * that topic and gets the receipts of its own work over the execution stream
 * they ran on (execute/1.3.0), and no one else's. Real nodes on 127.0.0.1.
 */
let nodes: TestNode[] = []
let raw: SpecmeshLibp2p[] = []
afterEach(async () => {
  await Promise.allSettled(raw.map(async r => { await r.stop() }))
  raw = []
  await stopAll(nodes)
  nodes = []
})

const output = { entities: [{ name: 'Ada', confidence: 90 }] }
const decoder = new TextDecoder()

/** Every receipt the node's pubsub delivered (after its validator accepted it), a batch counted receipt by receipt. */
function gossipedReceipts (node: TestNode): string[] {
  const ids: string[] = []
  node.libp2p.services.pubsub.addEventListener('message', event => {
    if (parseSpecTopic(event.detail.topic)?.kind !== 'receipts') return
    const value = JSON.parse(decoder.decode(event.detail.data)) as Envelope | Envelope[]
    for (const envelope of Array.isArray(value) ? value : [value]) ids.push(envelope.id)
  })
  return ids
}

async function world () {
  const coordinator = await startNode()
  nodes.push(coordinator)
  const bootstrap = [coordinator.multiaddrs()[0]!]
  const cheap = await startNode({ bootstrap })
  const dear = await startNode({ bootstrap })
  const follower = await startNode({ bootstrap, follow: ['agent-receipts'] })
  nodes.push(cheap, dear, follower)
  const { id: specId } = await coordinator.publishSpec(sampleSpec('agent-receipts'))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'the spec on every node' })
  await cheap.serve(specId, async () => output, { priceUsd: 0.1, estimatedMs: 20 })
  await dear.serve(specId, async () => output, { priceUsd: 0.2, estimatedMs: 20 })
  await waitForSpecMesh([coordinator, cheap, dear, follower], specId)
  await waitForAdverts(coordinator, specId, 2)
  return { coordinator, cheap, dear, follower, specId }
}

async function testKey (byte: number): Promise<{ signer: Signer, privateKey: PrivateKey }> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return { signer: signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString()), privateKey }
}

/** A receipt a key may sign without any job: the agent could not be reached, nothing is charged. */
function unreachable (coordinator: Signer, specId: string, agent: string): Envelope<ReceiptBody> {
  const now = Date.now()
  return seal('receipt', {
    specId, jobId: 'bagaaierajobforged1', awardId: 'bagaaieraawardforged1', agent, attempt: 1, inputHash: 'b'.repeat(64),
    startedAt: now - 50, endedAt: now - 10, deadline: now + 60_000, costUsd: 0, outcome: 'unreachable', reason: 'could not reach the agent', claim: null, verdictAt: now
  } satisfies ReceiptBody, coordinator)
}

/** Send one frame on a fresh execution stream (execute/1.3.0) and wait for the agent to end the stream. */
async function expectStreamEnded (client: SpecmeshLibp2p, agent: TestNode, frame: Uint8Array, what: string): Promise<void> {
  const stream: Stream = await client.dialProtocol(agent.libp2p.peerId, PROTOCOLS.executeReceipts)
  expect(stream.protocol).toBe(PROTOCOLS.executeReceipts)
  await lpStream(stream).write(frame)
  await waitFor(() => stream.status !== 'open', { timeoutMs: 5000, what: `the agent to end the stream after ${what}` })
}

describe('receipts reach the spec\'s coordinators and followers by gossip, and each agent its own over the execution stream', () => {
  it('an agent is not on its spec\'s receipts topic: the winner holds its own receipts, the other agent none; the coordinator and the follower hold all; an agent that starts submitting joins the topic and catches up', async () => {
    const { coordinator, cheap, dear, follower, specId } = await world()
    const seenByAgents = { cheap: gossipedReceipts(cheap), dear: gossipedReceipts(dear) }
    expect(cheap.subscriptions.isOn(specId, 'receipts')).toBe(false)
    expect(cheap.subscriptions.isOn(specId, 'jobs')).toBe(true)
    expect(coordinator.subscriptions.isOn(specId, 'receipts')).toBe(true)
    expect(follower.subscriptions.isOn(specId, 'receipts')).toBe(true)
    const onReceipts = new Set(coordinator.subscriptions.topicPeers(specId, 'receipts'))
    expect(onReceipts.has(follower.peerId)).toBe(true)
    expect(onReceipts.has(cheap.peerId)).toBe(false)
    expect(onReceipts.has(dear.peerId)).toBe(false)

    const results: JobResult[] = []
    for (let i = 0; i < 4; i++) results.push(await coordinator.submitJob(specId, { text: `job ${i}` }, { bidWindowMs: 300 }))
    expect(results.map(r => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded'])
    const ids = results.map(r => r.receipt!.id)
    const agents = [cheap, dear]
    const workerOf = (i: number): TestNode => agents.find(a => a.peerId === results[i]!.receipt!.body.agent)!

    // The agent that did the work holds each receipt (it came over its execution stream), as the follower does.
    await waitFor(async () => (await Promise.all(ids.flatMap((id, i) => [workerOf(i).getReceipt(id), follower.getReceipt(id)]))).every(Boolean), { what: 'each receipt at the agent that did the work, and at the follower' })
    const held = await workerOf(0).getReceipt(ids[0]!)
    expect(held!.envelope.signer).toBe(coordinator.peerId)
    // Neither agent got a receipt by gossip, and neither holds one of the other's work.
    expect(seenByAgents.cheap).toEqual([])
    expect(seenByAgents.dear).toEqual([])
    for (const agent of agents) {
      const mine = ids.filter((_, i) => workerOf(i) === agent).sort()
      expect((await agent.listReceipts()).map(r => r.id).sort(), agent === cheap ? 'cheap' : 'dear').toEqual(mine)
    }
    for (const node of nodes) expect(node.verdicts.filter(v => v.verdict === 'reject'), node.peerId).toEqual([])

    // dear submits a job of its own: as a coordinator it is on the receipts topic now, and pulls the earlier receipts by sync.
    const own = await dear.submitJob(specId, { text: 'dear asks' }, { bidWindowMs: 300 })
    expect(own.status).toBe('succeeded')
    expect(dear.subscriptions.isOn(specId, 'receipts')).toBe(true)
    await waitFor(() => new Set(coordinator.subscriptions.topicPeers(specId, 'receipts')).has(dear.peerId), { what: 'the coordinator to see dear on the receipts topic' })
    await waitFor(async () => (await Promise.all(ids.map(id => dear.getReceipt(id)))).every(Boolean), { what: 'the earlier receipts at dear, by sync' })
  })

  it('a receipt frame that is altered, not signed by the stream\'s coordinator or about another agent\'s work ends the stream and stores nothing; a well-formed one is kept', async () => {
    const { coordinator, cheap, dear, specId } = await world()
    const result = await coordinator.submitJob(specId, { text: 'one job' }, { bidWindowMs: 300 })
    expect(result.status).toBe('succeeded')
    const [agent, other] = result.receipt!.body.agent === cheap.peerId ? [cheap, dear] : [dear, cheap]
    await waitFor(async () => await agent.getReceipt(result.receipt!.id) != null, { what: 'the receipt at the agent' })
    const before = (await agent.listReceipts()).length

    const rogue = await testKey(41)
    const client = await buildLibp2p({ privateKey: rogue.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], dht: false })
    raw.push(client)
    await client.dial(agent.libp2p.getMultiaddrs()[0]!)

    // The coordinator's genuine receipt, but from another peer's stream.
    await expectStreamEnded(client, agent, encodeEnvelope(result.receipt!), 'a receipt signed by a key that is not the stream\'s')
    // Altered after signing.
    const altered = { ...result.receipt!, body: { ...result.receipt!.body, costUsd: 0.05 } }
    await expectStreamEnded(client, agent, encodeEnvelope(altered), 'an altered receipt')
    // Properly signed by the stream's own key, but about another agent's work.
    await expectStreamEnded(client, agent, encodeEnvelope(unreachable(rogue.signer, specId, other.peerId)), 'a receipt of another agent\'s work')

    expect((await agent.listReceipts()).length).toBe(before)
    // The control: a well-formed receipt of this agent's own work, signed by the stream's key, is kept and the stream stays open.
    const stream = await client.dialProtocol(agent.libp2p.peerId, PROTOCOLS.executeReceipts)
    await lpStream(stream).write(encodeEnvelope(unreachable(rogue.signer, specId, agent.peerId)))
    await waitFor(async () => (await agent.listReceipts()).length === before + 1, { what: 'the well-formed receipt at the agent' })
    expect(stream.status).toBe('open')
    // The agent still serves its coordinator.
    const again = await coordinator.submitJob(specId, { text: 'after the attacks' }, { bidWindowMs: 300 })
    expect(again.status).toBe('succeeded')
  })
})
