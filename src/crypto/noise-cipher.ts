import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { ed25519, type Ed25519Backend, type Sodium } from './ed25519.ts'

/**
 * Noise's cipher (ChaCha20-Poly1305, IETF: 12-byte nonce, 16-byte tag) by
 * libsodium, when this process runs libsodium for Ed25519 (ed25519.ts; the same
 * addon, so `SPECMESH_ED25519=node` turns both off). Every frame on every
 * connection is encrypted by its sender and decrypted by its receiver: noise's
 * own choice for a frame under 1,200 bytes (most of specmesh's: a job call, a
 * bid, an award, an execution frame) is a WebAssembly build, and above it a
 * node:crypto cipher object made per frame. Measured here in one process, an
 * encrypt and a decrypt of a 600-byte frame took 25.7 µs that way and 6.7 µs by
 * libsodium; of a 1,500-byte frame 97.8 and 10.0 µs. The same algorithm, so
 * the bytes on the wire are the same whichever side uses which
 * (test/unit/crypto/noise-cipher.test.ts); the handshake's hashing and key
 * agreement stay noise's own.
 */
export function noiseCrypto (backend: Ed25519Backend = ed25519()): ICryptoInterface {
  return backend.sodium != null ? sodiumCipher(backend.sodium) : defaultCrypto
}

const TAG_BYTES = 16

function sodiumCipher (sodium: Sodium): ICryptoInterface {
  return {
    ...defaultCrypto,
    chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
      const m = plaintext.subarray()
      const c = Buffer.allocUnsafe(m.byteLength + TAG_BYTES)
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, ad, null, nonce, k)
      return c
    },
    chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k) {
      const c = ciphertext.subarray()
      if (c.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption: shorter than its tag')
      const m = Buffer.allocUnsafe(c.byteLength - TAG_BYTES)
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, c, ad, nonce, k)
      } catch {
        // The message noise's own ciphers throw, so a forged frame reads the same either way.
        throw new Error('Invalid chacha20poly1305 decryption')
      }
      return m
    }
  }
}
