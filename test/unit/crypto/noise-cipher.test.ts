import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { noiseCrypto } from '../../../src/crypto/noise-cipher.ts'
import { chooseBackend, nodeCryptoBackend } from '../../../src/crypto/ed25519.ts'

/**
 * Noise's ChaCha20-Poly1305 by libsodium (src/crypto/noise-cipher.ts) must be
 * noise's own cipher byte for byte: a node using one talks to a node using the
 * other, so each must produce the other's ciphertext and open it, and refuse a
 * forged frame the same way.
 */
const sodium = noiseCrypto(chooseBackend({ SPECMESH_ED25519: 'sodium' }))
const own = defaultCrypto
/** noise's own uint8arraylist may be another copy of the package than ours: the same class to noise's eyes. */
type Pieces = Parameters<typeof sodium.chaCha20Poly1305Encrypt>[0]

describe('noise\'s cipher by libsodium', () => {
  it('is noise\'s own cipher when the process runs node:crypto for Ed25519', () => {
    expect(noiseCrypto(nodeCryptoBackend('test'))).toBe(defaultCrypto)
    expect(sodium).not.toBe(defaultCrypto)
  })

  // Sizes around noise's own switch from WebAssembly to node:crypto (1,200 bytes), empty, and a whole noise frame.
  for (const size of [0, 1, 600, 1199, 1200, 1500, 65535 - 16]) {
    it(`encrypts a ${size}-byte frame to the same bytes as noise's own cipher, and each opens the other's`, () => {
      const k = randomBytes(32)
      const nonce = new Uint8Array(12)
      new DataView(nonce.buffer).setUint32(4, 7 + size, true) // noise's nonce: 4 zero bytes, then a little-endian counter
      const ad = randomBytes(32)
      const plaintext = randomBytes(size)
      const ours = sodium.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k).subarray()
      const theirs = own.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k).subarray()
      expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true)
      expect(Buffer.from(sodium.chaCha20Poly1305Decrypt(theirs, nonce, ad, k).subarray()).equals(plaintext)).toBe(true)
      expect(Buffer.from(own.chaCha20Poly1305Decrypt(Uint8Array.from(ours), nonce, ad, k, undefined).subarray()).equals(plaintext)).toBe(true)
    })
  }

  it('takes a plaintext or ciphertext in pieces (a Uint8ArrayList), as noise hands them over', () => {
    const k = randomBytes(32)
    const nonce = new Uint8Array(12)
    const ad = new Uint8Array(0)
    const plaintext = randomBytes(700)
    const pieces = new Uint8ArrayList(plaintext.subarray(0, 12), plaintext.subarray(12)) as unknown as Pieces
    const sealed = sodium.chaCha20Poly1305Encrypt(pieces, nonce, ad, k).subarray()
    expect(Buffer.from(sealed).equals(Buffer.from(own.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k).subarray()))).toBe(true)
    const opened = sodium.chaCha20Poly1305Decrypt(new Uint8ArrayList(sealed.subarray(0, 100), sealed.subarray(100)) as unknown as Pieces, nonce, ad, k)
    expect(Buffer.from(opened.subarray()).equals(plaintext)).toBe(true)
  })

  it('refuses a frame altered anywhere, one under the wrong key, nonce or associated data, and one shorter than its tag', () => {
    const k = randomBytes(32)
    const nonce = new Uint8Array(12)
    const ad = randomBytes(32)
    const sealed = sodium.chaCha20Poly1305Encrypt(randomBytes(300), nonce, ad, k).subarray()
    for (const at of [0, 150, sealed.byteLength - 1]) {
      const altered = Uint8Array.from(sealed)
      altered[at]! ^= 1
      expect(() => sodium.chaCha20Poly1305Decrypt(altered, nonce, ad, k)).toThrow(/Invalid chacha20poly1305 decryption/)
    }
    expect(() => sodium.chaCha20Poly1305Decrypt(sealed, nonce, ad, randomBytes(32))).toThrow(/Invalid chacha20poly1305 decryption/)
    expect(() => sodium.chaCha20Poly1305Decrypt(sealed, Uint8Array.from([1, ...nonce.subarray(1)]), ad, k)).toThrow(/Invalid chacha20poly1305 decryption/)
    expect(() => sodium.chaCha20Poly1305Decrypt(sealed, nonce, randomBytes(32), k)).toThrow(/Invalid chacha20poly1305 decryption/)
    expect(() => sodium.chaCha20Poly1305Decrypt(sealed.subarray(0, 15), nonce, ad, k)).toThrow(/Invalid chacha20poly1305 decryption/)
  })
})
