import { describe, expect, it } from 'vitest'
import { canonicalize } from '../../../src/wire/canonical.ts'
import { EnvelopeSchema, encodeEnvelope, MESSAGE_TYPES, seal, verifyEnvelope } from '../../../src/wire/envelope.ts'
import { plainlyShapedEnvelope } from '../../../src/wire/plain-shape.ts'
import { testKey } from '../../helpers/receipts.ts'
import { alteredCopies, compareWithSchema } from '../../helpers/shape-cases.ts'

const parsed = (bytes: Uint8Array): Record<string, unknown> => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>

/** The envelope as the schema would hand it on: its verdict, and the body it copies. */
const schemaCopy = (raw: unknown): { ok: boolean, body?: unknown } => {
  const result = EnvelopeSchema.safeParse(raw)
  return result.success ? { ok: true, body: result.data.body } : { ok: false }
}

const canonicalOrError = (body: unknown): string => {
  try {
    return canonicalize(body)
  } catch (err) {
    return `refused: ${(err as Error).message}`
  }
}

const errorOf = (raw: unknown, expectType?: typeof MESSAGE_TYPES[number]): string => {
  try {
    verifyEnvelope(raw, { expectType })
  } catch (err) {
    return (err as Error).message
  }
  return 'accepted'
}

describe('an envelope\'s shape checked by hand (plain-shape.ts)', () => {
  it('passes every message type as a node sends it, as EnvelopeSchema does, and verifyEnvelope still authenticates it', async () => {
    const signer = await testKey(41)
    for (const type of MESSAGE_TYPES) {
      const raw = parsed(encodeEnvelope(seal(type, { specId: 'x', n: 1, nested: { list: [1, 'a', null] } }, signer)))
      expect(plainlyShapedEnvelope(raw)).toBe(true)
      expect(plainlyShapedEnvelope(raw, type)).toBe(true)
      expect(plainlyShapedEnvelope(raw, type === 'job' ? 'bid' : 'job')).toBe(false)
      expect(schemaCopy(raw).ok).toBe(true)
      expect(verifyEnvelope(raw, { expectType: type }).id).toBe(raw.id)
    }
  })

  it('never passes what EnvelopeSchema refuses, nor a body its copy would change: every member set to odd values, dropped, hidden or joined by another', async () => {
    const signer = await testKey(42)
    const raw = parsed(encodeEnvelope(seal('receipt', { specId: 'x', n: 1, inner: { a: [1, 2] } }, signer)))
    const cases = alteredCopies(raw, [
      { path: [], keys: ['type', 'v', 'id', 'body', 'signer', 'sig'] },
      { path: ['body'], keys: ['specId', 'n', 'inner'] }
    ])
    const { passed, refusedByBoth, contradicted } = compareWithSchema(cases, v => plainlyShapedEnvelope(v), v => schemaCopy(v).ok)
    expect(contradicted).toEqual([])
    // Where both pass, the body the shortcut hands on is the one the schema would: the same canonical text, so the same id.
    for (const value of cases) {
      if (!plainlyShapedEnvelope(value)) continue
      const copy = schemaCopy(value).body as Record<string, unknown>
      expect(Object.keys(copy)).toEqual(Object.keys(value.body))
      expect(canonicalOrError(copy)).toBe(canonicalOrError(value.body))
    }
    expect(passed).toBeGreaterThan(100)
    expect(refusedByBoth).toBeGreaterThan(100)
  })

  it('leaves a malformed envelope to the schema: refused with its words, as before', async () => {
    const signer = await testKey(43)
    const raw = parsed(encodeEnvelope(seal('job', { specId: 'x' }, signer)))
    expect(errorOf({ ...raw, extra: 1 })).toMatch(/^envelope field \(root\): /)
    expect(errorOf({ ...raw, type: 'nope' })).toMatch(/^envelope field type: /)
    expect(errorOf({ ...raw, sig: 'A'.repeat(85) })).toMatch(/^envelope field sig: /)
    expect(errorOf({ ...raw, body: [] })).toMatch(/^envelope field body: /)
    expect(errorOf(raw, 'bid')).toBe('expected a bid message, got job')
    expect(errorOf({ ...raw, body: { specId: 'y' } })).toMatch(/content id/)
    // A body with an own __proto__ member: the schema's copy drops it, so the id is checked over what it would hand on.
    const proto = JSON.parse(JSON.stringify(raw).replace('"body":{', '"body":{"__proto__":{"x":1},')) as Record<string, unknown>
    expect(Object.hasOwn(proto.body as object, '__proto__')).toBe(true)
    expect(plainlyShapedEnvelope(proto)).toBe(false)
    expect(errorOf(proto)).toBe('accepted')
  })
})
