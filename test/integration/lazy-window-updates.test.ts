import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Stream } from '@libp2p/interface'
import { bareNode, spyOnSocketWrites, stopBareNodes, streamToReader } from '../helpers/libp2p.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * A stream's receiver sends yamux window updates once half its 256 KiB window
 * is used, not one per data frame (src/net/lazy-window-updates.ts), between two
 * real libp2p nodes over TCP on 127.0.0.1. The sender must still get every
 * byte through, past a whole window's worth.
 */
const PROTOCOL = '/specmesh-test/window-updates/1.0.0'
afterEach(async () => {
  vi.restoreAllMocks()
  await stopBareNodes()
})

describe('yamux window updates (real libp2p nodes over TCP)', () => {
  it('a reader of 400 one-KB messages writes a handful of frames back, not one per message, and gets all 400 KB (more than a window) in order', async () => {
    const { stream, readerPort, receivedBytes, receivedJoined } = await streamToReader(PROTOCOL)
    // The stream is open at both ends once its first message is read (the reader's ACK went with its first update).
    stream.send(new Uint8Array(1000).fill(1))
    await waitFor(() => receivedBytes() === 1000, { what: 'the first message at the reader' })

    // Every write on the reader's socket of this connection (the one accepted on its listen port).
    let readerWrites = 0
    spyOnSocketWrites(socket => { if (socket.localPort === readerPort) readerWrites++ })
    const messages = 400
    const size = 1000
    for (let i = 1; i < messages; i++) {
      // One at a time, each read before the next is sent: every one is its own data frame.
      stream.send(new Uint8Array(size).fill((i % 250) + 1))
      await waitFor(() => receivedBytes() === (i + 1) * size, { what: `message ${i + 1} at the reader` })
    }
    // It was one window update per data frame: 399 writes. Now one each time half the window
    // (128 KiB) has been read, 3 in 400 KB, and what else the connection carries meanwhile
    // (identify's streams opening and closing: 15 writes in all here).
    expect(readerWrites).toBeGreaterThanOrEqual(3)
    expect(readerWrites).toBeLessThan(messages / 10)
    const all = receivedJoined()
    for (let i = 0; i < messages; i++) expect(all.subarray(i * size, (i + 1) * size).every(b => b === (i % 250) + 1)).toBe(true)
  })

  it('a 3 MB send in one go arrives whole: the sender is never left without window', async () => {
    const writerNode = await bareNode()
    const readerNode = await bareNode()
    let receivedBytes = 0
    let sum = 0
    await readerNode.handle(PROTOCOL, (stream: Stream) => {
      stream.addEventListener('message', event => {
        const data = event.data.subarray()
        receivedBytes += data.byteLength
        for (const b of data) sum += b
      })
    })
    await writerNode.dial(readerNode.getMultiaddrs()[0]!)
    const stream = await writerNode.dialProtocol(readerNode.peerId, PROTOCOL)
    const total = 3 * 1024 * 1024
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251)
    let expectedSum = 0
    for (const b of chunk) expectedSum += b
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!stream.send(chunk)) await stream.onDrain()
    }
    await waitFor(() => receivedBytes === total, { what: `${total} bytes at the reader (got ${receivedBytes})`, timeoutMs: 20_000 })
    expect(sum).toBe(expectedSum * (total / chunk.byteLength))
  })
})
