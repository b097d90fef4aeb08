import { describe, expect, it } from 'vitest'
import { contentId } from '../../../src/crypto/content-id.ts'
import { encodeEnvelope, seal } from '../../../src/wire/envelope.ts'
import { JobBodySchema, ReceiptBodySchema, type JobBody, type ReceiptBody } from '../../../src/market/messages.ts'
import { LeaseAwardBodySchema, type LeaseAwardBody } from '../../../src/market/lease-messages.ts'
import { plainlyShapedJobBody, plainlyShapedLeaseAwardBody, plainlyShapedReceiptBody } from '../../../src/market/body-shapes.ts'
import { checkBody } from '../../../src/market/validators.ts'
import type { z } from 'zod'
import { testKey } from '../../helpers/receipts.ts'
import { alteredCopies, compareWithSchema, ODD_VALUES } from '../../helpers/shape-cases.ts'

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T
const accepts = (schema: z.ZodType) => (value: unknown): boolean => schema.safeParse(value).success

const JOB_KEYS = ['specId', 'inputHash', 'inputSize', 'maxUsd', 'softDeadline', 'deadline', 'bidWindowMs', 'createdAt', 'nonce']
const CLAIM_BODY_KEYS = ['jobId', 'awardId', 'outcome', 'outputHash', 'outputSize', 'startedAt', 'endedAt', 'costUsd', 'reason', 'retryAfterMs', 'stopping']

async function samples (): Promise<{ job: JobBody, award: LeaseAwardBody, receipt: ReceiptBody, timeout: ReceiptBody, peers: string[] }> {
  const agent = await testKey(51)
  const coordinator = await testKey(52)
  const now = 1_760_000_000_000
  const job: JobBody = { specId: contentId({ spec: 1 }), inputHash: 'ab'.repeat(32), inputSize: 12, maxUsd: 0.05, softDeadline: now + 5000, deadline: now + 10_000, bidWindowMs: 50, createdAt: now, nonce: 'n0nce' }
  const award: LeaseAwardBody = { leaseId: contentId({ lease: 1 }), jobId: contentId(job), job, agent: agent.peerId, priceUsd: 0.01, attempt: 1, issuedAt: now + 1 }
  const claim = seal('claim', { jobId: award.jobId, awardId: contentId({ award: 1 }), outcome: 'success', outputHash: 'cd'.repeat(32), outputSize: 30, startedAt: now + 2, endedAt: now + 3, costUsd: 0.01 }, agent)
  const receipt: ReceiptBody = { specId: job.specId, jobId: award.jobId, awardId: claim.body.awardId, agent: agent.peerId, attempt: 1, inputHash: job.inputHash, outputHash: 'cd'.repeat(32), startedAt: now + 2, endedAt: now + 3, deadline: job.deadline, costUsd: 0.01, outcome: 'success', claim: JSON.parse(new TextDecoder().decode(encodeEnvelope(claim))), verdictAt: now + 4 }
  const timeout: ReceiptBody = { ...receipt, outcome: 'timeout', reason: 'no answer', costUsd: 0, claim: null }
  delete timeout.outputHash
  return { job: clone(job), award: clone(award), receipt: clone(receipt), timeout: clone(timeout), peers: [agent.peerId, coordinator.peerId] }
}

/** Odd values and, for PeerId members, a PeerId in another spelling is not needed: a canonical one and a near miss are. */
const values = (peers: string[]): unknown[] => [...ODD_VALUES, ...peers, `${peers[0]!.slice(0, -1)}x`, peers[0]!.toLowerCase()]

describe('the bodies of a leased job\'s frames checked by hand (body-shapes.ts)', () => {
  it('passes the bodies a coordinator and an agent send, as the schemas do', async () => {
    const { job, award, receipt, timeout } = await samples()
    const noSoft = clone(job)
    delete noSoft.softDeadline
    for (const [body, shortcut, schema] of [[job, plainlyShapedJobBody, JobBodySchema], [noSoft, plainlyShapedJobBody, JobBodySchema], [award, plainlyShapedLeaseAwardBody, LeaseAwardBodySchema], [receipt, plainlyShapedReceiptBody, ReceiptBodySchema], [timeout, plainlyShapedReceiptBody, ReceiptBodySchema]] as const) {
      expect(shortcut(body)).toBe(true)
      expect(accepts(schema)(body)).toBe(true)
    }
  })

  it('never passes what the schema refuses: every member, the job\'s and the embedded claim\'s included, set to odd values, dropped, hidden or joined by another', async () => {
    const { job, award, receipt, timeout, peers } = await samples()
    const suites: Array<[string, Record<string, unknown>, (v: unknown) => boolean, z.ZodType, Array<{ path: string[], keys: string[] }>]> = [
      ['job', job, plainlyShapedJobBody, JobBodySchema, [{ path: [], keys: JOB_KEYS }]],
      ['lease-award', award, plainlyShapedLeaseAwardBody, LeaseAwardBodySchema, [{ path: [], keys: ['leaseId', 'jobId', 'job', 'agent', 'priceUsd', 'attempt', 'issuedAt'] }, { path: ['job'], keys: JOB_KEYS }]],
      ['receipt', receipt, plainlyShapedReceiptBody, ReceiptBodySchema, [
        { path: [], keys: ['specId', 'jobId', 'awardId', 'agent', 'attempt', 'inputHash', 'outputHash', 'startedAt', 'endedAt', 'deadline', 'costUsd', 'outcome', 'reason', 'claim', 'verdictAt'] },
        { path: ['claim'], keys: ['type', 'v', 'id', 'body', 'signer', 'sig'] },
        { path: ['claim', 'body'], keys: CLAIM_BODY_KEYS }
      ]],
      ['timeout receipt', timeout, plainlyShapedReceiptBody, ReceiptBodySchema, [{ path: [], keys: ['outcome', 'reason', 'claim', 'outputHash', 'costUsd'] }]]
    ]
    for (const [name, body, shortcut, schema, places] of suites) {
      const cases = alteredCopies(body, places, values(peers))
      const { passed, refusedByBoth, contradicted } = compareWithSchema(cases, shortcut, accepts(schema))
      expect(contradicted, name).toEqual([])
      expect(passed, name).toBeGreaterThan(10)
      expect(refusedByBoth, name).toBeGreaterThan(100)
    }
  })

  it('leaves a malformed body to the schema: refused with its words, as before', async () => {
    const { award, receipt } = await samples()
    const signer = await testKey(53)
    const bad = { ...award, job: { ...award.job, bidWindowMs: 0 } }
    const envelope = JSON.parse(new TextDecoder().decode(encodeEnvelope(seal('lease-award', bad, signer))))
    expect(() => checkBody(envelope, 'lease-award', LeaseAwardBodySchema, plainlyShapedLeaseAwardBody)).toThrow(/^lease-award field job\.bidWindowMs: /)
    const badClaim = clone(receipt)
    ;(badClaim.claim!.body as Record<string, unknown>).outcome = 'won'
    const receiptEnvelope = JSON.parse(new TextDecoder().decode(encodeEnvelope(seal('receipt', badClaim, signer))))
    expect(() => checkBody(receiptEnvelope, 'receipt', ReceiptBodySchema, plainlyShapedReceiptBody)).toThrow(/^receipt field claim\.body\.outcome: /)
  })
})
