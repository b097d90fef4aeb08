import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, openEnvelope, seal } from '../../../src/wire/envelope.ts'
import { parseStrictJson } from '../../../src/wire/strict-json.ts'
import { MAX_JSON_DEPTH } from '../../../src/wire/constants.ts'

/**
 * Issue 15, item 4: the node accepted a BOM before an envelope (under a second
 * gossip message id), duplicate member names (the last won) and `v: 1.0`.
 */
const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
const signer = signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
const envelope = seal('job', { nonce: 'n', maxUsd: 0.5, nested: { a: [1, { b: 2 }] } }, signer)
const text = new TextDecoder().decode(encodeEnvelope(envelope))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const refusal = (s: string | Uint8Array): unknown => {
  try {
    openEnvelope(typeof s === 'string' ? bytes(s) : s)
  } catch (err) {
    return err
  }
  return null
}

describe('strict JSON envelopes', () => {
  it('accepts the envelope as sent, with any whitespace and member order', () => {
    expect(openEnvelope(bytes(text)).id).toBe(envelope.id)
    expect(openEnvelope(bytes(JSON.stringify(JSON.parse(text), null, 2))).id).toBe(envelope.id)
    const reordered = JSON.stringify({ sig: envelope.sig, signer: envelope.signer, body: envelope.body, id: envelope.id, v: 1, type: 'job' })
    expect(openEnvelope(bytes(reordered)).id).toBe(envelope.id)
  })

  it('refuses a UTF-8 byte order mark before the envelope (not-json)', () => {
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(text)])
    expect(refusal(withBom)).toMatchObject({ action: 'reject', code: 'not-json' })
  })

  it('refuses a member name twice in one object, at any depth and however it is escaped (duplicate-key)', () => {
    expect(refusal(text.replace('"type":"job"', '"type":"job","type":"job"'))).toMatchObject({ code: 'duplicate-key' })
    expect(refusal(text.replace('"maxUsd":0.5', '"maxUsd":5,"maxUsd":0.5'))).toMatchObject({ code: 'duplicate-key' })
    expect(refusal(text.replace('"b":2', '"b":1,"\\u0062":2'))).toMatchObject({ code: 'duplicate-key' })
    // The same name in two different objects is fine.
    expect(parseStrictJson('{"a":{"x":1},"b":{"x":1}}', 8).value).toEqual({ a: { x: 1 }, b: { x: 1 } })
  })

  it('refuses a member named __proto__ at any depth, however it is escaped, so no body checks out under the id of the body without it (reserved-key)', () => {
    // The signed body with one member more: before this rule zod's copy of the body dropped it and the id matched.
    const added = text.replace('"body":{', '"body":{"__proto__":{"maxUsd":5},')
    expect(refusal(added)).toMatchObject({ action: 'reject', code: 'reserved-key' })
    expect(refusal(text.replace('"body":{', '"body":{"\\u005f_proto__":1,'))).toMatchObject({ code: 'reserved-key' })
    expect(refusal(text.replace('"b":2', '"b":2,"__proto__":null'))).toMatchObject({ code: 'reserved-key' })
    expect(() => parseStrictJson('{"__proto__":1}', 8)).toThrow(/"__proto__" at character 1 is reserved/)
    // Names that merely look like it are ordinary.
    expect(parseStrictJson('{"__proto":1,"proto__":2,"constructor":3}', 8).value).toEqual({ __proto: 1, proto__: 2, constructor: 3 })
  })

  it('finds where strings end past escaped quotes and runs of backslashes, so a duplicate after them is still found; many members are checked alike', () => {
    const tricky = String.raw`{"a":"x\"y","b\\":"\\","c":"\\\"\\","d":"q\u0022"}`
    expect(parseStrictJson(tricky, 8).value).toEqual(JSON.parse(tricky))
    for (const dup of [',"a":1}', ',"b\\\\":1}', ',"\\u0064":1}']) {
      expect(() => parseStrictJson(tricky.slice(0, -1) + dup, 8), dup).toThrow(expect.objectContaining({ code: 'duplicate-key' }))
    }
    // A quote inside a string is not a member's end: "k" appears once, inside a value.
    expect(parseStrictJson(String.raw`{"v":"\",\"k\":1","k":2}`, 8).value).toEqual({ v: '",\"k\":1', k: 2 })
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${i}`, i]))
    const manyText = JSON.stringify(many)
    expect(parseStrictJson(manyText, 8).value).toEqual(many)
    expect(() => parseStrictJson(manyText.replace('"m39":39', '"m39":39,"m3":3'), 8)).toThrow(expect.objectContaining({ code: 'duplicate-key' }))
    expect(() => parseStrictJson(manyText.replace('"m1":1', '"m1":1,"m0":0'), 8)).toThrow(expect.objectContaining({ code: 'duplicate-key' }))
  })

  it('refuses v written as anything but the integer 1 (bad-envelope)', () => {
    for (const v of ['1.0', '1e0', '10e-1', '1.00']) {
      expect(refusal(text.replace('"v":1,', `"v":${v},`)), v).toMatchObject({ action: 'reject', code: 'bad-envelope' })
    }
  })

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} before parsing (too-deep)`, () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n)
    expect(() => parseStrictJson(deep(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).not.toThrow()
    expect(() => parseStrictJson(deep(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toThrow(expect.objectContaining({ code: 'too-deep' }))
    expect(refusal(text.replace('"nonce":"n"', `"nonce":${deep(10_000)}`))).toMatchObject({ code: 'too-deep' })
  })

  it('refuses what JSON.parse refuses, and text after the value', () => {
    for (const bad of ['', '{', '{"a":1,}', '{"a" 1}', '[1,]', '{"a":1} x', '"\\ud800', '{"a":1}{"b":2}']) {
      expect(() => parseStrictJson(bad, 8), bad).toThrow(expect.objectContaining({ code: 'not-json' }))
    }
  })
})
