import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Stream } from '@libp2p/interface'
import { encodeVarint, FramedStream } from '../../src/net/frames.ts'
import { waitFor } from '../helpers/wait.ts'
import { bareNode, stopBareNodes } from '../helpers/libp2p.ts'

/**
 * FramedStream.read between two real libp2p nodes: a frame already whole when
 * its first byte arrives is taken at once, with no deadline armed (a timer
 * and a signal per frame otherwise, three frames per job on the execution
 * stream); a frame whose prefix and body arrive piece by piece is still read
 * whole, under its deadline.
 */
const PROTOCOL = '/specmesh-test/frames-read/1.0.0'
afterEach(async () => {
  vi.restoreAllMocks()
  await stopBareNodes()
})

async function pair (): Promise<{ raw: Stream, reader: () => Promise<FramedStream> }> {
  const a = await bareNode()
  const b = await bareNode()
  let inbound: FramedStream | undefined
  await b.handle(PROTOCOL, (stream: Stream) => { inbound = new FramedStream(stream, { maxFrameBytes: 1 << 20, frameTimeoutMs: 5000 }) })
  await a.dial(b.getMultiaddrs()[0]!)
  const raw = await a.dialProtocol(b.peerId, PROTOCOL)
  return { raw, reader: async () => await waitFor(() => inbound, { what: 'the inbound stream' }) }
}

const framed = (bytes: Uint8Array): Uint8Array => Uint8Array.from([...encodeVarint(bytes.byteLength), ...bytes])

describe('FramedStream.read (real libp2p nodes)', () => {
  it('takes frames that arrived whole without arming a deadline for each, and reads them in order', async () => {
    const { raw, reader } = await pair()
    const frames = Array.from({ length: 20 }, (_, i) => new Uint8Array(i === 7 ? 300 : 5 + i).fill(i))
    raw.send(Uint8Array.from(frames.flatMap(f => [...framed(f)])))
    const lp = await reader()
    await waitFor(() => (lp as unknown as { buffered: () => number }).buffered() > 0, { what: 'the bytes at the reader' })
    const timeouts = vi.spyOn(AbortSignal, 'timeout')
    for (const [i, f] of frames.entries()) expect([...await lp.read()], `frame ${i}`).toEqual([...f])
    // At most the first read waits for bytes still on their way: none waits for a frame's rest.
    expect(timeouts.mock.calls.length).toBeLessThanOrEqual(1)
  })

  it('reads a frame whose length prefix and body arrive in pieces, each in a later send', async () => {
    const { raw, reader } = await pair()
    const body = new Uint8Array(1000).map((_, i) => i % 256)
    const bytes = framed(body)
    const lp = await reader()
    const reading = lp.read()
    // The two prefix bytes apart, then the body in three pieces.
    for (const [from, to] of [[0, 1], [1, 2], [2, 300], [300, 700], [700, bytes.byteLength]] as const) {
      raw.send(bytes.subarray(from, to))
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    expect([...await reading]).toEqual([...body])
  })
})
