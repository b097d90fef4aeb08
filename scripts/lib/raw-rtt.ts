/**
 * The raw libp2p round trip a bench compares specmesh's per-job overhead
 * with: one length-prefixed frame each way on a fresh stream over the open
 * connection, as the execution stream uses, and nothing else (no signing, no
 * validation, no storage).
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { SpecmeshLibp2p } from '../../src/net/libp2p.ts'

export const ECHO_PROTOCOL = '/specmesh-bench/echo/1.0.0'
/** Round trips run and dropped before the timed ones (stream setup paths, JIT). */
const WARM_UP = 50
/** About the size of a small job frame. */
const PAYLOAD_BYTES = 200

/** Answer each request frame with the same bytes, then close the stream. */
export async function serveEcho (libp2p: SpecmeshLibp2p): Promise<void> {
  await libp2p.handle(ECHO_PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    await lp.write((await lp.read()).subarray())
    await stream.close()
  })
}

/** `samples` round trips to `peer` (which runs serveEcho), one at a time, in ms. */
export async function measureRtt (libp2p: SpecmeshLibp2p, peer: string, samples: number): Promise<number[]> {
  const peerId = peerIdFromString(peer)
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7)
  const out: number[] = []
  for (let i = 0; i < samples + WARM_UP; i++) {
    const started = performance.now()
    const stream = await libp2p.dialProtocol(peerId, ECHO_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(payload)
    await lp.read()
    await stream.close()
    if (i >= WARM_UP) out.push(performance.now() - started)
  }
  return out
}
