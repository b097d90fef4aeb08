import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import type { SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { signerFromPrivateKey } from '../../src/crypto/signatures.ts'
import { seal } from '../../src/wire/envelope.ts'
import { MAX_INPUT_BYTES, PROTOCOLS } from '../../src/wire/constants.ts'
import { cidOfBytes } from '../../src/crypto/content-id.ts'
import { ExecClient } from '../../src/market/exec-client.ts'
import type { AwardBody } from '../../src/market/messages.ts'
import { waitFor } from '../helpers/wait.ts'
import { bareNode, stopBareNodes } from '../helpers/libp2p.ts'

/**
 * The coordinator's side of the execution stream, against a real libp2p peer
 * that misbehaves in ways an agent process cannot be made to on cue: it stops
 * reading (so a large request cannot be written whole) or resets the stream
 * after the first bytes. The exchange must fail with its own error, and
 * nothing may be left as an unhandled rejection (which would end the daemon).
 * The error must be an Error that says what happened: the attempt's receipt
 * carries its message as the reason.
 */
let client: ExecClient | undefined
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
afterEach(async () => {
  process.off('unhandledRejection', onUnhandled)
  unhandled.length = 0
  client?.close()
  client = undefined
  await stopBareNodes()
})
const peer = async (): Promise<SpecmeshLibp2p> => await bareNode()

async function awardFor (agent: string): Promise<ReturnType<typeof seal<AwardBody>>> {
  const key = await generateKeyPair('Ed25519')
  const signer = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
  const cid = (s: string): string => cidOfBytes(new TextEncoder().encode(s))
  const now = Date.now()
  return seal<AwardBody>('award', { jobId: cid('job'), specId: cid('spec'), bidId: cid('bid'), agent, priceUsd: 0, attempt: 1, deadline: now + 60_000, issuedAt: now }, signer)
}

/** Lets Node report any rejection nobody handled (it does so once the microtask queue drains). */
async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
}

describe('ExecClient against a peer that does not take the request', () => {
  it('fails the attempt at its time limit when the request cannot be written whole, with no unhandled rejection', async () => {
    const agent = await peer()
    // Never reads: yamux stops granting send window after its first 256 KiB.
    await agent.handle(PROTOCOLS.execute, (stream: Stream) => { stream.pause() })
    const coordinator = await peer()
    await coordinator.dial(agent.getMultiaddrs()[0]!)
    client = new ExecClient(coordinator)
    process.on('unhandledRejection', onUnhandled)

    const input = new Uint8Array(MAX_INPUT_BYTES).fill(0x20)
    const attemptLimit = AbortSignal.timeout(300)
    await expect(client.exchange(agent.peerId.toString(), undefined, await awardFor(agent.peerId.toString()), input, attemptLimit)).rejects.toThrow(/aborted due to timeout/)
    expect(attemptLimit.aborted).toBe(true)
    await settle()
    expect(unhandled).toEqual([])
  })

  it('fails the attempt when the peer resets the stream after the first bytes of a large request, with no unhandled rejection', async () => {
    const agent = await peer()
    let reset = false
    await agent.handle(PROTOCOLS.execute, (stream: Stream) => {
      stream.pause()
      stream.addEventListener('message', () => {
        if (reset) return
        reset = true
        stream.abort(new Error('the test agent resets the stream'))
      })
      stream.resume()
    })
    const coordinator = await peer()
    await coordinator.dial(agent.getMultiaddrs()[0]!)
    client = new ExecClient(coordinator)
    process.on('unhandledRejection', onUnhandled)

    const input = new Uint8Array(MAX_INPUT_BYTES).fill(0x20)
    await expect(client.exchange(agent.peerId.toString(), undefined, await awardFor(agent.peerId.toString()), input, AbortSignal.timeout(10_000))).rejects.toThrow(/^execution stream ended while the request was written: The stream has been reset/)
    await waitFor(() => reset, { timeoutMs: 2000, what: 'the agent to reset the stream' })
    await settle()
    expect(unhandled).toEqual([])
  })
})

describe('ExecClient.warm', () => {
  it('opens the session to a connected agent before any award, once, and never dials one it is not connected to', async () => {
    const agent = await peer()
    const stranger = await peer()
    const opened: string[] = []
    for (const node of [agent, stranger]) {
      await node.handle(PROTOCOLS.executeLease, (stream: Stream) => { opened.push(node.peerId.toString()); stream.pause() })
    }
    const coordinator = await peer()
    client = new ExecClient(coordinator)
    await coordinator.dial(agent.getMultiaddrs()[0]!)
    client.warm(agent.peerId.toString())
    client.warm(agent.peerId.toString())
    // The stranger's address is known, but there is no connection to it: warming it does nothing.
    await coordinator.peerStore.merge(stranger.peerId, { multiaddrs: stranger.getMultiaddrs() })
    client.warm(stranger.peerId.toString())
    await waitFor(() => opened.length >= 1, { what: 'the agent to see the execution stream open' })
    await settle()
    expect(opened).toEqual([agent.peerId.toString()])
    const execStreams = coordinator.getConnections(agent.peerId).flatMap(c => c.streams).filter(s => s.protocol?.startsWith('/specmesh/execute/') === true)
    expect(execStreams).toHaveLength(1)
    expect(coordinator.getConnections(stranger.peerId)).toEqual([])
  })
})

describe('ExecClient.warmFor (per spec, on every job a coordinator publishes)', () => {
  it('warms each agent of a spec once, and again only after its session has ended', async () => {
    const agent = await peer()
    const opened: Stream[] = []
    await agent.handle(PROTOCOLS.executeLease, (stream: Stream) => { opened.push(stream) })
    const coordinator = await peer()
    client = new ExecClient(coordinator)
    await coordinator.dial(agent.getMultiaddrs()[0]!)
    const id = agent.peerId.toString()
    const sessionsOpen = (): number => coordinator.getConnections(agent.peerId).flatMap(c => c.streams).filter(s => s.protocol?.startsWith('/specmesh/execute/') === true && s.status === 'open').length
    for (let job = 0; job < 20; job++) client.warmFor('spec-a', [id])
    await waitFor(() => opened.length >= 1, { what: 'the agent to see the execution stream open' })
    await waitFor(() => sessionsOpen() === 1, { what: 'the coordinator\'s side of the session open' })
    for (let job = 0; job < 20; job++) client.warmFor('spec-a', [id])
    await settle()
    expect(opened).toHaveLength(1)
    // The agent ends the session (as a restarted agent's would be): the next job warms it again.
    opened[0]!.abort(new Error('agent restarted'))
    await waitFor(() => sessionsOpen() === 0, { what: 'the coordinator to see the session end' })
    await settle()
    client.warmFor('spec-a', [id])
    await waitFor(() => opened.length >= 2, { what: 'a second execution stream, after the first ended' })
    await settle()
    expect(opened).toHaveLength(2)
  })
})
