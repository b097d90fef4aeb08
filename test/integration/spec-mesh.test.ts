import { afterEach, describe, expect, it } from 'vitest'
import { createNode } from '../../src/node.ts'
import { seal, encodeEnvelope } from '../../src/wire/envelope.ts'
import { TOPICS } from '../../src/wire/constants.ts'

import { startMesh, startNode, stopAll, tempHome, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec, normalizedSample } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const holds = async (node: TestNode, id: string): Promise<boolean> => (await node.getSpec(id)) != null

describe('specs on a five-node mesh', () => {
  it('a spec published on one node is stored on every node', async () => {
    nodes = await startMesh(5)
    const published = await nodes[2]!.publishSpec(sampleSpec('extract-entities'))
    await waitFor(async () => (await Promise.all(nodes.map(n => holds(n, published.id)))).every(Boolean), { what: 'spec on all five nodes' })
    for (const node of nodes) {
      const stored = await node.getSpec(published.id)
      expect(stored?.signer).toBe(nodes[2]!.peerId)
      expect(stored?.spec.name).toBe('extract-entities')
    }
  })

  it('forged, tampered and mislabelled specs are rejected by every node and stored by none', async () => {
    nodes = await startMesh(5)
    const attacker = nodes[0]!
    const victimKeyHolder = nodes[1]!
    const pubsub = attacker.libp2p.services.pubsub
    const spec = normalizedSample('forgery-target')

    // 1. Signed by the attacker but claiming to be signed by another node.
    const forged = { ...seal('spec', spec, attackerSigner(attacker)), signer: victimKeyHolder.peerId }
    // 2. Signed honestly, then the price changed after signing.
    const honest = seal('spec', normalizedSample('tampered'), attackerSigner(attacker))
    const tampered = { ...honest, body: { ...honest.body, costUsd: 0.01 } }
    // 3. A body that is not a valid spec at all, correctly signed.
    const invalid = seal('spec', { name: 'no-schemas' }, attackerSigner(attacker))

    for (const envelope of [forged, tampered, invalid]) {
      await pubsub.publish(TOPICS.specs, encodeEnvelope(envelope))
    }
    // A valid spec sent after them is the marker: once it is everywhere, the
    // bad ones have been seen and judged too.
    const marker = await attacker.publishSpec(sampleSpec('marker'))
    const others = nodes.slice(1)
    // Listed, not only known: a spec counts as held once its write has completed.
    await waitFor(async () => (await Promise.all(others.map(async n => (await n.listSpecs()).some(s => s.id === marker.id)))).every(Boolean), { what: 'marker spec stored everywhere' })

    for (const node of others) {
      const names = (await node.listSpecs()).map(s => s.spec.name).sort()
      expect(names).toEqual(['marker'])
    }
    const rejects = others.flatMap(n => n.verdicts.filter(v => v.verdict === 'reject'))
    expect(rejects.map(r => r.reason?.split(':')[0])).toEqual(expect.arrayContaining(['bad-signature', 'id-mismatch', 'bad-spec']))
  })

  it('a node that joins after publication syncs every live spec it missed', async () => {
    nodes = await startMesh(4)
    const ids: string[] = []
    for (const name of ['a', 'b', 'c']) ids.push((await nodes[1]!.publishSpec(sampleSpec(name))).id)
    await waitFor(async () => (await Promise.all(ids.map(id => holds(nodes[0]!, id)))).every(Boolean), { what: 'specs at the bootstrap node' })

    const late = await startNode({ bootstrap: [nodes[0]!.multiaddrs()[0]!] })
    nodes.push(late)
    await waitFor(async () => (await late.listSpecs()).length === 3, { what: 'late joiner to sync three specs' })
    expect((await late.listSpecs()).map(s => s.id).sort()).toEqual([...ids].sort())
  })

  it('a restarted node keeps its identity and its specs', async () => {
    const home = await tempHome()
    const first = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const published = await first.publishSpec(sampleSpec('durable'))
    const peerId = first.peerId
    await first.stop()

    const again = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(again)
    expect(again.peerId).toBe(peerId)
    expect((await again.getSpec(published.id))?.spec.name).toBe('durable')
  })

  it('a second node on the same data folder fails with a clear error', async () => {
    const home = await tempHome()
    const first = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(first)
    await expect(createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })).rejects.toThrow(/in use by another process/)
  })

  it('publishing before any peer is connected reaches peers that join later', async () => {
    const lonely = await startNode()
    nodes.push(lonely)
    const published = await lonely.publishSpec(sampleSpec('early'))
    const joiner = await startNode({ bootstrap: [lonely.multiaddrs()[0]!] })
    nodes.push(joiner)
    await waitForTopicPeers([lonely, joiner])
    await waitFor(() => holds(joiner, published.id), { what: 'joiner to receive the early spec' })
  })
})

function attackerSigner (node: TestNode) {
  return node.signer
}

describe('a peer that floods the mesh with invalid messages', () => {
  it('loses its score at every neighbour and is graylisted: its messages stop being read', async () => {
    nodes = await startMesh(3)
    const [attacker, victim] = nodes as [TestNode, TestNode]
    const pubsub = attacker.libp2p.services.pubsub
    // The flood must reach both neighbours directly: wait until the attacker knows both subscribe.
    await waitFor(() => pubsub.getSubscribers(TOPICS.specs).length === 2, { what: 'the attacker to see both neighbours on the topic' })
    for (let i = 0; i < 5; i++) {
      const honest = seal('spec', normalizedSample(`flood-${i}`), attacker.signer)
      await pubsub.publish(TOPICS.specs, encodeEnvelope({ ...honest, body: { ...honest.body, costUsd: 0.01 } }))
    }
    const scoreAt = (node: TestNode): number => (node.libp2p.services.pubsub as unknown as { getScore: (id: string) => number }).getScore(attacker.peerId)
    await waitFor(() => scoreAt(victim) < -80, { what: 'the attacker\'s score at the victim to fall below the graylist threshold' })
    await waitFor(() => scoreAt(nodes[2]!) < -80, { what: 'the attacker graylisted at the third node too' })
    // gossipsub keeps reading a peer for up to 1 s after it last had a good score
    // (its accept-from whitelist); wait until both neighbours have stopped.
    const refuses = (node: TestNode): boolean => !(node.libp2p.services.pubsub as unknown as { acceptFrom: (id: string) => boolean }).acceptFrom(attacker.peerId)
    await waitFor(() => refuses(victim) && refuses(nodes[2]!), { what: 'both neighbours to stop reading the attacker' })
    // Graylisted: even a valid spec from it is dropped unread, while an honest node's
    // spec sent after it (the marker) still arrives.
    const after = await attacker.publishSpec(sampleSpec('after-the-flood'))
    const marker = await nodes[2]!.publishSpec(sampleSpec('marker'))
    await waitFor(() => victim.getSpec(marker.id), { what: 'the honest marker at the victim' })
    expect(await victim.getSpec(after.id)).toBeNull()
  })
})
