import type { Stream } from '@libp2p/interface'
import { FramedStream } from '../net/frames.ts'
import type { MessageValidationError } from '../wire/errors.ts'
import { BID_ANSWER_CODE_CHARS, BidAnswerSchema, publishableReason, type BidAnswer } from './messages.ts'

/**
 * The bid stream (/specmesh/bid/1.0.0, protocols/market.md "Bid stream"),
 * length-prefixed like every stream of ours (src/net/frames.ts):
 *   agent → coordinator: [bid envelope] [bid envelope] …
 *   coordinator → agent: [bid answer]   [bid answer]   …  one per bid, in order
 * One long-lived stream per agent–coordinator pair, as for execution.
 */

/**
 * How this node's agent sends its bids (NodeInit.market.bids): 'gossip' on
 * the spec's bids topic, or 'stream' straight to the job's coordinator. Every
 * node accepts both, so the two kinds of node work together.
 */
export type BidMode = 'gossip' | 'stream'
export const BID_MODES: readonly BidMode[] = ['gossip', 'stream']
/**
 * A node's default: straight to the coordinator. In a spec's full mesh every
 * gossiped bid reaches each party three or four times and each of them checks
 * and forwards it; over the stream it costs one frame each way, and the award
 * still gossips the signed bids it ranked, so followers audit it the same.
 * bench:jobs measured 22-27% less CPU per auctioned job in three pairs (README
 * "How bids travel"). An agent with no connection to the coordinator gossips.
 */
export const DEFAULT_BID_MODE: BidMode = 'stream'

/**
 * Largest bid frame. The largest honest bid (8 addresses of 256 characters,
 * ids of 128) is under 3.5 KB; anything longer is refused before it is read.
 */
export const MAX_BID_FRAME_BYTES = 8 * 1024

/** Largest answer frame: a reason of MAX_REASON_CHARS (up to 3 bytes each) and the rest. */
export const MAX_BID_ANSWER_BYTES = 8 * 1024

/** Once its first byte has arrived, a bid frame arrives whole within this. */
export const BID_FRAME_TIMEOUT_MS = 5_000

/** How long an agent waits for the answer to a bid before it gives the stream up. */
export const BID_ANSWER_TIMEOUT_MS = 5_000

/** Inbound bid streams one peer may hold open at once (an agent uses one per coordinator). */
export const MAX_BID_STREAMS_PER_PEER = 2

/**
 * Refusals in a row after which a coordinator closes a bid stream: an honest
 * agent's bids are refused only now and then (a job that closed before its
 * bid arrived); a stream of refusals is a peer wasting our reads.
 */
export const MAX_REFUSALS_IN_A_ROW = 32

/**
 * Refusals after which the coordinator closes the stream: whatever its
 * validator Rejects (forged, malformed, not the sender's own bid, …), a replay
 * (`duplicate`) and a second bid of one agent on one job (`already-bid`). An
 * honest agent sends none of these; the other refusals (a job no longer open,
 * an expired bid) can happen to it and leave the stream open.
 */
export function refusalClosesStream (err: MessageValidationError): boolean {
  return err.action === 'reject' || err.code === 'duplicate' || err.code === 'already-bid'
}

export function bidStream (stream: Stream, maxFrameBytes: number, frameTimeoutMs: number = BID_FRAME_TIMEOUT_MS): FramedStream {
  return new FramedStream(stream, { maxFrameBytes, frameTimeoutMs })
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function acceptedAnswer (bidId: string): BidAnswer {
  return { type: 'bid-answer', bidId, accepted: true }
}

export function refusedAnswer (err: MessageValidationError, bidId?: string): BidAnswer {
  const answer: BidAnswer = { type: 'bid-answer', accepted: false, code: err.code.slice(0, BID_ANSWER_CODE_CHARS), reason: publishableReason(err.message) }
  if (bidId != null) answer.bidId = bidId
  return answer
}

export function encodeBidAnswer (answer: BidAnswer): Uint8Array {
  return encoder.encode(JSON.stringify(answer))
}

export class BidAnswerError extends Error {
  override name = 'BidAnswerError'
}

/** The answer in `frame`; throws BidAnswerError when it is not one. */
export function readBidAnswer (frame: Uint8Array): BidAnswer {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(frame))
  } catch {
    throw new BidAnswerError('the coordinator sent a bid answer that is not JSON')
  }
  const parsed = BidAnswerSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new BidAnswerError(`bid answer field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`)
  }
  return parsed.data
}
