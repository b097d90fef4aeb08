import { afterEach, describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { uint16BEDecodeCheaply } from '../../../src/net/short-reads.ts'
import { bareNode, stopBareNodes } from '../../helpers/libp2p.ts'
import { waitFor } from '../../helpers/wait.ts'

afterEach(stopBareNodes)

/** Noise's framing: a 2-byte big-endian length, then that many bytes. */
function framed (...frames: Uint8Array[]): Uint8Array {
  const out = new Uint8ArrayList()
  for (const f of frames) out.append(Uint8Array.of(f.byteLength >> 8, f.byteLength & 0xff), f)
  return out.subarray()
}

describe('noise frames without an Error per read (short-reads.ts)', () => {
  it('splits reads into the same frames wherever a read ends, and a read ending between frames throws no new Error', () => {
    const frames = [new Uint8Array(1).fill(1), new Uint8Array(300).fill(2), new Uint8Array(0x1234).fill(3), new Uint8Array(2).fill(4)]
    const wire = framed(...frames)
    for (const cut of [1, 2, 3, 5, 301, 305, wire.byteLength - 1]) {
      const decoder = new LengthPrefixedDecoder({ lengthDecoder: uint16BEDecodeCheaply, encodingLength: () => 2, maxBufferSize: 1 << 24 })
      const got = [...decoder.decode(wire.subarray(0, cut)), ...decoder.decode(wire.subarray(cut))].map(f => f.subarray())
      expect(got).toEqual(frames.filter(f => f.byteLength > 0))
    }
    let first: unknown
    let second: unknown
    try { uint16BEDecodeCheaply(new Uint8ArrayList()) } catch (err) { first = err }
    try { uint16BEDecodeCheaply(Uint8Array.of(7)) } catch (err) { second = err }
    expect(first).toBeInstanceOf(RangeError)
    expect(second).toBe(first)
    expect(uint16BEDecodeCheaply(Uint8Array.of(0x12, 0x34))).toBe(0x1234)
    expect(uint16BEDecodeCheaply(new Uint8ArrayList(Uint8Array.of(0x12), Uint8Array.of(0x34)))).toBe(0x1234)
  })

  it('every connection a node secures decodes with it, and what is sent arrives intact', async () => {
    const writer = await bareNode()
    const reader = await bareNode()
    const received: Uint8Array[] = []
    await reader.handle('/test/short-reads/1', stream => { stream.addEventListener('message', event => { received.push(event.data.subarray()) }) })
    const stream = await writer.dialProtocol(reader.getMultiaddrs()[0]!, '/test/short-reads/1')
    // The noise connection under each side's muxer: a noise release that moved its decoder fails here, not silently.
    for (const node of [writer, reader]) {
      const secured = (node.getConnections()[0] as any).muxer.maConn
      expect(secured.decoder.lengthDecoder).toBe(uint16BEDecodeCheaply)
    }
    const sent = new Uint8ArrayList()
    for (let i = 0; i < 20; i++) {
      const chunk = new Uint8Array(i % 2 === 0 ? 17 : 20_000).fill(i)
      sent.append(chunk)
      stream.send(chunk)
    }
    await waitFor(() => received.reduce((n, r) => n + r.byteLength, 0) >= sent.byteLength, { what: 'every byte at the reader' })
    expect(new Uint8ArrayList(...received).subarray()).toEqual(sent.subarray())
  })
})
