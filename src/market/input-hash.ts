import { hashHex } from '../crypto/content-id.ts'
import { canonicalBytes } from '../wire/canonical.ts'

/**
 * Whether an input frame is the job's input: its value's canonical bytes hash
 * to the job's `inputHash`. A coordinator sends those canonical bytes
 * themselves, so the frame as it came is hashed first; the parsed value is
 * canonicalized only when that differs (another spelling of the same value
 * still matches). The same verdict either way, one canonicalization fewer
 * per job for every input an agent takes.
 */
export function inputMatchesHash (frame: Uint8Array, input: unknown, inputHash: string): boolean {
  return hashHex(frame) === inputHash || hashHex(canonicalBytes(input)) === inputHash
}
