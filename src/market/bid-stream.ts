import type { Connection, Startable, Stream } from '@libp2p/interface'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import { EndOfStreamError, FrameError } from '../net/frames.ts'
import { PROTOCOLS } from '../wire/constants.ts'
import { MessageValidationError, reject } from '../wire/errors.ts'
import {
  acceptedAnswer, bidStream, BID_FRAME_TIMEOUT_MS, encodeBidAnswer, MAX_BID_FRAME_BYTES, MAX_BID_STREAMS_PER_PEER, MAX_REFUSALS_IN_A_ROW,
  refusalClosesStream, refusedAnswer
} from './bid-protocol.ts'

/**
 * What judges one bid frame: resolves with the bid's id when it is taken,
 * throws a MessageValidationError (Reject or Ignore, with its code) when not.
 * `peer` is the stream's remote PeerId, authenticated by the connection.
 */
export type AcceptBid = (frame: Uint8Array, peer: string) => Promise<{ bidId: string }>

export interface BidStreamInit {
  /** The protocol id served. @default PROTOCOLS.bid — a lease-bid stream can reuse this service under its own id. */
  protocol?: string
  /** Largest frame read. @default MAX_BID_FRAME_BYTES */
  maxFrameBytes?: number
  /** How long a frame may take once it has begun. @default BID_FRAME_TIMEOUT_MS */
  frameTimeoutMs?: number
  /** Inbound streams of this protocol per peer. @default MAX_BID_STREAMS_PER_PEER */
  maxStreamsPerPeer?: number
}

export interface BidStreamComponents {
  libp2p: SpecmeshLibp2p
  accept: AcceptBid
  /** Every frame's outcome, as a gossip validator's verdict (the node's verdict log and metrics). */
  onVerdict?: (protocol: string, verdict: 'accept' | 'reject' | 'ignore', from: string, reason?: string) => void
  log?: (event: string, fields?: Record<string, unknown>) => void
}

const decoder = new TextDecoder()

/** The id a frame claims for itself, unauthenticated: only echoed in the answer so an agent can match it. */
function claimedId (frame: Uint8Array): string | undefined {
  try {
    const id = (JSON.parse(decoder.decode(frame)) as { id?: unknown } | null)?.id
    return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined
  } catch {
    return undefined
  }
}

/**
 * The receiving side of the bid stream (protocols/market.md "Bid stream"): reads
 * bid frames from each agent's stream in order, judges each with `accept`, and
 * answers each with one frame, accepted or refused with a code. A refusal that
 * no honest agent earns (forged, malformed, a replay, a second bid on one job)
 * is answered and the stream closed; a frame that breaks the framing (too
 * long, too slow, a padded length) resets the stream unread.
 */
export class BidStreamService implements Startable {
  readonly protocol: string
  private readonly components: BidStreamComponents
  private readonly maxFrameBytes: number
  private readonly frameTimeoutMs: number
  private readonly maxStreamsPerPeer: number
  private readonly open = new Map<string, number>()
  private readonly streams = new Set<Stream>()

  constructor (components: BidStreamComponents, init: BidStreamInit = {}) {
    this.components = components
    this.protocol = init.protocol ?? PROTOCOLS.bid
    this.maxFrameBytes = init.maxFrameBytes ?? MAX_BID_FRAME_BYTES
    this.frameTimeoutMs = init.frameTimeoutMs ?? BID_FRAME_TIMEOUT_MS
    this.maxStreamsPerPeer = init.maxStreamsPerPeer ?? MAX_BID_STREAMS_PER_PEER
  }

  async start (): Promise<void> {
    await this.components.libp2p.handle(this.protocol, (stream, connection) => { this.onStream(stream, connection) }, {
      // The per-peer cap below is what bounds a peer; this only bounds all peers together.
      maxInboundStreams: 256,
      // An agent behind NAT bids through a relay, as it executes through one.
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    await this.components.libp2p.unhandle(this.protocol).catch(() => {})
    for (const stream of this.streams) stream.abort(new Error('the node is stopping'))
    this.streams.clear()
    this.open.clear()
  }

  private onStream (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    const open = this.open.get(peer) ?? 0
    if (open >= this.maxStreamsPerPeer) {
      this.components.log?.('bid-stream.refused', { level: 'warn', peer, reason: `more than ${this.maxStreamsPerPeer} bid streams from one peer` })
      stream.abort(new Error(`at most ${this.maxStreamsPerPeer} bid streams per peer`))
      return
    }
    this.open.set(peer, open + 1)
    this.streams.add(stream)
    stream.addEventListener('close', () => {
      this.streams.delete(stream)
      const left = (this.open.get(peer) ?? 1) - 1
      if (left > 0) this.open.set(peer, left)
      else this.open.delete(peer)
    }, { once: true })
    this.serve(stream, peer).catch(err => {
      this.components.log?.('bid-stream.failed', { level: 'warn', peer, error: (err as Error).message })
      stream.abort(err as Error)
    })
  }

  /** Frames in order, one answer each: the agent matches answers to its bids by their order. */
  private async serve (stream: Stream, peer: string): Promise<void> {
    const lp = bidStream(stream, this.maxFrameBytes, this.frameTimeoutMs)
    let refusedInARow = 0
    for (;;) {
      let frame: Uint8Array
      try {
        frame = (await lp.read()).subarray()
      } catch (err) {
        if (err instanceof EndOfStreamError) {
          await stream.close().catch(() => { stream.abort(new Error('closing failed')) })
          return
        }
        // FrameError: the framing layer has reset the stream already.
        if (err instanceof FrameError) this.verdict('reject', peer, `${err.code}: ${err.message}`)
        return
      }
      let refusal: MessageValidationError
      try {
        const { bidId } = await this.components.accept(frame, peer)
        this.verdict('accept', peer)
        refusedInARow = 0
        await lp.write(encodeBidAnswer(acceptedAnswer(bidId)))
        continue
      } catch (err) {
        if (!(err instanceof MessageValidationError)) throw err
        refusal = err
      }
      refusedInARow++
      const closing = refusalClosesStream(refusal) || refusedInARow >= MAX_REFUSALS_IN_A_ROW
      this.verdict(refusal.action, peer, `${refusal.code}: ${refusal.message}`)
      await lp.write(encodeBidAnswer(refusedAnswer(refusal, claimedId(frame))))
      if (closing) {
        this.components.log?.('bid-stream.closed', { level: 'warn', peer, code: refusal.code, reason: refusal.message })
        // What the peer sends after this is never read: the answer is our last frame. The
        // stream is reclaimed when the agent closes its side too; one that does not is reset.
        const reset = (): void => { stream.abort(reject(refusal.code, refusal.message)) }
        await stream.close({ signal: AbortSignal.timeout(this.frameTimeoutMs) }).catch(reset)
        if (stream.status === 'open' || stream.status === 'closing') {
          const timer = setTimeout(reset, this.frameTimeoutMs)
          timer.unref()
          stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
        }
        return
      }
    }
  }

  private verdict (verdict: 'accept' | 'reject' | 'ignore', from: string, reason?: string): void {
    this.components.onVerdict?.(this.protocol, verdict, from, reason)
  }
}
