import { afterEach, describe, expect, it, vi } from 'vitest'
import { spyOnSocketWrites, stopBareNodes, streamToReader } from '../helpers/libp2p.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Each encrypted frame leaves in one socket write (src/net/merged-writes.ts),
 * between two real libp2p nodes over TCP on 127.0.0.1: libp2p's TCP connection
 * wrote noise's length prefix and its ciphertext with two writes, two system
 * calls per message. The bytes must arrive as written.
 */
const PROTOCOL = '/specmesh-test/merged-writes/1.0.0'
afterEach(async () => {
  vi.restoreAllMocks()
  await stopBareNodes()
})

describe('merged socket writes (real libp2p nodes over TCP)', () => {
  it('writes each message\'s encrypted frame with one socket write, and the reader gets every byte in order', async () => {
    const { stream, readerPort, receivedBytes, receivedJoined } = await streamToReader(PROTOCOL)
    // Every write on the writer's socket to the reader (its remote port is the reader's listen port).
    const writes: Uint8Array[] = []
    spyOnSocketWrites((socket, chunk) => { if (socket.remotePort === readerPort) writes.push(Uint8Array.from(chunk as Uint8Array)) })
    const messages = 20
    const size = 1000
    let bytes = 0
    for (let i = 0; i < messages; i++) {
      // One message at a time, each read before the next is sent, so none can share a write with another.
      stream.send(new Uint8Array(size).fill(i + 1))
      await waitFor(() => receivedBytes() === bytes + size, { what: `message ${i + 1} at the reader` })
      bytes += size
    }
    // Each write holds whole noise frames (a 2-byte big-endian length, then that many bytes of
    // ciphertext); it was two writes per frame: the length, then the ciphertext.
    const wholeFrames = (buf: Uint8Array): boolean => {
      let at = 0
      while (at + 2 <= buf.byteLength) at += 2 + ((buf[at]! << 8) | buf[at + 1]!)
      return at === buf.byteLength
    }
    expect(writes.filter(w => !wholeFrames(w)).map(w => w.byteLength)).toEqual([])
    // One of them per message at least (a message is one yamux frame in one noise frame).
    expect(writes.filter(w => w.byteLength > size).length).toBeGreaterThanOrEqual(messages)
    const all = receivedJoined()
    expect(all.byteLength).toBe(bytes)
    for (let i = 0; i < messages; i++) expect(all.subarray(i * size, (i + 1) * size).every(b => b === i + 1)).toBe(true)
  })
})
