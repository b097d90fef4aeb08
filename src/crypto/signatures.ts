import { base58btc } from 'multiformats/bases/base58'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { ed25519 } from './ed25519.ts'

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
  if (key.raw.length !== 64) throw new UnsupportedKeyError(`an Ed25519 private key is 64 bytes (seed ‖ public key), not ${key.raw.length}`)
  return { peerId, sign: ed25519().signerOf(key.raw) }
}

/**
 * The one spelling of a signer's PeerId: base58btc of the identity multihash
 * of the libp2p protobuf PublicKey { Type: Ed25519, Data: key }, that is
 * base58btc(00 24 08 01 12 20 ‖ key). A PeerId parser accepts more (the
 * protobuf fields in the other order, a CID, other key types), and every other
 * spelling would be a second name for the same key; so a PeerId counts only
 * when it is exactly these 38 bytes, which a receiver checks by re-deriving it
 * from the key bytes it decoded.
 */
const PEER_ID_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
const PEER_ID_BYTES = PEER_ID_PREFIX.length + 32

/** The 32-byte Ed25519 key a canonical PeerId names, or null for any other string. */
function decodePeerId (peerId: string): Uint8Array | null {
  // base58btc of 38 bytes is 51 or 52 characters; this cheap check keeps long junk away from the decoder.
  if (peerId.length < 50 || peerId.length > 53) return null
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(peerId)
  } catch {
    return null
  }
  if (bytes.length !== PEER_ID_BYTES) return null
  for (let i = 0; i < PEER_ID_PREFIX.length; i++) if (bytes[i] !== PEER_ID_PREFIX[i]) return null
  const key = bytes.slice(PEER_ID_PREFIX.length)
  return peerIdOfKey(key) === peerId ? key : null
}

/** The canonical PeerId of a raw Ed25519 public key. */
export function peerIdOfKey (key: Uint8Array): string {
  const bytes = new Uint8Array(PEER_ID_BYTES)
  bytes.set(PEER_ID_PREFIX)
  bytes.set(key, PEER_ID_PREFIX.length)
  return base58btc.baseEncode(bytes)
}

type Verifier = (bytes: Uint8Array, signature: Uint8Array) => boolean

interface KnownPeerId {
  raw: Uint8Array | null
  /** Made at the first check of a signature by this key (null: the key is unusable). */
  verify: Verifier | null | undefined
}

/** Every message names one or two PeerIds: remember what each decoded to. */
const peerIdCache = new Map<string, KnownPeerId>()
const PEER_ID_CACHE_LIMIT = 10_000

function known (peerId: string): KnownPeerId {
  let entry = peerIdCache.get(peerId)
  if (entry !== undefined) return entry
  entry = { raw: decodePeerId(peerId), verify: undefined }
  if (peerIdCache.size >= PEER_ID_CACHE_LIMIT) peerIdCache.clear()
  peerIdCache.set(peerId, entry)
  return entry
}

/** Raw 32-byte Ed25519 public key of a canonical PeerId, or null for anything else. */
export function rawPublicKeyOf (peerId: string): Uint8Array | null {
  return known(peerId).raw
}

/** Whether `signature` is the signer's over `bytes`, by the rule of protocols/envelope.md (the same with either backend). */
export function verifySignature (peerId: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  const entry = known(peerId)
  if (entry.verify === undefined) entry.verify = entry.raw == null ? null : ed25519().verifierOf(entry.raw)
  if (entry.verify == null || signature.length !== 64) return false
  return entry.verify(bytes, signature)
}

/**
 * Whether a string is a PeerId in the one accepted spelling (above): decoded,
 * re-derived from its key bytes, and equal to what it was derived from.
 */
export function isCanonicalPeerId (peerId: string): boolean {
  return known(peerId).raw != null
}

/**
 * The canonical PeerId of whatever key a PeerId string names in any spelling a
 * libp2p parser reads (the protobuf fields in the other order, a CID, …), or
 * null when it names no Ed25519 key. For comparing parties in records that may
 * predate the strict check (a store written by an older node): wire input is
 * held to isCanonicalPeerId.
 */
export function canonicalPeerIdOf (peerId: string): string | null {
  if (isCanonicalPeerId(peerId)) return peerId
  try {
    const key = peerIdFromString(peerId).publicKey
    return key?.type === 'Ed25519' ? peerIdOfKey(key.raw) : null
  } catch {
    return null
  }
}

/**
 * Whether two PeerIds name the same key. Every "is this the same party" check
 * (self-bid, self-award, self-receipt, a receipt's coordinator, a key being its
 * own counterparty) compares keys with this, never strings: a second spelling
 * of a key must never pass for a second party.
 */
export function sameKey (a: string, b: string): boolean {
  if (a === b) return true
  const ka = canonicalPeerIdOf(a)
  return ka != null && ka === canonicalPeerIdOf(b)
}
