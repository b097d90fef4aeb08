import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { canonicalize } from '../../../src/wire/canonical.ts'
import { contentId } from '../../../src/crypto/content-id.ts'
import { encodeEnvelope, openEnvelope, seal, sealLazily } from '../../../src/wire/envelope.ts'
import { verifyClaim } from '../../../src/market/validators.ts'

async function signerOf (byte: number): Promise<Signer> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
}

describe('canonical text reused (canonicalize known, seal known)', () => {
  it('takes the known text of an inner object as is, and gives the same text as computing it', () => {
    const inner = { b: 2, a: [1, { z: 'x', y: null }] }
    const outer = { job: inner, id: 'j1' }
    const parts = new WeakMap<object, string>()
    canonicalize(inner, parts)
    expect(canonicalize(outer, undefined, parts)).toBe(canonicalize(outer))
    // Used, not recomputed: a (deliberately wrong) known text shows up in the output.
    expect(canonicalize(outer, undefined, new Map<object, string>([[inner, '"known"']]))).toBe('{"id":"j1","job":"known"}')
  })

  it('seals a lease-award carrying a lazily sealed job\'s body to the same bytes as canonicalizing it afresh', async () => {
    const signer = await signerOf(21)
    const parts = new WeakMap<object, string>()
    const job = sealLazily('job', { specId: 's', nonce: 'n1', deadline: 5, inputHash: 'ab' }, signer, parts)
    const body = { leaseId: 'l1', jobId: job.id, job: job.body, agent: signer.peerId, priceUsd: 0.01, attempt: 1, issuedAt: 7 }
    const reused = seal('lease-award', body, signer, parts)
    const afresh = seal('lease-award', { ...body, job: { ...job.body } }, signer)
    expect(reused.id).toBe(afresh.id)
    expect(reused.sig).toBe(afresh.sig)
    expect(openEnvelope(encodeEnvelope(reused), { expectType: 'lease-award' }).id).toBe(afresh.id)
  })

  it('seals a receipt carrying a verified claim to the same bytes as canonicalizing the claim afresh', async () => {
    const agent = await signerOf(22)
    const coordinator = await signerOf(23)
    const sent = seal('claim', { awardId: contentId({ award: 1 }), jobId: contentId({ job: 1 }), outcome: 'success', outputHash: 'cd'.repeat(32), startedAt: 1, endedAt: 2, costUsd: 0.01 }, agent)
    const parts = new WeakMap<object, string>()
    const claim = verifyClaim(JSON.parse(new TextDecoder().decode(encodeEnvelope(sent))), parts)
    expect(parts.get(claim.body)).toBe(canonicalize(sent.body))
    const body = { jobId: 'j1', awardId: 'a1', claim, costUsd: 0.01 }
    const reused = seal('receipt', body, coordinator, parts)
    const afresh = seal('receipt', { ...body, claim: { ...claim, body: { ...claim.body } } }, coordinator)
    expect(reused.id).toBe(afresh.id)
    expect(reused.sig).toBe(afresh.sig)
  })
})
