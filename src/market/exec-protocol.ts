import { FramedStream } from '../net/frames.ts'
import type { Stream } from '@libp2p/interface'
import { z } from 'zod'
import { MAX_INPUT_BYTES, MAX_MESSAGE_BYTES, MAX_OUTPUT_BYTES, PROTOCOLS } from '../wire/constants.ts'

/**
 * Framing of the execution stream (/specmesh/execute/1.3.0; 1.2.0 without the
 * receipt frame; 1.1.0 without the lease frames either; 1.0.0 without the
 * cancel frame either), length-prefixed:
 *   coordinator → agent: [award envelope] [input JSON]  — a request
 *                        [lease-award envelope] [input JSON] — 1.2.0: a request under a lease
 *                        [lease envelope] or [lease-end envelope] — 1.2.0: open or end a lease
 *                        [cancel frame]                 — 1.1.0 and later: stop that request
 *                        [receipt envelope]             — 1.3.0: the receipt of one of this agent's attempts
 *   agent → coordinator: [claim envelope] [output JSON, only when the claim's outcome is success]
 *                        [lease-end envelope]           — 1.2.0: the agent ends (or refuses) a lease
 * Frames are capped at the payload limit plus room for an envelope.
 */
export const MAX_EXEC_FRAME_BYTES = Math.max(MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, MAX_MESSAGE_BYTES) + 1024

/** Largest cancel frame: it names one award. */
export const MAX_CANCEL_FRAME_BYTES = 512

/**
 * The coordinator no longer wants the result of a request it sent on this
 * stream. Not signed: the stream itself is the coordinator's authenticated
 * channel, and only requests read from the same stream can be cancelled by it.
 */
export const CancelFrameSchema = z.object({
  type: z.literal('cancel'),
  awardId: z.string().min(1).max(128)
}).strict()
export type CancelFrame = z.infer<typeof CancelFrameSchema>

/**
 * Once the first byte of a frame has arrived, the rest must follow within
 * this (1 MiB in 30 s is 35 KiB/s): a frame that never ends is not waited for.
 */
export const EXEC_FRAME_TIMEOUT_MS = 30_000

/** Inbound execution streams one peer may hold open at once (a coordinator uses one). */
export const MAX_EXEC_STREAMS_PER_PEER = 8

/**
 * The execution stream's framing: sync's (src/net/frames.ts), with the
 * execution limits; the frames written in one event-loop turn (requests of
 * many jobs, or their replies) go out in one send.
 */
export function execStream (stream: Stream, frameTimeoutMs: number = EXEC_FRAME_TIMEOUT_MS): FramedStream {
  return new FramedStream(stream, { maxFrameBytes: MAX_EXEC_FRAME_BYTES, frameTimeoutMs, coalesce: true })
}

/** Whether the negotiated protocol carries cancel frames, `cancelled` claims and `stopping`. */
export function supportsCancel (stream: Stream): boolean {
  return stream.protocol === PROTOCOLS.execute || supportsLeases(stream)
}

/** Whether the negotiated protocol carries the lease frames (execute/1.2.0 and later, protocols/market.md "Leases"). */
export function supportsLeases (stream: Stream): boolean {
  return stream.protocol === PROTOCOLS.executeLease || supportsReceipts(stream)
}

/**
 * Whether the negotiated protocol carries receipt frames (execute/1.3.0): an
 * agent is not on its specs' receipts topics, so this is how it gets the
 * receipts of its own work (protocols/market.md "Receipt frame").
 */
export function supportsReceipts (stream: Stream): boolean {
  return stream.protocol === PROTOCOLS.executeReceipts
}

/** The execution protocols, newest first: a coordinator proposes them in this order, an agent answers each. */
export const EXEC_PROTOCOLS = [PROTOCOLS.executeReceipts, PROTOCOLS.executeLease, PROTOCOLS.execute, PROTOCOLS.executeV1]

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeCancelFrame (awardId: string): Uint8Array {
  return encoder.encode(JSON.stringify({ type: 'cancel', awardId } satisfies CancelFrame))
}

/**
 * The cancel frame in `frame`, or null when the frame is something else (an
 * award envelope). A frame that says it is a cancel but is malformed throws.
 */
export function readCancelFrame (frame: Uint8Array): CancelFrame | null {
  // Award envelopes are far larger than any cancel frame: skip parsing them twice.
  if (frame.byteLength > MAX_CANCEL_FRAME_BYTES) return null
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(frame))
  } catch {
    return null
  }
  if (value == null || typeof value !== 'object' || (value as { type?: unknown }).type !== 'cancel') return null
  return CancelFrameSchema.parse(value)
}
