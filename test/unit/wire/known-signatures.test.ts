import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, openEnvelope, parseEnvelopeJson, seal, verifyEnvelope } from '../../../src/wire/envelope.ts'

/**
 * envelope.ts remembers the signatures this process made or verified, so an
 * envelope that comes back (an agent's own claim inside its job's receipt) is
 * not verified twice. What it remembers must never let anything else through:
 * every one of these envelopes differs from a remembered one in exactly one
 * part, and each is refused as it would be with no memory at all.
 */
async function signer (byte: number): Promise<ReturnType<typeof signerFromPrivateKey>> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
}

const refusal = (code: string): unknown => expect.objectContaining({ action: 'reject', code })

describe('signatures made or verified once', () => {
  it('open again, and no remembered part lends its validity to another envelope', async () => {
    const a = await signer(7)
    const b = await signer(8)
    const one = seal('claim', { jobId: 'j1', outcome: 'success' }, a)
    const two = seal('claim', { jobId: 'j2', outcome: 'success' }, a)
    const byB = seal('claim', { jobId: 'j1', outcome: 'success' }, b)
    // Sealed here, then opened twice: the same envelope each time.
    expect(openEnvelope(encodeEnvelope(one)).id).toBe(one.id)
    expect(openEnvelope(encodeEnvelope(one)).id).toBe(one.id)
    // Another remembered envelope's signature on this body.
    expect(() => openEnvelope(encodeEnvelope({ ...one, sig: two.sig }))).toThrow(refusal('bad-signature'))
    // The same body and signature under another signer (both remembered as theirs).
    expect(() => openEnvelope(encodeEnvelope({ ...one, signer: b.peerId }))).toThrow(refusal('bad-signature'))
    expect(() => openEnvelope(encodeEnvelope({ ...byB, sig: one.sig }))).toThrow(refusal('bad-signature'))
    // The same body and signature as another message type.
    expect(() => openEnvelope(encodeEnvelope({ ...one, type: 'bid' }))).toThrow(refusal('bad-signature'))
    // Another body under the remembered id and signature.
    expect(() => openEnvelope(encodeEnvelope({ ...one, body: { jobId: 'j1', outcome: 'error' } }))).toThrow(refusal('id-mismatch'))
  })
})

describe('an envelope from its signer over an authenticated channel (fromAuthenticatedSigner)', () => {
  it('is opened without its Ed25519 verification, every other check kept', async () => {
    const a = await signer(9)
    const b = await signer(10)
    const award = seal('lease-award', { jobId: 'j1', n: 1 }, a)
    const other = seal('lease-award', { jobId: 'j1', n: 2 }, a)
    const read = (envelope: object): unknown => verifyEnvelope(parseEnvelopeJson(encodeEnvelope(envelope as Parameters<typeof encodeEnvelope>[0])), { expectType: 'lease-award', fromAuthenticatedSigner: true })
    // A signature that does not verify passes (the reader holds the signer to the channel's peer itself) …
    const forged = { ...award, sig: other.sig }
    expect(() => openEnvelope(encodeEnvelope(forged))).toThrow(refusal('bad-signature'))
    expect(read(forged)).toMatchObject({ id: award.id, signer: a.peerId })
    // … and is not remembered as verified for anyone else.
    expect(() => openEnvelope(encodeEnvelope(forged))).toThrow(refusal('bad-signature'))
    expect(read({ ...award, signer: b.peerId })).toMatchObject({ signer: b.peerId })
    // The body must still be the one the id names, the signature and the signer in their one spelling, the type the one expected.
    expect(() => read({ ...award, body: { jobId: 'j1', n: 3 } })).toThrow(refusal('id-mismatch'))
    expect(() => read({ ...award, sig: `${award.sig}A` })).toThrow(expect.objectContaining({ action: 'reject' }))
    expect(() => read({ ...award, signer: a.peerId.toLowerCase() })).toThrow(expect.objectContaining({ action: 'reject' }))
    expect(() => read({ ...award, type: 'award' })).toThrow(refusal('wrong-type'))
  })
})
