import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, seal, type Envelope } from '../../../src/wire/envelope.ts'
import { MessageValidationError } from '../../../src/wire/errors.ts'
import { tempDbs } from '../../helpers/temp-db.ts'
import { ReceiptStore } from '../../../src/store/receipt-store.ts'
import type { ReceiptBody } from '../../../src/market/messages.ts'
import { RecentJobs } from '../../../src/market/recent-jobs.ts'
import { marketContext, type BaseContext } from '../../../src/market/validators.ts'
import { encodeReceiptBatch, MAX_RECEIPT_BATCH_BYTES, MAX_RECEIPTS_PER_BATCH, ReceiptBatchSchema, validateReceiptBatch } from '../../../src/market/receipt-batch.ts'
import { ReceiptIngest } from '../../../src/market/receipt-ingest.ts'
import { ReceiptBatcher } from '../../../src/market/receipt-batcher.ts'
import { normalizedSample } from '../../helpers/specs.ts'
import { specId as idOfSpec } from '../../../src/spec/index.ts'
import { waitFor } from '../../helpers/wait.ts'

async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

const spec = normalizedSample('batch-unit')
const SPEC = idOfSpec(spec)
const NOW = 1_800_000_000_000
const ctx: BaseContext = marketContext({ now: () => NOW, specOf: async id => id === SPEC ? spec : null, knowsSpec: id => id === SPEC, jobs: new RecentJobs() })
const decoder = new TextDecoder()

function receipt (coordinator: Signer, agent: string, i: number, patch: Partial<ReceiptBody> = {}): Envelope<ReceiptBody> {
  return seal('receipt', {
    specId: SPEC, jobId: `bagaaierajob${i}`, awardId: `bagaaieraaward${i}`, agent, attempt: 1, inputHash: 'a'.repeat(64),
    startedAt: NOW - 100, endedAt: NOW - 10, deadline: NOW + 60_000, costUsd: 0, outcome: 'unreachable', reason: 'could not reach the agent', claim: null, verdictAt: NOW - 5,
    ...patch
  } satisfies ReceiptBody, coordinator)
}

async function refusal (promise: Promise<unknown>): Promise<{ action: string, code: string, message: string }> {
  try {
    await promise
  } catch (err) {
    if (err instanceof MessageValidationError) return { action: err.action, code: err.code, message: err.message }
    throw err
  }
  throw new Error('accepted')
}

const openDb = tempDbs('specmesh-batch-')

async function store (): Promise<ReceiptStore> {
  const { db } = await openDb()
  const receipts = new ReceiptStore(db)
  await receipts.load()
  return receipts
}

describe('receipt batches: validation (protocols/market.md "Receipt batches")', async () => {
  const coordinator = await testKey(21)
  const agent = (await testKey(22)).peerId
  const other = await testKey(23)
  const three = [1, 2, 3].map(i => receipt(coordinator, agent, i))
  const bytesOf = (list: Array<Envelope<object>>): Uint8Array => encodeReceiptBatch(list.map(r => encodeEnvelope(r)))

  it('accepts a batch and hands back each receipt in the exact bytes it stood in', async () => {
    const pretty = new TextEncoder().encode(JSON.stringify(three[1], null, 2))
    const data = encodeReceiptBatch([encodeEnvelope(three[0]!), pretty, encodeEnvelope(three[2]!)])
    const out = await validateReceiptBatch(data, ctx, SPEC)
    expect(out.map(r => r.envelope.id)).toEqual(three.map(r => r.id))
    expect(decoder.decode(out[1]!.bytes)).toBe(decoder.decode(pretty))
    expect(ReceiptBatchSchema.safeParse(JSON.parse(decoder.decode(data))).success).toBe(true)
  })

  it('Rejects the whole batch for one forged receipt, naming its place and the receipt check that failed', async () => {
    const forged = { ...three[1]!, body: { ...three[1]!.body, reason: 'changed after signing' } }
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, forged, three[2]!]), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'id-mismatch', message: expect.stringMatching(/^receipt 2 of 3 in the batch: /) })
    const charged = receipt(coordinator, agent, 9, { costUsd: 0.01 })
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, charged]), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'charged-for-nothing' })
  })

  it('Rejects mixed signers, mixed specs, a receipt twice, the wrong topic, an empty or unsplittable batch, too many and too many bytes', async () => {
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, receipt(other, agent, 4)]), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'mixed-batch' })
    const spec2 = normalizedSample('batch-unit-2')
    const ctx2: BaseContext = { ...ctx, specOf: async id => id === SPEC ? spec : id === idOfSpec(spec2) ? spec2 : null, knowsSpec: () => true }
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, receipt(coordinator, agent, 5, { specId: idOfSpec(spec2) })]), ctx2, null))).toMatchObject({ action: 'reject', code: 'mixed-batch' })
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, three[0]!]), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'duplicate-in-batch' })
    expect(await refusal(validateReceiptBatch(bytesOf(three), ctx, idOfSpec(spec2)))).toMatchObject({ action: 'reject', code: 'wrong-topic' })
    expect(await refusal(validateReceiptBatch(new TextEncoder().encode('[]'), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'bad-batch' })
    expect(await refusal(validateReceiptBatch(new TextEncoder().encode('[{"a":1},'), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'bad-batch' })
    const many = Array.from({ length: MAX_RECEIPTS_PER_BATCH + 1 }, (_, i) => receipt(coordinator, agent, 100 + i))
    expect(await refusal(validateReceiptBatch(bytesOf(many), ctx, SPEC))).toMatchObject({ action: 'reject', code: 'bad-batch', message: expect.stringContaining('more than 64') })
    const long = Array.from({ length: 60 }, (_, i) => receipt(coordinator, agent, 200 + i, { reason: 'x'.repeat(2000) }))
    const big = bytesOf(long)
    expect(big.byteLength).toBeGreaterThan(MAX_RECEIPT_BATCH_BYTES)
    expect(await refusal(validateReceiptBatch(big, ctx, SPEC))).toMatchObject({ action: 'reject', code: 'too-large' })
  })

  it('Ignores the whole batch when one receipt would be Ignored alone (a spec this node does not hold)', async () => {
    expect(await refusal(validateReceiptBatch(bytesOf([three[0]!, receipt(coordinator, agent, 6, { specId: 'bagaaieraunknown' })]), ctx, null))).toMatchObject({ action: 'ignore', code: 'unknown-spec' })
  })

  it('ingest: stores each new receipt alone with its bytes, skips those already held, and Ignores a batch with nothing new', async () => {
    const receipts = await store()
    const seen: string[] = []
    const ingest = new ReceiptIngest({ receipts, ctx, perSigner: 4, onReceipt: r => { seen.push(r.id) }, now: () => NOW })
    await ingest.single(encodeEnvelope(three[0]!), SPEC)
    await ingest.message(bytesOf(three), SPEC)
    expect(seen).toEqual(three.map(r => r.id))
    for (const r of three) expect(await receipts.envelopeText(r.id)).toBe(decoder.decode(encodeEnvelope(r)))
    expect(await refusal(ingest.message(bytesOf(three.slice(1)), SPEC))).toMatchObject({ action: 'ignore', code: 'duplicate' })
    // A forged receipt next to good new ones: nothing of the batch is stored.
    const fresh = [4, 5].map(i => receipt(coordinator, agent, i))
    const forged = { ...fresh[1]!, sig: three[0]!.sig }
    expect(await refusal(ingest.message(bytesOf([fresh[0]!, forged]), SPEC))).toMatchObject({ action: 'reject', code: 'bad-signature' })
    expect(await receipts.has(fresh[0]!.id)).toBe(false)
    // The quota (4 per signer): of two new receipts one fits, the other is skipped.
    await ingest.message(bytesOf(fresh), SPEC)
    expect(await receipts.has(fresh[0]!.id)).toBe(true)
    expect(await receipts.has(fresh[1]!.id)).toBe(false)
    expect(await refusal(ingest.message(bytesOf([fresh[1]!]), SPEC))).toMatchObject({ action: 'ignore', code: 'signer-quota' })
  })

  it('ingest: single receipts that arrive in one turn are written in one batch; a second copy among them is Ignored, and the quota counts the ones written beside it', async () => {
    const receipts = await store()
    const writes: number[] = []
    const putMany = receipts.putMany.bind(receipts)
    receipts.putMany = async (records, texts) => { writes.push(records.length); await putMany(records, texts) }
    const ingest = new ReceiptIngest({ receipts, ctx, perSigner: 3, now: () => NOW })
    const four = [11, 12, 13, 14].map(i => receipt(coordinator, agent, i))
    const settled = await Promise.allSettled([...four, four[0]!].map(async r => { await ingest.single(encodeEnvelope(r), SPEC) }))
    expect(writes).toEqual([3])
    expect(settled.map(s => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'])
    expect(await refusal(Promise.reject((settled[3] as PromiseRejectedResult).reason))).toMatchObject({ action: 'ignore', code: 'signer-quota' })
    expect(await refusal(Promise.reject((settled[4] as PromiseRejectedResult).reason))).toMatchObject({ action: 'ignore', code: 'duplicate' })
    for (const r of four.slice(0, 3)) expect(await receipts.envelopeText(r.id)).toBe(decoder.decode(encodeEnvelope(r)))
    expect(await receipts.has(four[3]!.id)).toBe(false)
    // Once stored, the same receipt again is a duplicate, alone.
    expect(await refusal(ingest.single(encodeEnvelope(four[1]!), SPEC))).toMatchObject({ action: 'ignore', code: 'duplicate' })
    // A copy arriving in a later turn, while the first is still being looked up and written, is a duplicate: one write.
    writes.length = 0
    const hasMany = receipts.hasMany.bind(receipts)
    // The lookup's answer comes back late: what it says was true when it looked.
    receipts.hasMany = async ids => { const found = await hasMany(ids); await new Promise(resolve => setTimeout(resolve, 30)); return found }
    const roomy = new ReceiptIngest({ receipts, ctx, perSigner: 100, now: () => NOW })
    const later = receipt(coordinator, agent, 15)
    const first = roomy.single(encodeEnvelope(later), SPEC)
    await new Promise(resolve => setTimeout(resolve, 5))
    expect(await refusal(roomy.single(encodeEnvelope(later), SPEC))).toMatchObject({ action: 'ignore', code: 'duplicate' })
    await first
    expect(writes).toEqual([1])
    receipts.hasMany = hasMany
    // The same with a batch first: while its lookup runs, the same receipt alone (or in another batch) is a
    // duplicate: one write, one onReceipt (a second would count against the signer's quota again).
    writes.length = 0
    const counted: string[] = []
    let lookupBegun!: () => void
    const batchLooksUp = new Promise<void>(resolve => { lookupBegun = resolve })
    receipts.hasMany = async ids => { lookupBegun(); const found = await hasMany(ids); await new Promise(resolve => setTimeout(resolve, 30)); return found }
    const racing = new ReceiptIngest({ receipts, ctx, perSigner: 100, now: () => NOW, onReceipt: r => { counted.push(r.id) } })
    const pair = [16, 17].map(i => receipt(coordinator, agent, i))
    const wholeBatch = racing.message(bytesOf(pair), SPEC)
    // The copies come once the batch's lookup has begun (its answer, 30 ms later, says neither is stored).
    await batchLooksUp
    const alone = await Promise.allSettled([racing.single(encodeEnvelope(pair[0]!), SPEC), racing.message(bytesOf([pair[1]!]), SPEC)])
    await wholeBatch
    expect(alone.map(s => s.status)).toEqual(['rejected', 'rejected'])
    for (const s of alone) expect(await refusal(Promise.reject((s as PromiseRejectedResult).reason))).toMatchObject({ action: 'ignore', code: 'duplicate' })
    expect(writes).toEqual([2])
    expect(counted).toEqual(pair.map(r => r.id))
    receipts.hasMany = hasMany
    // A receipt refused by validation is not held up by, nor holds up, the others of its turn.
    const forged = { ...four[3]!, sig: four[0]!.sig }
    expect(await refusal(ingest.single(encodeEnvelope(forged), SPEC))).toMatchObject({ action: 'reject', code: 'bad-signature' })
  })
})

describe('ReceiptBatcher', async () => {
  const coordinator = await testKey(31)
  const agent = (await testKey(32)).peerId
  const sent: Array<{ topic: string, text: string }> = []
  const publish = async (topic: string, bytes: Uint8Array): Promise<void> => { sent.push({ topic, text: decoder.decode(bytes) }) }
  afterEach(() => { sent.length = 0 })

  it('sends a lone receipt alone, and receipts signed together as one batch once flushMs has passed', async () => {
    const batcher = new ReceiptBatcher({ publish, flushMs: 20 })
    batcher.add('t', receipt(coordinator, agent, 1))
    await waitFor(() => sent.length === 1, { what: 'the lone receipt' })
    expect(sent[0]!.text.startsWith('{')).toBe(true)
    const list = [2, 3, 4].map(i => receipt(coordinator, agent, i))
    for (const r of list) batcher.add('t', r)
    expect(sent.length).toBe(1)
    await waitFor(() => sent.length === 2, { what: 'the batch' })
    expect((JSON.parse(sent[1]!.text) as Envelope[]).map(r => r.id)).toEqual(list.map(r => r.id))
    batcher.stop()
  })

  it('sends a batch as soon as it is full by count or would pass its bytes, one batch per spec, and flushes on stop', async () => {
    const batcher = new ReceiptBatcher({ publish, flushMs: 60_000, maxReceipts: 3 })
    for (const i of [1, 2, 3, 4]) batcher.add('t', receipt(coordinator, agent, i))
    expect(sent.map(s => (JSON.parse(s.text) as unknown[]).length)).toEqual([3])
    const one = encodeEnvelope(receipt(coordinator, agent, 5)).byteLength
    const bySize = new ReceiptBatcher({ publish, flushMs: 60_000, maxBytes: 2 * one + 3 })
    for (const i of [5, 6, 7]) bySize.add('u', receipt(coordinator, agent, i))
    expect(sent.length).toBe(2)
    expect((JSON.parse(sent[1]!.text) as unknown[]).length).toBe(2)
    batcher.add('t', receipt(coordinator, agent, 8, { specId: 'bagaaieraotherspec' }))
    expect(batcher.waiting).toBe(2)
    batcher.stop()
    bySize.stop()
    expect(batcher.waiting).toBe(0)
    // Receipt 4 and the other spec's receipt 8 went separately, each alone; receipt 7 too.
    expect(sent.slice(2).map(s => s.text.startsWith('{'))).toEqual([true, true, true])
  })
})

describe('ReceiptBatcher with flushMs 0', async () => {
  const coordinator = await testKey(33)
  const agent = (await testKey(34)).peerId
  it('sends every receipt alone, off the caller\'s turn', async () => {
    const sent: string[] = []
    const batcher = new ReceiptBatcher({ publish: async (_topic, bytes) => { sent.push(decoder.decode(bytes)) }, flushMs: 0 })
    for (const i of [1, 2, 3]) batcher.add('t', receipt(coordinator, agent, i))
    expect(sent).toEqual([])
    await waitFor(() => sent.length === 3, { what: 'three lone receipts' })
    expect(sent.every(t => t.startsWith('{'))).toBe(true)
    batcher.stop()
  })
})
