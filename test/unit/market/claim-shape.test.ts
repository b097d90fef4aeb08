import { describe, expect, it } from 'vitest'
import { contentId } from '../../../src/crypto/content-id.ts'
import { EnvelopeSchema, encodeEnvelope, seal, verifyEnvelope } from '../../../src/wire/envelope.ts'
import { ClaimBodySchema } from '../../../src/market/messages.ts'
import { plainlyShapedClaim } from '../../../src/market/claim-shape.ts'
import { checkBody, verifyClaim } from '../../../src/market/validators.ts'
import { MessageValidationError } from '../../../src/wire/errors.ts'
import { testKey } from '../../helpers/receipts.ts'

/** What the schemas say of a parsed claim envelope: the verdict the shortcut must never contradict. */
const schemasAccept = (raw: unknown): boolean => {
  const envelope = EnvelopeSchema.safeParse(raw)
  return envelope.success && envelope.data.type === 'claim' && ClaimBodySchema.safeParse(envelope.data.body).success
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/** A claim signed by an agent (with `changes` to its body, still signed), parsed as it arrives. */
async function sentClaim (changes: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const agent = await testKey(31)
  const claim = seal('claim', { awardId: contentId({ award: 1 }), jobId: contentId({ job: 1 }), outcome: 'success', outputHash: 'cd'.repeat(32), outputSize: 12, startedAt: 1, endedAt: 2, costUsd: 0.01, ...changes }, agent)
  return JSON.parse(new TextDecoder().decode(encodeEnvelope(claim))) as Record<string, unknown>
}

/** The error verifyClaim gave before the shortcut: both schemas, in order. */
const schemaError = (raw: unknown): string => {
  try {
    checkBody(verifyEnvelope(raw, { expectType: 'claim' }), 'claim', ClaimBodySchema)
  } catch (err) {
    return (err as Error).message
  }
  return 'accepted'
}
const errorOf = (raw: unknown): string => {
  try {
    verifyClaim(raw)
  } catch (err) {
    return (err as Error).message
  }
  return 'accepted'
}

const odd: unknown[] = [undefined, null, true, false, 0, -0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e308, Infinity, NaN, MAX_OUTPUT_PLUS_ONE(), '', 'x', 'x'.repeat(128), 'x'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), 'CD'.repeat(32), 'cd'.repeat(31), 'cd'.repeat(32), 'A'.repeat(86), 'A'.repeat(85), 'claim', 'success', {}, [], [1], { a: 1 }]
function MAX_OUTPUT_PLUS_ONE (): number { return 1024 * 1024 + 1 }

describe('a claim\'s shape checked by hand (claim-shape.ts)', () => {
  it('passes a claim as an agent sends it, as the schemas do', async () => {
    const raw = await sentClaim()
    expect(plainlyShapedClaim(raw)).toBe(true)
    expect(schemasAccept(raw)).toBe(true)
    for (const outcome of ['refused', 'error', 'timeout', 'cancelled']) {
      const refused = clone(raw)
      const body = refused.body as Record<string, unknown>
      delete body.outputHash
      delete body.outputSize
      Object.assign(body, { outcome, reason: 'busy', retryAfterMs: 500, stopping: true })
      expect(plainlyShapedClaim(refused)).toBe(true)
      expect(schemasAccept(refused)).toBe(true)
    }
  })

  it('never passes what either schema refuses: every field of envelope and body, set to odd values, dropped, or joined by another', async () => {
    const raw = await sentClaim()
    const cases: unknown[] = [null, [], 'claim', Object.assign(Object.create({ inherited: 1 }), raw)]
    const envelopeKeys = ['type', 'v', 'id', 'body', 'signer', 'sig', 'extra', '__proto__']
    const bodyKeys = ['jobId', 'awardId', 'outcome', 'outputHash', 'outputSize', 'startedAt', 'endedAt', 'costUsd', 'reason', 'retryAfterMs', 'stopping', 'extra', '__proto__']
    for (const key of envelopeKeys) {
      const dropped = clone(raw)
      delete dropped[key]
      cases.push(dropped)
      for (const value of odd) cases.push(Object.defineProperty(clone(raw), key, { value, enumerable: true, configurable: true, writable: true }))
    }
    for (const key of bodyKeys) {
      const dropped = clone(raw)
      delete (dropped.body as Record<string, unknown>)[key]
      cases.push(dropped)
      for (const value of odd) {
        const changed = clone(raw)
        Object.defineProperty(changed.body, key, { value, enumerable: true, configurable: true, writable: true })
        cases.push(changed)
      }
    }
    let passed = 0
    let refusedByBoth = 0
    for (const value of cases) {
      const shortcut = plainlyShapedClaim(value)
      if (shortcut) {
        passed++
        expect(schemasAccept(value), JSON.stringify(value)).toBe(true)
      } else if (!schemasAccept(value)) refusedByBoth++
    }
    // The comparison is not empty on either side: many cases pass, many more are refused.
    expect(passed).toBeGreaterThan(20)
    expect(refusedByBoth).toBeGreaterThan(200)
  })

  it('refuses a malformed claim with the schemas\' words, and a well-formed one whose signature fails', async () => {
    const raw = await sentClaim()
    // Signed by the agent, so only the shape is wrong.
    for (const changes of [{ extra: 1 }, { startedAt: -1 }, { outcome: 'won' }, { reason: 'x'.repeat(2001) }, { stopping: false }, { outputHash: 'CD'.repeat(32) }]) {
      const bad = await sentClaim(changes)
      expect(errorOf(bad)).toMatch(/^claim field /)
      expect(errorOf(bad)).toBe(schemaError(bad))
    }
    const wrongType = { ...clone(raw), type: 'bid' }
    expect(errorOf(wrongType)).toBe(schemaError(wrongType))
    const forged = clone(raw)
    ;(forged.body as Record<string, unknown>).costUsd = 5
    expect(() => verifyClaim(forged)).toThrow(MessageValidationError)
    expect(() => verifyClaim(forged)).toThrow(/content id/)
    expect(verifyClaim(clone(raw)).id).toBe(raw.id)
  })
})
