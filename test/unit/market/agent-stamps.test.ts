import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { seal, type Envelope } from '../../../src/wire/envelope.ts'
import type { Gossip } from '../../../src/net/gossip.ts'
import { AgentService } from '../../../src/market/agent.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import type { BidBody, CapacityBody, JobBody } from '../../../src/market/messages.ts'
import { normalizedSample } from '../../helpers/specs.ts'
import { specId as idOfSpec } from '../../../src/spec/index.ts'
import { waitFor } from '../../helpers/wait.ts'

async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

const spec = normalizedSample('agent-stamps-unit', { capacity: { maxConcurrentRequests: 1 } })
const SPEC = idOfSpec(spec)

/**
 * A coordinator decides whether an agent's advert counts one of the agent's
 * bids by comparing the advert's issuedAt with the bid's createdAt
 * (protocols/market.md "Waiting for capacity"). An advert made in the same
 * millisecond as the bid, just before it, passed for counting it: the
 * coordinator then saw a free place the bid already held and called for a job
 * the agent had no place for (CI: test/integration/idle-slot.test.ts, three
 * calls where two fit). The clock here stands still, so every advert and bid
 * falls in one millisecond.
 */
describe('AgentService: the times on its adverts and bids order them as they were made', async () => {
  const agentKey = await testKey(61)
  const coordinatorKey = await testKey(62)
  let agent: AgentService | undefined
  afterEach(() => { agent?.stop() })

  it('an advert made before a bid is stamped earlier than the bid, and the advert after it later, even within one millisecond', async () => {
    const frozen = Date.now()
    const published: Array<{ topic: string, envelope: Envelope<unknown> }> = []
    const gossip = { publish: async (topic: string, envelope: Envelope<unknown>) => { published.push({ topic, envelope }) } } as unknown as Gossip
    agent = new AgentService({ signer: agentKey, gossip, jobs: new RecentJobs(), addresses: () => [], now: () => frozen, advertPerSpec: true, topicOf: (specId, kind) => `${kind}/${specId}` })
    const adverts = (): Array<Envelope<CapacityBody>> => published.filter(p => p.envelope.type === 'capacity').map(p => p.envelope as Envelope<CapacityBody>)
    const bids = (): Array<Envelope<BidBody>> => published.filter(p => p.envelope.type === 'bid').map(p => p.envelope as Envelope<BidBody>)

    agent.serve(SPEC, spec, async () => ({}), { priceUsd: 0.01, estimatedMs: 10, queue: 0 })
    await waitFor(() => adverts().length === 1, { what: 'the advert on serving' })
    const job: JobBody = { specId: SPEC, inputHash: 'c'.repeat(64), inputSize: 10, maxUsd: 0.05, deadline: frozen + 30_000, bidWindowMs: 100, createdAt: frozen, nonce: 'n1' }
    await agent.onJob(seal('job', job, coordinatorKey))
    expect(bids()).toHaveLength(1)
    // The one place is now held by the bid: the agent announces it (at most 20 ms later).
    await waitFor(() => adverts().length === 2, { what: 'the advert after the bid' })

    const [before, after] = adverts() as [Envelope<CapacityBody>, Envelope<CapacityBody>]
    const bid = bids()[0]!
    expect(before.body.specs[0]).toMatchObject({ inFlight: 0, queued: 0 })
    expect(after.body.specs[0]).toMatchObject({ inFlight: 0, queued: 1 })
    expect(before.body.issuedAt).toBeLessThan(bid.body.createdAt)
    expect(bid.body.createdAt).toBeLessThan(after.body.issuedAt)
    // Each advert keeps its lifetime from its own issuedAt, and none is far ahead of the clock.
    for (const advert of [before, after]) expect(advert.body.expiresAt - advert.body.issuedAt).toBe(6_000)
    expect(after.body.issuedAt - frozen).toBeLessThan(10)
  })
})
