import { z } from 'zod'
import { canonicalize, type KnownCanonical } from './canonical.ts'
import { cidOfText } from '../crypto/content-id.ts'
import { isCanonicalPeerId, verifySignature, type Signer } from '../crypto/signatures.ts'
import { MAX_JSON_DEPTH, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from './constants.ts'
import { parseStrictJson, StrictJsonError, type StrictJson } from './strict-json.ts'
import { reject } from './errors.ts'
import { wireString } from './text.ts'
import { plainlyShapedEnvelope } from './plain-shape.ts'

/** The lease types (protocols/market.md "Leases") go at the end: they travel only on the leases topic and execute/1.2.0. */
export const MESSAGE_TYPES = ['spec', 'job', 'bid', 'award', 'capacity', 'receipt', 'claim', 'lease-call', 'lease-bid', 'lease', 'lease-award', 'lease-end'] as const
export type MessageType = typeof MESSAGE_TYPES[number]

/** An envelope's `sig` as EnvelopeSchema checks it, for schemas of messages that embed an envelope. */
export const SignatureSchema = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature: 64 bytes, base64url without padding')

/**
 * The envelope every message travels in. `id` is the CID of the canonical body;
 * `sig` is Ed25519 by `signer` over the canonical JSON of {body, type, v}, so a
 * body signed as one message type cannot be replayed as another.
 */
export const EnvelopeSchema = z.object({
  type: z.enum(MESSAGE_TYPES),
  v: z.literal(PROTOCOL_VERSION),
  id: wireString(128, 1),
  body: z.record(z.string(), z.unknown()),
  signer: wireString(128, 1),
  sig: SignatureSchema
}).strict()

export interface Envelope<B = Record<string, unknown>> {
  type: MessageType
  v: typeof PROTOCOL_VERSION
  id: string
  body: B
  signer: string
  sig: string
}

const encoder = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF in the text, so the JSON check refuses it
// instead of the decoder silently dropping it (a second spelling of one message).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The bytes a signature covers: canonical JSON of {body, type, v}. Built by
 * concatenation because the keys already sort as body < type < v, which saves
 * canonicalising the body twice on the hot path.
 */
function signingPayload (type: string, canonicalBody: string): Uint8Array {
  return encoder.encode(`{"body":${canonicalBody},"type":${JSON.stringify(type)},"v":${PROTOCOL_VERSION}}`)
}

/**
 * Signatures this process made or has already verified, by type, id, signer
 * and signature: one that comes back (an agent's own claim inside the receipt
 * of its job, the same envelope relayed twice) is not verified again. The id
 * is the content id of the canonical body, checked before this is consulted,
 * so an entry stands for exactly the signed bytes it was verified over; a
 * forged or altered envelope never matches one. Cleared when full.
 */
const knownSignatures = new Set<string>()
const KNOWN_SIGNATURES_LIMIT = 8192

function rememberSignature (key: string): void {
  if (knownSignatures.size >= KNOWN_SIGNATURES_LIMIT) knownSignatures.clear()
  knownSignatures.add(key)
}

const signatureKey = (type: string, id: string, signer: string, sig: string): string => `${type} ${id} ${signer} ${sig}`

function sign (type: MessageType, canonicalBody: string, id: string, signer: Signer): string {
  const sig = Buffer.from(signer.sign(signingPayload(type, canonicalBody))).toString('base64url')
  rememberSignature(signatureKey(type, id, signer.peerId, sig))
  return sig
}

/**
 * Sign `body` as a message of `type`. `known`: the canonical text of objects
 * `body` carries that were canonicalized before and not changed since (a
 * job's body in its lease-award, a claim in its receipt), reused as is.
 */
export function seal<B extends object> (type: MessageType, body: B, signer: Signer, known?: KnownCanonical): Envelope<B> {
  const canonicalBody = canonicalize(body, undefined, known)
  const id = cidOfText(canonicalBody)
  return { type, v: PROTOCOL_VERSION, id, body, signer: signer.peerId, sig: sign(type, canonicalBody, id, signer) }
}

/**
 * seal, but the signature is made the first time `sig` is read (which
 * encoding the envelope does), over the body as it was when sealed: for a
 * message that may never leave this node. A coordinator's job under a lease
 * is one: only its id and body travel, inside the lease-award, and it is
 * signed only if it goes to the auction after all (bench:jobs' lease path:
 * one Ed25519 signature a job, about a fifth of the coordinator's signing).
 * `parts` receives the canonical text of the body (see canonicalize), for a
 * message that will carry it (seal's `known`).
 */
export function sealLazily<B extends object> (type: MessageType, body: B, signer: Signer, parts?: WeakMap<object, string>): Envelope<B> {
  const canonicalBody = canonicalize(body, parts)
  const id = cidOfText(canonicalBody)
  let sig: string | undefined
  const envelope = { type, v: PROTOCOL_VERSION, id, body, signer: signer.peerId } as Envelope<B>
  Object.defineProperty(envelope, 'sig', { enumerable: true, get: () => (sig ??= sign(type, canonicalBody, id, signer)) })
  return envelope
}

export function encodeEnvelope (envelope: Envelope<object>): Uint8Array {
  return encoder.encode(JSON.stringify(envelope))
}

/**
 * An envelope encoded once for every copy that leaves or is kept: its JSON
 * text (what a store record embeds) and those bytes (what a frame or a gossip
 * message carries), the same as encodeEnvelope's.
 */
export function encodeEnvelopeOnce (envelope: Envelope<object>): { text: string, bytes: Uint8Array } {
  const text = JSON.stringify(envelope)
  return { text, bytes: encoder.encode(text) }
}

export interface OpenOptions {
  maxBytes?: number
  expectType?: MessageType
  /** Filled with the canonical text of every object in the body (see canonicalize): for checking an embedded envelope with authenticateEmbedded. */
  canonicalParts?: WeakMap<object, string>
  /**
   * The envelope came from its signer itself over a channel that
   * authenticates the sender (an execution stream, whose Noise handshake
   * proved the peer's key), and the reader keeps no copy of it and passes none
   * on: every check is made but the Ed25519 verification (the id, the
   * signature's and the signer's spelling are still checked), and the caller
   * must hold the signer to the channel's peer. Only an agent's lease-award
   * (protocols/market.md "Leases", Agent side).
   */
  fromAuthenticatedSigner?: boolean
}

/**
 * Decode and authenticate an envelope: size, JSON, shape, id and signature.
 * Throws MessageValidationError (always Reject: each failure here is the sender's fault).
 * Checking the body against its message type's own schema is the caller's job.
 */
export function openEnvelope (bytes: Uint8Array, options: OpenOptions = {}): Envelope {
  return verifyEnvelope(parseEnvelopeJson(bytes, options.maxBytes), options)
}

/** The size check and the JSON parse of openEnvelope, alone: nothing is authenticated yet. */
export function parseEnvelopeJson (bytes: Uint8Array, maxBytes: number = MAX_MESSAGE_BYTES): unknown {
  if (bytes.byteLength > maxBytes) {
    throw reject('too-large', `message is ${bytes.byteLength} bytes; the limit is ${maxBytes}`)
  }
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    throw reject('not-json', 'message is not UTF-8')
  }
  let json: StrictJson
  try {
    json = parseStrictJson(text, MAX_JSON_DEPTH)
  } catch (err) {
    if (!(err instanceof StrictJsonError)) throw err
    throw reject(err.code, `message is not strict JSON: ${err.message}`)
  }
  // JSON.parse reads 1.0 and 1e0 as 1: only the integer spelling is the version.
  const v = json.topLevelNumbers.get('v')
  if (v !== String(PROTOCOL_VERSION)) {
    throw reject('bad-envelope', `envelope field v: written ${v ?? '(not a number)'}; write the integer ${PROTOCOL_VERSION}`)
  }
  return json.value
}

/** The same checks as openEnvelope, for an envelope already parsed (e.g. one embedded in another). */
export function verifyEnvelope (raw: unknown, options: OpenOptions = {}): Envelope {
  // A plainly well-formed envelope (every one an honest node sends) skips the
  // schema: the same verdict, and a body zod would copy member for member.
  const envelope = plainlyShapedEnvelope(raw) ? raw as unknown as Envelope : shapedByTheSchema(raw)
  if (options.expectType != null && envelope.type !== options.expectType) {
    throw reject('wrong-type', `expected a ${options.expectType} message, got ${envelope.type}`)
  }
  return authenticateShaped(envelope, options.canonicalParts, options.fromAuthenticatedSigner === true)
}

function shapedByTheSchema (raw: unknown): Envelope {
  const parsed = EnvelopeSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw reject('bad-envelope', `envelope field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`)
  }
  return parsed.data as Envelope
}

/**
 * verifyEnvelope after its shape check: canonical body, id and signature. For
 * an envelope whose shape the caller has checked by EnvelopeSchema's rules
 * itself (validators.ts verifyClaim); `canonicalParts` as in OpenOptions.
 */
export function authenticateShaped (envelope: Envelope, canonicalParts?: WeakMap<object, string>, fromAuthenticatedSigner = false): Envelope {
  let canonicalBody: string
  try {
    canonicalBody = canonicalize(envelope.body, canonicalParts)
  } catch (err) {
    throw reject('bad-body', (err as Error).message)
  }
  return authenticate(envelope, canonicalBody, !fromAuthenticatedSigner)
}

/**
 * The id and signature checks of verifyEnvelope, alone, for an envelope
 * embedded in a message that was just verified with `canonicalParts`: its
 * shape was checked by the enclosing message's schema (which must hold it to
 * EnvelopeSchema's rules: a claim in a receipt is) and its body's canonical
 * text is already known, so neither is done twice.
 */
export function authenticateEmbedded (envelope: Envelope, canonicalParts: WeakMap<object, string>): Envelope {
  let canonicalBody = canonicalParts.get(envelope.body)
  if (canonicalBody == null) {
    try {
      canonicalBody = canonicalize(envelope.body)
    } catch (err) {
      throw reject('bad-body', (err as Error).message)
    }
  }
  return authenticate(envelope, canonicalBody)
}

/** `verify` false: all but the Ed25519 verification (OpenOptions.fromAuthenticatedSigner). */
function authenticate (envelope: Envelope, canonicalBody: string, verify = true): Envelope {
  if (cidOfText(canonicalBody) !== envelope.id) {
    throw reject('id-mismatch', 'envelope id is not the content id of its body')
  }
  const sig = Buffer.from(envelope.sig, 'base64url')
  // base64url ignores the spare low bits of the last character: demand the one
  // canonical spelling, or one signature could travel under several message ids.
  if (sig.toString('base64url') !== envelope.sig) {
    throw reject('bad-signature', 'signature is not in canonical base64url')
  }
  if (!isCanonicalPeerId(envelope.signer)) {
    throw reject('bad-signer', `signer ${envelope.signer} is not a PeerId in its canonical (base58btc) form`)
  }
  if (!verify) return envelope
  const known = signatureKey(envelope.type, envelope.id, envelope.signer, envelope.sig)
  if (knownSignatures.has(known)) return envelope
  if (!verifySignature(envelope.signer, signingPayload(envelope.type, canonicalBody), sig)) {
    throw reject('bad-signature', `signature does not verify for signer ${envelope.signer}`)
  }
  rememberSignature(known)
  return envelope
}

/** Exposed for the independent tweetnacl check of test vectors. */
export function signingPayloadOf (envelope: Envelope<object>): Uint8Array {
  return signingPayload(envelope.type, canonicalize(envelope.body))
}
