import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { isCanonicalPeerId, peerIdOfKey, sameKey, signerFromPrivateKey } from '../../../src/crypto/signatures.ts'
import { openEnvelope, seal, encodeEnvelope } from '../../../src/wire/envelope.ts'
import { Reputation } from '../../../src/reputation/reputation.ts'
import { receipt } from '../reputation/helpers.ts'

/**
 * Issue 15, item 1: one Ed25519 key had two PeerIds, its canonical
 * `12D3KooW…` and the same key with the protobuf fields of its PublicKey in
 * the other order (`12D7n…`), which a libp2p parser reads and prints back
 * unchanged. These tests fail on a node that checks "parse, re-print, compare".
 */
async function key (byte: number): Promise<{ peerId: string, raw: Uint8Array, signer: ReturnType<typeof signerFromPrivateKey> }> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { peerId, raw: privateKey.publicKey.raw, signer: signerFromPrivateKey(privateKey, peerId) }
}

const swapped = (raw: Uint8Array): string => base58btc.baseEncode(Uint8Array.from([0x00, 0x24, 0x12, 0x20, ...raw, 0x08, 0x01]))

describe('PeerIds: one spelling per key', () => {
  it('a libp2p parser round-trips the swapped spelling, so only re-deriving from the key tells the two apart', async () => {
    const k = await key(1)
    const other = swapped(k.raw)
    expect(other.startsWith('12D7n')).toBe(true)
    expect(peerIdFromString(other).toString()).toBe(other)
    expect(isCanonicalPeerId(k.peerId)).toBe(true)
    expect(isCanonicalPeerId(other)).toBe(false)
    expect(peerIdOfKey(k.raw)).toBe(k.peerId)
  })

  it('refuses an envelope signed by the key but naming it in the swapped spelling (bad-signer)', async () => {
    const k = await key(2)
    const envelope = { ...seal('job', { nonce: 'x' }, k.signer), signer: swapped(k.raw) }
    expect(() => openEnvelope(encodeEnvelope(envelope))).toThrow(expect.objectContaining({ action: 'reject', code: 'bad-signer' }))
  })

  it('compares parties by key: the two spellings are the same key, two keys are not', async () => {
    const a = await key(3)
    const b = await key(4)
    expect(sameKey(a.peerId, swapped(a.raw))).toBe(true)
    expect(sameKey(swapped(a.raw), a.peerId)).toBe(true)
    expect(sameKey(a.peerId, b.peerId)).toBe(false)
    expect(sameKey('alice', 'bob')).toBe(false)
  })

  it('a stored receipt naming its coordinator\'s own key in another spelling earns that key no reputation', async () => {
    const c = await key(5)
    const now = 1_767_225_600_000
    const rep = new Reputation({ self: 'self', trustedPeers: [c.peerId], trustRefreshMs: 0, now: () => now })
    expect(rep.add(receipt({ coordinator: c.peerId, agent: swapped(c.raw), at: now }), 'x')).toBe(false)
    expect(rep.stats()).toMatchObject({ receipts: 0, selfReceipts: 1 })
    expect(rep.score(c.peerId, 'x')).toBeNull()
    expect(rep.score(swapped(c.raw), 'x')).toBeNull()
  })
})
