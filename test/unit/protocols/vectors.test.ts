import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { canonicalize, NotCanonicalizableError } from '../../../src/wire/canonical.ts'
import { CapacityTable } from '../../../src/market/capacity-table.ts'
import { contentId, hashHex } from '../../../src/crypto/content-id.ts'
import { peerIdOfKey, rawPublicKeyOf } from '../../../src/crypto/signatures.ts'
import { openEnvelope, type Envelope, type MessageType } from '../../../src/wire/envelope.ts'
import { MAX_MESSAGE_BYTES } from '../../../src/wire/constants.ts'
import { ignore, MessageValidationError } from '../../../src/wire/errors.ts'
import { AwardBodySchema, BidBodySchema, CapacityBodySchema, ClaimBodySchema, JobBodySchema, ReceiptBodySchema, type JobBody } from '../../../src/market/messages.ts'
import { marketContext, validateAward, validateBid, validateCapacity, validateJob, validateReceipt, type MarketContext } from '../../../src/market/validators.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import { LeaseAwardBodySchema, LeaseBidBodySchema, LeaseBodySchema, LeaseCallBodySchema, LeaseEndBodySchema, type LeaseCallBody } from '../../../src/market/lease-messages.ts'
import { LeaseCalls, leaseContext, validateLeaseMessage } from '../../../src/market/lease-validators.ts'
import { acceptedAnswer, MAX_BID_FRAME_BYTES, refusalClosesStream, refusedAnswer } from '../../../src/market/bid-protocol.ts'
import { acceptStreamBid } from '../../../src/market/stream-bids.ts'
import { encodeVarint } from '../../../src/net/frames.ts'
import { verifyReceipt } from '../../../src/market/receipt-verify.ts'
import { ReceiptBatchSchema, validateReceiptBatch } from '../../../src/market/receipt-batch.ts'
import { specTopicValidator } from '../../../src/net/spec-topic.ts'
import { validateOwnReceipt } from '../../../src/market/receipt-ingest.ts'
import { SpecSchema, type Spec } from '../../../src/spec/index.ts'
import type { SpecStore } from '../../../src/store/spec-store.ts'
import type { StoredSpec } from '../../../src/node-types.ts'
import { renderAllVectors, SEEDS, VECTOR_DIR } from '../../../scripts/gen-vectors.ts'

interface KeyInfo { role: keyof typeof SEEDS, seedHex: string, publicKeyHex: string, peerId: string }
interface TopicContext { now: number, holdsSpecs: string[], seenJobs: string[], heldAdverts?: Array<{ signer: string, issuedAt: number }>, seenLeaseCalls?: string[] }
interface Negative { name: string, envelopeJson?: string, bytesHex?: string, expectType?: MessageType, context?: TopicContext, expect: { action: 'reject' | 'ignore', code: string } }
interface Payload { value: unknown, canonical: string, sha256Hex: string, size: number }
interface TopicNegatives { context: TopicContext, negative: Negative[] }
interface PositiveFile {
  type: MessageType
  topic?: TopicNegatives
  key: KeyInfo
  body: Record<string, unknown>
  canonicalBody: string
  signingPayload: string
  id: string
  sig: string
  sigHex: string
  envelope: Envelope
  envelopeJson: string
  negative: Negative[]
  input?: Payload
  output?: Payload
}
interface BidStreamFile {
  context: TopicNegatives['context']
  coordinator: string
  maxFrameBytes: number
  frames: Array<{ name: string, peer: string, envelopeJson: string, answer: Record<string, unknown>, closes: boolean }>
  oversized: { lengthPrefixHex: string }
}
interface ReceiptFrameFile {
  context: TopicNegatives['context']
  agent: string
  frames: Array<{ name: string, peer: string, envelopeJson: string, verdict: { action: string, code?: string }, resets: boolean }>
}
interface CanonicalCase { name: string, json: string, canonical: string, canonicalUtf8Hex: string, ieee754Hex?: string }
interface RefusedCase { name: string, json: string }

const POSITIVE_FILES = ['spec.json', 'job.json', 'bid.json', 'award.json', 'award-embedding-bids.json', 'claim.json', 'receipt.json', 'capacity.json', 'lease-call.json', 'lease-bid.json', 'lease.json', 'lease-award.json', 'lease-claim.json', 'lease-receipt.json', 'lease-end.json'] as const
const BODY_SCHEMAS = { spec: SpecSchema, job: JobBodySchema, bid: BidBodySchema, award: AwardBodySchema, claim: ClaimBodySchema, receipt: ReceiptBodySchema, capacity: CapacityBodySchema, 'lease-call': LeaseCallBodySchema, 'lease-bid': LeaseBidBodySchema, lease: LeaseBodySchema, 'lease-award': LeaseAwardBodySchema, 'lease-end': LeaseEndBodySchema } as const

const encoder = new TextEncoder()
const utf8 = (text: string): Uint8Array => encoder.encode(text)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

async function load<T> (file: string): Promise<T> {
  return JSON.parse(await readFile(join(VECTOR_DIR, file), 'utf8')) as T
}

// Independent re-implementations of the id and PeerId encodings, from protocols/README.md
// and protocols/envelope.md, so the vectors are checked against the text, not only the code.
function base32Lower (bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

function base58btc (bytes: Uint8Array): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = BigInt('0x' + (hex(bytes) || '0'))
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  for (const byte of bytes) {
    if (byte !== 0) break
    out = '1' + out
  }
  return out
}

function idFromFirstPrinciples (canonical: string): string {
  const digest = createHash('sha256').update(utf8(canonical)).digest()
  return 'b' + base32Lower(Buffer.concat([Buffer.from([0x01, 0x80, 0x04, 0x12, 0x20]), digest]))
}

function peerIdFromFirstPrinciples (publicKey: Uint8Array): string {
  return base58btc(Buffer.concat([Buffer.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]), publicKey]))
}

function bytesOf (vector: Negative): Uint8Array {
  if (vector.bytesHex != null) return Buffer.from(vector.bytesHex, 'hex')
  return utf8(vector.envelopeJson!)
}

function expectRejection (vector: Negative): void {
  let thrown: unknown
  try {
    openEnvelope(bytesOf(vector), vector.expectType != null ? { expectType: vector.expectType } : {})
  } catch (err) {
    thrown = err
  }
  expect(thrown, `${vector.name} should be refused`).toBeInstanceOf(MessageValidationError)
  const error = thrown as MessageValidationError
  expect({ name: vector.name, action: error.action, code: error.code }).toEqual({ name: vector.name, ...vector.expect })
}

describe('protocols/vectors: signed messages', async () => {
  const files = new Map<string, PositiveFile>()
  for (const file of POSITIVE_FILES) files.set(file, await load<PositiveFile>(file))

  for (const file of POSITIVE_FILES) {
    describe(file, () => {
      const vector = files.get(file)!

      it('documents a key that derives from its seed', async () => {
        const seed = Buffer.from(vector.key.seedHex, 'hex')
        expect(seed.byteLength).toBe(32)
        expect(vector.key.seedHex).toBe(SEEDS[vector.key.role].hex)
        const key = await generateKeyPairFromSeed('Ed25519', seed)
        expect(peerIdFromPrivateKey(key).toString()).toBe(vector.key.peerId)
        expect(hex(key.publicKey.raw)).toBe(vector.key.publicKeyHex)
        expect(hex(nacl.sign.keyPair.fromSeed(seed).publicKey)).toBe(vector.key.publicKeyHex)
        expect(peerIdFromFirstPrinciples(Buffer.from(vector.key.publicKeyHex, 'hex'))).toBe(vector.key.peerId)
        expect(vector.envelope.signer).toBe(vector.key.peerId)
      })

      it('has the canonical body, signing payload and id recomputed from the body', () => {
        expect(canonicalize(vector.body)).toBe(vector.canonicalBody)
        expect(vector.signingPayload).toBe(`{"body":${vector.canonicalBody},"type":${JSON.stringify(vector.type)},"v":1}`)
        expect(canonicalize({ v: 1, type: vector.type, body: vector.body })).toBe(vector.signingPayload)
        expect(contentId(vector.body)).toBe(vector.id)
        expect(idFromFirstPrinciples(vector.canonicalBody)).toBe(vector.id)
        expect(vector.id).toMatch(/^bagaaiera[a-z2-7]{52}$/)
      })

      it('has an envelope that is exactly the pieces, and the JSON text of it', () => {
        expect(vector.envelope).toEqual({ type: vector.type, v: 1, id: vector.id, body: vector.body, signer: vector.key.peerId, sig: vector.sig })
        expect(JSON.parse(vector.envelopeJson)).toEqual(vector.envelope)
        expect(hex(Buffer.from(vector.sig, 'base64url'))).toBe(vector.sigHex)
        expect(Buffer.from(vector.sigHex, 'hex').toString('base64url')).toBe(vector.sig)
      })

      it('opens with openEnvelope', () => {
        const opened = openEnvelope(utf8(vector.envelopeJson), { expectType: vector.type })
        expect(opened).toEqual(vector.envelope)
      })

      it('verifies with tweetnacl, independently of node:crypto', async () => {
        const publicKey = rawPublicKeyOf(vector.envelope.signer)
        expect(publicKey).not.toBeNull()
        expect(hex(publicKey!)).toBe(vector.key.publicKeyHex)
        const sig = Buffer.from(vector.sigHex, 'hex')
        expect(nacl.sign.detached.verify(utf8(vector.signingPayload), sig, publicKey!)).toBe(true)
        // Ed25519 is deterministic: tweetnacl makes the very same signature from the seed.
        const pair = nacl.sign.keyPair.fromSeed(Buffer.from(vector.key.seedHex, 'hex'))
        expect(hex(nacl.sign.detached(utf8(vector.signingPayload), pair.secretKey))).toBe(vector.sigHex)
      })

      it('has a body that matches its type\'s schema', () => {
        const parsed = BODY_SCHEMAS[vector.type as keyof typeof BODY_SCHEMAS].safeParse(vector.body)
        expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true)
      })

      it('has payloads whose canonical text, hash and size agree', () => {
        for (const payload of [vector.input, vector.output]) {
          if (payload == null) continue
          expect(canonicalize(payload.value)).toBe(payload.canonical)
          expect(hashHex(utf8(payload.canonical))).toBe(payload.sha256Hex)
          expect(createHash('sha256').update(payload.canonical, 'utf8').digest('hex')).toBe(payload.sha256Hex)
          expect(utf8(payload.canonical).byteLength).toBe(payload.size)
        }
      })

      it('has negative vectors that are rejected with their codes', () => {
        expect(vector.negative.map(n => n.name)).toEqual(['tampered-body', 'tampered-body-new-id', 'wrong-signer', 'wrong-id', 'type-replay', 'unexpected-type'])
        for (const negative of vector.negative) expectRejection(negative)
      })
    })
  }

  describe('topic rules', () => {
    const spec = files.get('spec.json')!
    const job = files.get('job.json')!

    /** A node in the state the vector file describes: its clock, the specs it holds, the jobs it has seen. */
    function nodeIn (context: TopicNegatives['context']): { ctx: MarketContext, specs: SpecStore } {
      const stored = new Map<string, StoredSpec>()
      for (const id of context.holdsSpecs) {
        expect(id).toBe(spec.id)
        stored.set(id, { id, spec: spec.body as unknown as Spec, signer: spec.key.peerId, sig: spec.sig, receivedAt: 0 })
      }
      const jobs = new RecentJobs()
      for (const id of context.seenJobs) {
        expect(id).toBe(job.id)
        jobs.add({ jobId: id, coordinator: job.key.peerId, body: job.body as unknown as JobBody, publishedAt: (job.body as unknown as JobBody).createdAt })
      }
      const specs = {
        has: (id: string) => stored.has(id),
        get: async (id: string) => stored.get(id) ?? null,
        put: async (record: StoredSpec) => { stored.set(record.id, record) }
      } as unknown as SpecStore
      return { ctx: marketContext({ now: () => context.now, specOf: async id => stored.get(id)?.spec ?? null, jobs }), specs }
    }

    const leaseCall = files.get('lease-call.json')!
    /** The leases topic's validator in the file's context: the lease calls it has seen. */
    const leaseTopic = async (data: Uint8Array, context: TopicNegatives['context']): Promise<unknown> => {
      const calls = new LeaseCalls()
      for (const id of context.seenLeaseCalls ?? []) {
        expect(id).toBe(leaseCall.id)
        calls.add({ callId: id, coordinator: leaseCall.key.peerId, body: leaseCall.body as unknown as LeaseCallBody }, context.now)
      }
      const stored = nodeIn(context).ctx
      return await validateLeaseMessage(data, leaseContext({ now: () => context.now, specOf: stored.specOf }, calls))
    }
    const validators: Record<string, (data: Uint8Array, context: TopicNegatives['context']) => Promise<unknown>> = {
      'lease-call': leaseTopic,
      'lease-bid': leaseTopic,
      lease: leaseTopic,
      spec: async (data, context) => { await specTopicValidator({ specs: nodeIn(context).specs, now: () => context.now })(data) },
      job: async (data, context) => await validateJob(data, nodeIn(context).ctx),
      bid: async (data, context) => await validateBid(data, nodeIn(context).ctx),
      award: async (data, context) => await validateAward(data, nodeIn(context).ctx),
      receipt: async (data, context) => await validateReceipt(data, nodeIn(context).ctx),
      // As src/market/market.ts wires it: the topic validator, then the table that keeps the newest advert per agent.
      capacity: async (data, context) => {
        const table = new CapacityTable(() => context.now)
        for (const held of context.heldAdverts ?? []) table.update(held.signer, { specs: [], issuedAt: held.issuedAt, expiresAt: held.issuedAt + 1 })
        const advert = await validateCapacity(data, nodeIn(context).ctx)
        if (!table.update(advert.signer, advert.body)) throw ignore('stale', 'an advert at least as new from this agent is held')
      }
    }

    for (const file of POSITIVE_FILES) {
      const vector = files.get(file)!
      if (vector.topic == null) continue
      const topic = vector.topic
      const validate = validators[vector.type]!

      it(`${file}: the positive vector is accepted in the topic's context`, async () => {
        await validate(utf8(vector.envelopeJson), topic.context)
      })

      for (const negative of topic.negative) {
        it(`${file}: ${negative.name} → ${negative.expect.action} ${negative.expect.code}`, async () => {
          const envelope = openEnvelope(bytesOf(negative), { expectType: vector.type })
          expect(envelope.id).toBe(contentId(envelope.body))
          let thrown: unknown
          try {
            await validate(bytesOf(negative), negative.context ?? topic.context)
          } catch (err) {
            thrown = err
          }
          expect(thrown, `${negative.name} should not be accepted`).toBeInstanceOf(MessageValidationError)
          const error = thrown as MessageValidationError
          expect({ action: error.action, code: error.code }).toEqual(negative.expect)
        })
      }
    }

    it('covers every topic', () => {
      expect(POSITIVE_FILES.filter(f => files.get(f)!.topic != null)).toEqual(['spec.json', 'job.json', 'bid.json', 'award.json', 'award-embedding-bids.json', 'receipt.json', 'capacity.json', 'lease-call.json', 'lease-bid.json', 'lease.json'])
    })

    describe('receipt-frame.json: receipt frames on the execution stream as the receipt\'s agent judges them', () => {
      it('gives each frame the verdict the file says, in order, and resets the stream where it says', async () => {
        const file = await load<ReceiptFrameFile>('receipt-frame.json')
        const { ctx } = nodeIn(file.context)
        const held = new Set<string>()
        for (const frame of file.frames) {
          let verdict: { action: string, code?: string }
          try {
            const envelope = await validateOwnReceipt(utf8(frame.envelopeJson), ctx, file.agent, frame.peer)
            if (held.has(envelope.id)) throw ignore('duplicate', 'already held')
            held.add(envelope.id)
            verdict = { action: 'accept' }
          } catch (err) {
            expect(err, frame.name).toBeInstanceOf(MessageValidationError)
            verdict = { action: (err as MessageValidationError).action, code: (err as MessageValidationError).code }
          }
          // The agent resets the stream on a Reject (agent.ts takeReceipt), never on an Ignore.
          expect({ name: frame.name, verdict, resets: verdict.action === 'reject' }).toEqual({ name: frame.name, verdict: frame.verdict, resets: frame.resets })
        }
        expect(file.frames.map(f => f.name)).toEqual(['kept', 'duplicate', 'not-the-coordinator', 'another-agents-work', 'altered'])
      })
    })

    describe('bid-stream.json: the bid stream as the job\'s coordinator judges it', () => {
      it('answers each frame in order as the file says, and closes the stream where it says', async () => {
        const stream = await load<BidStreamFile>('bid-stream.json')
        const { ctx } = nodeIn(stream.context)
        // The coordinator's one open job is the job vector; its auction takes one bid per agent.
        const bidders = new Set<string>()
        const accept = acceptStreamBid({
          ctx: { ...ctx, self: stream.coordinator },
          ownsOpenJob: id => id === job.id,
          take: envelope => {
            if (bidders.has(envelope.signer)) return 'already-bid'
            bidders.add(envelope.signer)
            return 'taken'
          },
          // No bid of these frames came by gossip as well, nor after the job's auction closed.
          tookByGossip: () => false,
          cameAfterClose: () => {}
        })
        for (const frame of stream.frames) {
          let answer: Record<string, unknown>
          let closes = false
          try {
            answer = acceptedAnswer((await accept(utf8(frame.envelopeJson), frame.peer)).bidId)
          } catch (err) {
            expect(err, frame.name).toBeInstanceOf(MessageValidationError)
            const refusal = err as MessageValidationError
            answer = { ...refusedAnswer(refusal, frame.answer.bidId as string | undefined) }
            delete answer.reason
            closes = refusalClosesStream(refusal)
          }
          expect({ name: frame.name, answer, closes }).toEqual({ name: frame.name, answer: frame.answer, closes: frame.closes })
        }
        expect(stream.maxFrameBytes).toBe(MAX_BID_FRAME_BYTES)
        expect(stream.oversized.lengthPrefixHex).toBe(hex(encodeVarint(MAX_BID_FRAME_BYTES + 1)))
      })
    })
  })

  describe('one job, end to end', () => {
    const spec = files.get('spec.json')!
    const job = files.get('job.json')!
    const bid = files.get('bid.json')!
    const award = files.get('award.json')!
    const claim = files.get('claim.json')!
    const receipt = files.get('receipt.json')!
    const capacity = files.get('capacity.json')!

    it('links every message to the one before it', () => {
      expect(job.body.specId).toBe(spec.id)
      expect(job.body.inputHash).toBe(job.input!.sha256Hex)
      expect(job.body.inputSize).toBe(job.input!.size)
      expect(bid.body.jobId).toBe(job.id)
      expect(award.body.bidId).toBe(bid.id)
      expect(award.body.agent).toBe(bid.key.peerId)
      expect(claim.body.awardId).toBe(award.id)
      expect(claim.body.outputHash).toBe(claim.output!.sha256Hex)
      expect(claim.body.outputSize).toBe(claim.output!.size)
      expect(receipt.body.claim).toEqual(claim.envelope)
      expect(receipt.body.awardId).toBe(award.id)
      expect(receipt.key.peerId).toBe(job.key.peerId)
      expect((capacity.body.specs as Array<{ specId: string }>)[0]!.specId).toBe(spec.id)
      expect(capacity.key.peerId).toBe(bid.key.peerId)
    })

    it('passes every topic validator of a node that holds the spec', async () => {
      const stored = new Map<string, StoredSpec>()
      const specs = {
        has: (id: string) => stored.has(id),
        get: async (id: string) => stored.get(id) ?? null,
        put: async (record: StoredSpec) => { stored.set(record.id, record) }
      } as unknown as SpecStore
      const now = (job.body.createdAt as number) + 150
      await specTopicValidator({ specs, now: () => now })(utf8(spec.envelopeJson))
      expect(stored.get(spec.id)?.signer).toBe(spec.key.peerId)
      const ctx: MarketContext = marketContext({ now: () => now, specOf: async id => stored.get(id)?.spec ?? null, jobs: new RecentJobs() })
      await validateJob(utf8(job.envelopeJson), ctx)
      await validateBid(utf8(bid.envelopeJson), ctx)
      await validateAward(utf8(award.envelopeJson), ctx)
      await validateReceipt(utf8(receipt.envelopeJson), ctx)
      await validateCapacity(utf8(capacity.envelopeJson), ctx)
      // The same spec again is a duplicate: Ignore, not Reject.
      await expect(specTopicValidator({ specs, now: () => now })(utf8(spec.envelopeJson))).rejects.toMatchObject({ action: 'ignore', code: 'duplicate' })
    })

    it('a bid or award checked while its job\'s own check still awaits the spec waits for that verdict instead of finding the job unknown', async () => {
      const held = SpecSchema.parse(spec.body) as Spec
      const now = (job.body.createdAt as number) + 150
      // The spec lookup of the job's check is held open, as a slow disk read would.
      let answer!: (spec: Spec | null) => void
      const lookedUp = (): Promise<Spec | null> => new Promise(resolve => { answer = resolve })
      const ctx: MarketContext = marketContext({ now: () => now, specOf: lookedUp, jobs: new RecentJobs() })
      const jobChecked = validateJob(utf8(job.envelopeJson), ctx)
      const bidChecked = validateBid(utf8(bid.envelopeJson), ctx)
      const awardChecked = validateAward(utf8(award.envelopeJson), ctx)
      answer(held)
      await jobChecked
      expect((await bidChecked).job.jobId).toBe(job.id)
      expect((await awardChecked).job.jobId).toBe(job.id)

      // The job refused (spec not held): the bid that waited is unknown-job after all, and so is one that comes later.
      const refusing: MarketContext = marketContext({ now: () => now, specOf: lookedUp, jobs: new RecentJobs() })
      const refused = validateJob(utf8(job.envelopeJson), refusing)
      const waited = validateBid(utf8(bid.envelopeJson), refusing)
      answer(null)
      await expect(refused).rejects.toMatchObject({ action: 'ignore', code: 'unknown-spec' })
      await expect(waited).rejects.toMatchObject({ action: 'ignore', code: 'unknown-job' })
      await expect(validateBid(utf8(bid.envelopeJson), refusing)).rejects.toMatchObject({ action: 'ignore', code: 'unknown-job' })
    })

    it('a bid that outran its job on gossip waits a moment for it (jobAwaitMs); for a job that never comes it is Ignored, its signature never checked', async () => {
      const held = SpecSchema.parse(spec.body) as Spec
      const now = (job.body.createdAt as number) + 150
      const ctx: MarketContext = { ...marketContext({ now: () => now, specOf: async () => held, jobs: new RecentJobs() }), jobAwaitMs: 5_000 }
      const bidFirst = validateBid(utf8(bid.envelopeJson), ctx)
      const awardFirst = validateAward(utf8(award.envelopeJson), ctx)
      await validateJob(utf8(job.envelopeJson), ctx)
      expect((await bidFirst).job.jobId).toBe(job.id)
      expect((await awardFirst).job.jobId).toBe(job.id)

      const alone: MarketContext = { ...marketContext({ now: () => now, specOf: async () => held, jobs: new RecentJobs() }), jobAwaitMs: 50 }
      const text = bid.envelopeJson
      const sig = (JSON.parse(text) as { sig: string }).sig
      const forged = text.replace(sig, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
      const started = Date.now()
      await expect(validateBid(utf8(forged), alone)).rejects.toMatchObject({ action: 'ignore', code: 'unknown-job' })
      expect(Date.now() - started).toBeGreaterThanOrEqual(45)
      // Without a wait (the default), at once.
      await expect(validateBid(utf8(bid.envelopeJson), marketContext({ now: () => now, specOf: async () => held, jobs: new RecentJobs() }))).rejects.toMatchObject({ action: 'ignore', code: 'unknown-job' })
    })

    it('audits clean with the spec, input and output', () => {
      const report = verifyReceipt(receipt.envelope, { spec: spec.body as unknown as Spec, input: job.input!.value, output: claim.output!.value })
      expect(report.checks.filter(c => !c.ok)).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.receiptId).toBe(receipt.id)
    })
  })
})

describe('protocols/vectors: one job under a lease, end to end', async () => {
  const spec = await load<PositiveFile>('spec.json')
  const job = await load<PositiveFile>('job.json')
  const call = await load<PositiveFile>('lease-call.json')
  const bid = await load<PositiveFile>('lease-bid.json')
  const lease = await load<PositiveFile>('lease.json')
  const award = await load<PositiveFile>('lease-award.json')
  const claim = await load<PositiveFile>('lease-claim.json')
  const receipt = await load<PositiveFile>('lease-receipt.json')
  const end = await load<PositiveFile>('lease-end.json')

  it('links every message to the one before it', () => {
    expect(call.body.specId).toBe(spec.id)
    expect(bid.body.callId).toBe(call.id)
    expect(lease.body.bidId).toBe(bid.id)
    expect(lease.body.agent).toBe(bid.key.peerId)
    expect(award.body.leaseId).toBe(lease.id)
    // The job travels inside its lease-award: jobId is its content id, and its input is the job vector's.
    expect(award.body.jobId).toBe(contentId(award.body.job))
    expect((award.body.job as { inputHash: string }).inputHash).toBe(job.body.inputHash)
    expect(award.input!.sha256Hex).toBe(job.body.inputHash)
    expect(claim.body.awardId).toBe(award.id)
    expect(receipt.body.awardId).toBe(award.id)
    expect(receipt.body.jobId).toBe(award.body.jobId)
    expect(receipt.body.claim).toEqual(claim.envelope)
    expect(end.body.leaseId).toBe(lease.id)
    expect(end.key.peerId).toBe(lease.body.agent)
  })

  it('passes the leases topic in order, and its receipt the receipt topic', async () => {
    const now = (call.body.createdAt as number) + 50
    const stored = { spec: spec.body as unknown as Spec }
    const ctx = leaseContext({ now: () => now, specOf: async id => id === spec.id ? stored.spec : null })
    expect(await validateLeaseMessage(utf8(call.envelopeJson), ctx)).toMatchObject({ type: 'lease-call' })
    expect(await validateLeaseMessage(utf8(bid.envelopeJson), ctx)).toMatchObject({ type: 'lease-bid' })
    expect(await validateLeaseMessage(utf8(lease.envelopeJson), ctx)).toMatchObject({ type: 'lease' })
    await expect(validateLeaseMessage(utf8(lease.envelopeJson), ctx)).rejects.toMatchObject({ action: 'ignore', code: 'duplicate' })
    await expect(validateLeaseMessage(utf8(award.envelopeJson), ctx)).rejects.toMatchObject({ action: 'reject', code: 'wrong-type' })
    const receiptCtx = marketContext({ now: () => (receipt.body.verdictAt as number) + 10, specOf: async id => id === spec.id ? stored.spec : null, jobs: new RecentJobs() })
    await validateReceipt(utf8(receipt.envelopeJson), receiptCtx)
  })

  it('audits clean with the spec, input and output, as an auctioned job\'s receipt does', () => {
    const report = verifyReceipt(receipt.envelope, { spec: spec.body as unknown as Spec, input: award.input!.value, output: claim.output!.value })
    expect(report.checks.filter(c => !c.ok)).toEqual([])
    expect(report.ok).toBe(true)
  })
})

describe('protocols/vectors: envelope-negative.json', async () => {
  const file = await load<{ basedOn: string, negative: Negative[] }>('envelope-negative.json')

  it('is based on the positive job vector', async () => {
    const job = await load<PositiveFile>('job.json')
    expect(file.basedOn).toBe(job.envelopeJson)
  })

  for (const vector of file.negative) {
    it(`${vector.name} → ${vector.expect.action} ${vector.expect.code}`, () => { expectRejection(vector) })
  }

  it('signature-s-not-reduced is accepted by a lenient verifier (tweetnacl), which is why strictness is specified', async () => {
    const vector = file.negative.find(n => n.name === 'signature-s-not-reduced')!
    const envelope = JSON.parse(vector.envelopeJson!) as Envelope
    const job = await load<PositiveFile>('job.json')
    expect(envelope.sig).not.toBe(job.sig)
    expect(nacl.sign.detached.verify(utf8(job.signingPayload), Buffer.from(envelope.sig, 'base64url'), Buffer.from(job.key.publicKeyHex, 'hex'))).toBe(true)
  })

  it('sig-non-canonical-base64url decodes to the very signature of the job vector, which tweetnacl accepts: only the spelling is wrong', async () => {
    const vector = file.negative.find(n => n.name === 'sig-non-canonical-base64url')!
    const envelope = JSON.parse(vector.envelopeJson!) as Envelope
    const job = await load<PositiveFile>('job.json')
    expect(envelope.sig).not.toBe(job.sig)
    expect(envelope.sig.slice(0, -1)).toBe(job.sig.slice(0, -1))
    expect(hex(Buffer.from(envelope.sig, 'base64url'))).toBe(job.sigHex)
    expect(nacl.sign.detached.verify(utf8(job.signingPayload), Buffer.from(envelope.sig, 'base64url'), Buffer.from(job.key.publicKeyHex, 'hex'))).toBe(true)
  })

  it('signer-as-cid names the job vector\'s own key, in another spelling', async () => {
    const vector = file.negative.find(n => n.name === 'signer-as-cid')!
    const envelope = JSON.parse(vector.envelopeJson!) as Envelope
    const job = await load<PositiveFile>('job.json')
    expect(envelope.signer).not.toBe(job.key.peerId)
    expect(envelope.signer.startsWith('bafz')).toBe(true)
    expect(hex(peerIdFromString(envelope.signer).publicKey!.raw)).toBe(job.key.publicKeyHex)
    expect(rawPublicKeyOf(envelope.signer)).toBeNull()
  })

  it('signer-protobuf-fields-swapped names the job vector\'s own key, and a libp2p parser prints it back unchanged: only re-deriving the PeerId from the key catches it', async () => {
    const vector = file.negative.find(n => n.name === 'signer-protobuf-fields-swapped')!
    const envelope = JSON.parse(vector.envelopeJson!) as Envelope
    const job = await load<PositiveFile>('job.json')
    const parsed = peerIdFromString(envelope.signer)
    expect(parsed.toString()).toBe(envelope.signer)
    expect(hex(parsed.publicKey!.raw)).toBe(job.key.publicKeyHex)
    expect(envelope.signer).not.toBe(job.key.peerId)
    expect(peerIdOfKey(parsed.publicKey!.raw)).toBe(job.key.peerId)
    // The signature itself is the job vector's, valid for that key: only the spelling of the signer is wrong.
    expect(nacl.sign.detached.verify(utf8(job.signingPayload), Buffer.from(envelope.sig, 'base64url'), parsed.publicKey!.raw)).toBe(true)
  })

  it('bom, duplicate-key, duplicate-key-escaped, version-as-float and version-as-exponent are read by a lenient JSON parser as the very job vector', async () => {
    const job = await load<PositiveFile>('job.json')
    const lenient = new TextDecoder() // strips a BOM, as most decoders do
    for (const name of ['bom', 'duplicate-key', 'duplicate-key-escaped', 'version-as-float', 'version-as-exponent']) {
      const vector = file.negative.find(n => n.name === name)!
      const bytes = bytesOf(vector)
      expect(Buffer.from(bytes).equals(Buffer.from(utf8(job.envelopeJson))), name).toBe(false)
      const value = JSON.parse(lenient.decode(bytes)) as Envelope
      if (name === 'duplicate-key-escaped') {
        // JSON.parse keeps the later, signed nonce; the earlier one only shows up as a second member.
        expect(value.body.nonce).toBe(job.body.nonce)
      } else {
        expect(value, name).toEqual(job.envelope)
      }
    }
  })

  it('too-large: a message over MAX_MESSAGE_BYTES is refused before parsing', async () => {
    const job = await load<PositiveFile>('job.json')
    const padded = job.envelopeJson + ' '.repeat(MAX_MESSAGE_BYTES + 1 - utf8(job.envelopeJson).byteLength)
    expect(utf8(padded).byteLength).toBe(MAX_MESSAGE_BYTES + 1)
    expectRejection({ name: 'too-large', envelopeJson: padded, expect: { action: 'reject', code: 'too-large' } })
    // One byte less is fine: insignificant whitespace does not change the envelope.
    expect(openEnvelope(utf8(padded.slice(0, -1))).id).toBe(job.id)
  })
})

describe('protocols/vectors: receipt-batch.json', async () => {
  interface BatchNegative { name: string, batchJson: string, topicSpec: string | null, expect: { action: 'reject' | 'ignore', code: string } }
  const file = await load<{ key: KeyInfo, topicSpec: string, context: TopicContext, receipts: Envelope[], receiptJson: string[], batchJson: string, negative: BatchNegative[] }>('receipt-batch.json')
  const spec = await load<PositiveFile>('spec.json')
  const receipt = await load<PositiveFile>('receipt.json')
  const ctx = marketContext({ now: () => file.context.now, specOf: async id => file.context.holdsSpecs.includes(id) && id === spec.id ? spec.body as unknown as Spec : null, jobs: new RecentJobs() })

  it('is the receipt vector and a second receipt of the coordinator key, as the JSON array of their envelope texts', () => {
    expect(file.receiptJson[0]).toBe(receipt.envelopeJson)
    expect(file.batchJson).toBe(`[${file.receiptJson.join(',')}]`)
    expect(file.receipts.map(r => r.signer)).toEqual([file.key.peerId, file.key.peerId])
    expect(ReceiptBatchSchema.safeParse(JSON.parse(file.batchJson)).success).toBe(true)
  })

  it('is accepted on its spec\'s topic, each receipt handed back in the exact bytes it stands in, each verifying with tweetnacl too', async () => {
    const out = await validateReceiptBatch(utf8(file.batchJson), ctx, file.topicSpec)
    expect(out.map(r => new TextDecoder().decode(r.bytes))).toEqual(file.receiptJson)
    for (const r of file.receipts) {
      const payload = utf8(`{"body":${canonicalize(r.body)},"type":"receipt","v":1}`)
      expect(nacl.sign.detached.verify(payload, Buffer.from(r.sig, 'base64url'), Buffer.from(file.key.publicKeyHex, 'hex'))).toBe(true)
    }
  })

  for (const negative of file.negative) {
    it(`${negative.name} → ${negative.expect.action} ${negative.expect.code}`, async () => {
      let thrown: unknown
      try {
        await validateReceiptBatch(utf8(negative.batchJson), ctx, negative.topicSpec)
      } catch (err) {
        thrown = err
      }
      expect(thrown, `${negative.name} should not be accepted`).toBeInstanceOf(MessageValidationError)
      const error = thrown as MessageValidationError
      expect({ action: error.action, code: error.code }).toEqual(negative.expect)
    })
  }
})

describe('protocols/vectors: generated files are current', () => {
  it('match what scripts/gen-vectors.ts produces', async () => {
    const expected = await renderAllVectors()
    for (const [file, text] of expected) {
      const committed = await readFile(join(VECTOR_DIR, file), 'utf8').catch(() => '(missing)')
      expect(committed, `protocols/vectors/${file} is out of date: run \`node scripts/gen-vectors.ts\` and commit the result`).toBe(text)
    }
    const present = (await readdir(VECTOR_DIR)).filter(f => f.endsWith('.json'))
    expect(present.sort()).toEqual([...expected.keys(), 'canonical.json'].sort())
  })
})

describe('RFC 8785 canonicalization', async () => {
  const { cases, refused } = await load<{ cases: CanonicalCase[], refused: RefusedCase[] }>('canonical.json')

  it('has the cases the protocol depends on', () => {
    const names = cases.map(c => c.name)
    for (const name of ['rfc8785-3.2.2-example', 'rfc8785-3.2.3-sorting', 'sort-non-bmp-before-high-bmp', 'number 1e21', 'number 0.000001', 'number -0', 'escapes-control']) {
      expect(names).toContain(name)
    }
  })

  for (const c of cases) {
    it(`vectors/canonical.json: ${c.name}`, () => {
      const value: unknown = JSON.parse(c.json)
      const text = canonicalize(value)
      expect(text).toBe(c.canonical)
      expect(hex(utf8(text))).toBe(c.canonicalUtf8Hex)
      if (c.ieee754Hex != null) {
        const bits = Buffer.alloc(8)
        bits.writeDoubleBE(value as number)
        expect(bits.toString('hex')).toBe(c.ieee754Hex)
      }
    })
  }

  it('has refused cases: lone surrogates and overflowing numbers', () => {
    expect(refused.map(r => r.name)).toEqual(expect.arrayContaining(['lone-high-surrogate', 'lone-low-surrogate', 'lone-surrogate-in-key', 'number-overflow']))
  })

  for (const r of refused) {
    it(`vectors/canonical.json refused: ${r.name}`, () => {
      const value: unknown = JSON.parse(r.json)
      expect(() => canonicalize(value)).toThrow(NotCanonicalizableError)
    })
  }

  // Hand-written expectations, independent of the vector file.
  it('sorts keys by UTF-16 code units, non-BMP characters included', () => {
    expect(canonicalize({ '\uFB33': 1, '\u{1F600}': 2, '\u20AC': 3, '\r': 4, 1: 5, '\u0080': 6, '\u00F6': 7 }))
      .toBe('{"\\r":4,"1":5,"\u0080":6,"\u00F6":7,"\u20AC":3,"\u{1F600}":2,"\uFB33":1}')
    expect(canonicalize({ '\uFFFF': 'bmp', '\u{10000}': 'astral' })).toBe('{"\u{10000}":"astral","\uFFFF":"bmp"}')
    expect(canonicalize({ b: 1, a: { d: [3, 2, 1], c: null }, A: true })).toBe('{"A":true,"a":{"c":null,"d":[3,2,1]},"b":1}')
    expect(canonicalize({ ab: 1, a: 2, '': 3 })).toBe('{"":3,"a":2,"ab":1}')
  })

  it('formats numbers the ECMAScript way', () => {
    const cases: Array<[number, string]> = [
      [1e21, '1e+21'], [1e20, '100000000000000000000'], [999999999999999900000, '999999999999999900000'],
      [0.000001, '0.000001'], [0.0000001, '1e-7'], [1e-7, '1e-7'], [-0, '0'], [0, '0'],
      [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'], [-1.5, '-1.5'],
      [4.5, '4.5'], [0.1 + 0.2, '0.30000000000000004'], [2 ** 53, '9007199254740992'], [123e-20, '1.23e-18'],
      [1767225600000, '1767225600000'], [0.05, '0.05']
    ]
    for (const [value, text] of cases) expect([value, canonicalize(value)]).toEqual([value, text])
    expect(canonicalize([-0, 0, 1e21, 1e-6])).toBe('[0,0,1e+21,0.000001]')
  })

  it('escapes strings the way RFC 8785 asks, and nothing more', () => {
    expect(canonicalize('\u0000\u0008\u0009\u000A\u000B\u000C\u000D\u001F')).toBe('"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f"')
    expect(canonicalize('"\\/')).toBe('"\\"\\\\/"')
    expect(canonicalize('\u007F\u00E9\u2028\u2029\u{1F600}')).toBe('"\u007F\u00E9\u2028\u2029\u{1F600}"')
    expect(canonicalize({ 'a"b': 'c\nd' })).toBe('{"a\\"b":"c\\nd"}')
  })

  it('drops undefined members and refuses what JSON cannot carry', () => {
    expect(canonicalize({ a: undefined, b: 1 })).toBe('{"b":1}')
    for (const bad of [Number.NaN, Infinity, -Infinity, { x: Number.NaN }, [1, Infinity], 1n, () => 1, Symbol('s'), [undefined], '\uD800', 'a\uDC00', { '\uDBFF': 1 }, ['\uDE00\uD83D']]) {
      expect(() => canonicalize(bad)).toThrow(NotCanonicalizableError)
    }
  })

  it('does not depend on member order or whitespace', () => {
    const a = JSON.parse('{ "z": 1, "a": [ { "y": 2, "b": 3 } ] }')
    const b = JSON.parse('{"a":[{"b":3,"y":2}],"z":1}')
    expect(canonicalize(a)).toBe(canonicalize(b))
    expect(contentId(a)).toBe(contentId(b))
  })
})
