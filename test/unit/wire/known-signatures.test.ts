import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, openEnvelope, seal } from '../../../src/wire/envelope.ts'

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
