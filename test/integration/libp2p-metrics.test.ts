/**
 * libp2p_data_transfer_bytes_total on real nodes (src/metrics/libp2p-metrics.ts):
 * the bytes a protocol's streams receive and send, and what the connections
 * themselves carry ("global"), counted per message and read at scrape time,
 * with the name and labels of @libp2p/prometheus-metrics, exactly once in the
 * exposition, never going down between scrapes.
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type Node } from '../../src/node.ts'
import { tempHome } from '../helpers/mesh.ts'
import { rm } from 'node:fs/promises'

const PROTOCOL = '/specmesh-test/echo/1.0.0'
const PAYLOAD = 1000
const ROUNDS = 10

let nodes: Node[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.map(async n => { await n.stop(); await rm(n.home, { recursive: true, force: true }) }))
  nodes = []
})

function transfer (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const m of text.matchAll(/^libp2p_data_transfer_bytes_total\{protocol="(.+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]))
  return out
}

describe('libp2p byte counts in /metrics', () => {
  it('counts each protocol\'s bytes received and sent, and the connections\', under the package\'s name and labels', async () => {
    const server = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], metrics: true, dht: false })
    const client = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], metrics: true, dht: false })
    nodes = [server, client]
    await server.libp2p.handle(PROTOCOL, async (stream) => {
      const lp = lpStream(stream)
      await lp.write((await lp.read()).subarray())
      await stream.close()
    })
    await client.libp2p.dial(multiaddr(server.multiaddrs()[0]!))
    const before = transfer((await server.metricsText!()).text)
    for (let i = 0; i < ROUNDS; i++) {
      const stream = await client.libp2p.dialProtocol(peerIdFromString(server.peerId), PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(new Uint8Array(PAYLOAD).fill(i))
      await lp.read()
      await stream.close()
    }
    const serverText = (await server.metricsText!()).text
    const clientText = (await client.metricsText!()).text
    const atServer = transfer(serverText)
    const atClient = transfer(clientText)
    // Each frame is the payload and its two-byte length prefix, counted once, in each
    // direction, on each side: a counter that counted a message twice (or the muxer's
    // framing) would read more.
    const frames = ROUNDS * (PAYLOAD + 2)
    expect(atServer.get(`${PROTOCOL} received`)).toBe(frames)
    expect(atServer.get(`${PROTOCOL} sent`)).toBe(frames)
    expect(atClient.get(`${PROTOCOL} sent`)).toBe(frames)
    expect(atClient.get(`${PROTOCOL} received`)).toBe(frames)
    // The connection carries the protocol's bytes and more (encryption, muxing, identify, gossip).
    expect(atServer.get('global received')! - (before.get('global received') ?? 0)).toBeGreaterThan(ROUNDS * PAYLOAD)
    expect(atClient.get('global sent')).toBeGreaterThan(ROUNDS * PAYLOAD)
    expect(serverText.match(/^# TYPE libp2p_data_transfer_bytes_total counter$/gm)).toHaveLength(1)
    // A counter: a later scrape never reads less.
    const again = transfer((await server.metricsText!()).text)
    for (const [key, value] of atServer) expect(again.get(key), key).toBeGreaterThanOrEqual(value)
    // The package's other metrics are still there.
    expect(serverText).toMatch(/^libp2p_/m)
    expect(serverText).toMatch(/^nodejs_/m)
  })
})
