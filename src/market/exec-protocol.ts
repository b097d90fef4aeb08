import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { MAX_INPUT_BYTES, MAX_MESSAGE_BYTES, MAX_OUTPUT_BYTES } from '../wire/constants.ts'

/**
 * Framing of the execution stream (/specmesh/execute/1.0.0), length-prefixed:
 *   coordinator → agent: [award envelope] [input JSON]
 *   agent → coordinator: [claim envelope] [output JSON, only when the claim's outcome is success]
 * Frames are capped at the payload limit plus room for an envelope.
 */
export const MAX_EXEC_FRAME_BYTES = Math.max(MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, MAX_MESSAGE_BYTES) + 1024

export function execStream (stream: Stream) {
  return lpStream(stream, { maxDataLength: MAX_EXEC_FRAME_BYTES })
}
