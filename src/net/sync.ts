import { FramedStream } from './frames.ts'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { z } from 'zod'
import { MAX_MESSAGE_BYTES, PROTOCOLS } from '../wire/constants.ts'
import { MessageValidationError } from '../wire/errors.ts'
import { wireString } from '../wire/text.ts'
import { isCanonicalPeerId } from '../crypto/signatures.ts'
import type { TopicValidator } from './gossip.ts'
import type { SpecmeshLibp2p } from './libp2p.ts'

/**
 * Sync for late joiners and reconnects: the dialer sends one request frame
 * naming the record kinds it wants (1.1.0: and which of them), the listener
 * answers with one frame per record (the same envelope bytes gossip would
 * carry) and a final end frame, which in 1.1.0 carries a cursor: asked back as
 * `since` next time, it limits the answer to what the listener stored since.
 * Each record is checked by the very validator its gossip topic uses, so a
 * record is never trusted more for having arrived by sync.
 */

/** At most this many spec ids in a request's `specs`, and receipt ids in its `ids` (both well inside one frame). */
export const MAX_SYNC_SPECS = 256
export const MAX_SYNC_IDS = 500

const kinds = z.array(wireString(32)).min(1).max(16)
const contentId = wireString(128, 1)

/** The 1.0.0 request: kinds only. */
export const SyncRequestV1Schema = z.object({ kinds }).strict()

export const SyncRequestSchema = z.object({
  kinds,
  /** The cursor this same listener gave in its last end frame: only records it stored at or after it. */
  since: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  /** Receipts of these spec ids only. */
  specs: z.array(contentId).min(1).max(MAX_SYNC_SPECS).optional(),
  /** Receipts naming this agent only. */
  agent: wireString(128, 1).refine(isCanonicalPeerId, 'a PeerId in canonical base58btc form').optional(),
  /** These receipts only. */
  ids: z.array(contentId).min(1).max(MAX_SYNC_IDS).optional()
}).strict().refine(r => r.since == null || r.ids == null, {
  path: ['since'],
  message: 'since cannot be combined with ids: ids asks for those records whenever they were stored; send one or the other'
})
export type SyncRequest = z.infer<typeof SyncRequestSchema>
/** What a request selects within a kind: everything but the kinds. */
export type SyncSelection = Omit<SyncRequest, 'kinds'>

/** The 1.1.0 end frame. */
export const SyncEndFrameSchema = z.object({
  end: z.literal(true),
  cursor: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
}).strict()

/** Upper bound on records a single sync answer may carry. */
export const MAX_SYNC_RECORDS = 100_000
/** A sync that has not finished by then is abandoned. */
export const SYNC_TIMEOUT_MS = 60_000

export interface SyncKind {
  /** Encoded envelopes of the live records of this kind that `selection` selects. */
  records: (selection: SyncSelection) => AsyncIterable<Uint8Array>
  validate: TopicValidator
  /** At most this many records of the kind per signer in one answer; the rest are ignored unread. */
  signerQuota?: number
  /** The kind's received-time cursor now (ReceivedIndex.cursor): every record stored below it is visible to a read begun after. */
  cursor: () => Promise<number>
  /** Resolves once every record `validate` accepted so far is on disk; a cursor is kept only then. */
  flushed?: () => Promise<void>
}

export interface SyncResult {
  peer: string
  /** The protocol the exchange ran on: 1.0.0 peers send no cursor. */
  protocol: string
  accepted: number
  ignored: number
  rejected: number
  /** The listener's cursor from its end frame (1.1.0 only), once the answer is complete. */
  cursor?: number
}

/** The request, and what it was answered with (logged by the listener as `sync.served`). */
export interface SyncServed {
  peer: string
  protocol: string
  records: number
  cursor?: number
}

export interface SyncOptions {
  /** Each pull's outcome (complete or not). */
  onResult?: (result: SyncResult) => void
  /** Each request answered. */
  onServed?: (served: SyncServed) => void
  /** Each request refused unanswered, with why. */
  onRefused?: (peer: string, reason: string) => void
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const END_FRAME_V1 = encoder.encode('{"end":true}')
/** Longer than any end frame: `{"end":true,"cursor":` and 16 digits and `}`. */
const MAX_END_FRAME_BYTES = 64

/** Once a frame has begun, the rest of it must arrive within this. */
export const SYNC_FRAME_TIMEOUT_MS = 10_000

function syncStream (stream: Stream): FramedStream {
  return new FramedStream(stream, { maxFrameBytes: MAX_MESSAGE_BYTES, frameTimeoutMs: SYNC_FRAME_TIMEOUT_MS })
}

export class SyncProtocolError extends Error {
  override name = 'SyncProtocolError'
}

/** A request that does not parse or match the schema: refused unanswered. */
export class SyncRequestError extends Error {
  override name = 'SyncRequestError'
}

/** Whether a peer's identify list says it serves sync, either version. */
export function speaksSync (protocols: readonly string[]): boolean {
  return protocols.includes(PROTOCOLS.sync) || protocols.includes(PROTOCOLS.syncV1)
}

/**
 * The end frame, or null for any other frame. 1.0.0: exactly `{"end":true}`.
 * 1.1.0: `{"end":true,"cursor":N}`; a short frame that starts like one but is
 * not well formed fails the sync (its cursor cannot be trusted).
 */
function endFrame (frame: Uint8Array, v1: boolean): { cursor?: number } | null {
  if (v1) return frame.byteLength === END_FRAME_V1.byteLength && decoder.decode(frame) === '{"end":true}' ? {} : null
  if (frame.byteLength > MAX_END_FRAME_BYTES) return null
  const text = decoder.decode(frame)
  if (!text.startsWith('{"end"')) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new SyncProtocolError(`malformed end frame ${JSON.stringify(text)}`)
  }
  const checked = SyncEndFrameSchema.safeParse(parsed)
  if (!checked.success) throw new SyncProtocolError(`malformed end frame ${JSON.stringify(text)}: expected {"end":true,"cursor":N}, N a whole number of milliseconds`)
  return { cursor: checked.data.cursor }
}

function parseRequest (frame: Uint8Array, v1: boolean): SyncRequest {
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(frame))
  } catch {
    throw new SyncRequestError('the request is not JSON')
  }
  const checked = (v1 ? SyncRequestV1Schema : SyncRequestSchema).safeParse(json)
  if (!checked.success) {
    const issue = checked.error.issues[0]
    throw new SyncRequestError(`${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`)
  }
  return checked.data
}

export class Sync {
  private readonly libp2p: SpecmeshLibp2p
  private readonly kinds: Map<string, SyncKind>
  private readonly options: SyncOptions

  constructor (libp2p: SpecmeshLibp2p, kinds: Map<string, SyncKind>, options: SyncOptions = {}) {
    this.libp2p = libp2p
    this.kinds = kinds
    this.options = options
  }

  /** The record kinds this node syncs, in the order it asks for them. */
  kindNames (): string[] {
    return [...this.kinds.keys()]
  }

  async start (): Promise<void> {
    await this.libp2p.handle([PROTOCOLS.sync, PROTOCOLS.syncV1], (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer.toString()
      this.serve(stream, peer).catch(err => {
        stream.abort(err as Error)
        if (err instanceof SyncRequestError) this.options.onRefused?.(peer, err.message)
        else this.options.onResult?.({ peer, protocol: stream.protocol ?? PROTOCOLS.sync, accepted: 0, ignored: 0, rejected: 0 })
      })
    }, {
      // A node reachable only through a relay must still catch up. A relay
      // that cuts an answer short leaves nothing half-stored: each record is
      // checked and stored on its own.
      runOnLimitedConnection: true
    })
  }

  private async serve (stream: Stream, peer: string): Promise<void> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const protocol = stream.protocol ?? PROTOCOLS.sync
    const v1 = protocol === PROTOCOLS.syncV1
    const lp = syncStream(stream)
    const request = parseRequest((await lp.read({ signal })).subarray(), v1)
    const { kinds, ...selection } = request
    const known = kinds.flatMap(name => {
      const kind = this.kinds.get(name)
      return kind != null ? [kind] : []
    })
    // Taken before any record is read: whatever is stored below it is in this answer.
    let cursor: number | undefined
    if (!v1) {
      cursor = selection.since ?? 0
      const cursors = await Promise.all(known.map(async kind => await kind.cursor()))
      if (cursors.length > 0) cursor = Math.min(...cursors)
    }
    let sent = 0
    for (const kind of known) {
      for await (const record of kind.records(selection)) {
        if (++sent > MAX_SYNC_RECORDS) break
        await lp.write(record, { signal })
      }
    }
    await lp.write(v1 ? END_FRAME_V1 : encoder.encode(JSON.stringify({ end: true, cursor })), { signal })
    await stream.close({ signal })
    this.options.onServed?.({ peer, protocol, records: Math.min(sent, MAX_SYNC_RECORDS), ...(cursor != null ? { cursor } : {}) })
  }

  /**
   * Fetch the records `request` selects from one peer and ingest them, over
   * `connection` when given (it may be a relayed one), else over whatever
   * connection libp2p dials. A peer that speaks only 1.0.0 is sent the kinds
   * alone and answers with everything it holds of them (no cursor).
   */
  async pull (peer: PeerId, request: SyncRequest = { kinds: this.kindNames() }, connection?: Connection): Promise<SyncResult> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const options = { signal, runOnLimitedConnection: true }
    const protocols = [PROTOCOLS.sync, PROTOCOLS.syncV1]
    const stream = connection != null && connection.status === 'open'
      ? await connection.newStream(protocols, options)
      : await this.libp2p.dialProtocol(peer, protocols, options)
    const protocol = stream.protocol ?? PROTOCOLS.sync
    const v1 = protocol === PROTOCOLS.syncV1
    const lp = syncStream(stream)
    const result: SyncResult = { peer: peer.toString(), protocol, accepted: 0, ignored: 0, rejected: 0 }
    const perSigner = new Map<string, number>()
    try {
      await lp.write(encoder.encode(JSON.stringify(v1 ? { kinds: request.kinds } : request)), { signal })
      for (let records = 0; ;) {
        const frame = (await lp.read({ signal })).subarray()
        const end = endFrame(frame, v1)
        if (end != null) {
          if (end.cursor != null) result.cursor = end.cursor
          break
        }
        // Exactly MAX_SYNC_RECORDS records and the end frame is a full answer; one more is a flood.
        if (++records > MAX_SYNC_RECORDS) throw new SyncProtocolError(`peer ${result.peer} sent more than ${MAX_SYNC_RECORDS} sync records`)
        await this.ingest(frame, result, perSigner)
      }
      await stream.close({ signal })
    } catch (err) {
      delete result.cursor
      stream.abort(err as Error)
      throw err
    } finally {
      this.options.onResult?.(result)
    }
    return result
  }

  /** Resolves once every record accepted by any pull so far is on disk. */
  async flushed (): Promise<void> {
    await Promise.all([...this.kinds.values()].map(async kind => await kind.flushed?.()))
  }

  private async ingest (frame: Uint8Array, result: SyncResult, perSigner: Map<string, number>): Promise<void> {
    let head: { type?: unknown, signer?: unknown }
    try {
      head = JSON.parse(decoder.decode(frame)) as { type?: unknown, signer?: unknown }
    } catch {
      result.rejected++
      return
    }
    const kind = typeof head.type === 'string' ? this.kinds.get(head.type) : undefined
    if (kind == null) {
      result.rejected++
      return
    }
    if (kind.signerQuota != null) {
      const key = `${String(head.type)}!${String(head.signer)}`
      const count = (perSigner.get(key) ?? 0) + 1
      perSigner.set(key, count)
      if (count > kind.signerQuota) {
        result.ignored++
        return
      }
    }
    try {
      await kind.validate(frame, result.peer)
      result.accepted++
    } catch (err) {
      if (!(err instanceof MessageValidationError)) throw err
      if (err.action === 'reject') result.rejected++
      else result.ignored++
    }
  }
}
