import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { cidOfBytes, contentId, hashHex, sha256 } from '../../../src/crypto/content-id.ts'

/** The content id as multiformats builds it: what every node before this one wrote. */
const libraryCid = (bytes: Uint8Array): string => CID.createV1(0x0200, Digest.create(0x12, createHash('sha256').update(bytes).digest())).toString()

describe('content ids', () => {
  it('are the CIDv1 (json, sha2-256, base32) multiformats gives, for any bytes', () => {
    const samples = [new Uint8Array(), new TextEncoder().encode('{}'), ...Array.from({ length: 200 }, (_, i) => randomBytes(i * 7))]
    for (const bytes of samples) expect(cidOfBytes(bytes)).toBe(libraryCid(bytes))
  })

  it('parse back as a CID of the json codec whose digest is the sha2-256 of the bytes', () => {
    const bytes = new TextEncoder().encode('{"a":1}')
    const cid = CID.parse(contentId({ a: 1 }))
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x0200)
    expect(cid.multihash.code).toBe(0x12)
    expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(hashHex(bytes))
    expect(Buffer.from(sha256(bytes)).toString('hex')).toBe(createHash('sha256').update(bytes).digest('hex'))
  })
})
