import { describe, expect, it } from 'vitest'
import { encodeEnvelope, seal, type Envelope } from '../../../src/wire/envelope.ts'
import { MessageValidationError } from '../../../src/wire/errors.ts'
import type { ClaimBody, ReceiptBody } from '../../../src/market/messages.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import { marketContext, validateReceipt, type BaseContext } from '../../../src/market/validators.ts'
import { specId as idOfSpec } from '../../../src/spec/index.ts'
import { normalizedSample } from '../../helpers/specs.ts'
import { testKey } from '../../helpers/receipts.ts'

/**
 * A receipt's embedded claim is checked once: its shape by the receipt schema,
 * its body canonicalized as part of the receipt's, then its id and signature.
 * Whatever would fail the claim on its own still fails it inside the receipt.
 */
const spec = normalizedSample('receipt-claim-unit')
const SPEC = idOfSpec(spec)
const NOW = 1_800_000_000_000
const ctx: BaseContext = marketContext({ now: () => NOW, specOf: async id => id === SPEC ? spec : null, knowsSpec: id => id === SPEC, jobs: new RecentJobs() })
const HASH = 'b'.repeat(64)

async function parties (): Promise<{ coordinator: Awaited<ReturnType<typeof testKey>>, agent: Awaited<ReturnType<typeof testKey>> }> {
  return { coordinator: await testKey(31), agent: await testKey(32) }
}

function claimOf (agent: Awaited<ReturnType<typeof testKey>>, i: number): Envelope<ClaimBody> {
  return seal('claim', { jobId: `bagaaierajob${i}`, awardId: `bagaaieraaward${i}`, outcome: 'success', outputHash: HASH, outputSize: 10, startedAt: NOW - 50, endedAt: NOW - 40, costUsd: 0.01 }, agent)
}

function receiptBytes (coordinator: Awaited<ReturnType<typeof testKey>>, agent: string, claim: unknown, i: number): Uint8Array {
  return encodeEnvelope(seal('receipt', {
    specId: SPEC, jobId: `bagaaierajob${i}`, awardId: `bagaaieraaward${i}`, agent, attempt: 1, inputHash: 'a'.repeat(64), outputHash: HASH,
    startedAt: NOW - 50, endedAt: NOW - 40, deadline: NOW + 60_000, costUsd: 0.01, outcome: 'success', claim: claim as ReceiptBody['claim'], verdictAt: NOW - 30
  }, coordinator))
}

async function codeOf (promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (err instanceof MessageValidationError) return `${err.action} ${err.code}`
    throw err
  }
  return 'accepted'
}

describe('the claim inside a receipt', () => {
  it('passes when the agent signed it', async () => {
    const { coordinator, agent } = await parties()
    const { envelope } = await validateReceipt(receiptBytes(coordinator, agent.peerId, claimOf(agent, 1), 1), ctx, SPEC)
    expect(envelope.body.claim?.signer).toBe(agent.peerId)
  })

  it('is refused with another claim\'s signature, a changed body, or a signature that is not one', async () => {
    const { coordinator, agent } = await parties()
    const claim = claimOf(agent, 2)
    const other = claimOf(agent, 3)
    expect(await codeOf(validateReceipt(receiptBytes(coordinator, agent.peerId, { ...claim, sig: other.sig }, 2), ctx, SPEC))).toBe('reject bad-signature')
    expect(await codeOf(validateReceipt(receiptBytes(coordinator, agent.peerId, { ...claim, body: { ...claim.body, costUsd: 0.02 } }, 2), ctx, SPEC))).toBe('reject id-mismatch')
    expect(await codeOf(validateReceipt(receiptBytes(coordinator, agent.peerId, { ...claim, sig: 'not-a-signature' }, 2), ctx, SPEC))).toBe('reject bad-body')
    expect(await codeOf(validateReceipt(receiptBytes(coordinator, agent.peerId, { ...claim, extra: 1 }, 2), ctx, SPEC))).toBe('reject bad-body')
  })
})
