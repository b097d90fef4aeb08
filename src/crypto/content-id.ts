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

/** The CID's first 8 base32 characters, after multibase's 'b': the 5 prefix bytes are 40 bits, exactly 8 characters, the same for every id. */
const PREFIX_TEXT = (() => {
  let out = 'b'
  let value = 0
  for (const byte of CID_PREFIX) value = value * 256 + byte
  for (let shift = 35; shift >= 0; shift -= 5) out += BASE32[Math.floor(value / 2 ** shift) % 32]
  return out
})()
/** ASCII codes of the base32 alphabet. */
const BASE32_CODES = Uint8Array.from(BASE32, c => c.charCodeAt(0))
/**
 * An id's 61 characters: the fixed 9 ('b' and the prefix's 8), then the
 * digest's 52 (256 bits: 51 of 5 bits, one of the last bit), written here
 * and read off as one flat string.
 */
const idText = Buffer.from(PREFIX_TEXT + 'a'.repeat(52), 'latin1')

/**
 * CIDv1 (json, sha2-256) of arbitrary bytes, as its default base32 string:
 * what multiformats' CID.createV1(0x0200, sha256 digest).toString() gives,
 * written out here because every message id is one (a coordinator makes
 * several per job) and the library's objects and base cache cost about three
 * times the hash itself (test/unit/crypto/content-id.test.ts holds the two equal).
 * The prefix's characters are fixed; the digest's are written five bytes
 * (eight characters) at a time into one buffer, since a character-by-character
 * string built through a closure was ~10 µs an id, most of a content id's cost.
 */
export function cidOfBytes (bytes: Uint8Array): string {
  const d = hash('sha256', bytes, 'buffer')
  const out = idText
  let o = PREFIX_TEXT.length
  for (let i = 0; i < 30; i += 5) {
    const hi = d[i]!
    const b1 = d[i + 1]!
    const b2 = d[i + 2]!
    const b3 = d[i + 3]!
    const b4 = d[i + 4]!
    out[o++] = BASE32_CODES[hi >> 3]!
    out[o++] = BASE32_CODES[((hi & 7) << 2) | (b1 >> 6)]!
    out[o++] = BASE32_CODES[(b1 >> 1) & 31]!
    out[o++] = BASE32_CODES[((b1 & 1) << 4) | (b2 >> 4)]!
    out[o++] = BASE32_CODES[((b2 & 15) << 1) | (b3 >> 7)]!
    out[o++] = BASE32_CODES[(b3 >> 2) & 31]!
    out[o++] = BASE32_CODES[((b3 & 3) << 3) | (b4 >> 5)]!
    out[o++] = BASE32_CODES[b4 & 31]!
  }
  // The last two bytes: 16 bits, three whole characters and one of the last bit, padded with zeros.
  const b30 = d[30]!
  const b31 = d[31]!
  out[o++] = BASE32_CODES[b30 >> 3]!
  out[o++] = BASE32_CODES[((b30 & 7) << 2) | (b31 >> 6)]!
  out[o++] = BASE32_CODES[(b31 >> 1) & 31]!
  out[o] = BASE32_CODES[(b31 & 1) << 4]!
  return out.toString('latin1')
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
