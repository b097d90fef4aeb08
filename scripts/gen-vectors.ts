/**
 * Generates the signed test vectors in protocols/vectors/ (see protocols/README.md,
 * "Test vectors"). Everything is fixed: the keys come from fixed seeds, the bodies
 * are literals, and Ed25519 signatures are deterministic, so running this twice
 * gives byte-identical files.
 *
 *   node scripts/gen-vectors.ts
 *
 * protocols/vectors/canonical.json is written by hand and is not touched here.
 * test/unit/protocols/vectors.test.ts checks every vector against the node's code
 * and against tweetnacl, and fails when these files differ from what this
 * script produces.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { contentId, hashHex } from '../src/crypto/content-id.ts'
import { signerFromPrivateKey, type Signer } from '../src/crypto/signatures.ts'
import { canonicalBytes, canonicalize } from '../src/wire/canonical.ts'
import { encodeEnvelope, seal, signingPayloadOf, type Envelope, type MessageType } from '../src/wire/envelope.ts'
import { specId, validateSpec } from '../src/spec/index.ts'
import { MAX_JSON_DEPTH, MAX_INPUT_BYTES, PROTOCOLS } from '../src/wire/constants.ts'
import { MAX_BID_FRAME_BYTES } from '../src/market/bid-protocol.ts'
import { encodeVarint } from '../src/net/frames.ts'
import { base58btc } from 'multiformats/bases/base58'
import { MAX_RECEIPTS_PER_BATCH } from '../src/market/receipt-batch.ts'
import { MAX_ADVERT_TTL_MS, MAX_AWARD_BIDS, MAX_QUEUE, MAX_SLOTS, type AwardBody, type BidBody, type CapacityBody, type ClaimBody, type JobBody, type ReceiptBody } from '../src/market/messages.ts'
import { MAX_LEASE_MS, type LeaseAwardBody, type LeaseBidBody, type LeaseBody, type LeaseCallBody, type LeaseEndBody } from '../src/market/lease-messages.ts'
import { leaseBidHoldsUntil } from '../src/market/lease-validators.ts'

export const VECTOR_DIR = fileURLToPath(new URL('../protocols/vectors/', import.meta.url))

/**
 * Seeds of the vector keys: the secret keys of RFC 8032 §7.1 TEST 1, 2 and 3, so
 * an implementer can check the public keys against the RFC as well.
 */
export const SEEDS = {
  coordinator: { hex: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', source: 'RFC 8032 section 7.1, TEST 1 SECRET KEY' },
  agent: { hex: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', source: 'RFC 8032 section 7.1, TEST 2 SECRET KEY' },
  other: { hex: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', source: 'RFC 8032 section 7.1, TEST 3 SECRET KEY' }
} as const
type Role = keyof typeof SEEDS

const DERIVATION = "privateKey = await generateKeyPairFromSeed('Ed25519', seed) from @libp2p/crypto/keys; peerId = peerIdFromPrivateKey(privateKey).toString(); signer = signerFromPrivateKey(privateKey, peerId) (src/crypto/signatures.ts). The seed is the RFC 8032 secret key; the public key is the RFC 8032 public key of that secret key."

/** Group order of edwards25519: adding it to S gives a non-canonical signature strict verifiers refuse. */
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n

/** Fixed times: 2026-01-01T00:00:00Z and offsets from it. */
const T0 = 1767225600000

interface Key {
  role: Role
  signer: Signer
  publicKeyHex: string
  peerId: string
}

interface NegativeVector {
  name: string
  description: string
  /** The exact message bytes, as UTF-8 text (absent when bytesHex is given). */
  envelopeJson?: string
  /** The exact message bytes, as hex, for byte strings that are not valid UTF-8. */
  bytesHex?: string
  /** When set, the receiver expects this message type (openEnvelope's expectType). */
  expectType?: MessageType
  /** Topic vectors only: the receiver's state for this vector, when it differs from the file's `context`. */
  context?: TopicNegatives['context']
  expect: { action: 'reject' | 'ignore', code: string }
}

async function keyOf (role: Role): Promise<Key> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', Buffer.from(SEEDS[role].hex, 'hex'))
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { role, signer: signerFromPrivateKey(privateKey, peerId), publicKeyHex: Buffer.from(privateKey.publicKey.raw).toString('hex'), peerId }
}

/**
 * The key's PeerId with the protobuf fields of its PublicKey in the other order:
 * base58btc(00 24 12 20 ‖ key ‖ 08 01). It decodes to the same key; it is not its PeerId.
 */
function swappedPeerId (key: Key): string {
  return base58btc.baseEncode(Uint8Array.from([0x00, 0x24, 0x12, 0x20, ...Buffer.from(key.publicKeyHex, 'hex'), 0x08, 0x01]))
}

function describeKey (key: Key): Record<string, string> {
  return { role: key.role, seedHex: SEEDS[key.role].hex, seedSource: SEEDS[key.role].source, publicKeyHex: key.publicKeyHex, peerId: key.peerId, derivation: DERIVATION }
}

const text = (envelope: object): string => new TextDecoder().decode(encodeEnvelope(envelope as Envelope<object>))

function negativesFor (envelope: Envelope<object>, tamper: (body: Record<string, unknown>) => void, other: Key): NegativeVector[] {
  const tampered = structuredClone(envelope.body) as Record<string, unknown>
  tamper(tampered)
  const replayType: MessageType = envelope.type === 'job' ? 'bid' : 'job'
  return [
    {
      name: 'tampered-body',
      description: 'One body field changed after signing; id and sig left as they were. The id check comes before the signature check.',
      envelopeJson: text({ ...envelope, body: tampered }),
      expect: { action: 'reject', code: 'id-mismatch' }
    },
    {
      name: 'tampered-body-new-id',
      description: 'One body field changed after signing and the id recomputed to match; the signature no longer covers the body.',
      envelopeJson: text({ ...envelope, body: tampered, id: contentId(tampered) }),
      expect: { action: 'reject', code: 'bad-signature' }
    },
    {
      name: 'wrong-signer',
      description: `signer replaced by another key's PeerId (${other.peerId}); the signature was made by the original key.`,
      envelopeJson: text({ ...envelope, signer: other.peerId }),
      expect: { action: 'reject', code: 'bad-signature' }
    },
    {
      name: 'wrong-id',
      description: 'id replaced by the content id of another body ({}).',
      envelopeJson: text({ ...envelope, id: contentId({}) }),
      expect: { action: 'reject', code: 'id-mismatch' }
    },
    {
      name: 'type-replay',
      description: `type changed to "${replayType}": the signing payload includes the type, so a body signed as one message type does not verify as another.`,
      envelopeJson: text({ ...envelope, type: replayType }),
      expect: { action: 'reject', code: 'bad-signature' }
    },
    {
      name: 'unexpected-type',
      description: `An intact ${envelope.type} envelope read where a ${replayType} is expected (the ${replayType} topic, or a stream frame that must be a ${replayType}).`,
      envelopeJson: text(envelope),
      expectType: replayType,
      expect: { action: 'reject', code: 'wrong-type' }
    }
  ]
}

function positiveVector (envelope: Envelope<object>, key: Key, extra: Record<string, unknown>, description: string, negative: NegativeVector[]): Record<string, unknown> {
  const sig = Buffer.from(envelope.sig, 'base64url')
  return {
    description,
    type: envelope.type,
    key: describeKey(key),
    ...extra,
    body: envelope.body,
    canonicalBody: canonicalize(envelope.body),
    signingPayload: new TextDecoder().decode(signingPayloadOf(envelope)),
    id: envelope.id,
    sig: envelope.sig,
    sigHex: sig.toString('hex'),
    envelope,
    envelopeJson: text(envelope),
    negative
  }
}

/** The raw spec the spec vector is made from (it is normalised before signing). */
export const VECTOR_SPEC_SOURCE = {
  name: 'extract-entities',
  version: '1.0.0',
  description: 'extract named entities from text, each with a confidence score',
  input: { type: 'object', properties: { text: { type: 'string', maxLength: 10000 } }, required: ['text'] },
  output: {
    type: 'object',
    properties: {
      entities: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string' }, confidence: { type: 'number' } }, required: ['name', 'confidence'] }
      }
    },
    required: ['entities']
  },
  successCriteria: ['output.entities.all(e, e.confidence >= 75)'],
  costUsd: 0.05,
  executionWindow: 30,
  deadline: '2099-01-01T00:00:00Z',
  budget: { maxUsd: 0.5, currency: 'USD', includesFees: true, overageBehavior: 'fail' },
  capacity: { maxConcurrentRequests: 5, maxConcurrentRetries: 1, backoffMultiplier: 1.5, maxRetries: 3, timeoutSeconds: 30 }
}

export const VECTOR_INPUT = { text: 'Ada Lovelace worked with Charles Babbage in London.' }
export const VECTOR_OUTPUT = {
  entities: [
    { name: 'Ada Lovelace', confidence: 98 },
    { name: 'Charles Babbage', confidence: 97 },
    { name: 'London', confidence: 91.5 }
  ]
}

function payload (value: unknown): Record<string, unknown> {
  const bytes = canonicalBytes(value)
  return { value, canonical: canonicalize(value), sha256Hex: hashHex(bytes), size: bytes.byteLength }
}

function generalNegatives (job: Envelope<object>, other: Key, keys: { coordinator: Key }): NegativeVector[] {
  const jobJson = text(job)
  const withField = (patch: Record<string, unknown>): string => text({ ...job, ...patch })
  const without = (field: string): string => {
    const copy: Record<string, unknown> = { ...job }
    delete copy[field]
    return text(copy)
  }
  const sig = Buffer.from(job.sig, 'base64url')
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + ED25519_L
  const sPlusL = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse()
  const malleated = Buffer.concat([sig.subarray(0, 32), sPlusL]).toString('base64url')
  // A secp256k1 PeerId (the public key is the curve's generator point): a valid PeerId, but not an Ed25519 key.
  const secp = peerIdFromPublicKey(publicKeyFromProtobuf(Buffer.from('080212210279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex'))).toString()
  const infinite = { ...job, body: { ...job.body, maxUsd: '__INF__' } }
  const surrogate = { ...job, body: { ...job.body, nonce: '__LONE__' } }
  // base64url of 64 bytes ends in a character carrying 2 bits of the last byte and 4 spare bits;
  // a decoder that ignores the spare bits reads this spelling as the same signature.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const lastChar = job.sig[job.sig.length - 1]!
  const sloppySig = job.sig.slice(0, -1) + alphabet[alphabet.indexOf(lastChar) ^ 1]!
  const signerAsCid = peerIdFromString(job.signer).toCID().toString()
  const swapped = swappedPeerId(keys.coordinator)
  // The body with a member written twice: JSON.parse keeps the last, which is the signed value.
  const jobJsonDuplicate = jobJson.replace('"maxUsd":0.5', '"maxUsd":5,"maxUsd":0.5')
  const jobJsonEscapedDuplicate = jobJson.replace('"nonce":', '"non\\u0063e":"ffffffffffffffff","nonce":')
  // The signed body with one member more, named __proto__: a copy of it in JavaScript (zod's record, an
  // assignment) takes that member for the prototype and drops it, so the signed id and signature checked out.
  const jobJsonProto = jobJson.replace('"body":{', '"body":{"__proto__":{"maxUsd":5},')
  const jobJsonProtoEscaped = jobJson.replace('"body":{', '"body":{"\\u005f_proto__":{"maxUsd":5},')
  let deep: unknown = 1
  for (let i = 0; i < 64; i++) deep = [deep]
  const tooDeep = text({ ...job, body: { ...job.body, nonce: '__DEEP__' } }).replace('"__DEEP__"', JSON.stringify(deep))
  return [
    { name: 'not-json', description: 'Truncated JSON.', envelopeJson: jobJson.slice(0, 40), expect: { action: 'reject', code: 'not-json' } },
    { name: 'not-utf8', description: 'Bytes that are not UTF-8 (0xff).', bytesHex: Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xff]), Buffer.from('"}')]).toString('hex'), expect: { action: 'reject', code: 'not-json' } },
    { name: 'not-an-object', description: 'A JSON array instead of an envelope object.', envelopeJson: '[]', expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'missing-sig', description: 'The sig field is absent.', envelopeJson: without('sig'), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'extra-field', description: 'An envelope field the format does not define.', envelopeJson: withField({ ts: T0 }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'unknown-type', description: 'A type outside the list of message types.', envelopeJson: withField({ type: 'offer' }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'wrong-version', description: 'v is 2; this is protocol version 1.', envelopeJson: withField({ v: 2 }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'version-as-string', description: 'v is the string "1", not the number 1.', envelopeJson: withField({ v: '1' }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'body-not-object', description: 'body is an array.', envelopeJson: withField({ body: [1, 2] }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'sig-padded', description: 'sig in base64url with "==" padding: 88 characters, not 86.', envelopeJson: withField({ sig: job.sig + '==' }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'sig-standard-base64', description: 'sig with a character of standard base64 (+) instead of base64url.', envelopeJson: withField({ sig: '+' + job.sig.slice(1) }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'id-too-long', description: 'id longer than 128 characters.', envelopeJson: withField({ id: 'b'.repeat(129) }), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'body-not-canonicalizable', description: 'A body number that overflows a double (1e400 parses to Infinity), so the body has no canonical form.', envelopeJson: text(infinite).replace('"__INF__"', '1e400'), expect: { action: 'reject', code: 'bad-body' } },
    { name: 'body-lone-surrogate', description: 'A body string holding an unpaired UTF-16 surrogate (the JSON escape \\ud800): it has no UTF-8 encoding, hence no canonical form.', envelopeJson: text(surrogate).replace('"__LONE__"', '"ab\\ud800"'), expect: { action: 'reject', code: 'bad-body' } },
    { name: 'sig-non-canonical-base64url', description: 'sig with a spare low bit of its last character set: it decodes to the same 64 bytes (lenient base64url decoders accept it), but only the canonical spelling (spare bits zero) is accepted, so one signature cannot travel under several gossip message ids.', envelopeJson: withField({ sig: sloppySig }), expect: { action: 'reject', code: 'bad-signature' } },
    { name: 'signer-not-a-peer-id', description: 'signer is not a PeerId at all.', envelopeJson: withField({ signer: 'alice' }), expect: { action: 'reject', code: 'bad-signer' } },
    { name: 'signer-as-cid', description: `signer is the right key's PeerId written as a CIDv1 (${signerAsCid}, codec libp2p-key) instead of base58btc: the same key, but only the canonical base58btc spelling is accepted, since signers are compared as strings.`, envelopeJson: withField({ signer: signerAsCid }), expect: { action: 'reject', code: 'bad-signer' } },
    { name: 'signer-not-ed25519', description: `signer is a secp256k1 PeerId (${secp}): a valid libp2p PeerId, but a signer is only ever base58btc(00 24 08 01 12 20 ‖ Ed25519 key), so this is no signer.`, envelopeJson: withField({ signer: secp }), expect: { action: 'reject', code: 'bad-signer' } },
    { name: 'signer-protobuf-fields-swapped', description: `signer is the right key's PeerId with the two protobuf fields of the PublicKey in the other order (base58btc(00 24 12 20 ‖ key ‖ 08 01) = ${swapped}). A libp2p parser reads the same Ed25519 key from it and prints it back unchanged, so parse-and-reprint does not catch it; re-deriving the PeerId from the key bytes does. Accepting it would give one key two names (and let it award or receipt itself).`, envelopeJson: withField({ signer: swapped }), expect: { action: 'reject', code: 'bad-signer' } },
    { name: 'bom', description: 'The positive job vector preceded by a UTF-8 byte order mark (EF BB BF). RFC 8259 forbids it in networked JSON; a decoder that strips it would accept the message under a second gossip message id.', bytesHex: 'efbbbf' + Buffer.from(jobJson).toString('hex'), expect: { action: 'reject', code: 'not-json' } },
    { name: 'duplicate-key', description: 'The body member maxUsd written twice (5, then the signed 0.5). A parser that keeps the last member accepts it and another that keeps the first reads 5; each name may appear once in an object.', envelopeJson: jobJsonDuplicate, expect: { action: 'reject', code: 'duplicate-key' } },
    { name: 'duplicate-key-escaped', description: 'The body member nonce written twice, the first time with an escape ("non\\u0063e"): names are compared after unescaping.', envelopeJson: jobJsonEscapedDuplicate, expect: { action: 'reject', code: 'duplicate-key' } },
    { name: 'reserved-key', description: 'The signed body with one member more, named "__proto__" (the id and signature are those of the body without it). JavaScript copies of a parsed object read that member as the prototype and drop it, so a node built on them would accept the message under an id that does not cover its bytes and relay it; no object may hold a member of that name.', envelopeJson: jobJsonProto, expect: { action: 'reject', code: 'reserved-key' } },
    { name: 'reserved-key-escaped', description: 'The same member name written with an escape ("\\u005f_proto__"): names are compared after unescaping.', envelopeJson: jobJsonProtoEscaped, expect: { action: 'reject', code: 'reserved-key' } },
    { name: 'version-as-float', description: 'v written 1.0: JSON.parse reads the number 1, but the version is the integer 1 written "1".', envelopeJson: jobJson.replace('"v":1,', '"v":1.0,'), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'version-as-exponent', description: 'v written 1e0.', envelopeJson: jobJson.replace('"v":1,', '"v":1e0,'), expect: { action: 'reject', code: 'bad-envelope' } },
    { name: 'too-deep', description: `A body value nested 64 arrays deep, so the envelope text nests 66 deep, above MAX_JSON_DEPTH (${MAX_JSON_DEPTH}); refused before the body is looked at.`, envelopeJson: tooDeep, expect: { action: 'reject', code: 'too-deep' } },
    {
      name: 'signature-s-not-reduced',
      description: 'The signature of the positive job vector with L (the group order) added to S. It is the same equation for a lenient verifier (tweetnacl accepts it), but RFC 8032 section 5.1.7 requires S < L, and the node refuses it: a signature has exactly one valid encoding.',
      envelopeJson: withField({ sig: malleated }),
      expect: { action: 'reject', code: 'bad-signature' }
    },
    { name: 'sig-of-other-payload', description: `sig is the coordinator's signature over a different payload (canonical JSON of {} with the same framing).`, envelopeJson: withField({ sig: Buffer.from(keys.coordinator.signer.sign(new TextEncoder().encode('{"body":{},"type":"job","v":1}'))).toString('base64url') }), expect: { action: 'reject', code: 'bad-signature' } }
  ]
}

interface TopicNegatives {
  description: string
  /** The receiving node's state: its clock, the specs it holds, the jobs it has seen. */
  context: {
    now: number
    holdsSpecs: string[]
    seenJobs: string[]
    /** Capacity topic only: the newest advert the receiver already holds from each of these signers. */
    heldAdverts?: Array<{ signer: string, issuedAt: number }>
    /** Leases topic only: the lease calls (of lease-call.json) the receiver has seen. */
    seenLeaseCalls?: string[]
  }
  negative: NegativeVector[]
}

/**
 * Messages whose envelope is sound (correctly signed, right id) but which the topic's
 * own rules refuse or ignore, for a node in the given context.
 */
function topicNegatives (description: string, context: TopicNegatives['context'], cases: Array<[string, string, Envelope<object>, NegativeVector['expect'], TopicNegatives['context']?]>): TopicNegatives {
  return { description, context, negative: cases.map(([name, what, envelope, expect, own]) => ({ name, description: what, envelopeJson: text(envelope), ...(own != null ? { context: own } : {}), expect })) }
}

/** File name → file text of every generated vector file. */
export async function renderAllVectors (): Promise<Map<string, string>> {
  const coordinator = await keyOf('coordinator')
  const agent = await keyOf('agent')
  const other = await keyOf('other')

  const checked = validateSpec(VECTOR_SPEC_SOURCE, { requireFutureDeadline: false })
  if (!checked.ok) throw new Error(`the vector spec is invalid: ${JSON.stringify(checked.problems)}`)
  const spec = seal('spec', checked.spec as object, coordinator.signer)
  if (specId(checked.spec) !== spec.id) throw new Error('the normalised vector spec is not in normal form')

  const input = payload(VECTOR_INPUT)
  const output = payload(VECTOR_OUTPUT)

  const jobBody: JobBody = {
    specId: spec.id,
    inputHash: input.sha256Hex as string,
    inputSize: input.size as number,
    maxUsd: 0.5,
    deadline: T0 + 30_000,
    bidWindowMs: 100,
    createdAt: T0,
    nonce: '00112233aabbccdd'
  }
  const job = seal('job', jobBody, coordinator.signer)

  const bidBody: BidBody = {
    jobId: job.id,
    specId: spec.id,
    priceUsd: 0.05,
    estimatedMs: 1000,
    load: { inFlight: 0, limit: 5 },
    createdAt: T0 + 20,
    expiresAt: jobBody.deadline,
    addrs: ['/ip4/127.0.0.1/tcp/4001']
  }
  const bid = seal('bid', bidBody, agent.signer)

  const awardBody: AwardBody = {
    jobId: job.id,
    specId: spec.id,
    bidId: bid.id,
    agent: agent.peerId,
    priceUsd: bidBody.priceUsd,
    attempt: 1,
    deadline: jobBody.deadline,
    issuedAt: T0 + 100
  }
  const award = seal('award', awardBody, coordinator.signer)

  // Bids by stream: the award embeds the bids it ranked, the awarded one first (protocols/market.md "Award").
  const otherBid = seal('bid', { ...bidBody, priceUsd: 0.07, estimatedMs: 1500, addrs: ['/ip4/127.0.0.1/tcp/4002'] } satisfies BidBody, other.signer)
  const embedBody: AwardBody = { ...awardBody, bids: [bid, otherBid] as AwardBody['bids'] }
  const awardEmbedding = seal('award', embedBody, coordinator.signer)

  const claimBody: ClaimBody = {
    jobId: job.id,
    awardId: award.id,
    outcome: 'success',
    outputHash: output.sha256Hex as string,
    outputSize: output.size as number,
    startedAt: T0 + 105,
    endedAt: T0 + 900,
    costUsd: awardBody.priceUsd
  }
  const claim = seal('claim', claimBody, agent.signer)

  const receiptBody: ReceiptBody = {
    specId: spec.id,
    jobId: job.id,
    awardId: award.id,
    agent: agent.peerId,
    attempt: 1,
    inputHash: jobBody.inputHash,
    outputHash: claimBody.outputHash,
    startedAt: claimBody.startedAt,
    endedAt: claimBody.endedAt,
    deadline: jobBody.deadline,
    costUsd: 0.05,
    outcome: 'success',
    claim: claim as ReceiptBody['claim'],
    verdictAt: T0 + 910
  }
  const receipt = seal('receipt', receiptBody, coordinator.signer)

  // The agent's capacity advert, issued between its bid and the award: it serves the spec,
  // runs nothing yet, and holds one place for its open bid.
  const capacityBody: CapacityBody = {
    specs: [{ specId: spec.id, inFlight: 0, queued: 1, queue: 5, limit: 5, priceUsd: bidBody.priceUsd }],
    issuedAt: T0 + 120,
    expiresAt: T0 + 120 + 6000
  }
  const capacity = seal('capacity', capacityBody, agent.signer)

  // A lease (protocols/market.md "Leases"): a call, the agent's lease bid, the
  // lease, one job under it (never gossiped, embedded in its lease-award), the
  // agent's claim and the coordinator's receipt, and the agent ending the lease.
  const leaseCallBody: LeaseCallBody = { specId: spec.id, slots: 4, durationMs: 30_000, maxUsd: 0.5, bidWindowMs: 100, createdAt: T0 + 1000, nonce: '8899aabbccddeeff' }
  const leaseCall = seal('lease-call', leaseCallBody, coordinator.signer)
  const leaseBidBody: LeaseBidBody = { callId: leaseCall.id, specId: spec.id, priceUsd: 0.05, slots: 4, estimatedMs: 1000, load: { inFlight: 0, limit: 5 }, createdAt: T0 + 1020, expiresAt: leaseBidHoldsUntil(leaseCallBody), addrs: ['/ip4/127.0.0.1/tcp/4001'] }
  const leaseBid = seal('lease-bid', leaseBidBody, agent.signer)
  const leaseBody: LeaseBody = { callId: leaseCall.id, specId: spec.id, bidId: leaseBid.id, agent: agent.peerId, slots: 4, priceUsd: leaseBidBody.priceUsd, issuedAt: T0 + 1100, expiresAt: T0 + 1100 + leaseCallBody.durationMs }
  const lease = seal('lease', leaseBody, coordinator.signer)
  const leasedJobBody: JobBody = { ...jobBody, deadline: T0 + 31_200, createdAt: T0 + 1200, nonce: '0123456789abcdef' }
  const leasedJob = seal('job', leasedJobBody, coordinator.signer)
  const leaseAwardBody: LeaseAwardBody = { leaseId: lease.id, jobId: leasedJob.id, job: leasedJobBody, agent: agent.peerId, priceUsd: leaseBody.priceUsd, attempt: 1, issuedAt: T0 + 1200 }
  const leaseAward = seal('lease-award', leaseAwardBody, coordinator.signer)
  const leasedClaimBody: ClaimBody = { ...claimBody, jobId: leasedJob.id, awardId: leaseAward.id, startedAt: T0 + 1205, endedAt: T0 + 1900 }
  const leasedClaim = seal('claim', leasedClaimBody, agent.signer)
  const leasedReceiptBody: ReceiptBody = { ...receiptBody, jobId: leasedJob.id, awardId: leaseAward.id, startedAt: leasedClaimBody.startedAt, endedAt: leasedClaimBody.endedAt, deadline: leasedJobBody.deadline, claim: leasedClaim as ReceiptBody['claim'], verdictAt: T0 + 1910 }
  const leasedReceipt = seal('receipt', leasedReceiptBody, coordinator.signer)
  const leaseEndBody: LeaseEndBody = { leaseId: lease.id, reason: 'stopping: this agent is shutting down and takes no new work', endedAt: T0 + 5000 }
  const leaseEnd = seal('lease-end', leaseEndBody, agent.signer)

  const elsewhere = contentId({ unrelated: true })
  const withBody = <B extends object> (type: MessageType, body: B, patch: Partial<B>, key: Key): Envelope<object> => seal(type, { ...body, ...patch }, key.signer)
  const reject = (code: string): NegativeVector['expect'] => ({ action: 'reject', code })
  const ignore = (code: string): NegativeVector['expect'] => ({ action: 'ignore', code })
  const marketNow = T0 + 150
  const holding = { now: marketNow, holdsSpecs: [spec.id], seenJobs: [] as string[] }
  const seeing = { now: marketNow, holdsSpecs: [spec.id], seenJobs: [job.id] }
  const specVariant = (patch: Record<string, unknown>): Envelope<object> => seal('spec', { ...(checked.spec as object), ...patch }, coordinator.signer)
  const aliased: Record<string, unknown> = { ...(checked.spec as object) }
  aliased.cost_usd = aliased.costUsd
  delete aliased.costUsd
  const skew = 30_000

  const topics = {
    spec: topicNegatives('Correctly signed spec envelopes that the spec topic refuses or ignores (protocols/spec.md, Validation), for a node that holds no spec yet.', { now: marketNow, holdsSpecs: [], seenJobs: [] }, [
      ['not-normal-form', 'The vector spec with costUsd written as its alias cost_usd: valid once normalised, but the normal form has another id than the one signed.', seal('spec', aliased, coordinator.signer), reject('not-normal-form')],
      ['bad-criterion', 'A success criterion that is not valid CEL.', specVariant({ successCriteria: ['size(output.entities) >'] }), reject('bad-spec')],
      ['bad-schema-keyword', 'An output schema with a misspelt keyword ("requried").', specVariant({ output: { type: 'object', requried: ['entities'] } }), reject('bad-spec')],
      ['cost-over-budget', 'costUsd above budget.maxUsd.', specVariant({ costUsd: 0.75 }), reject('bad-spec')],
      ['expired', 'An absolute deadline before the receiver\'s clock (2025-01-01).', specVariant({ deadline: '2025-01-01T00:00:00Z' }), ignore('expired')],
      ['impossible-date', 'An absolute deadline on a day that does not exist (2099-02-30): the timestamp pattern admits it, the calendar does not.', specVariant({ deadline: '2099-02-30T00:00:00Z' }), reject('bad-spec')],
      ['impossible-time-24', 'An absolute deadline at 24:00:00 (hours run 00 to 23; write the next day at 00:00:00).', specVariant({ deadline: '2098-12-31T24:00:00Z' }), reject('bad-spec')],
      ['leap-second', 'An absolute deadline at second 60 (leap seconds are not accepted: seconds run 00 to 59).', specVariant({ deadline: '2098-12-31T23:59:60Z' }), reject('bad-spec')]
    ]),
    job: topicNegatives('Correctly signed job envelopes that the job topic refuses or ignores (protocols/market.md, Validation: Job), for a node that holds the spec vector.', holding, [
      ['extra-field', 'A field the job body does not define.', withBody('job', jobBody, { priority: 1 } as Partial<JobBody>, coordinator), reject('bad-body')],
      ['hash-upper-case', 'inputHash in upper-case hex.', withBody('job', jobBody, { inputHash: jobBody.inputHash.toUpperCase() }, coordinator), reject('bad-body')],
      ['from-the-future', `createdAt more than MAX_CLOCK_SKEW_MS (${skew} ms) ahead of the receiver's clock.`, withBody('job', jobBody, { createdAt: marketNow + skew + 1, deadline: T0 + 120_000 }, coordinator), reject('from-the-future')],
      ['expired', 'deadline before the receiver\'s clock.', withBody('job', jobBody, { deadline: T0 + 100 }, coordinator), ignore('expired')],
      ['unknown-spec', 'A spec the receiver does not hold.', withBody('job', jobBody, { specId: elsewhere }, coordinator), ignore('unknown-spec')],
      ['input-too-large', `inputSize above MAX_INPUT_BYTES (${MAX_INPUT_BYTES}).`, withBody('job', jobBody, { inputSize: MAX_INPUT_BYTES + 1 }, coordinator), reject('bad-body')],
      ['impossible-deadlines', 'softDeadline after the job\'s own deadline (checked before the spec is looked up).', withBody('job', jobBody, { softDeadline: jobBody.deadline + 1 }, coordinator), reject('impossible-deadlines')],
      ['over-budget', 'maxUsd above the spec\'s budget.maxUsd (0.5).', withBody('job', jobBody, { maxUsd: 0.75 }, coordinator), reject('over-budget')],
      ['deadline-too-loose', 'deadline after the spec\'s absolute deadline (2099-01-01T00:00:00Z).', withBody('job', jobBody, { deadline: Date.parse('2099-01-01T00:00:01Z') }, coordinator), reject('deadline-too-loose')],
      ['nonce-too-long-utf16', 'nonce of 33 U+1F600 characters: 33 code points but 66 UTF-16 code units, above the 64 the schema allows. Lengths count UTF-16 code units.', withBody('job', jobBody, { nonce: '\u{1F600}'.repeat(33) }, coordinator), reject('bad-body')]
    ]),
    bid: topicNegatives('Correctly signed bid envelopes that the bid topic refuses or ignores (protocols/market.md, Validation: Bid), for a node that holds the spec vector and has seen the job vector.', seeing, [
      ['from-the-future', 'createdAt too far ahead of the receiver\'s clock.', withBody('bid', bidBody, { createdAt: marketNow + skew + 1 }, agent), reject('from-the-future')],
      ['unknown-job', 'A job the receiver has not seen.', withBody('bid', bidBody, { jobId: elsewhere }, agent), ignore('unknown-job')],
      ['wrong-spec', 'specId other than the job\'s.', withBody('bid', bidBody, { specId: elsewhere }, agent), reject('wrong-spec')],
      ['over-ceiling', 'priceUsd above the job\'s maxUsd (0.5).', withBody('bid', bidBody, { priceUsd: 0.6 }, agent), reject('over-ceiling')],
      ['self-bid', 'Signed by the job\'s coordinator.', withBody('bid', bidBody, {}, coordinator), reject('self-bid')],
      ['expired', 'expiresAt before the receiver\'s clock.', withBody('bid', bidBody, { expiresAt: T0 + 100 }, agent), ignore('expired')],
      ['load-too-large', `load.inFlight ${MAX_SLOTS + 1}, above MAX_SLOTS (${MAX_SLOTS}).`, withBody('bid', bidBody, { load: { inFlight: MAX_SLOTS + 1, limit: 5 } }, agent), reject('bad-body')]
    ]),
    award: topicNegatives('Correctly signed award envelopes that the award topic refuses or ignores (protocols/market.md, Validation: Award), for a node that holds the spec vector and has seen the job vector.', seeing, [
      ['from-the-future', 'issuedAt too far ahead of the receiver\'s clock.', withBody('award', awardBody, { issuedAt: marketNow + skew + 1 }, coordinator), reject('from-the-future')],
      ['unknown-job', 'A job the receiver has not seen.', withBody('award', awardBody, { jobId: elsewhere }, coordinator), ignore('unknown-job')],
      ['not-coordinator', 'Signed by a key other than the job\'s coordinator.', withBody('award', awardBody, {}, other), reject('not-coordinator')],
      ['wrong-spec', 'specId other than the job\'s.', withBody('award', awardBody, { specId: elsewhere }, coordinator), reject('wrong-spec')],
      ['over-ceiling', 'priceUsd above the job\'s maxUsd.', withBody('award', awardBody, { priceUsd: 0.6 }, coordinator), reject('over-ceiling')],
      ['self-award', 'Awarded to the job\'s coordinator itself.', withBody('award', awardBody, { agent: coordinator.peerId }, coordinator), reject('self-award')],
      ['self-award-other-spelling', `Awarded to the job's coordinator under a second spelling of its key (${swappedPeerId(coordinator)}, the protobuf fields swapped): not a PeerId, so the body fails its schema before any comparison.`, withBody('award', awardBody, { agent: swappedPeerId(coordinator) }, coordinator), reject('bad-body')]
    ]),
    awardEmbedding: topicNegatives('Correctly signed award envelopes embedding bids (as a coordinator that took bids over the bid stream signs them) that the award topic refuses, for a node that holds the spec vector and has seen the job vector. Each embedded bid must pass the checks of a gossiped bid.', seeing, [
      ['embedded-bid-tampered', 'The awarded bid (the bid vector) with its price changed after the agent signed it.', withBody('award', embedBody, { bids: [{ ...bid, body: { ...bidBody, priceUsd: 0.01 } }, otherBid] as AwardBody['bids'] }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bids-without-awarded', 'bidId names the bid vector, which is not among the embedded bids (only the other key\'s is).', withBody('award', embedBody, { bids: [otherBid] as AwardBody['bids'] }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bid-price-differs', 'priceUsd 0.07 (the other bid\'s) while bidId and agent name the bid vector at 0.05.', withBody('award', embedBody, { priceUsd: 0.07 }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bid-other-job', 'The other key\'s embedded bid is for another job.', withBody('award', embedBody, { bids: [bid, seal('bid', { ...bidBody, jobId: elsewhere, priceUsd: 0.07 }, other.signer)] as AwardBody['bids'] }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bids-same-agent', 'Two embedded bids signed by the agent key: one bid per agent counts.', withBody('award', embedBody, { bids: [bid, seal('bid', { ...bidBody, priceUsd: 0.06 }, agent.signer)] as AwardBody['bids'] }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bid-by-coordinator', 'An embedded bid signed by the job\'s coordinator.', withBody('award', embedBody, { bids: [bid, seal('bid', { ...bidBody, priceUsd: 0.07 }, coordinator.signer)] as AwardBody['bids'] }, coordinator), reject('bad-embedded-bid')],
      ['embedded-bids-too-many', `${MAX_AWARD_BIDS + 1} embedded bids, above MAX_AWARD_BIDS (${MAX_AWARD_BIDS}).`, withBody('award', embedBody, { bids: Array.from({ length: MAX_AWARD_BIDS + 1 }, () => bid) as AwardBody['bids'] }, coordinator), reject('bad-body')]
    ]),
    receipt: topicNegatives('Correctly signed receipt envelopes that the receipt topic refuses or ignores (protocols/market.md, Validation: Receipt), for a node that holds the spec vector. Receipts do not depend on the job being known.', { now: T0 + 1000, holdsSpecs: [spec.id], seenJobs: [] }, [
      ['from-the-future', 'verdictAt too far ahead of the receiver\'s clock.', withBody('receipt', receiptBody, { verdictAt: T0 + 1000 + skew + 1 }, coordinator), reject('from-the-future')],
      ['self-receipt', 'Signed by the agent it names (the coordinator and the agent are one key).', withBody('receipt', receiptBody, {}, agent), reject('self-receipt')],
      ['not-coordinator', 'Signed by a key other than the coordinator of the job it is for, on a node that has seen that job (this vector\'s own context): only the job\'s coordinator may sign its receipts.', withBody('receipt', receiptBody, {}, other), reject('not-coordinator'), { now: T0 + 1000, holdsSpecs: [spec.id], seenJobs: [job.id] }],
      ['impossible-times', 'startedAt after endedAt.', withBody('receipt', receiptBody, { startedAt: claimBody.endedAt + 1 }, coordinator), reject('impossible-times')],
      ['unknown-spec', 'A spec the receiver does not hold.', withBody('receipt', receiptBody, { specId: elsewhere }, coordinator), ignore('unknown-spec')],
      ['claim-tampered', 'The embedded claim\'s body changed after the agent signed it.', withBody('receipt', receiptBody, { claim: { ...claim, body: { ...claimBody, costUsd: 0.01 } } as ReceiptBody['claim'] }, coordinator), reject('id-mismatch')],
      ['claim-signer', 'The embedded claim is signed by a key other than the receipt\'s agent.', withBody('receipt', receiptBody, { claim: seal('claim', claimBody, other.signer) as ReceiptBody['claim'] }, coordinator), reject('claim-signer')],
      ['over-budget', 'costUsd above the spec\'s budget.maxUsd (0.5); checked before the embedded claim (which asked only 0.05).', withBody('receipt', receiptBody, { costUsd: 0.6 }, coordinator), reject('over-budget')],
      ['claim-mismatch', 'outputHash differs from the one the agent signed in its claim.', withBody('receipt', receiptBody, { outputHash: 'f'.repeat(64) }, coordinator), reject('claim-mismatch')],
      ['claim-for-other-award', 'The embedded claim (correctly signed by the agent) answers another award.', withBody('receipt', receiptBody, { claim: seal('claim', { ...claimBody, awardId: elsewhere }, agent.signer) as ReceiptBody['claim'] }, coordinator), reject('claim-mismatch')],
      ['unproven-output-no-claim', 'outcome success without the agent\'s claim.', withBody('receipt', receiptBody, { claim: null }, coordinator), reject('unproven-output')],
      ['unproven-output-no-hash', 'outcome criteria-failed (the agent delivered an output, the coordinator judged it) without the output hash.', withBody('receipt', { ...receiptBody, outcome: 'criteria-failed', reason: 'output.entities.all(e, e.confidence >= 75): false' }, { outputHash: undefined }, coordinator), reject('unproven-output')],
      ['delivered-without-success-claim', 'outcome success, but the agent\'s claim says error (it carries the same outputHash, so only the outcome is wrong).', withBody('receipt', receiptBody, { claim: seal('claim', { ...claimBody, outcome: 'error', costUsd: 0, reason: 'handler failed' }, agent.signer) as ReceiptBody['claim'] }, coordinator), reject('claim-mismatch')],
      ['charged-for-nothing', 'outcome timeout, with no claim and no output, yet costUsd 0.05: an attempt that delivered nothing must charge 0.', withBody('receipt', { ...receiptBody, outcome: 'timeout', reason: 'no result by the deadline', claim: null }, { outputHash: undefined }, coordinator), reject('charged-for-nothing')],
      ['refused-but-charged', 'outcome refused, embedding the agent\'s signed refusal, yet charging 0.01.', withBody('receipt', { ...receiptBody, outcome: 'refused', reason: 'busy', costUsd: 0.01, claim: seal('claim', { jobId: job.id, awardId: award.id, outcome: 'refused', startedAt: T0 + 105, endedAt: T0 + 105, costUsd: 0, reason: 'busy', retryAfterMs: 250 }, agent.signer) as ReceiptBody['claim'] }, { outputHash: undefined, startedAt: T0 + 105, endedAt: T0 + 105 }, coordinator), reject('charged-for-nothing')],
      ['cancelled-but-charged', 'outcome cancelled (the requester cancelled during the attempt), embedding the agent\'s signed claim of cancelled, yet charging 0.05.', withBody('receipt', { ...receiptBody, outcome: 'cancelled', reason: 'cancelled by the requester', claim: seal('claim', { jobId: job.id, awardId: award.id, outcome: 'cancelled', startedAt: T0 + 105, endedAt: T0 + 140, costUsd: 0, reason: 'cancelled by the coordinator' }, agent.signer) as ReceiptBody['claim'] }, { outputHash: undefined, startedAt: T0 + 105, endedAt: T0 + 140 }, coordinator), reject('charged-for-nothing')],
      ['unreachable-with-claim', 'outcome unreachable (no stream could be opened to the agent) yet embedding a claim of the agent.', withBody('receipt', { ...receiptBody, outcome: 'unreachable', reason: 'could not reach the agent', costUsd: 0, claim: seal('claim', { jobId: job.id, awardId: award.id, outcome: 'refused', startedAt: T0 + 105, endedAt: T0 + 105, costUsd: 0, reason: 'stopping: this agent is shutting down and takes no new work', stopping: true }, agent.signer) as ReceiptBody['claim'] }, { outputHash: undefined, startedAt: T0 + 105, endedAt: T0 + 105 }, coordinator), reject('claim-mismatch')],
      ['over-claim', 'costUsd 0.06, more than the 0.05 the agent asked in its claim.', withBody('receipt', receiptBody, { costUsd: 0.06 }, coordinator), reject('over-claim')]
    ]),
    capacity: topicNegatives(`Correctly signed capacity adverts that the capacity topic refuses or ignores (protocols/market.md, Validation: Capacity advert), for a node that already holds an advert issued at ${T0 + 100} by the agent key.`, { now: marketNow, holdsSpecs: [spec.id], seenJobs: [], heldAdverts: [{ signer: agent.peerId, issuedAt: T0 + 100 }] }, [
      ['limit-zero', 'A spec entry with limit 0 (the limit is at least 1).', withBody('capacity', capacityBody, { specs: [{ ...capacityBody.specs[0]!, limit: 0 }] }, agent), reject('bad-body')],
      ['limit-too-large', `A spec entry with limit ${MAX_SLOTS + 1}, above MAX_SLOTS (${MAX_SLOTS}, the most capacity.maxConcurrentRequests allows).`, withBody('capacity', capacityBody, { specs: [{ ...capacityBody.specs[0]!, limit: MAX_SLOTS + 1 }] }, agent), reject('bad-body')],
      ['queue-too-large', `A spec entry with a queue of ${MAX_QUEUE + 1}, above MAX_QUEUE (${MAX_QUEUE}).`, withBody('capacity', capacityBody, { specs: [{ ...capacityBody.specs[0]!, queue: MAX_QUEUE + 1 }] }, agent), reject('bad-body')],
      ['from-the-future', `issuedAt more than MAX_CLOCK_SKEW_MS (${skew} ms) ahead of the receiver's clock.`, withBody('capacity', capacityBody, { issuedAt: marketNow + skew + 1, expiresAt: marketNow + skew + 1 + 6000 }, agent), reject('from-the-future')],
      ['bad-ttl-too-long', `expiresAt − issuedAt is ${MAX_ADVERT_TTL_MS + 1} ms, above MAX_ADVERT_TTL_MS (${MAX_ADVERT_TTL_MS} ms).`, withBody('capacity', capacityBody, { expiresAt: capacityBody.issuedAt + MAX_ADVERT_TTL_MS + 1 }, agent), reject('bad-ttl')],
      ['bad-ttl-not-after-issue', 'expiresAt equal to issuedAt: an advert must live a positive time.', withBody('capacity', capacityBody, { expiresAt: capacityBody.issuedAt }, agent), reject('bad-ttl')],
      ['expired', 'expiresAt before the receiver\'s clock (a well-formed advert that is simply old).', withBody('capacity', capacityBody, { issuedAt: T0 - 10_000, expiresAt: T0 - 4000 }, agent), ignore('expired')],
      ['stale', `issuedAt ${T0 + 100}, no newer than the advert the receiver already holds from this agent: the receiver keeps the one it has.`, withBody('capacity', capacityBody, { issuedAt: T0 + 100, expiresAt: T0 + 100 + 6000 }, agent), ignore('stale')]
    ])
  }
  const callNow = T0 + 1050
  const leaseTopics = {
    call: topicNegatives('Correctly signed lease calls that the leases topic refuses or ignores (protocols/market.md "Leases", Validation), for a node that holds the spec vector.', { now: callNow, holdsSpecs: [spec.id], seenJobs: [] }, [
      ['from-the-future', 'createdAt too far ahead of the receiver\'s clock.', withBody('lease-call', leaseCallBody, { createdAt: callNow + skew + 1 }, coordinator), reject('from-the-future')],
      ['expired', 'createdAt so long ago that its bids no longer hold (createdAt + 5 × bidWindowMs + 250 ms is past).', withBody('lease-call', leaseCallBody, { createdAt: T0 }, coordinator), ignore('expired')],
      ['unknown-spec', 'A spec the receiver does not hold.', withBody('lease-call', leaseCallBody, { specId: elsewhere }, coordinator), ignore('unknown-spec')],
      ['over-budget', 'maxUsd above the spec\'s budget.maxUsd (0.5).', withBody('lease-call', leaseCallBody, { maxUsd: 0.75 }, coordinator), reject('over-budget')],
      ['over-limit', 'slots 6, above the spec\'s capacity.maxConcurrentRequests (5).', withBody('lease-call', leaseCallBody, { slots: 6 }, coordinator), reject('over-limit')],
      ['too-long', `durationMs ${MAX_LEASE_MS + 1}, above MAX_LEASE_MS (${MAX_LEASE_MS}).`, withBody('lease-call', leaseCallBody, { durationMs: MAX_LEASE_MS + 1 }, coordinator), reject('bad-body')]
    ]),
    bid: topicNegatives('Correctly signed lease bids that the leases topic refuses or ignores, for a node that holds the spec vector and has seen the lease call vector.', { now: callNow, holdsSpecs: [spec.id], seenJobs: [], seenLeaseCalls: [leaseCall.id] }, [
      ['from-the-future', 'createdAt too far ahead of the receiver\'s clock.', withBody('lease-bid', leaseBidBody, { createdAt: callNow + skew + 1 }, agent), reject('from-the-future')],
      ['unknown-call', 'A lease call the receiver has not seen.', withBody('lease-bid', leaseBidBody, { callId: elsewhere }, agent), ignore('unknown-call')],
      ['wrong-spec', 'specId other than the call\'s.', withBody('lease-bid', leaseBidBody, { specId: elsewhere }, agent), reject('wrong-spec')],
      ['over-ceiling', 'priceUsd above the call\'s maxUsd (0.5).', withBody('lease-bid', leaseBidBody, { priceUsd: 0.6 }, agent), reject('over-ceiling')],
      ['over-slots', 'slots 5, more than the call asks for (4).', withBody('lease-bid', leaseBidBody, { slots: 5 }, agent), reject('over-slots')],
      ['self-bid', 'Signed by the call\'s coordinator.', withBody('lease-bid', leaseBidBody, {}, coordinator), reject('self-bid')],
      ['expired', 'expiresAt before the receiver\'s clock.', withBody('lease-bid', leaseBidBody, { expiresAt: callNow - 1 }, agent), ignore('expired')]
    ]),
    lease: topicNegatives('Correctly signed leases that the leases topic refuses or ignores, for a node that holds the spec vector and has seen the lease call vector.', { now: T0 + 1150, holdsSpecs: [spec.id], seenJobs: [], seenLeaseCalls: [leaseCall.id] }, [
      ['from-the-future', 'issuedAt too far ahead of the receiver\'s clock.', withBody('lease', leaseBody, { issuedAt: T0 + 1150 + skew + 1, expiresAt: T0 + 1150 + skew + 1 + 30_000 }, coordinator), reject('from-the-future')],
      ['unknown-call', 'A lease call the receiver has not seen.', withBody('lease', leaseBody, { callId: elsewhere }, coordinator), ignore('unknown-call')],
      ['not-coordinator', 'Signed by a key other than the call\'s coordinator.', withBody('lease', leaseBody, {}, other), reject('not-coordinator')],
      ['wrong-spec', 'specId other than the call\'s.', withBody('lease', leaseBody, { specId: elsewhere }, coordinator), reject('wrong-spec')],
      ['over-ceiling', 'priceUsd above the call\'s maxUsd.', withBody('lease', leaseBody, { priceUsd: 0.6 }, coordinator), reject('over-ceiling')],
      ['over-slots', 'slots 5, more than the call asked for (4).', withBody('lease', leaseBody, { slots: 5 }, coordinator), reject('over-slots')],
      ['bad-term', 'expiresAt one millisecond later than issuedAt + the call\'s durationMs.', withBody('lease', leaseBody, { expiresAt: leaseBody.issuedAt + leaseCallBody.durationMs + 1 }, coordinator), reject('bad-term')],
      ['self-award', 'A lease of the coordinator\'s own slots.', withBody('lease', leaseBody, { agent: coordinator.peerId }, coordinator), reject('self-award')]
    ])
  }
  const withTopic = (vector: Record<string, unknown>, topic: TopicNegatives): Record<string, unknown> => ({ ...vector, topic })

  // A batch of the receipt vector and the receipt of a second attempt that timed out.
  const { outputHash: _delivered, ...undelivered } = receiptBody
  const retryReceipt = seal('receipt', { ...undelivered, awardId: contentId({ vector: 'the second award of the job vector' }), attempt: 2, outcome: 'timeout', reason: 'no result by the deadline', costUsd: 0, claim: null, startedAt: T0 + 1000, endedAt: T0 + 1500, verdictAt: T0 + 1510 } satisfies ReceiptBody, coordinator.signer)
  const batchText = (items: Array<Envelope<object> | string>): string => `[${items.map(r => typeof r === 'string' ? r : text(r)).join(',')}]`
  const batchContext = { now: T0 + 2000, holdsSpecs: [spec.id], seenJobs: [] as string[] }
  const forgedRetry = { ...retryReceipt, body: { ...retryReceipt.body, reason: 'rewritten by a relay' } }
  const batchNegative = (name: string, description: string, batchJson: string, expect: NegativeVector['expect'], topicSpec: string | null = spec.id): Record<string, unknown> => ({ name, description, batchJson, topicSpec, expect })
  const receiptBatch = {
    description: 'A receipt batch (protocols/market.md, Receipt batches): the JSON array of the receipt vector and the coordinator\'s receipt for a second attempt of the job that timed out, exactly as the TypeScript coordinator sends it on the receipts topic of the spec vector. The array is not signed; each element is a complete receipt envelope, checked alone by the receipt topic\'s rules and stored in the bytes it stands in (receiptJson). Negative batches name the topic they arrive on (topicSpec: the spec of the topic, null for the global receipts topic); the context is the receiving node\'s.',
    key: describeKey(coordinator),
    topicSpec: spec.id,
    context: batchContext,
    receipts: [receipt, retryReceipt],
    receiptJson: [text(receipt), text(retryReceipt)],
    batchJson: batchText([receipt, retryReceipt]),
    negative: [
      batchNegative('forged-receipt', 'The second receipt\'s body changed after signing (id and sig kept): one forged receipt Rejects the whole batch, and nothing of it is stored.', batchText([receipt, forgedRetry]), reject('id-mismatch')),
      batchNegative('receipt-rejected-alone', 'A correctly signed receipt the receipt topic Rejects alone (costUsd 0.6, above the spec\'s budget.maxUsd): the batch is Rejected with that receipt\'s code.', batchText([receipt, withBody('receipt', receiptBody, { costUsd: 0.6 }, coordinator)]), reject('over-budget')),
      batchNegative('receipt-ignored-alone', 'On the global receipts topic, a receipt for a spec the receiver does not hold next to a good one: the batch is Ignored whole (a node Accepts, and so forwards, only what it could check completely).', batchText([receipt, withBody('receipt', receiptBody, { specId: elsewhere }, coordinator)]), ignore('unknown-spec'), null),
      batchNegative('mixed-signers', `The second receipt signed by another key (${other.peerId}): a batch holds the receipts of one coordinator.`, batchText([receipt, seal('receipt', retryReceipt.body, other.signer)]), reject('mixed-batch')),
      batchNegative('duplicate-in-batch', 'The receipt vector twice.', batchText([receipt, receipt]), reject('duplicate-in-batch')),
      batchNegative('wrong-topic', 'The positive batch on the receipts topic of another spec.', batchText([receipt, retryReceipt]), reject('wrong-topic'), elsewhere),
      batchNegative('empty', 'An array of no receipts.', '[]', reject('bad-batch')),
      batchNegative('too-many', `${MAX_RECEIPTS_PER_BATCH + 1} elements, one more than MAX_RECEIPTS_PER_BATCH (${MAX_RECEIPTS_PER_BATCH}): refused before any element is read.`, `[${Array.from({ length: MAX_RECEIPTS_PER_BATCH + 1 }, () => '{}').join(',')}]`, reject('bad-batch')),
      batchNegative('trailing-comma', 'The positive batch with a comma before its closing bracket.', batchText([receipt, retryReceipt]).replace(/]$/, ',]'), reject('bad-batch')),
      batchNegative('element-not-an-envelope', 'An element that is not an envelope.', '[{"type":"receipt"}]', reject('bad-envelope'))
    ]
  }

  const files = new Map<string, unknown>([
    ['spec.json', withTopic(positiveVector(spec, coordinator, { specSource: VECTOR_SPEC_SOURCE }, 'A spec, signed by the coordinator key. The body is the normal form of specSource (see protocols/spec.md): the id is the CID of that body, and a receiver recomputes the normal form and requires the same id.',
      negativesFor(spec, b => { b.costUsd = 0.01 }, other)), topics.spec)],
    ['job.json', withTopic(positiveVector(job, coordinator, { input }, 'A job for the spec vector, signed by the coordinator key. input is the job input: its canonical JSON, the sha2-256 hex of that (inputHash) and its size in bytes (inputSize).',
      negativesFor(job, b => { b.maxUsd = 5 }, other)), topics.job)],
    ['bid.json', withTopic(positiveVector(bid, agent, {}, 'A bid on the job vector, signed by the agent key.',
      negativesFor(bid, b => { b.priceUsd = 0.01 }, other)), topics.bid)],
    ['award.json', withTopic(positiveVector(award, coordinator, {}, 'The award of the bid vector, signed by the coordinator key (the job\'s coordinator).',
      negativesFor(award, b => { b.agent = other.peerId }, other)), topics.award)],
    ['award-embedding-bids.json', withTopic(positiveVector(awardEmbedding, coordinator, {}, 'The award of the bid vector as a coordinator that took its bids over the bid stream signs it: it embeds the bids it ranked, the awarded bid vector first, then a bid of the other key (0.07 USD).',
      negativesFor(awardEmbedding, b => { b.bids = [bid] }, other)), topics.awardEmbedding)],
    ['bid-stream.json', bidStreamVector({ job, bid, agent, other, coordinator, bidBody, elsewhere, seeing })],
    ['receipt-frame.json', receiptFrameVector({ receipt, receiptBody, agent, other, coordinator, seeing: { now: T0 + 1000, holdsSpecs: [spec.id], seenJobs: [job.id] } })],
    ['claim.json', positiveVector(claim, agent, { output }, 'The agent\'s claim for the award vector, signed by the agent key. output is the output frame: its canonical JSON, the sha2-256 hex of that (outputHash) and its size (outputSize).',
      negativesFor(claim, b => { b.outputHash = '0'.repeat(64) }, other))],
    ['receipt.json', withTopic(positiveVector(receipt, coordinator, {}, 'The coordinator\'s receipt for the claim vector, signed by the coordinator key, embedding the agent\'s signed claim envelope as body.claim.',
      negativesFor(receipt, b => { b.costUsd = 0.5 }, other)), topics.receipt)],
    ['capacity.json', withTopic(positiveVector(capacity, agent, {}, 'A capacity advert of the agent key for the spec vector: nothing running, one place held by its open bid on the job vector, limit 5 with a queue of 5 more, price 0.05 USD; it lives 6000 ms (3 × the default 2000 ms advert interval).',
      negativesFor(capacity, b => { b.expiresAt = (b.expiresAt as number) + 1 }, other)), topics.capacity)],
    ['lease-call.json', withTopic(positiveVector(leaseCall, coordinator, {}, 'A call for lease bids on the spec vector, signed by the coordinator key: 4 slots for 30 s, at most 0.5 USD per job.',
      negativesFor(leaseCall, b => { b.slots = 5 }, other)), leaseTopics.call)],
    ['lease-bid.json', withTopic(positiveVector(leaseBid, agent, {}, 'The agent\'s lease bid on the lease call vector: 4 slots at 0.05 USD per job, held until the call\'s bidding is over (createdAt + 5 × bidWindowMs + 250 ms).',
      negativesFor(leaseBid, b => { b.priceUsd = 0.01 }, other)), leaseTopics.bid)],
    ['lease.json', withTopic(positiveVector(lease, coordinator, {}, 'The lease the coordinator awards for the lease bid vector: sent first over execute/1.2.0, then gossiped on the spec\'s leases topic.',
      negativesFor(lease, b => { b.slots = 5 }, other)), leaseTopics.lease)],
    ['lease-award.json', positiveVector(leaseAward, coordinator, { input }, 'One job under the lease vector: the award-equivalent first frame of a request on execute/1.2.0, signed by the coordinator. body.job is the job\'s body (the job is never gossiped) and body.jobId its content id; input is the input frame that follows.',
      negativesFor(leaseAward, b => { b.priceUsd = 0.01 }, other))],
    ['lease-claim.json', positiveVector(leasedClaim, agent, { output }, 'The agent\'s claim for the lease-award vector: as for an award, awardId is the lease-award\'s id.',
      negativesFor(leasedClaim, b => { b.outputHash = '0'.repeat(64) }, other))],
    ['lease-receipt.json', positiveVector(leasedReceipt, coordinator, {}, 'The coordinator\'s receipt for the job under the lease: a receipt like any other (awardId is the lease-award\'s id), embedding the lease claim vector.',
      negativesFor(leasedReceipt, b => { b.costUsd = 0.5 }, other))],
    ['lease-end.json', positiveVector(leaseEnd, agent, {}, 'The agent ends the lease vector (it is stopping): a frame on the execution stream the lease was opened on.',
      negativesFor(leaseEnd, b => { b.reason = 'other' }, other))],
    ['receipt-batch.json', receiptBatch],
    ['envelope-negative.json', {
      description: 'Envelopes that must be rejected before any topic-specific check, with the code the TypeScript node gives. Most are variations of the positive job vector (job.json). Check them in order: size, UTF-8 JSON, envelope shape, expected type, body canonicalizable, id, canonical signature spelling, canonical signer, signature.',
      keys: { coordinator: describeKey(coordinator), other: describeKey(other) },
      basedOn: text(job),
      negative: generalNegatives(job, other, { coordinator })
    }]
  ])
  return new Map([...files].map(([file, value]) => [file, JSON.stringify(value, null, 2) + '\n']))
}

/**
 * The bid stream (/specmesh/bid/1.0.0) as the coordinator of the job vector
 * judges it: frames in order on one agent's stream, each with the answer due
 * and whether the coordinator then closes the stream.
 */
function bidStreamVector (v: { job: Envelope<object>, bid: Envelope<BidBody>, agent: Key, other: Key, coordinator: Key, bidBody: BidBody, elsewhere: string, seeing: TopicNegatives['context'] }): Record<string, unknown> {
  const { bid, agent, other, coordinator, bidBody, elsewhere } = v
  const tampered = { ...bidBody, priceUsd: 0.01 }
  const frame = (name: string, description: string, peer: Key, envelope: object, answer: Record<string, unknown>, closes: boolean): Record<string, unknown> =>
    ({ name, description, peer: peer.peerId, envelopeJson: text(envelope), answer, closes })
  const refused = (code: string): Record<string, unknown> => ({ type: 'bid-answer', accepted: false, code })
  return {
    description: `Frames of the bid stream ${PROTOCOLS.bid} as the coordinator of the job vector (the coordinator key) judges them, in order, on a node that holds the spec vector and whose own job vector is still taking bids. Each case is sent by \`peer\` (the stream's remote PeerId); \`answer\` is the answer frame due (reason omitted: its words are free), \`closes\` whether the coordinator closes the stream after it. The cases after the first depend on it: the bid vector has been taken.`,
    context: v.seeing,
    coordinator: coordinator.peerId,
    maxFrameBytes: MAX_BID_FRAME_BYTES,
    frames: [
      frame('accepted', 'The bid vector, from the agent key on its own stream.', agent, bid, { type: 'bid-answer', bidId: bid.id, accepted: true }, false),
      frame('replayed', 'The bid vector again: a replay.', agent, bid, { ...refused('duplicate'), bidId: bid.id }, true),
      frame('second-bid', 'A second, different bid of the agent key on the same job: one bid per job per agent.', agent, seal('bid', { ...bidBody, priceUsd: 0.04 }, agent.signer), refused('already-bid'), true),
      frame('forged', 'A bid of the other key whose body was changed and its id recomputed after signing.', other, { ...seal('bid', bidBody, other.signer), body: tampered, id: contentId(tampered) }, refused('bad-signature'), true),
      frame('not-the-bidder', 'The bid vector (signed by the agent key) sent on the other key\'s stream: an agent sends its own bids only.', other, bid, refused('not-the-bidder'), true),
      frame('not-open', 'A bid of the other key for a job that is not the coordinator\'s open job (one it never saw).', other, seal('bid', { ...bidBody, jobId: elsewhere }, other.signer), refused('not-open'), false)
    ],
    oversized: { description: `A frame whose length prefix announces ${MAX_BID_FRAME_BYTES + 1} bytes, one over the limit: the coordinator resets the stream after reading the prefix, with no answer.`, lengthPrefixHex: Buffer.from(encodeVarint(MAX_BID_FRAME_BYTES + 1)).toString('hex') }
  }
}

/**
 * Receipt frames on the execution stream (execute/1.3.0) as the agent of the
 * receipt vector judges them, in order: the verdict due and whether the agent
 * resets the stream after it.
 */
function receiptFrameVector (v: { receipt: Envelope<ReceiptBody>, receiptBody: ReceiptBody, agent: Key, other: Key, coordinator: Key, seeing: TopicNegatives['context'] }): Record<string, unknown> {
  const { receipt, receiptBody, agent, other, coordinator } = v
  const frame = (name: string, description: string, peer: Key, envelope: object, verdict: Record<string, unknown>, resets: boolean): Record<string, unknown> =>
    ({ name, description, peer: peer.peerId, envelopeJson: text(envelope), verdict, resets })
  const rejected = (code: string): Record<string, unknown> => ({ action: 'reject', code })
  const elsewhere: ReceiptBody = { ...receiptBody, agent: other.peerId, outcome: 'unreachable', reason: 'could not reach the agent', costUsd: 0, claim: null }
  delete elsewhere.outputHash
  const altered = { ...receiptBody, costUsd: 0.01 }
  return {
    description: `Receipt frames on the execution stream ${PROTOCOLS.executeReceipts} as the agent of the receipt vector (the agent key) judges them, in order, on a node that holds the spec vector and has seen the job vector (protocols/market.md, Receipt frame). Each frame comes on a stream whose remote PeerId is \`peer\`; \`verdict\` is what the agent makes of it (\`accept\`: it stores the receipt), \`resets\` whether it then resets the stream. The second case depends on the first: the receipt vector is held.`,
    context: v.seeing,
    agent: agent.peerId,
    frames: [
      frame('kept', 'The receipt vector, on the coordinator key\'s stream: a receipt of the agent\'s own work from the coordinator that signed it.', coordinator, receipt, { action: 'accept' }, false),
      frame('duplicate', 'The receipt vector again: already held, dropped.', coordinator, receipt, { action: 'ignore', code: 'duplicate' }, false),
      frame('not-the-coordinator', 'The receipt vector on the other key\'s stream: only the coordinator that signed a receipt sends it on its stream.', other, receipt, rejected('not-ours'), true),
      frame('another-agents-work', 'A receipt the coordinator key signed for the other key\'s attempt (unreachable, nothing charged), on the coordinator\'s stream: a receipt of someone else\'s work.', coordinator, seal('receipt', elsewhere, coordinator.signer), rejected('not-ours'), true),
      frame('altered', 'The receipt vector with costUsd changed after signing (its id kept).', coordinator, { ...receipt, body: altered }, rejected('id-mismatch'), true)
    ]
  }
}

async function main (): Promise<void> {
  await mkdir(VECTOR_DIR, { recursive: true })
  for (const [file, content] of await renderAllVectors()) {
    await writeFile(join(VECTOR_DIR, file), content)
    console.log(`wrote protocols/vectors/${file}`)
  }
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main()
}
