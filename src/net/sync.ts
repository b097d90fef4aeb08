import { FramedStream } from './frames.ts'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { z } from 'zod'
import { MAX_MESSAGE_BYTES, PROTOCOLS } from '../wire/constants.ts'
import { MessageValidationError } from '../wire/errors.ts'
import { wireString } from '../wire/text.ts'
import type { TopicValidator } from './gossip.ts'
import type { SpecmeshLibp2p } from './libp2p.ts'

/**
 * Sync for late joiners: the dialer sends one request frame naming the record
 * kinds it wants; the listener answers with one frame per record (the same
 * envelope bytes gossip would carry) and a final end frame. Each record is
 * checked by the very validator its gossip topic uses, so a record is never
 * trusted more for having arrived by sync.
 */
export const SyncRequestSchema = z.object({
  kinds: z.array(wireString(32)).min(1).max(16)
}).strict()
export type SyncRequest = z.infer<typeof SyncRequestSchema>

/** Upper bound on records a single sync answer may carry. */
export const MAX_SYNC_RECORDS = 100_000
/** A sync that has not finished by then is abandoned. */
export const SYNC_TIMEOUT_MS = 60_000

export interface SyncKind {
  /** Encoded envelopes of every live record of this kind. */
  records: () => AsyncIterable<Uint8Array>
  validate: TopicValidator
  /** At most this many records of the kind per signer in one answer; the rest are ignored unread. */
  signerQuota?: number
}

export interface SyncResult {
  peer: string
  accepted: number
  ignored: number
  rejected: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const END_FRAME = encoder.encode('{"end":true}')

/** Once a frame has begun, the rest of it must arrive within this. */
export const SYNC_FRAME_TIMEOUT_MS = 10_000

function syncStream (stream: Stream): FramedStream {
  return new FramedStream(stream, { maxFrameBytes: MAX_MESSAGE_BYTES, frameTimeoutMs: SYNC_FRAME_TIMEOUT_MS })
}

export class SyncProtocolError extends Error {
  override name = 'SyncProtocolError'
}

function isEnd (frame: Uint8Array): boolean {
  return frame.byteLength === END_FRAME.byteLength && decoder.decode(frame) === '{"end":true}'
}

export class Sync {
  private readonly libp2p: SpecmeshLibp2p
  private readonly kinds: Map<string, SyncKind>
  private readonly onResult: (result: SyncResult) => void

  constructor (libp2p: SpecmeshLibp2p, kinds: Map<string, SyncKind>, onResult: (result: SyncResult) => void = () => {}) {
    this.libp2p = libp2p
    this.kinds = kinds
    this.onResult = onResult
  }

  async start (): Promise<void> {
    await this.libp2p.handle(PROTOCOLS.sync, (stream: Stream, connection: Connection) => {
      this.serve(stream).catch(err => {
        stream.abort(err as Error)
        this.onResult({ peer: connection.remotePeer.toString(), accepted: 0, ignored: 0, rejected: 0 })
      })
    }, {
      // A node reachable only through a relay must still catch up. A relay
      // that cuts an answer short leaves nothing half-stored: each record is
      // checked and stored on its own.
      runOnLimitedConnection: true
    })
  }

  private async serve (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const lp = syncStream(stream)
    const request = SyncRequestSchema.parse(JSON.parse(decoder.decode((await lp.read({ signal })).subarray())))
    let sent = 0
    for (const kind of request.kinds) {
      const source = this.kinds.get(kind)
      if (source == null) continue
      for await (const record of source.records()) {
        if (++sent > MAX_SYNC_RECORDS) break
        await lp.write(record, { signal })
      }
    }
    await lp.write(END_FRAME, { signal })
    await stream.close({ signal })
  }

  /**
   * Fetch every live record of the given kinds from one peer and ingest them,
   * over `connection` when given (it may be a relayed one), else over whatever
   * connection libp2p dials.
   */
  async pull (peer: PeerId, kinds: string[] = [...this.kinds.keys()], connection?: Connection): Promise<SyncResult> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const options = { signal, runOnLimitedConnection: true }
    const stream = connection != null && connection.status === 'open'
      ? await connection.newStream(PROTOCOLS.sync, options)
      : await this.libp2p.dialProtocol(peer, PROTOCOLS.sync, options)
    const lp = syncStream(stream)
    const result: SyncResult = { peer: peer.toString(), accepted: 0, ignored: 0, rejected: 0 }
    const perSigner = new Map<string, number>()
    try {
      await lp.write(encoder.encode(JSON.stringify({ kinds })), { signal })
      for (let records = 0; ;) {
        const frame = (await lp.read({ signal })).subarray()
        if (isEnd(frame)) break
        // Exactly MAX_SYNC_RECORDS records and the end frame is a full answer; one more is a flood.
        if (++records > MAX_SYNC_RECORDS) throw new SyncProtocolError(`peer ${result.peer} sent more than ${MAX_SYNC_RECORDS} sync records`)
        await this.ingest(frame, result, perSigner)
      }
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      this.onResult(result)
    }
    return result
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
