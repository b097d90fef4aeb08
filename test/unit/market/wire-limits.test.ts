/**
 * Every wire limit, walked: each one is accepted exactly at the limit and
 * refused one step past it, by the same code the validators and the doors
 * (API, CLI, SDK) use. A new MAX_/MIN_ constant in src/wire/constants.ts without
 * a case here fails the first test, so no limit goes unwalked.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { beforeAll, describe, expect, it } from 'vitest'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import * as wire from '../../../src/wire/constants.ts'
import { encodeEnvelope, openEnvelope, seal } from '../../../src/wire/envelope.ts'
import { parseJson } from '../../../src/wire/json-input.ts'
import { canonicalBytes } from '../../../src/wire/canonical.ts'
import { bidWindowProblem, ClaimBodySchema, JobBodySchema, MAX_ADVERT_SPECS, MAX_ADVERT_TTL_MS, publishableReason, ReceiptBodySchema } from '../../../src/market/messages.ts'
import { marketContext, validateCapacity, validateJob, type MarketContext } from '../../../src/market/validators.ts'
import { handlerChosenMessage } from '../../../src/market/errors.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import { validateSpec } from '../../../src/spec/index.ts'
import { checkOutput } from '../../../src/spec/check.ts'
import { RawJobSchema } from '../../../src/workflow/schema.ts'
import { normalizedSample, sampleSpec } from '../../helpers/specs.ts'

let signer: Signer
beforeAll(async () => {
  const key = await generateKeyPair('Ed25519')
  signer = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
})

const NOW = 1_800_000_000_000
const hash = 'a'.repeat(64)
const job = (over: Record<string, unknown> = {}) => ({ specId: 'bagaaieraspec', inputHash: hash, inputSize: 10, maxUsd: 0.1, deadline: NOW + 60_000, bidWindowMs: 100, createdAt: NOW, nonce: 'n', ...over })
const claim = (over: Record<string, unknown> = {}) => ({ jobId: 'j', awardId: 'a', outcome: 'error', startedAt: NOW, endedAt: NOW, costUsd: 0, ...over })
const ok = (schema: { safeParse: (v: unknown) => { success: boolean } }, value: unknown): boolean => schema.safeParse(value).success

function ctx (): MarketContext {
  return marketContext({ now: () => NOW, specOf: async () => normalizedSample('limits'), jobs: new RecentJobs() })
}

async function verdict (promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'accept'
  } catch (err) {
    return `${(err as { action?: string }).action}: ${(err as Error).message}`
  }
}

/** limit name → [accepted at the limit, refused past it] */
const walks: Record<string, () => Promise<[boolean, boolean]> | [boolean, boolean]> = {
  MIN_BID_WINDOW_MS: () => [
    ok(JobBodySchema, job({ bidWindowMs: wire.MIN_BID_WINDOW_MS })) && bidWindowProblem(wire.MIN_BID_WINDOW_MS) == null && ok(RawJobSchema, { id: 'a', spec: 's', bidWindowMs: wire.MIN_BID_WINDOW_MS }),
    !ok(JobBodySchema, job({ bidWindowMs: wire.MIN_BID_WINDOW_MS - 1 })) && bidWindowProblem(wire.MIN_BID_WINDOW_MS - 1) != null && !ok(RawJobSchema, { id: 'a', spec: 's', bidWindowMs: wire.MIN_BID_WINDOW_MS - 1 })
  ],
  MAX_BID_WINDOW_MS: () => [
    ok(JobBodySchema, job({ bidWindowMs: wire.MAX_BID_WINDOW_MS })) && bidWindowProblem(wire.MAX_BID_WINDOW_MS) == null && ok(RawJobSchema, { id: 'a', spec: 's', bidWindowMs: wire.MAX_BID_WINDOW_MS }),
    !ok(JobBodySchema, job({ bidWindowMs: wire.MAX_BID_WINDOW_MS + 1 })) && bidWindowProblem(wire.MAX_BID_WINDOW_MS + 1) != null && !ok(RawJobSchema, { id: 'a', spec: 's', bidWindowMs: wire.MAX_BID_WINDOW_MS + 1 })
  ],
  MAX_NONCE_CHARS: () => [ok(JobBodySchema, job({ nonce: 'n'.repeat(wire.MAX_NONCE_CHARS) })), !ok(JobBodySchema, job({ nonce: 'n'.repeat(wire.MAX_NONCE_CHARS + 1) }))],
  MAX_INPUT_BYTES: () => [ok(JobBodySchema, job({ inputSize: wire.MAX_INPUT_BYTES })), !ok(JobBodySchema, job({ inputSize: wire.MAX_INPUT_BYTES + 1 }))],
  MAX_OUTPUT_BYTES: () => {
    const spec = normalizedSample('out', { output: { type: 'object' }, successCriteria: [] })
    // {"p":"…"} is 8 bytes of JSON around the string.
    const sized = (n: number) => ({ p: 'x'.repeat(n - 8) })
    return [checkOutput(spec, null, sized(wire.MAX_OUTPUT_BYTES)).ok, !checkOutput(spec, null, sized(wire.MAX_OUTPUT_BYTES + 1)).ok]
  },
  MAX_REASON_CHARS: () => [
    ok(ClaimBodySchema, claim({ reason: 'r'.repeat(wire.MAX_REASON_CHARS) })) && publishableReason('r'.repeat(wire.MAX_REASON_CHARS)).length === wire.MAX_REASON_CHARS,
    !ok(ClaimBodySchema, claim({ reason: 'r'.repeat(wire.MAX_REASON_CHARS + 1) })) && !ok(ReceiptBodySchema, { reason: 'r'.repeat(wire.MAX_REASON_CHARS + 1) }) &&
      // What the node itself writes is cut to fit, so it can never fail this.
      ok(ClaimBodySchema, claim({ reason: publishableReason('r'.repeat(wire.MAX_REASON_CHARS + 1)) }))
  ],
  MAX_HANDLER_MESSAGE_CHARS: () => [
    handlerChosenMessage(JSON.stringify({ error: 'm'.repeat(wire.MAX_HANDLER_MESSAGE_CHARS) }))?.length === wire.MAX_HANDLER_MESSAGE_CHARS,
    handlerChosenMessage(JSON.stringify({ error: 'm'.repeat(wire.MAX_HANDLER_MESSAGE_CHARS + 1) }))?.length === wire.MAX_HANDLER_MESSAGE_CHARS
  ],
  MAX_JSON_DEPTH: () => {
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n)
    const parses = (n: number) => { try { parseJson(nested(n), { what: 'x' }); return true } catch { return false } }
    return [parses(wire.MAX_JSON_DEPTH), !parses(wire.MAX_JSON_DEPTH + 1)]
  },
  MAX_MESSAGE_BYTES: () => {
    const bytes = encodeEnvelope(seal('job', job(), signer))
    const padded = (n: number) => { const b = new Uint8Array(n).fill(0x20); b.set(bytes); return b }
    const opens = (n: number) => { try { openEnvelope(padded(n)); return true } catch { return false } }
    return [opens(wire.MAX_MESSAGE_BYTES), !opens(wire.MAX_MESSAGE_BYTES + 1)]
  },
  MAX_SPEC_BYTES: () => {
    // Padded through the input schema's description: the canonical body grows by one byte per ASCII character.
    const sized = (extra: number) => validateSpec(sampleSpec('size', { input: { type: 'object', description: 'd'.repeat(1 + extra) } }))
    const base = sized(0)
    if (!base.ok) throw new Error(`sample spec invalid: ${JSON.stringify(base.problems)}`)
    const room = wire.MAX_SPEC_BYTES - canonicalBytes(base.spec).byteLength
    return [sized(room).ok, !sized(room + 1).ok]
  },
  MAX_CLOCK_SKEW_MS: async () => [
    (await verdict(validateJob(encodeEnvelope(seal('job', job({ createdAt: NOW + wire.MAX_CLOCK_SKEW_MS, deadline: NOW + 120_000 }), signer)), ctx()))) !== 'reject' && true,
    (await verdict(validateJob(encodeEnvelope(seal('job', job({ createdAt: NOW + wire.MAX_CLOCK_SKEW_MS + 1, deadline: NOW + 120_000 }), signer)), ctx()))).startsWith('reject')
  ]
}

const marketWalks: Record<string, () => Promise<[boolean, boolean]>> = {
  MAX_ADVERT_TTL_MS: async () => {
    const advert = (ttl: number) => encodeEnvelope(seal('capacity', { specs: [], issuedAt: NOW, expiresAt: NOW + ttl }, signer))
    return [(await verdict(validateCapacity(advert(MAX_ADVERT_TTL_MS), ctx()))) === 'accept', (await verdict(validateCapacity(advert(MAX_ADVERT_TTL_MS + 1), ctx()))).startsWith('reject')]
  },
  MAX_ADVERT_SPECS: async () => {
    const entry = { specId: 's', inFlight: 0, queued: 0, queue: 0, limit: 1, priceUsd: 0 }
    const advert = (n: number) => encodeEnvelope(seal('capacity', { specs: Array.from({ length: n }, () => entry), issuedAt: NOW, expiresAt: NOW + 1000 }, signer))
    return [(await verdict(validateCapacity(advert(MAX_ADVERT_SPECS), ctx()))) === 'accept', (await verdict(validateCapacity(advert(MAX_ADVERT_SPECS + 1), ctx()))).startsWith('reject')]
  }
}

describe('every wire limit is walked', () => {
  it('has a walk for every MAX_/MIN_ constant of src/wire/constants.ts', () => {
    const limits = Object.keys(wire).filter(k => /^(MAX|MIN)_/.test(k))
    expect(limits.filter(k => !(k in walks))).toEqual([])
  })

  for (const [name, walk] of Object.entries({ ...walks, ...marketWalks })) {
    it(`${name}: accepted at the limit, refused one past it`, async () => {
      const [atLimit, past] = await walk()
      expect({ name, atLimit, past }).toEqual({ name, atLimit: true, past: true })
    })
  }
})
