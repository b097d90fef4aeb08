import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { IP_COLOCATION_THRESHOLD } from '../../src/net/peer-scoring.ts'
import { GOSSIP_HEARTBEAT_MS } from '../../src/net/constants.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { startNode, stopAll, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Issue 15, item 3, on real nodes, all on 127.0.0.1 as peers behind one NAT
 * would be: with no positive score terms and gone peers' addresses kept for an
 * hour, 11 identities that only connected, subscribed and left were enough for
 * the honest peers on that address to fall below the gossip threshold, and
 * gossip stopped being forwarded to them. Loopback peers are now out of IP
 * colocation altogether (they are processes on this host), so the first test
 * keeps the real connect-and-leave path; the same on a shared private or
 * public address, where P6 still applies, is the last test.
 */
const SYBILS = 11
/** The score `node` gives `peer` (gossipsub has it; its TypeScript interface does not say so). */
const scoreAt = (node: TestNode, peer: string): number => (node.libp2p.services.pubsub as unknown as { getScore: (id: string) => number }).getScore(peer)
/** gossipsub's router calls, as libp2p's topology calls them when a gossipsub peer connects and disconnects (specmesh's policy wraps addPeer). */
const router = (node: TestNode): { addPeer: (peer: PeerId, direction: string, addr: Multiaddr) => void, removePeer: (peer: PeerId) => void } =>
  node.libp2p.services.pubsub as unknown as { addPeer: (peer: PeerId, direction: string, addr: Multiaddr) => void, removePeer: (peer: PeerId) => void }
const internalEvents = (node: TestNode): { safeDispatchEvent: (type: 'peer:disconnect', init: { detail: PeerId }) => void } =>
  (node.libp2p as unknown as { components: { events: { safeDispatchEvent: (type: 'peer:disconnect', init: { detail: PeerId }) => void } } }).components.events
/** gossipsub's default graylist threshold: a peer below it has every RPC it sends dropped unread. */
const GRAYLIST_THRESHOLD = -80
/** Peers on one address that put each of them at -(10²) = -100, under the graylist threshold. */
const CROWD = IP_COLOCATION_THRESHOLD + 10
const peerIds = async (count: number): Promise<PeerId[]> => await Promise.all(Array.from({ length: count }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
let nodes: TestNode[] = []
let sybils: SpecmeshLibp2p[] = []
afterEach(async () => {
  await Promise.allSettled(sybils.map(async s => { await s.stop() }))
  sybils = []
  await stopAll(nodes)
  nodes = []
})

/** A line a – b – c on the spec topic: what a publishes reaches c only if b forwards it. */
async function startLine (): Promise<[TestNode, TestNode, TestNode]> {
  const a = await startNode()
  nodes.push(a)
  const b = await startNode({ bootstrap: [a.multiaddrs()[0]!] })
  nodes.push(b)
  const c = await startNode({ bootstrap: [b.multiaddrs()[0]!] })
  nodes.push(c)
  await waitForTopicPeers(nodes, TOPICS.specs)
  return [a, b, c]
}

describe('peer scoring on one shared address (real nodes)', () => {
  it(`${SYBILS} identities that connect, subscribe and leave do not stop gossip being forwarded to honest peers on the same IP`, async () => {
    // A line a – b – c: what a publishes reaches c only if b forwards it.
    const [a, b, c] = await startLine()

    for (let i = 0; i < SYBILS; i++) {
      const sybil = await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false })
      sybils.push(sybil)
      for (const topic of Object.values(TOPICS)) sybil.services.pubsub.subscribe(topic)
      // libp2p refuses more than 5 inbound connections a second from one host: retry until admitted.
      await waitFor(async () => { await sybil.dial(b.libp2p.getMultiaddrs()[0]!); return true }, { what: `sybil ${i} connected to b`, intervalMs: 250 })
    }
    await waitFor(() => sybils.every(s => b.libp2p.services.pubsub.getSubscribers(TOPICS.specs).some(p => p.equals(s.peerId))), { what: 'b to see every sybil subscribed' })
    await Promise.all(sybils.map(async s => { await s.stop() }))
    sybils = []
    await waitFor(() => b.libp2p.getPeers().length === 2, { what: 'the sybils gone from b' })
    // Two heartbeats: time for b to prune from its mesh the peers it scores below zero.
    await new Promise(resolve => setTimeout(resolve, 1500))

    expect(scoreAt(b, a.peerId)).toBeGreaterThanOrEqual(0)
    expect(scoreAt(b, c.peerId)).toBeGreaterThanOrEqual(0)
    const { id } = await a.publishSpec(sampleSpec('after-sybils'))
    await waitFor(async () => (await c.getSpec(id)) != null, { what: 'the spec forwarded by b to c', timeoutMs: 8000 })
  })

  it('an honest peer in the mesh earns a positive score (P1: time in mesh, P2: first deliveries)', async () => {
    const a = await startNode()
    nodes.push(a)
    const b = await startNode({ bootstrap: [a.multiaddrs()[0]!] })
    nodes.push(b)
    await waitForTopicPeers(nodes, TOPICS.specs)
    const { id } = await a.publishSpec(sampleSpec('positive'))
    await waitFor(async () => (await b.getSpec(id)) != null, { what: 'the spec at b' })
    await waitFor(() => scoreAt(b, a.peerId) > 0, { what: 'a positive score for a at b' })
  })

  it(`a node with ${CROWD} peers on this host (127.0.0.1) still takes and forwards their gossip: loopback is out of IP colocation`, async () => {
    // A line a – b – c, and CROWD more gossipsub peers of b on the same address that subscribe to nothing.
    // Before loopback was exempt, b scored every peer -(CROWD + 2 - 32)² = -144 and dropped a's RPCs unread
    // (bench:scale at 100 nodes: a coordinator with 42 connections held no advert).
    const [a, b, c] = await startLine()
    sybils = await Promise.all(Array.from({ length: CROWD }, async () => await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false })))
    // b dials them: libp2p limits inbound connections per host per second, not outbound ones.
    await Promise.all(sybils.map(async s => await b.libp2p.dial(s.getMultiaddrs()[0]!)))
    await waitFor(() => b.libp2p.services.pubsub.getPeers().length >= CROWD + 2, { what: `b to have ${CROWD + 2} gossipsub peers` })
    // gossipsub caches a score for one heartbeat: two, so that b judges a and c with the crowd counted.
    await new Promise(resolve => setTimeout(resolve, 2 * GOSSIP_HEARTBEAT_MS))

    expect(scoreAt(b, a.peerId)).toBeGreaterThanOrEqual(0)
    expect(scoreAt(b, c.peerId)).toBeGreaterThanOrEqual(0)
    const { id } = await a.publishSpec(sampleSpec('crowded-host'))
    await waitFor(async () => (await c.getSpec(id)) != null, { what: 'the spec forwarded by b to c', timeoutMs: 8000 })
  })

  it(`${CROWD} peers on one public or private address are still penalised, and stop counting once gone`, async () => {
    const b = await startNode()
    nodes.push(b)
    const at = (ip: string): Multiaddr => multiaddr(`/ip4/${ip}/tcp/4001`)
    const crowds = { public: await peerIds(CROWD), private: await peerIds(CROWD), loopback: await peerIds(CROWD) }
    for (const peer of crowds.public) router(b).addPeer(peer, 'inbound', at('203.0.113.7'))
    for (const peer of crowds.private) router(b).addPeer(peer, 'inbound', at('192.168.1.20'))
    for (const peer of crowds.loopback) router(b).addPeer(peer, 'inbound', at('127.0.0.1'))

    const surplus = CROWD - IP_COLOCATION_THRESHOLD
    expect(scoreAt(b, crowds.public[0]!.toString())).toBe(-(surplus ** 2))
    expect(scoreAt(b, crowds.public[0]!.toString())).toBeLessThan(GRAYLIST_THRESHOLD)
    expect(scoreAt(b, crowds.private[0]!.toString())).toBe(-(surplus ** 2))
    expect(scoreAt(b, crowds.loopback[0]!.toString())).toBe(0)

    // All but two of the private crowd go: those two stop paying for them (the gone keep their own score).
    const [stay1, stay2, ...gone] = crowds.private
    for (const peer of gone) {
      router(b).removePeer(peer)
      // libp2p's own event bus (the node's events only echo it), where the policy listens.
      internalEvents(b).safeDispatchEvent('peer:disconnect', { detail: peer })
    }
    await waitFor(() => scoreAt(b, stay1!.toString()) === 0 && scoreAt(b, stay2!.toString()) === 0, { what: 'the two left on 192.168.1.20 back at 0' })
    for (const peer of [...crowds.public, ...crowds.loopback, stay1!, stay2!]) router(b).removePeer(peer)
  })
})
