import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, seal } from '../../../src/wire/envelope.ts'
import { validateReceipt } from '../../../src/market/validators.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import { MessageValidationError } from '../../../src/wire/errors.ts'
import type { ClaimBody, ReceiptBody } from '../../../src/market/messages.ts'
import { specId } from '../../../src/spec/index.ts'
import { ReceiptVerifierPool } from '../../../src/reputation/verify-pool.ts'
import { normalizedSample } from '../../helpers/specs.ts'

async function newSigner (): Promise<Signer> {
  const key = await generateKeyPair('Ed25519')
  return signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
}

const spec = normalizedSample('pool-spec')
const id = specId(spec)
const pool = new ReceiptVerifierPool({ threads: 2, specs: [[id, spec]] })
afterAll(async () => { await pool.close() })

function signedReceipt (coordinator: Signer, agent: Signer, overrides: Partial<ReceiptBody> = {}, n = 0): Uint8Array {
  const now = Date.now()
  const outputHash = 'a'.repeat(64)
  const claim = seal('claim', { jobId: `job-${n}`, awardId: `award-${n}`, outcome: 'success', outputHash, outputSize: 10, startedAt: now - 100, endedAt: now, costUsd: 0.1 } satisfies ClaimBody, agent)
  const body: ReceiptBody = { specId: id, jobId: `job-${n}`, awardId: `award-${n}`, agent: agent.peerId, attempt: 1, inputHash: 'b'.repeat(64), outputHash, startedAt: now - 100, endedAt: now, deadline: now + 1000, costUsd: 0.1, outcome: 'success', claim: claim as ReceiptBody['claim'], verdictAt: now, ...overrides }
  return encodeEnvelope(seal('receipt', body, coordinator))
}

async function verdictOf (bytes: Uint8Array): Promise<string | null> {
  try {
    await validateReceipt(bytes, { now: Date.now, specOf: async s => s === id ? spec : null, jobs: new RecentJobs(1) })
    return null
  } catch (err) {
    return `${(err as MessageValidationError).action}:${(err as MessageValidationError).code}`
  }
}

describe('ReceiptVerifierPool', () => {
  it('gives every message the verdict the market\'s validateReceipt gives, in order', async () => {
    const [coordinator, agent, other] = await Promise.all([newSigner(), newSigner(), newSigner()])
    const good = Array.from({ length: 40 }, (_, n) => signedReceipt(coordinator, agent, {}, n))
    const forged = JSON.parse(new TextDecoder().decode(signedReceipt(coordinator, agent, {}, 100)))
    forged.signer = other.peerId
    const messages = [
      ...good,
      new TextEncoder().encode(JSON.stringify(forged)),
      signedReceipt(agent, agent, {}, 101),
      signedReceipt(coordinator, agent, { specId: 'bagaaieraunknown' }, 102),
      signedReceipt(coordinator, agent, { agent: other.peerId }, 103),
      new TextEncoder().encode('not json')
    ]
    const results = await pool.verify(messages)
    expect(results.length).toBe(messages.length)
    expect(results.slice(0, 40).every(r => r == null)).toBe(true)
    for (const [i, message] of messages.entries()) {
      const result = results[i]
      expect(result == null ? null : `${result.action}:${result.code}`).toBe(await verdictOf(message))
    }
    expect(results.slice(40).map(r => r?.code)).toEqual(['bad-signature', 'self-receipt', expect.any(String), 'claim-signer', 'not-json'])
  })

  it('learns specs added after it started', async () => {
    const [coordinator, agent] = await Promise.all([newSigner(), newSigner()])
    const later = normalizedSample('pool-spec-later')
    const laterId = specId(later)
    const message = signedReceipt(coordinator, agent, { specId: laterId }, 200)
    expect((await pool.verify([message]))[0]?.code).toBe('unknown-spec')
    pool.addSpec(laterId, later)
    expect((await pool.verify([message]))[0]).toBeNull()
  })
})
