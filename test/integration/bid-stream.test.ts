import { afterEach, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { createNode } from '../../src/node.ts'
import { seal, encodeEnvelope, type Envelope } from '../../src/wire/envelope.ts'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { EndOfStreamError, FramedStream } from '../../src/net/frames.ts'
import { specTopic } from '../../src/market/topics.ts'
import { MAX_BID_ANSWER_BYTES, MAX_BID_FRAME_BYTES, MAX_BID_STREAMS_PER_PEER, readBidAnswer } from '../../src/market/bid-protocol.ts'
import type { AwardBody, BidAnswer, BidBody, JobBody } from '../../src/market/messages.ts'
import { startNode, stopAll, tempHome, waitForAdverts, waitForSpecMesh, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { TOPICS } from '../../src/wire/constants.ts'

/**
 * Bids over the bid stream (/specmesh/bid/1.0.0) on real nodes: a
 * coordinator, two agents bidding by stream, and a node of the spec's topics
 * that turns attacker, writing frames on raw libp2p streams of the protocol.
 */
let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const output = { entities: [{ name: 'Ada', confidence: 90 }] }
const decoder = new TextDecoder()
const encoder = new TextEncoder()
/** Long, so both agents' bids arrive on a loaded machine: the window closes as soon as both have bid. */
const WINDOW_MS = 8_000

/** Every bid message any node's pubsub delivered. */
function gossipedBids (all: TestNode[]): Array<{ node: string, topic: string }> {
  const seen: Array<{ node: string, topic: string }> = []
  for (const node of all) {
    node.libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic.endsWith('/bids') || event.detail.topic === TOPICS.bids) seen.push({ node: node.peerId, topic: event.detail.topic })
    })
  }
  return seen
}

type Next = BidAnswer | 'ended' | 'reset'

/** A bid stream opened by hand: raw frames out, answers (or how the stream ended) back. */
async function rawBidStream (from: TestNode, to: TestNode): Promise<{ send: (frame: Uint8Array) => Promise<void>, next: () => Promise<Next>, close: () => Promise<void> }> {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(to.peerId), PROTOCOLS.bid)
  const lp = new FramedStream(stream, { maxFrameBytes: MAX_BID_ANSWER_BYTES, frameTimeoutMs: 5_000 })
  return {
    send: async frame => { await lp.write(frame) },
    next: async () => {
      try {
        return readBidAnswer((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
      } catch (err) {
        return err instanceof EndOfStreamError ? 'ended' : 'reset'
      }
    },
    close: async () => { await stream.close().catch(() => { stream.abort(new Error('test done')) }) }
  }
}

async function world () {
  const coordinator = await startNode({ market: { bids: 'stream' }})
  nodes.push(coordinator)
  const bootstrap = [coordinator.multiaddrs()[0]!]
  let openGate: () => void = () => {}
  const gate = new Promise<void>(resolve => { openGate = resolve })
  const cheap = await startNode({ bootstrap, market: { bids: 'stream' }})
  nodes.push(cheap)
  const dear = await startNode({ bootstrap, market: { bids: 'stream' } })
  nodes.push(dear)
  // On the spec's topics as a follower, so it hears the job calls; it bids by hand.
  const attacker = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, follow: ['bid-stream'] })
  nodes.push(attacker)
  await waitForTopicPeers(nodes, TOPICS.specs)
  await waitFor(() => coordinator.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= nodes.length - 1, { what: 'the coordinator to see every node on the spec topic' })
  const { id: specId } = await coordinator.publishSpec(sampleSpec('bid-stream'))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'the spec on every node' })
  // The cheap agent's handler waits for the gate, so the job stays open while a test attacks.
  await cheap.serve(specId, async () => { await gate; return output }, { priceUsd: 0.1, estimatedMs: 20 })
  await dear.serve(specId, async () => output, { priceUsd: 0.2, estimatedMs: 20 })
  await waitForSpecMesh([coordinator, cheap, dear, attacker], specId)
  await waitForAdverts(coordinator, specId, 2)
  return { coordinator, cheap, dear, attacker, specId, openGate }
}

/** The next job call on the spec that `node` hears. */
async function nextJob (node: TestNode, specId: string): Promise<Envelope<JobBody>> {
  return await new Promise(resolve => {
    const pubsub = node.libp2p.services.pubsub
    const onMessage = (event: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
      if (event.detail.topic !== specTopic(specId, 'jobs')) return
      pubsub.removeEventListener('message', onMessage as never)
      resolve(JSON.parse(decoder.decode(event.detail.data)) as Envelope<JobBody>)
    }
    pubsub.addEventListener('message', onMessage as never)
  })
}

const verdictsWith = (node: TestNode, verdict: 'reject' | 'ignore', code: string): number =>
  node.verdicts.filter(v => v.topic === PROTOCOLS.bid && v.verdict === verdict && v.reason?.startsWith(`${code}:`) === true).length

describe('bids over the bid stream (real nodes on 127.0.0.1)', () => {
  it('a job is awarded and receipted with bids sent straight to the coordinator; no node receives a bid on gossip; the award embeds both agents\' signed bids, the awarded one first', async () => {
    const { coordinator, cheap, dear, specId, openGate } = await world()
    openGate()
    const bids = gossipedBids(nodes)
    const awards: Array<Envelope<AwardBody>> = []
    dear.libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic === specTopic(specId, 'awards')) awards.push(JSON.parse(decoder.decode(event.detail.data)) as Envelope<AwardBody>)
    })
    const result = await coordinator.submitJob(specId, { text: 'by stream' }, { bidWindowMs: WINDOW_MS, award: { explore: false } })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => a.agent)).toEqual([cheap.peerId])
    // Both bids came in well before the window's end: the coordinator closed it early.
    expect(result.biddingMs!).toBeLessThan(WINDOW_MS)
    expect(await coordinator.getReceipt(result.receipt!.id)).not.toBeNull()
    // The losing agent saw the award, with both bids in it.
    const award = await waitFor(() => awards.find(a => a.body.jobId === result.jobId), { what: 'the award at the losing agent' })
    expect(award.body.bids?.map(b => b.signer)).toEqual([cheap.peerId, dear.peerId])
    expect(award.body.bids?.[0]!.id).toBe(award.body.bidId)
    expect(bids).toEqual([])
    for (const node of nodes) expect(node.verdicts.filter(v => v.topic === PROTOCOLS.bid || v.topic.endsWith('/bids')), node.peerId).toEqual([])
  })

  it('a forged, a replayed, a not-its-own and an oversized bid are refused and their streams closed; a bid for a job that is not the coordinator\'s is refused and the stream stays open', async () => {
    const { coordinator, cheap, dear, attacker, specId, openGate } = await world()
    const heard = nextJob(attacker, specId)
    const running = coordinator.submitJob(specId, { text: 'attacked' }, { bidWindowMs: WINDOW_MS, award: { explore: false } })
    const job = await heard
    const now = Date.now()
    // At the ceiling: with explore off it ranks below the honest agents.
    const body: BidBody = { jobId: job.id, specId, priceUsd: job.body.maxUsd, estimatedMs: 20, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: job.body.deadline }
    const honest = seal('bid', body, attacker.signer)
    const answers: Record<string, Next[]> = {}
    try {
      // An honest bid, then the same bid again (a replay) on the same stream.
      const first = await rawBidStream(attacker, coordinator)
      await first.send(encodeEnvelope(honest))
      answers.honest = [await first.next()]
      await first.send(encodeEnvelope(honest))
      answers.replayed = [await first.next(), await first.next()]
      await first.close()
      // Forged: a signature made over another body.
      const forged = await rawBidStream(attacker, coordinator)
      const otherSig = seal('bid', { ...body, priceUsd: 0.001 }, attacker.signer).sig
      await forged.send(encodeEnvelope({ ...seal('bid', { ...body, estimatedMs: 21 }, attacker.signer), sig: otherSig }))
      answers.forged = [await forged.next(), await forged.next()]
      await forged.close()
      // Not its own: a bid that names another agent as its signer, sent on the attacker's stream.
      const notOwn = await rawBidStream(attacker, coordinator)
      await notOwn.send(encodeEnvelope({ ...seal('bid', { ...body, estimatedMs: 22 }, attacker.signer), signer: cheap.peerId }))
      answers.notOwn = [await notOwn.next(), await notOwn.next()]
      await notOwn.close()
      // Oversized: a frame one byte over the limit; the length prefix alone is read, and the stream reset.
      const oversized = await rawBidStream(attacker, coordinator)
      await oversized.send(encoder.encode(JSON.stringify(seal('bid', { ...body, estimatedMs: 23 }, attacker.signer)).padEnd(MAX_BID_FRAME_BYTES + 1, ' ')))
      answers.oversized = [await oversized.next()]
      // A bid for the coordinator's job sent to an agent, which coordinates nothing: refused, stream open.
      const elsewhere = await rawBidStream(attacker, dear)
      await elsewhere.send(encodeEnvelope(seal('bid', { ...body, estimatedMs: 24 }, attacker.signer)))
      await elsewhere.send(encodeEnvelope(seal('bid', { ...body, estimatedMs: 25 }, attacker.signer)))
      answers.elsewhere = [await elsewhere.next(), await elsewhere.next()]
      await elsewhere.close()
    } finally {
      openGate()
    }
    // A reset may reach the reader as an error or as the end of the stream: either way, no answer came.
    const code = (n: Next | undefined, reset = false): string => typeof n === 'string' ? (reset ? 'gone, no answer' : n) : n?.accepted === true ? 'accepted' : `refused ${n?.code}`
    expect(Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, v.map(n => code(n, k === 'oversized'))]))).toEqual({
      honest: ['accepted'],
      replayed: ['refused duplicate', 'ended'],
      forged: ['refused bad-signature', 'ended'],
      notOwn: ['refused not-the-bidder', 'ended'],
      oversized: ['gone, no answer'],
      elsewhere: ['refused not-my-job', 'refused not-my-job']
    })
    expect((answers.honest![0] as BidAnswer).bidId).toBe(honest.id)
    expect((answers.elsewhere![0] as BidAnswer).reason).toContain(coordinator.peerId)

    const result = await running
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => a.agent)).toEqual([cheap.peerId])
    // The coordinator recorded each refusal as a validator would; the agent its one kind.
    expect([verdictsWith(coordinator, 'ignore', 'duplicate'), verdictsWith(coordinator, 'reject', 'bad-signature'), verdictsWith(coordinator, 'reject', 'not-the-bidder'), verdictsWith(coordinator, 'reject', 'frame-too-long')]).toEqual([1, 1, 1, 1])
    expect(verdictsWith(dear, 'ignore', 'not-my-job')).toBe(2)
  })

  it('an agent not connected to the coordinator gossips its bid instead (a job carries no address to dial); once the coordinator has dialled it for the execution, its next bid goes by stream', async () => {
    // No DHT: the coordinator and the agent meet only through a follower of the spec that relays its topics.
    const bare = async (bootstrap: string[], extra: Record<string, unknown> = {}): Promise<TestNode> => {
      const node = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, dht: false, mdns: false, ...extra })
      nodes.push(node)
      return node
    }
    const coordinator = await bare([], { market: { bids: 'stream' } })
    const relay = await bare([coordinator.multiaddrs()[0]!], { follow: 'all' })
    const agent = await bare([relay.multiaddrs()[0]!], { market: { bids: 'stream' } })
    await waitFor(() => relay.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= 2, { what: 'the relay to see both on the spec topic' })
    const { id: specId } = await coordinator.publishSpec(sampleSpec('bid-stream-fallback'))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'the spec on every node' })
    await agent.serve(specId, async () => output, { priceUsd: 0.1, estimatedMs: 20 })
    await waitForSpecMesh([coordinator, relay, agent], specId)
    await waitForAdverts(coordinator, specId, 1)
    expect(agent.libp2p.getConnections(peerIdFromString(coordinator.peerId))).toEqual([])
    const bids = gossipedBids([coordinator])
    const first = await coordinator.submitJob(specId, { text: 'first' }, { bidWindowMs: WINDOW_MS })
    expect(first.status).toBe('succeeded')
    expect(bids.length).toBe(1)
    const second = await coordinator.submitJob(specId, { text: 'second' }, { bidWindowMs: WINDOW_MS })
    expect(second.status).toBe('succeeded')
    expect(bids.length).toBe(1)
  })

  it(`a peer holds at most ${MAX_BID_STREAMS_PER_PEER} bid streams to a coordinator: one more is reset, the others still answer`, async () => {
    const { coordinator, attacker, specId, openGate } = await world()
    openGate()
    const streams = []
    for (let i = 0; i < MAX_BID_STREAMS_PER_PEER; i++) streams.push(await rawBidStream(attacker, coordinator))
    const now = Date.now()
    const stray = (n: number): Uint8Array => encodeEnvelope(seal('bid', { jobId: `bafy-no-such-job-${n}`, specId, priceUsd: 0.1, estimatedMs: 20, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: now + 60_000 } satisfies BidBody, attacker.signer))
    // Each open stream answers (a job it does not know: refused, the stream stays open).
    for (const [i, s] of streams.entries()) {
      await s.send(stray(i))
      expect(await s.next()).toMatchObject({ accepted: false, code: 'not-open' })
    }
    const extra = await rawBidStream(attacker, coordinator)
    await extra.send(stray(99)).catch(() => {})
    // Reset on arrival: no answer, whether the reset reads as an error or as the end.
    expect(['reset', 'ended']).toContain(await extra.next())
    await streams[0]!.send(stray(100))
    expect(await streams[0]!.next()).toMatchObject({ accepted: false, code: 'not-open' })
  })
})
