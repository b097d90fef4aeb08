import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { startNode, stopAll, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Issue 15, item 3, on real nodes, all on 127.0.0.1 as peers behind one NAT
 * would be: with no positive score terms and gone peers' addresses kept for an
 * hour, 11 identities that only connected, subscribed and left were enough for
 * the honest peers on that address to fall below the gossip threshold, and
 * gossip stopped being forwarded to them.
 */
const SYBILS = 11
/** The score `node` gives `peer` (gossipsub has it; its TypeScript interface does not say so). */
const scoreAt = (node: TestNode, peer: string): number => (node.libp2p.services.pubsub as unknown as { getScore: (id: string) => number }).getScore(peer)
let nodes: TestNode[] = []
let sybils: SpecmeshLibp2p[] = []
afterEach(async () => {
  await Promise.allSettled(sybils.map(async s => { await s.stop() }))
  sybils = []
  await stopAll(nodes)
  nodes = []
})

describe('peer scoring on one shared address (real nodes)', () => {
  it(`${SYBILS} identities that connect, subscribe and leave do not stop gossip being forwarded to honest peers on the same IP`, async () => {
    // A line a – b – c: what a publishes reaches c only if b forwards it.
    const a = await startNode()
    nodes.push(a)
    const b = await startNode({ bootstrap: [a.multiaddrs()[0]!] })
    nodes.push(b)
    const c = await startNode({ bootstrap: [b.multiaddrs()[0]!] })
    nodes.push(c)
    await waitForTopicPeers(nodes, TOPICS.specs)

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
})
