import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import { createRequire } from 'node:module'

/**
 * The Ed25519 implementation this process signs and verifies with: libsodium
 * (through `sodium-native`) when its prebuilt addon loads, else OpenSSL
 * (`node:crypto`). Verification is on every message's hot path (a leased job
 * costs 9 checks and 3 signatures over five nodes), and here libsodium checks
 * in about 70 µs where OpenSSL takes 175–226 µs (docs/benchmarks.md "bench:jobs").
 *
 * Both accept the same signatures (protocols/envelope.md, "The signature
 * rule"; test/unit/crypto/ed25519.test.ts checks the edge cases on both), so
 * which one a node runs is invisible on the wire.
 *
 * `SPECMESH_ED25519=node` forces node:crypto (a comparison, a platform where
 * the addon misbehaves); `=sodium` makes a missing addon an error instead of a
 * quiet fallback.
 */
export type Ed25519BackendName = 'sodium-native' | 'node:crypto'

export interface Ed25519Backend {
  readonly name: Ed25519BackendName
  /** Why this backend and not the faster one, when it is the fallback; absent for sodium-native. */
  readonly reason?: string
  /** True when the fallback runs because SPECMESH_ED25519=node asked for it, not because the addon failed. */
  readonly requested?: boolean
  /** A signing function over libp2p's 64-byte Ed25519 private key (seed ‖ public key). */
  signerOf (seedAndPublicKey: Uint8Array): (bytes: Uint8Array) => Uint8Array
  /** A verifying function for a raw 32-byte public key, or null when the key cannot be used at all. */
  verifierOf (publicKey: Uint8Array): ((bytes: Uint8Array, signature: Uint8Array) => boolean) | null
  /** libsodium itself when this backend is sodium-native: noise's cipher uses it too (noise-cipher.ts). */
  readonly sodium?: Sodium
}

/** The part of sodium-native specmesh uses (the package ships no types). */
export interface Sodium {
  crypto_sign_detached (sig: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
  crypto_sign_verify_detached (sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  /** ChaCha20-Poly1305 (IETF, 12-byte nonce), as noise's ChaChaPoly: c is m plus the 16-byte tag. */
  crypto_aead_chacha20poly1305_ietf_encrypt (c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number
  /** Throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt (m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number
}

/** Fixed DER headers around raw Ed25519 keys (RFC 8410), for node:crypto's KeyObjects. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export function nodeCryptoBackend (reason: string, requested = false): Ed25519Backend {
  return {
    name: 'node:crypto',
    reason,
    requested,
    signerOf (seedAndPublicKey) {
      const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seedAndPublicKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
      return (bytes) => nodeSign(null, bytes, key)
    },
    verifierOf (publicKey) {
      let key
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' })
      } catch {
        return null
      }
      return (bytes, signature) => {
        try {
          return nodeVerify(null, bytes, key, signature)
        } catch {
          return false
        }
      }
    }
  }
}

export function sodiumBackend (sodium: Sodium): Ed25519Backend {
  return {
    name: 'sodium-native',
    sodium,
    signerOf (seedAndPublicKey) {
      // libp2p's raw Ed25519 private key is seed ‖ public key, which is exactly
      // libsodium's secret-key layout; a copy, so a caller reusing its buffer
      // cannot change the key under us.
      const secretKey = Uint8Array.from(seedAndPublicKey)
      return (bytes) => {
        const sig = Buffer.allocUnsafe(64)
        sodium.crypto_sign_detached(sig, bytes, secretKey)
        return sig
      }
    },
    verifierOf (publicKey) {
      const key = Uint8Array.from(publicKey)
      return (bytes, signature) => signature.length === 64 && sodium.crypto_sign_verify_detached(signature, bytes, key)
    }
  }
}

/** The backend the environment asks for, falling back to node:crypto when the addon cannot load. */
export function chooseBackend (env: NodeJS.ProcessEnv = process.env, load: () => Sodium = loadSodium): Ed25519Backend {
  const wanted = env.SPECMESH_ED25519
  if (wanted === 'node') return nodeCryptoBackend('SPECMESH_ED25519=node', true)
  if (wanted !== undefined && wanted !== '' && wanted !== 'sodium') {
    throw new Error(`SPECMESH_ED25519 is ${JSON.stringify(wanted)}; use "sodium" (libsodium, the default) or "node" (node:crypto)`)
  }
  try {
    return sodiumBackend(load())
  } catch (err) {
    if (wanted === 'sodium') throw new Error(`SPECMESH_ED25519=sodium, but sodium-native does not load here: ${(err as Error).message}`)
    return nodeCryptoBackend(`sodium-native does not load here (${(err as Error).message.split('\n')[0]})`)
  }
}

function loadSodium (): Sodium {
  return createRequire(import.meta.url)('sodium-native') as Sodium
}

/** One line for a log or `specmesh status`: which backend, and why when it is the slower one. */
export function describeBackend (backend: Ed25519Backend): string {
  return backend.reason == null ? backend.name : `${backend.name} (${backend.reason})`
}

/** Whether the slower backend runs without anyone having asked for it: worth a warning. */
export function isUnrequestedFallback (backend: Ed25519Backend): boolean {
  return backend.name === 'node:crypto' && backend.requested !== true
}

/** This process's backend, chosen once at first use. */
let current: Ed25519Backend | undefined
export function ed25519 (): Ed25519Backend {
  current ??= chooseBackend()
  return current
}
