import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { MAX_EXEC_FRAME_BYTES, MAX_EXEC_STREAMS_PER_PEER } from '../../src/market/exec-protocol.ts'
import { encodeVarint } from '../../src/net/frames.ts'
import { startNode, stopAll, type TestNode } from '../helpers/mesh.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Issue 15, item 2: the execution stream did not enforce its framing. A
 * hostile coordinator's truncated frame, 11-byte varint or over-limit prefix
 * left the stream open (and what followed was buffered up to libp2p's 4 MiB
 * read buffer), and a frame that never ended was waited for forever. Each case
 * here sends raw bytes from a real libp2p node to a real agent node and
 * expects the agent to reset the stream, promptly.
 */
const FRAME_TIMEOUT_MS = 400
let nodes: TestNode[] = []
let raw: SpecmeshLibp2p[] = []
afterEach(async () => {
  await Promise.allSettled(raw.map(async r => { await r.stop() }))
  raw = []
  await stopAll(nodes)
  nodes = []
})

async function agentAndClient (): Promise<{ agent: TestNode, client: SpecmeshLibp2p }> {
  const agent = await startNode({ market: { execFrameTimeoutMs: FRAME_TIMEOUT_MS } })
  nodes.push(agent)
  const client = await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false })
  raw.push(client)
  await client.dial(agent.libp2p.getMultiaddrs()[0]!)
  return { agent, client }
}

async function openExec (client: SpecmeshLibp2p, agent: TestNode): Promise<Stream> {
  return await client.dialProtocol(agent.libp2p.peerId, PROTOCOLS.execute)
}

/** The agent has given up on the stream: our side sees it reset (or closed by the remote end). */
async function expectReset (stream: Stream, what: string, timeoutMs = 3000): Promise<number> {
  const start = Date.now()
  await waitFor(() => stream.status !== 'open', { timeoutMs, what: `the agent to reset the stream after ${what}` })
  return Date.now() - start
}

describe('execution stream framing (real nodes, raw bytes)', () => {
  it('resets a stream whose frame is truncated by a FIN', async () => {
    const { agent, client } = await agentAndClient()
    const stream = await openExec(client, agent)
    stream.send(Uint8Array.from([...encodeVarint(100), ...new Uint8Array(10)]))
    await stream.close() // our write side only: the FIN
    await expectReset(stream, 'a truncated frame and FIN')
  })

  it('resets a stream that sends an 11-byte varint', async () => {
    const { agent, client } = await agentAndClient()
    const stream = await openExec(client, agent)
    stream.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
    await expectReset(stream, 'an 11-byte varint')
  })

  it('resets a stream whose length prefix is beyond the limit, before reading what follows', async () => {
    const { agent, client } = await agentAndClient()
    const stream = await openExec(client, agent)
    stream.send(encodeVarint(MAX_EXEC_FRAME_BYTES + 1))
    await expectReset(stream, 'a prefix beyond the limit')
    // A 4-byte prefix is refused too (the limit needs 3).
    const second = await openExec(client, agent)
    second.send(encodeVarint(2 ** 22))
    await expectReset(second, 'a 4-byte prefix')
  })

  it('resets a stream with a length prefix that is not minimal', async () => {
    const { agent, client } = await agentAndClient()
    const stream = await openExec(client, agent)
    stream.send(Uint8Array.from([0x85, 0x00, 1, 2, 3, 4, 5]))
    await expectReset(stream, 'a padded varint')
  })

  it(`resets a stream whose frame never ends, ${FRAME_TIMEOUT_MS} ms after its first byte`, async () => {
    const { agent, client } = await agentAndClient()
    const stream = await openExec(client, agent)
    stream.send(Uint8Array.from([...encodeVarint(1000), ...new Uint8Array(10)]))
    const took = await expectReset(stream, 'a frame that never ends', FRAME_TIMEOUT_MS + 3000)
    expect(took).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS - 50)
  })

  it('does not buffer what hostile streams send: 20 streams each offering an over-limit prefix and 3.5 MiB are reset within a few chunks', async () => {
    const { agent, client } = await agentAndClient()
    const chunk = new Uint8Array(64 * 1024)
    for (let i = 0; i < 20; i++) {
      const stream = await openExec(client, agent)
      stream.send(encodeVarint(MAX_EXEC_FRAME_BYTES + 1))
      // Offer 3.5 MiB as fast as the agent takes it: an agent that buffers takes it all (up to libp2p's 4 MiB).
      let bytes = 0
      while (bytes < 3.5 * 1024 * 1024 && stream.status === 'open') {
        bytes += chunk.byteLength
        if (!stream.send(chunk)) await stream.onDrain().catch(() => {})
        // Sender and agent share this process: let the agent's answer (a reset, or a window update) arrive.
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      await expectReset(stream, 'an over-limit prefix')
      // Reset at the prefix: what got through before the reset is a few chunks in flight, not 3.5 MiB.
      expect(bytes).toBeLessThan(1024 * 1024)
    }
  })

  it(`keeps at most ${MAX_EXEC_STREAMS_PER_PEER} execution streams open per peer`, async () => {
    const { agent, client } = await agentAndClient()
    const open: Stream[] = []
    for (let i = 0; i < MAX_EXEC_STREAMS_PER_PEER; i++) open.push(await openExec(client, agent))
    const extra = await openExec(client, agent)
    await expectReset(extra, `stream ${MAX_EXEC_STREAMS_PER_PEER + 1} from one peer`)
    expect(open.every(s => s.status === 'open')).toBe(true)
    // Closing one makes room for another.
    open[0]!.abort(new Error('done'))
    await waitFor(async () => {
      const again = await openExec(client, agent)
      await new Promise(resolve => setTimeout(resolve, 100))
      if (again.status === 'open') return true
      return false
    }, { what: 'room for a new stream once one closed' })
  })
})
