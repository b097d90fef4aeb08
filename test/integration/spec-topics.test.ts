import { afterEach, describe, expect, it } from 'vitest'
import { createNode } from '../../src/node.ts'
import { seal, encodeEnvelope, type Envelope } from '../../src/wire/envelope.ts'
import { MAX_MESSAGE_BYTES, TOPICS } from '../../src/wire/constants.ts'
import { parseSpecTopic, specTopic } from '../../src/market/topics.ts'
import { isScoredTopic } from '../../src/net/peer-scoring.ts'
import { rankForAward } from '../../src/market/scoring.ts'
import type { AwardBody, BidBody, JobBody, ReceiptBody } from '../../src/market/messages.ts'
import { startNode, stopAll, tempHome, waitForAdverts, waitForSpecMesh, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import type { BidMode } from '../../src/market/bid-protocol.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Per-spec topics on real nodes (issue 9): a coordinator, two agents, a
 * follower of the spec and a bystander, all connected through the coordinator.
 * The bystander must receive none of the spec's market traffic; the follower
 * receives all of it, holds its receipts and can audit its awards.
 */
let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const output = { entities: [{ name: 'Ada', confidence: 90 }] }
const SEED = 'audit-seed'
const decoder = new TextDecoder()
const MARKET_KINDS = ['jobs', 'bids', 'awards', 'capacity', 'receipts']

/** The kind of market message a topic carries (global or per-spec), or null for the spec topic and others. */
function marketKind (topic: string): string | null {
  const perSpec = parseSpecTopic(topic)
  if (perSpec != null) return perSpec.kind
  const global = Object.entries(TOPICS).find(([, name]) => name === topic)?.[0]
  return global != null && MARKET_KINDS.includes(global) ? global : null
}

/** Every message the node's pubsub delivered (after its validator accepted it), by topic. */
function delivered (node: TestNode): Array<{ topic: string, envelope: Envelope }> {
  const seen: Array<{ topic: string, envelope: Envelope }> = []
  node.libp2p.services.pubsub.addEventListener('message', event => {
    // A receipt batch is an array of envelopes: each counts as one message here.
    const value = JSON.parse(decoder.decode(event.detail.data)) as Envelope | Envelope[]
    for (const envelope of Array.isArray(value) ? value : [value]) seen.push({ topic: event.detail.topic, envelope })
  })
  return seen
}

/** Every topic a message of which reached the node's validators, whatever the verdict. */
function validated (node: TestNode): string[] {
  const topics: string[] = []
  const validators = node.libp2p.services.pubsub.topicValidators
  const set = validators.set.bind(validators)
  const counting = (topic: string, validate: Parameters<typeof set>[1]): Parameters<typeof set>[1] => async (peer, message) => {
    topics.push(topic)
    return await validate(peer, message)
  }
  for (const [topic, validate] of [...validators]) set(topic, counting(topic, validate))
  validators.set = (topic, validate) => set(topic, counting(topic, validate))
  return topics
}

const verdictsWith = (node: TestNode, topic: string, verdict: 'reject' | 'ignore', code: string): number =>
  node.verdicts.filter(v => v.topic === topic && v.verdict === verdict && v.reason?.startsWith(`${code}:`) === true).length

/** `bids`: how every node's agent sends its bids (market.bids). */
async function world (bids: BidMode = 'gossip') {
  const coordinator = await startNode({ market: { awardSeed: SEED, bids } })
  nodes.push(coordinator)
  const bootstrap = [coordinator.multiaddrs()[0]!]
  const cheap = await startNode({ bootstrap, market: { bids } })
  nodes.push(cheap)
  const dear = await startNode({ bootstrap, market: { bids } })
  nodes.push(dear)
  // Follows the spec by name@version before it has ever seen it.
  const follower = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, follow: ['topics-audit@1.0.0'] })
  nodes.push(follower)
  // Without the DHT the bystander keeps its one connection, to the coordinator, made (and synced)
  // before any receipt exists: receipts a node pulls by sync on a later connection are sync's
  // business (scoped by joinedSpecs() there), not gossip's, which is what this file is about.
  const bystander = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, dht: false })
  nodes.push(bystander)
  await waitForTopicPeers(nodes, TOPICS.specs)
  const seen = { follower: delivered(follower), bystander: delivered(bystander), bystanderValidated: validated(bystander) }

  // The coordinator is every node's only link at first: it must know each is on the spec topic
  // before it publishes, or a spec can miss a node for good (it is not re-gossiped).
  await waitFor(() => coordinator.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= nodes.length - 1, { what: 'the coordinator to see every node on the spec topic' })
  const { id: specId } = await coordinator.publishSpec(sampleSpec('topics-audit'))
  const { id: otherSpec } = await coordinator.publishSpec(sampleSpec('topics-other'))
  await waitFor(async () => (await Promise.all(nodes.flatMap(n => [n.getSpec(specId), n.getSpec(otherSpec)]))).every(Boolean), { what: 'both specs on every node' })
  // The cheap agent serves both specs: it adverts each on its own topic.
  await cheap.serve(specId, async () => output, { priceUsd: 0.1, estimatedMs: 20 })
  await cheap.serve(otherSpec, async () => output, { priceUsd: 0.1, estimatedMs: 20 })
  await dear.serve(specId, async () => output, { priceUsd: 0.2, estimatedMs: 20 })
  await waitForSpecMesh([coordinator, cheap, dear, follower], specId)
  await waitForAdverts(coordinator, specId, 2)
  return { coordinator, cheap, dear, follower, bystander, specId, otherSpec, seen }
}

describe('per-spec topics (real nodes on 127.0.0.1)', () => {
  it('a bystander gets no job, bid, award, advert or receipt of a spec while jobs run between others; a follower gets them all, each on its own spec\'s topic, and holds the receipts', async () => {
    const { coordinator, cheap, follower, bystander, specId, otherSpec, seen } = await world()
    const results = []
    // The first job's award is checked against both bids below: a window every bid falls into under
    // load (it closes once both advertised agents have bid).
    for (let i = 0; i < 3; i++) results.push(await coordinator.submitJob(specId, { text: `job ${i}` }, { bidWindowMs: 5000 }))
    results.push(await coordinator.submitJob(otherSpec, { text: 'other' }, { bidWindowMs: 300 }))
    expect(results.map(r => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded'])
    const ofSpec = results.slice(0, 3).map(r => r.receipt!.id)

    // The follower holds every receipt of the spec it follows, and none of the other spec's.
    await waitFor(async () => (await Promise.all(ofSpec.map(id => follower.getReceipt(id)))).every(Boolean), { what: 'the spec\'s receipts at the follower' })
    expect(follower.joinedSpecs?.()).toEqual([specId])
    const kinds = new Set(seen.follower.map(m => marketKind(m.topic)))
    for (const kind of MARKET_KINDS) expect(kinds, kind).toContain(kind)
    // Each message it got names the spec of the topic it came on (the wrong-topic rule our nodes keep).
    for (const { topic, envelope } of seen.follower.filter(m => marketKind(m.topic) != null)) {
      expect(topic.startsWith('/specmesh/spec/2/'), topic).toBe(true)
      const body = envelope.body as { specId?: string, specs?: Array<{ specId: string }> }
      const named = body.specId != null ? [body.specId] : (body.specs ?? []).map(s => s.specId)
      expect(named.every(id => id === parseSpecTopic(topic)!.specId), `${envelope.type} on ${topic}`).toBe(true)
      expect((body.specs ?? []).length).toBeLessThanOrEqual(1)
    }
    // The agent serving two specs advertised each on its own topic.
    const advertTopics = new Set(seen.follower.filter(m => m.envelope.type === 'capacity' && m.envelope.signer === cheap.peerId).map(m => m.topic))
    expect([...advertTopics]).toEqual([specTopic(specId, 'capacity')])

    // The bystander: specs only. Nothing of either spec's market reached its pubsub or its validators.
    expect(seen.bystander.filter(m => marketKind(m.topic) != null)).toEqual([])
    expect(seen.bystanderValidated.filter(topic => marketKind(topic) != null)).toEqual([])
    expect(seen.bystander.filter(m => m.topic === TOPICS.specs).length).toBe(2)
    expect(await bystander.listReceipts()).toEqual([])
    expect(bystander.capacityOf(specId)).toEqual([])
    expect(bystander.joinedSpecs?.()).toEqual([])
    // No node anywhere Rejected a message as being on the wrong topic: ours never send one.
    for (const node of nodes) expect(node.verdicts.filter(v => v.reason?.startsWith('wrong-topic')), node.peerId).toEqual([])
    // The spec's topics are scored like the fixed ones at every party.
    for (const kind of ['jobs', 'bids', 'awards', 'capacity', 'receipts'] as const) expect(isScoredTopic(coordinator.libp2p.services.pubsub, specTopic(specId, kind))).toBe(true)
  })

  it.each(['gossip', 'stream'] as const)('bids by %s: a follower checks from the bids it saw (gossip) or the award embeds (stream) that each award went to an agent that bid, within the ceiling, with room, and (seed and posteriors known) to the best bid by the documented score', async (mode) => {
    const { coordinator, follower, specId, seen } = await world(mode)
    if (mode === 'gossip') {
      // The follower's only link may be the coordinator, which forwards each bid at once only to its
      // mesh peers on the bids topic; a peer not yet grafted there (a heartbeat's work) would get the
      // bid from gossip's lazy announcements, if at all before they lapse. Wait for the graft.
      const bidsTopic = specTopic(specId, 'bids')
      // gossipsub has getMeshPeers; its published type leaves it out.
      const pubsub = coordinator.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
      await waitFor(() => pubsub.getMeshPeers(bidsTopic).map(String).includes(String(follower.peerId)), { what: 'the follower in the coordinator\'s mesh of the bids topic' })
    }
    // Why a bid did not reach the follower's pubsub, for the failure messages: its verdicts on the bids topic.
    const bidVerdicts = (): string => JSON.stringify(follower.verdicts.filter(v => v.topic === specTopic(specId, 'bids')).map(v => `${v.verdict} ${v.reason?.slice(0, 60) ?? ''}`))
    const results: Array<Awaited<ReturnType<TestNode['submitJob']>>> = []
    // Long enough for both agents' first bids on a loaded machine (a first bid stream to a coordinator
    // costs a stream open and a peer-store write); the window closes as soon as both have bid.
    for (let i = 0; i < 3; i++) results.push(await coordinator.submitJob(specId, { text: `audit ${i}` }, { bidWindowMs: 3_000 }))
    expect(results.every(r => r.status === 'succeeded')).toBe(true)
    await waitFor(async () => (await Promise.all(results.map(r => follower.getReceipt(r.receipt!.id)))).every(Boolean), { what: 'every receipt at the follower' })
    const heard = await waitFor(() => {
      const onSpec = (kind: string) => seen.follower.filter(m => m.topic === specTopic(specId, kind as 'jobs'))
      return onSpec('awards').length >= 3 ? { jobs: onSpec('jobs'), bids: onSpec('bids'), awards: onSpec('awards') } : undefined
    }, { what: 'three awards at the follower' })
    for (const [i, result] of results.entries()) {
      const job = heard.jobs.find(m => m.envelope.id === result.jobId)!.envelope as Envelope<JobBody>
      const award = heard.awards.map(m => m.envelope as Envelope<AwardBody>).find(a => a.body.jobId === result.jobId)!
      // Over the stream only the coordinator saw the bids: the award carries the ones it ranked (the validator checked each signature).
      const bids = mode === 'stream'
        ? (award.body.bids ?? []) as Array<Envelope<BidBody>>
        : heard.bids.map(m => m.envelope as Envelope<BidBody>).filter(b => b.body.jobId === result.jobId)
      expect(award.signer).toBe(coordinator.peerId)
      const bid = bids.find(b => b.id === award.body.bidId)
      expect(bid, `the awarded bid is one the follower saw (its bid verdicts: ${bidVerdicts()})`).toBeDefined()
      expect(bid!.signer).toBe(award.body.agent)
      expect(award.body.priceUsd).toBe(bid!.body.priceUsd)
      expect(bid!.body.priceUsd).toBeLessThanOrEqual(job.body.maxUsd)
      expect(bid!.body.load.inFlight).toBeLessThan(bid!.body.load.limit)
      const receipt = (await follower.getReceipt(result.receipt!.id))!.envelope as Envelope<ReceiptBody>
      expect(receipt.body.awardId).toBe(award.id)
      if (i === 0) {
        // Both agents bid on the first job (each had room); a bid relayed by the coordinator may
        // reach the follower a heartbeat later than the award rule used it.
        if (mode === 'gossip') {
          await waitFor(() => seen.follower.filter(m => m.topic === specTopic(specId, 'bids') && (m.envelope.body as BidBody).jobId === job.id).length >= 2, { what: 'both bids of the first job at the follower' })
            .catch((err: Error) => { throw new Error(`${err.message} (its bid verdicts: ${bidVerdicts()})`) })
          bids.splice(0, bids.length, ...seen.follower.filter(m => m.topic === specTopic(specId, 'bids')).map(m => m.envelope as Envelope<BidBody>).filter(b => b.body.jobId === job.id))
        }
        // First job: no receipts yet, so every bidder's posterior is the prior Beta(1, 1), and the
        // coordinator's operator published its award seed: the draw and the score are recomputable.
        const { ranked } = rankForAward(bids.map(b => ({ bidId: b.id, agent: b.signer, body: b.body })), { jobId: job.id, ceilingUsd: job.body.maxUsd, seed: SEED, posteriorOf: () => undefined })
        expect(bids.length).toBe(2)
        expect(award.body.bidId).toBe(ranked[0]!.bidId)
      }
    }
    if (mode === 'stream') {
      // No bid travelled on gossip: the follower heard none, and no gossiped award embeds none.
      expect(seen.follower.filter(m => m.topic === specTopic(specId, 'bids'))).toEqual([])
    } else {
      expect(heard.awards.every(m => (m.envelope as Envelope<AwardBody>).body.bids === undefined)).toBe(true)
    }
  })

  it('a forged, a replayed, an oversized and a wrong-topic bid are refused (Reject bad-signature, Ignore duplicate, Reject too-large, Reject wrong-topic), and a job on another spec\'s topic is Rejected wrong-topic', async () => {
    const { coordinator, cheap, dear, follower, specId, otherSpec } = await world()
    const bids = specTopic(specId, 'bids')
    const pubsub = follower.libp2p.services.pubsub
    // The follower turns attacker: on every job call of the spec it sends four bad bids and one honest one.
    pubsub.addEventListener('message', event => {
      if (event.detail.topic !== specTopic(specId, 'jobs')) return
      const job = JSON.parse(decoder.decode(event.detail.data)) as Envelope<JobBody>
      const now = Date.now()
      // At the ceiling: with explore off it scores below the honest agents and never wins.
      const body: BidBody = { jobId: job.id, specId, priceUsd: job.body.maxUsd, estimatedMs: 20, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: job.body.deadline }
      const honest = seal('bid', body, follower.signer)
      const forged = { ...seal('bid', { ...body, priceUsd: 0.001 }, follower.signer), signer: cheap.peerId }
      const oversized = new TextEncoder().encode(JSON.stringify(seal('bid', { ...body, priceUsd: 0.002 }, follower.signer)) + ' '.repeat(MAX_MESSAGE_BYTES))
      const elsewhere = seal('bid', { ...body, specId: otherSpec, priceUsd: 0.003 }, follower.signer)
      void (async () => {
        await pubsub.publish(bids, encodeEnvelope(honest))
        // The same bid again in another spelling: new bytes for gossip, the same bid id for the validator.
        await pubsub.publish(bids, new TextEncoder().encode(JSON.stringify(honest, null, 2)))
        await pubsub.publish(bids, encodeEnvelope(forged))
        await pubsub.publish(bids, oversized)
        await pubsub.publish(bids, encodeEnvelope(elsewhere))
      })().catch(() => {})
    })
    // Which agent wins is the point: a window the cheap agent's bid falls into under load (it closes
    // once both advertised agents have bid; the follower advertises nothing).
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 5000, award: { explore: false } })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => a.agent)).toEqual([cheap.peerId])
    await waitFor(() => verdictsWith(coordinator, bids, 'reject', 'bad-signature') >= 1 && verdictsWith(coordinator, bids, 'ignore', 'duplicate') >= 1 &&
      verdictsWith(coordinator, bids, 'reject', 'too-large') >= 1 && verdictsWith(coordinator, bids, 'reject', 'wrong-topic') >= 1, { what: 'the coordinator\'s verdicts on the four bad bids' })

    // A job for the other spec, signed and valid there, published on this spec's job topic (by the
    // dear agent: the others now score the follower too low to read it at all).
    const now = Date.now()
    const stray = seal('job', { specId: otherSpec, inputHash: 'a'.repeat(64), inputSize: 10, maxUsd: 0.5, deadline: now + 30_000, bidWindowMs: 100, createdAt: now, nonce: 'stray-1' } satisfies JobBody, dear.signer)
    await dear.libp2p.services.pubsub.publish(specTopic(specId, 'jobs'), encodeEnvelope(stray))
    await waitFor(() => verdictsWith(coordinator, specTopic(specId, 'jobs'), 'reject', 'wrong-topic') === 1, { what: 'the coordinator to Reject the job on the wrong topic' })
    expect(coordinator.verdicts.find(v => v.topic === specTopic(specId, 'jobs') && v.reason?.startsWith('wrong-topic'))?.reason).toMatch(/^wrong-topic: job for spec \S+ arrived on the topic of spec \S+$/)
  })

  it('a node that connects after the receipts exist syncs only the receipts of the specs it is on: a late bystander gets none, a late follower gets its spec\'s', async () => {
    const { coordinator, specId, otherSpec } = await world()
    const results: Array<Awaited<ReturnType<TestNode['submitJob']>>> = []
    for (let i = 0; i < 2; i++) results.push(await coordinator.submitJob(specId, { text: `late ${i}` }, { bidWindowMs: 300 }))
    results.push(await coordinator.submitJob(otherSpec, { text: 'late other' }, { bidWindowMs: 300 }))
    expect(results.map(r => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded'])
    const bootstrap = [coordinator.multiaddrs()[0]!]
    /** A node that logs when a sync with the coordinator has ended. */
    const lateNode = async (follow?: string[]): Promise<{ node: TestNode, synced: () => boolean }> => {
      let synced = false
      const node = await createNode({
        home: await tempHome(),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap,
        dht: false,
        ...(follow != null ? { follow } : {}),
        log: (event, fields) => { if (event === 'sync.done' && fields?.peer === coordinator.peerId) synced = true }
      })
      nodes.push(node)
      return { node, synced: () => synced }
    }
    const bystander = await lateNode()
    const follower = await lateNode([specId])
    await waitFor(() => bystander.synced(), { what: 'the late bystander\'s sync with the coordinator' })
    // The coordinator holds every receipt; the bystander, on no spec's topics, asked for none of them.
    expect((await coordinator.listReceipts()).length).toBeGreaterThanOrEqual(3)
    expect(await bystander.node.listReceipts()).toEqual([])
    // The follower joined the spec and pulled its receipts (and only its), with no gossip of them after it came.
    await waitFor(async () => (await Promise.all(results.slice(0, 2).map(r => follower.node.getReceipt(r.receipt!.id)))).every(Boolean), { what: 'the spec\'s receipts at the late follower' })
    expect(await follower.node.getReceipt(results[2]!.receipt!.id)).toBeNull()
  })
})
