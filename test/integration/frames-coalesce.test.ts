import { afterEach, describe, expect, it } from 'vitest'
import type { Stream } from '@libp2p/interface'
import type { SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { FramedStream } from '../../src/net/frames.ts'
import { waitFor } from '../helpers/wait.ts'
import { bareNode, stopBareNodes } from '../helpers/libp2p.ts'

/**
 * Coalesced writes (FramedStream `coalesce`, the execution stream's framing):
 * the frames written in one event-loop turn leave in one send, between two
 * real libp2p nodes. The reader must see exactly the frames written, in order,
 * whatever the sends merged or the transport split; a write whose signal
 * aborts rejects without taking the other writes of its turn down.
 */
const PROTOCOL = '/specmesh-test/frames/1.0.0'
afterEach(stopBareNodes)
const peer = async (): Promise<SpecmeshLibp2p> => await bareNode()

/** A stream from a writer node to a reader node: the reader's side, framed without coalescing, and how many sends reached it. */
async function pair (): Promise<{ writer: FramedStream, reader: () => Promise<FramedStream>, messages: () => number }> {
  const a = await peer()
  const b = await peer()
  let received = 0
  let inbound: FramedStream | undefined
  await b.handle(PROTOCOL, (stream: Stream) => {
    stream.addEventListener('message', () => { received++ })
    inbound = new FramedStream(stream, { maxFrameBytes: 1 << 20, frameTimeoutMs: 5000 })
  })
  await a.dial(b.getMultiaddrs()[0]!)
  const stream = await a.dialProtocol(b.peerId, PROTOCOL)
  const writer = new FramedStream(stream, { maxFrameBytes: 1 << 20, frameTimeoutMs: 5000, coalesce: true })
  return { writer, reader: async () => await waitFor(() => inbound, { what: 'the inbound stream' }), messages: () => received }
}

const frame = (i: number, size: number): Uint8Array => new Uint8Array(size).fill(i % 251)

describe('FramedStream with coalesced writes (real libp2p nodes)', () => {
  it('sends the frames of one turn together, and the reader reads each whole, in the order written', async () => {
    const { writer, reader, messages } = await pair()
    // 50 requests of two frames each in one turn, sizes from 1 byte to past one varint byte (128) and past 64 KiB.
    const sizes = Array.from({ length: 50 }, (_, i) => [1, 127, 128, 300, 70_000][i % 5]!)
    const writes = sizes.map(async (size, i) => { await writer.writeV([frame(i, size), frame(i + 1, 3)]) })
    await Promise.all(writes)
    const lp = await reader()
    for (const [i, size] of sizes.entries()) {
      const first = await lp.read()
      expect(first.byteLength).toBe(size)
      expect(first[0]).toBe(i % 251)
      expect(first[size - 1]).toBe(i % 251)
      const second = await lp.read()
      expect([...second]).toEqual([...frame(i + 1, 3)])
    }
    // 100 frames (1.4 MB) left in one send: a few muxer messages (it splits at its window), not one per write.
    expect(messages()).toBeLessThan(50)
  })

  it('keeps the order of writes across turns, and a later turn waits for none of the earlier', async () => {
    const { writer, reader } = await pair()
    for (let turn = 0; turn < 5; turn++) {
      await Promise.all([0, 1, 2].map(async k => { await writer.write(frame(turn * 3 + k, 10 + k)) }))
    }
    const lp = await reader()
    for (let i = 0; i < 15; i++) {
      const got = await lp.read()
      expect(got.byteLength).toBe(10 + (i % 3))
      expect(got[0]).toBe(i)
    }
  })

  it('rejects a write whose signal aborts while the others of its turn are still sent', async () => {
    const { writer, reader } = await pair()
    const aborted = AbortSignal.abort(new Error('given up'))
    await expect(writer.write(frame(9, 5), { signal: aborted })).rejects.toThrow('given up')
    const late = new AbortController()
    const cut = writer.write(frame(1, 4), { signal: late.signal })
    const other = writer.write(frame(2, 4))
    late.abort(new Error('cut short'))
    await expect(cut).rejects.toThrow('cut short')
    await other
    const lp = await reader()
    // The write aborted before it was queued never left; the one cut short was already queued and went, as a write without coalescing would have.
    expect((await lp.read())[0]).toBe(1)
    expect((await lp.read())[0]).toBe(2)
  })
})
