import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { createNode } from '../../src/node.ts'
import { startMesh, startNode, stopAll, tempHome, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

/** A topic of the test's own: no validator, no sync behind it, so only gossipsub can deliver. */
const TOPIC = 'specmesh-test/catch-up'

describe('a peer joining the mesh just after a message went by', () => {
  it('is told of the message and fetches it', async () => {
    const publisher = await startNode()
    nodes = [publisher]
    const joiner = await startNode({ bootstrap: [publisher.multiaddrs()[0]!] })
    nodes.push(joiner)
    publisher.libp2p.services.pubsub.subscribe(TOPIC)
    await waitFor(() => joiner.libp2p.services.pubsub.getSubscribers(TOPIC).length > 0, { what: 'the joiner to see the publisher on the topic' })
    const received: string[] = []
    joiner.libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic === TOPIC) received.push(new TextDecoder().decode(event.detail.data))
    })

    // Published while the joiner is not subscribed, so not sent to it; it joins at once.
    await publisher.libp2p.services.pubsub.publish(TOPIC, new TextEncoder().encode('went by'))
    joiner.libp2p.services.pubsub.subscribe(TOPIC)

    // gossipsub alone forwards to the mesh at publish time and gossips only outside
    // the mesh: without the catch-up on GRAFT, this message never arrives.
    await waitFor(() => received.length > 0, { what: 'the message at the joiner', timeoutMs: 5_000 })
    expect(received).toEqual(['went by'])
  })

  it('a spec published the moment a three-node mesh forms reaches every node, round after round', async () => {
    // One round in about seven lost the spec at one node before the catch-up.
    for (let round = 0; round < 5; round++) {
      nodes = await startMesh(3)
      await waitForTopicPeers(nodes, TOPICS.specs)
      const { id } = await nodes[0]!.publishSpec(sampleSpec(`round-${round}`))
      await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(id)))).every(Boolean), { what: `round ${round}: spec everywhere`, timeoutMs: 10_000 })
      await stopAll(nodes)
      nodes = []
    }
  })

  it('a spec a node got by sync still travels on by gossip to the peers beyond it', async () => {
    // The far node's one link is the relay, made (and synced) before the spec exists; without the DHT it meets nobody else.
    const relay = await startNode()
    const far = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [relay.multiaddrs()[0]!], dht: false })
    nodes = [relay, far]
    await waitForTopicPeers([relay, far], TOPICS.specs)
    // Published by a node with no peer at all: only its message cache holds the gossip copy.
    const publisher = await startNode()
    nodes.push(publisher)
    const { id } = await publisher.publishSpec(sampleSpec('synced-then-relayed'))
    // The relay meets the publisher within gossip's window: its sync (at identify) brings the spec
    // before the catch-up IHAVE (at the graft, a heartbeat later) brings the gossip copy.
    const synced = new Promise<void>(resolve => relay.events.on('spec', record => { if (record.id === id) resolve() }))
    await relay.libp2p.dial(publisher.libp2p.getMultiaddrs()[0]!)
    await synced
    expect(far.libp2p.getConnections().map(c => c.remotePeer.toString())).toEqual([relay.peerId])
    // Before, the relay Ignored that copy as a duplicate and the far node heard of the spec only at its next sync.
    await waitFor(async () => (await far.getSpec(id)) != null, { what: 'the spec at the far node, by gossip from the relay', timeoutMs: 10_000 })
    expect(far.libp2p.getConnections().map(c => c.remotePeer.toString())).toEqual([relay.peerId])
  })
})
