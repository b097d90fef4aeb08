import { afterEach, describe, expect, it } from 'vitest'
import { bareNode, stopBareNodes } from '../helpers/libp2p.ts'
import { waitFor } from '../helpers/wait.ts'

afterEach(stopBareNodes)

/** The yamux session under a libp2p connection: its round-trip time (-1 until one of its pings was answered) and its ping. */
interface YamuxSession { rtt: number, ping: () => Promise<number> }
const muxerOf = (connection: unknown): YamuxSession => (connection as { muxer: YamuxSession }).muxer

/**
 * Liveness is libp2p's connection monitor's ping (every 30 s, closing a connection whose ping
 * fails); yamux's own keep-alive pings are off (src/net/libp2p.ts, protocols/README.md
 * "Transport"). With them on, yamux pings as the session opens, and on 127.0.0.1 the answer is
 * back long before identify, which needs a stream and two negotiations, has finished.
 */
describe('connection liveness', () => {
  it('sends no yamux keep-alive ping, and still answers a peer that sends one', async () => {
    const a = await bareNode()
    const b = await bareNode()
    await a.dial(b.getMultiaddrs()[0]!)
    // Identify has run both ways: each side knows the other's protocols.
    await waitFor(async () => (await a.peerStore.get(b.peerId)).protocols.includes('/ipfs/ping/1.0.0') &&
      (await b.peerStore.get(a.peerId)).protocols.includes('/ipfs/ping/1.0.0'), { what: 'identify both ways' })
    const [ab] = a.getConnections(b.peerId)
    const [ba] = b.getConnections(a.peerId)
    expect(muxerOf(ab).rtt).toBe(-1)
    expect(muxerOf(ba).rtt).toBe(-1)
    // A peer that does send them (an older specmesh node, another libp2p node) gets its answer.
    expect(await muxerOf(ab).ping()).toBeGreaterThanOrEqual(0)
    expect(muxerOf(ab).rtt).toBeGreaterThanOrEqual(0)
  })
})
