import { hash } from 'node:crypto'
import { canonicalBytes } from '../wire/canonical.ts'

/** multicodec code for JSON: the hashed bytes are RFC 8785 canonical JSON. */
const JSON_CODEC = 0x0200
/** multihash code for sha2-256. */
const SHA2_256 = 0x12

/**
 * A CIDv1's bytes before the digest: version 1, the codec (0x0200 as an
 * unsigned varint: 0x80 0x04), the multihash code and the digest's length.
 */
const CID_PREFIX = Uint8Array.of(0x01, 0x80 | (JSON_CODEC & 0x7f), JSON_CODEC >> 7, SHA2_256, 32)
/** RFC 4648 base32, lower case: multibase 'b', the CIDv1 string's default base. */
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

export function sha256 (bytes: Uint8Array): Uint8Array {
  return hash('sha256', bytes, 'buffer')
}

/**
 * CIDv1 (json, sha2-256) of arbitrary bytes, as its default base32 string:
 * what multiformats' CID.createV1(0x0200, sha256 digest).toString() gives,
 * written out here because every message id is one (a coordinator makes
 * several per job) and the library's objects and base cache cost about three
 * times the hash itself (test/unit/crypto/content-id.test.ts holds the two equal).
 */
export function cidOfBytes (bytes: Uint8Array): string {
  const digest = hash('sha256', bytes, 'buffer')
  let out = 'b'
  let bits = 0
  let value = 0
  const put = (byte: number): void => {
    value = ((value << 8) | byte) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32[(value >>> bits) & 31]
    }
  }
  for (const byte of CID_PREFIX) put(byte)
  for (const byte of digest) put(byte)
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

const utf8 = new TextEncoder()

/** The content id of text already canonical (a body's canonical JSON): the CID of its UTF-8 bytes. */
export function cidOfText (canonicalText: string): string {
  return cidOfBytes(utf8.encode(canonicalText))
}

/** The content id of a JSON value: the CID of its canonical bytes. */
export function contentId (value: unknown): string {
  return cidOfBytes(canonicalBytes(value))
}

/** Hex sha2-256 of raw bytes, used for job inputs and outputs. */
export function hashHex (bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex')
}
