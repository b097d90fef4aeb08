import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { contentId } from '../../../src/crypto/content-id.ts'
import { encodeEnvelope, parseEnvelopeJson, seal, verifyEnvelope, type Envelope } from '../../../src/wire/envelope.ts'
import type { Gossip } from '../../../src/net/gossip.ts'
import type { FramedStream } from '../../../src/net/frames.ts'
import { AgentLeases } from '../../../src/market/lease-agent.ts'
import type { JobBody } from '../../../src/market/messages.ts'
import type { LeaseAwardBody, LeaseBidBody, LeaseCallBody } from '../../../src/market/lease-messages.ts'
import { Refusal } from '../../../src/market/errors.ts'
import { normalizedSample } from '../../helpers/specs.ts'
import { specId as idOfSpec } from '../../../src/spec/index.ts'

async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

const spec = normalizedSample('lease-agent-unit')
const SPEC = idOfSpec(spec)

/**
 * AgentLeases.admit, the agent's checks of a lease-award (protocols/market.md
 * "Leases", Agent side), on a lease opened the way the execution stream opens
 * one: a lease call, the agent's lease bid, the coordinator's lease frame.
 */
describe('AgentLeases: a lease-award\'s job', async () => {
  const agent = await testKey(51)
  const coordinator = await testKey(52)
  let leases: AgentLeases | undefined
  afterEach(() => { leases?.stop() })

  async function openLease (): Promise<{ leases: AgentLeases, leaseId: string }> {
    const bids: Array<Envelope<LeaseBidBody>> = []
    const gossip = { publish: async (_topic: string, envelope: Envelope<LeaseBidBody>) => { bids.push(envelope) } } as unknown as Gossip
    const served = { specId: SPEC, spec, priceUsd: 0.01, estimatedMs: 10, limit: 4, queueLimit: 4, enforcesSpec: true }
    leases = new AgentLeases({
      signer: agent, gossip, topicOf: () => 'leases', addresses: () => [], served: id => id === SPEC ? served : undefined,
      effectiveLimit: () => 4, committed: () => 0, draining: () => false, loadChanged: () => {}, now: Date.now, log: () => {}
    })
    const now = Date.now()
    const call = seal('lease-call', { specId: SPEC, slots: 2, durationMs: 60_000, maxUsd: 0.05, bidWindowMs: 50, createdAt: now, nonce: 'n1' } satisfies LeaseCallBody, coordinator)
    await leases.onCall(call)
    const bid = bids[0]!
    const lease = seal('lease', { callId: call.id, specId: SPEC, bidId: bid.id, agent: agent.peerId, slots: 2, priceUsd: 0.01, issuedAt: now, expiresAt: now + 60_000 }, coordinator)
    const stream = { writeV: async () => {} } as unknown as FramedStream
    await leases.onLeaseFrame(JSON.parse(JSON.stringify(lease)), coordinator.peerId, stream)
    return { leases, leaseId: lease.id }
  }

  function leaseAward (leaseId: string, job: JobBody, jobId = contentId(job)): Envelope<LeaseAwardBody> {
    return seal('lease-award', { leaseId, jobId, job, agent: agent.peerId, priceUsd: 0.01, attempt: 1, issuedAt: Date.now() }, coordinator)
  }

  /** The award as the agent reads it off its stream: parsed, verified, its body's canonical texts kept. */
  function received (award: Envelope<LeaseAwardBody>): { award: Envelope<LeaseAwardBody>, parts: WeakMap<object, string> } {
    const parts = new WeakMap<object, string>()
    return { award: verifyEnvelope(parseEnvelopeJson(encodeEnvelope(award)), { expectType: 'lease-award', canonicalParts: parts }) as Envelope<LeaseAwardBody>, parts }
  }

  const job = (nonce: string): JobBody => ({ specId: SPEC, inputHash: 'c'.repeat(64), inputSize: 10, maxUsd: 0.05, deadline: Date.now() + 30_000, bidWindowMs: 50, createdAt: Date.now(), nonce })

  it('is admitted when jobId is its content id, and refused (nothing admitted) when jobId names another job, with or without the canonical texts of verification', async () => {
    const { leases, leaseId } = await openLease()
    const used = new Map<string, number>()
    const good = received(leaseAward(leaseId, job('a')))
    const admitted = leases.admit(good.award, coordinator.peerId, used, good.parts)
    expect(admitted.job.nonce).toBe('a')
    expect(used.has(good.award.id)).toBe(true)

    const wrong = received(leaseAward(leaseId, job('b'), contentId(job('c'))))
    expect(() => leases.admit(wrong.award, coordinator.peerId, used, wrong.parts)).toThrow(new Refusal('lease-award jobId is not the id of the job it carries'))
    expect(() => leases.admit(wrong.award, coordinator.peerId, used)).toThrow(/jobId is not the id of the job it carries/)
    expect(used.has(wrong.award.id)).toBe(false)
    // Without the texts the job is canonicalized here: the same verdict.
    const plain = received(leaseAward(leaseId, job('d')))
    expect(leases.admit(plain.award, coordinator.peerId, used).job.nonce).toBe('d')
    admitted.done()
  })

  it('takes a lease-award its coordinator sent on its stream without verifying its signature, and still refuses one whose signer is not the lease\'s coordinator', async () => {
    const { leases, leaseId } = await openLease()
    const used = new Map<string, number>()
    // As the agent reads a lease-award off the stream (agent.ts answer): no Ed25519 verification.
    const asRead = (award: Envelope<LeaseAwardBody>): { award: Envelope<LeaseAwardBody>, parts: WeakMap<object, string> } => {
      const parts = new WeakMap<object, string>()
      return { award: verifyEnvelope(parseEnvelopeJson(encodeEnvelope(award)), { expectType: 'lease-award', canonicalParts: parts, fromAuthenticatedSigner: true }) as Envelope<LeaseAwardBody>, parts }
    }
    const other = await testKey(53)
    const signed = leaseAward(leaseId, job('s'))
    const byOther = seal('lease-award', leaseAward(leaseId, job('u')).body, other)
    // The coordinator's award with a signature that is not its own: the stream's handshake already proved who sent it.
    const unchecked = asRead({ ...signed, sig: byOther.sig })
    expect(leases.admit(unchecked.award, coordinator.peerId, used, unchecked.parts).job.nonce).toBe('s')
    // Another key's award (its own signature, good) on the coordinator's stream, or the coordinator's award on another peer's: refused.
    const foreign = asRead(byOther)
    expect(() => leases.admit(foreign.award, coordinator.peerId, used, foreign.parts)).toThrow(new Refusal('lease-award is not from the lease\'s coordinator'))
    const elsewhere = asRead(leaseAward(leaseId, job('t')))
    expect(() => leases.admit(elsewhere.award, other.peerId, used, elsewhere.parts)).toThrow(new Refusal('lease-award is not from the lease\'s coordinator'))
  })
})
