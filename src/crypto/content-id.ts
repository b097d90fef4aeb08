import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { canonicalBytes } from '../wire/canonical.ts'

/** multicodec code for JSON: the hashed bytes are RFC 8785 canonical JSON. */
const JSON_CODEC = 0x0200
/** multihash code for sha2-256. */
const SHA2_256 = 0x12

export function sha256 (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** CIDv1 (json, sha2-256) of arbitrary bytes, as its default base32 string. */
export function cidOfBytes (bytes: Uint8Array): string {
  return CID.createV1(JSON_CODEC, Digest.create(SHA2_256, sha256(bytes))).toString()
}

/** The content id of a JSON value: the CID of its canonical bytes. */
export function contentId (value: unknown): string {
  return cidOfBytes(canonicalBytes(value))
}

/** Hex sha2-256 of raw bytes, used for job inputs and outputs. */
export function hashHex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
