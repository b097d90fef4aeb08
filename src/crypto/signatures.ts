import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Ed25519 with node:crypto: about 100× faster than the pure-JS path here
 * (DESIGN.md "Measured"), and verification is on every message's hot path.
 * Keys are wrapped in the fixed DER headers for raw Ed25519 keys (RFC 8410).
 */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface Signer {
  /** The PeerId string of the key: who a signature is attributed to. */
  readonly peerId: string
  sign (bytes: Uint8Array): Uint8Array
}

export class UnsupportedKeyError extends Error {
  override name = 'UnsupportedKeyError'
}

/** A Signer over a libp2p Ed25519 private key (the node's identity). */
export function signerFromPrivateKey (key: PrivateKey, peerId: string): Signer {
  if (key.type !== 'Ed25519') throw new UnsupportedKeyError(`only Ed25519 identities can sign, not ${key.type}`)
  // libp2p keeps the Ed25519 private key as seed ‖ public key (64 bytes).
  const seed = key.raw.subarray(0, 32)
  const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  return {
    peerId,
    sign: (bytes) => edSign(null, bytes, keyObject)
  }
}

/** Public keys are embedded in Ed25519 PeerIds; cache the parsed KeyObject per signer. */
const publicKeyCache = new Map<string, KeyObject | null>()
const PUBLIC_KEY_CACHE_LIMIT = 10_000

export function publicKeyOf (peerId: string): KeyObject | null {
  let cached = publicKeyCache.get(peerId)
  if (cached !== undefined) return cached
  try {
    const parsed = peerIdFromString(peerId)
    const raw = parsed.publicKey?.type === 'Ed25519' ? parsed.publicKey.raw : undefined
    cached = raw == null ? null : createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
  } catch {
    cached = null
  }
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear()
  publicKeyCache.set(peerId, cached)
  return cached
}

/** Raw 32-byte Ed25519 public key of a PeerId, or null when it has none embedded. */
export function rawPublicKeyOf (peerId: string): Uint8Array | null {
  try {
    const parsed = peerIdFromString(peerId)
    return parsed.publicKey?.type === 'Ed25519' ? parsed.publicKey.raw : null
  } catch {
    return null
  }
}

export function verifySignature (peerId: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  const key = publicKeyOf(peerId)
  if (key == null || signature.length !== 64) return false
  try {
    return edVerify(null, bytes, key, signature)
  } catch {
    return false
  }
}

/**
 * A PeerId can be written in more than one way (base58btc multihash, or as a
 * CID); signers and agent fields are compared as strings, so only the canonical
 * base58btc form is accepted anywhere a key is named.
 */
export function isCanonicalPeerId (peerId: string): boolean {
  const known = canonicalCache.get(peerId)
  if (known !== undefined) return known
  let canonical: boolean
  try {
    canonical = peerIdFromString(peerId).toString() === peerId
  } catch {
    canonical = false
  }
  if (canonicalCache.size >= PUBLIC_KEY_CACHE_LIMIT) canonicalCache.clear()
  canonicalCache.set(peerId, canonical)
  return canonical
}

/** Parsing a PeerId is costly and every message names one or two: remember the answer. */
const canonicalCache = new Map<string, boolean>()
