import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, seal } from '../../../src/wire/envelope.ts'
import { MessageValidationError } from '../../../src/wire/errors.ts'
import { acceptStreamBid } from '../../../src/market/stream-bids.ts'
import type { BidBody, JobBody } from '../../../src/market/messages.ts'
import { marketContext, validateBid } from '../../../src/market/validators.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'

async function signer (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

const JOB = 'bagaaierajobjobjobjobjobjobjobjobjobjobjobjobjobjobjobjobjob'

/** Why a frame was refused, or 'accepted'. */
async function verdict (accept: ReturnType<typeof acceptStreamBid>, frame: Uint8Array, peer: string): Promise<string> {
  try {
    await accept(frame, peer)
    return 'accepted'
  } catch (err) {
    if (err instanceof MessageValidationError) return err.code
    throw err
  }
}

/** An agent, another peer, and a coordinator with one job of its own (JOB), seen as the coordinator's checks see it; the agent's signed bid for it. */
async function oneJob (): Promise<{ agent: Signer, other: Signer, ctx: ReturnType<typeof marketContext>, bid: ReturnType<typeof seal<BidBody>>, frame: Uint8Array }> {
  const agent = await signer(1)
  const other = await signer(2)
  const coordinator = await signer(3)
  const now = Date.now()
  const jobs = new RecentJobs()
  jobs.add({ jobId: JOB, coordinator: coordinator.peerId, body: { specId: 'spec', maxUsd: 1, deadline: now + 60_000 } as JobBody, publishedAt: now })
  const ctx = marketContext({ now: () => Date.now(), specOf: async () => null, jobs, self: coordinator.peerId })
  const bid = seal('bid', { jobId: JOB, specId: 'spec', priceUsd: 0.1, estimatedMs: 20, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: now + 60_000 } satisfies BidBody, agent)
  return { agent, other, ctx, bid, frame: encodeEnvelope(bid) }
}

describe('acceptStreamBid: the copy of a bid the coordinator took from gossip', () => {
  it('is answered accepted once, only from the agent that signed it; a second copy is the duplicate it is', async () => {
    const { agent, other, ctx, bid, frame } = await oneJob()
    // The auction took this bid from gossip: it passed the bids topic's checks there first.
    await validateBid(frame, ctx)
    const accept = acceptStreamBid({
      ctx,
      ownsOpenJob: jobId => jobId === JOB,
      take: () => 'already-bid',
      tookByGossip: (jobId, bidId, from) => jobId === JOB && bidId === bid.id && from === agent.peerId,
      cameAfterClose: () => { throw new Error('no bid here comes after its auction closed') }
    })
    expect(await verdict(accept, frame, other.peerId)).toBe('not-the-bidder')
    expect(await verdict(accept, frame, agent.peerId)).toBe('accepted')
    expect(await verdict(accept, frame, agent.peerId)).toBe('duplicate')
  })
})

describe('acceptStreamBid: a bid for a job whose auction has closed', () => {
  it('is refused not-open and told to the coordinator as late, only when the stream\'s peer signed it', async () => {
    const { agent, other, ctx, frame } = await oneJob()
    const late: Array<[string, string]> = []
    const accept = acceptStreamBid({
      ctx,
      ownsOpenJob: () => false,
      take: () => { throw new Error('a bid for a closed auction is not taken') },
      tookByGossip: () => false,
      cameAfterClose: (jobId, from) => { late.push([jobId, from]) }
    })
    expect(await verdict(accept, frame, agent.peerId)).toBe('not-open')
    expect(late).toEqual([[JOB, agent.peerId]])
    // Another peer's copy of the agent's bid says nothing of when the agent bid.
    expect(await verdict(accept, frame, other.peerId)).toBe('not-open')
    expect(late).toHaveLength(1)
  })
})
