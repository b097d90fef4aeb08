import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { startMesh, startNode, stopAll, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
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
})
