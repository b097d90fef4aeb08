import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, openEnvelope, seal, sealLazily } from '../../../src/wire/envelope.ts'

/** A signer that counts what it signs. */
async function countingSigner (byte: number): Promise<Signer & { count: () => number }> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  const inner = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
  let n = 0
  return { peerId: inner.peerId, sign: bytes => { n++; return inner.sign(bytes) }, count: () => n }
}

describe('sealLazily', () => {
  it('knows its id at once, signs only when the signature is read or the envelope encoded, and once', async () => {
    const signer = await countingSigner(11)
    const body = { specId: 's', nonce: 'n1', deadline: 5 }
    const lazy = sealLazily('job', body, signer)
    const eager = seal('job', { ...body }, signer)
    expect(signer.count()).toBe(1)
    expect(lazy.id).toBe(eager.id)
    // Encoding reads the signature: the envelope that travels is seal's, byte for byte.
    const bytes = encodeEnvelope(lazy)
    expect(signer.count()).toBe(2)
    expect(new TextDecoder().decode(bytes)).toBe(new TextDecoder().decode(encodeEnvelope(eager)))
    expect(lazy.sig).toBe(eager.sig)
    encodeEnvelope(lazy)
    expect(signer.count()).toBe(2)
    expect(openEnvelope(bytes, { expectType: 'job' }).id).toBe(eager.id)
  })

  it('signs the body as it was when sealed, as seal does', async () => {
    const signer = await countingSigner(12)
    const body: Record<string, unknown> = { specId: 's', nonce: 'n2' }
    const lazy = sealLazily('job', body, signer)
    const { sig } = seal('job', { ...body }, signer)
    body.nonce = 'changed later'
    expect(lazy.sig).toBe(sig)
  })
})
