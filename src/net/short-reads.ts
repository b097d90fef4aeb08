import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * A read that ends between two frames without costing an Error's stack trace.
 *
 * noise's decrypting connection splits what the socket delivers into frames
 * with libp2p's LengthPrefixedDecoder, whose loop stops when the length decoder
 * throws a RangeError ("not enough bytes for a length yet"). noise's decoder of
 * its 2-byte length throws a new RangeError for that, which happens at the end
 * of every read, since a read almost always ends at a frame's end: one Error
 * and its stack trace per 'data' event on every connection. In bench:jobs'
 * profiles that was 4% of each agent's busy CPU and 1.7% of the coordinator's,
 * more than noise's own decryption of the same frames. The decoder below reads
 * the same two bytes and throws one RangeError made once, which the loop
 * catches the same way; frames and their bytes are unchanged.
 */
const SHORT_READ = new RangeError('Could not decode int16BE')

export function uint16BEDecodeCheaply (data: Uint8Array | Uint8ArrayList): number {
  if (data.length < 2) throw SHORT_READ
  if (data instanceof Uint8Array) return (data[0]! << 8) + data[1]!
  return data.getUint16(0)
}

/** The part of noise's connection (EncryptedMessageStream) this replaces: its frame decoder's length decoder. */
interface HasLengthDecoder {
  decoder?: { lengthDecoder?: unknown }
}

/** Give `connection`'s frame decoder the cheap length decoder (a hook on each secured connection, connection-hooks.ts); a connection of another shape is left as it is. */
export function cheapenShortReads (connection: unknown): void {
  const decoder = (connection as HasLengthDecoder | null)?.decoder
  if (decoder != null && typeof decoder.lengthDecoder === 'function') decoder.lengthDecoder = uint16BEDecodeCheaply
}
