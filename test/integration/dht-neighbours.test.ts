import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { DHT_KEEP_ALIVE_TAG } from '../../src/net/dht-neighbours.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * specmesh nodes keep none of their DHT neighbours alive (src/net/dht-neighbours.ts):
 * kad-dht would tag the closest peers it has pinged KEEP_ALIVE, and libp2p would then
 * redial such a peer whenever it closed the connection (a coordinator trimming it).
 * Real libp2p nodes with specmesh's DHT on 127.0.0.1.
 */
const started: SpecmeshLibp2p[] = []
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map(async n => { await n.stop() }))
})

async function dhtNode (datastore?: MemoryDatastore, privateKey?: Awaited<ReturnType<typeof generateKeyPair>>): Promise<SpecmeshLibp2p> {
  const node = await buildLibp2p({ privateKey: privateKey ?? await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], ...(datastore != null ? { datastore } : {}) })
  started.push(node)
  return node
}

/** kad-dht's closest-peer tagger, to run its round now rather than wait for its 5 s timer. */
function tagger (node: SpecmeshLibp2p): { updatePeerTags: () => Promise<void> } {
  return (node.services.dht as unknown as { routingTable: { closestPeerTagger: { updatePeerTags: () => Promise<void> } } }).routingTable.closestPeerTagger
}

const routingTableSize = (node: SpecmeshLibp2p): number => (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size

describe('DHT neighbours', () => {
  it('a node does not keep its DHT neighbour alive: when the neighbour closes the connection it is not redialled', async () => {
    const a = await dhtNode()
    const b = await dhtNode()
    // Each node's first self-query (1 s after start) dials the peers it knows: let it pass, so that it is not
    // taken for a redial below.
    const selfQueried = new Set<SpecmeshLibp2p>()
    for (const n of [a, b]) n.addEventListener('kad-dht:query:self' as 'peer:connect', () => { selfQueried.add(n) })
    await a.dial(b.getMultiaddrs()[0]!)
    await waitFor(() => selfQueried.size === 2, { timeoutMs: 10_000, what: 'both nodes\' first DHT self-query' })
    // Each adds the other to its routing table once a ping has verified it (that ping is what kad-dht's tagger counts).
    await waitFor(() => routingTableSize(a) >= 1 && routingTableSize(b) >= 1, { timeoutMs: 10_000, what: 'both nodes to hold each other in their routing tables' })
    await tagger(a).updatePeerTags()
    expect([...(await a.peerStore.get(b.peerId)).tags.keys()]).not.toContain(DHT_KEEP_ALIVE_TAG)

    // b closes the connection (its connection budget would); libp2p redials a keep-alive peer at once, so within
    // a second and a half a redial would have connected them again.
    let redialled = false
    b.addEventListener('connection:open', () => { redialled = true })
    await b.hangUp(a.peerId)
    await waitFor(() => a.getConnections(b.peerId).length === 0, { timeoutMs: 5_000, what: 'a to see the connection closed' })
    await new Promise(resolve => setTimeout(resolve, 1_500))
    expect(redialled).toBe(false)
    expect(a.getConnections(b.peerId)).toHaveLength(0)
  }, 30_000)

  it('a restarted node forgets the keep-alive tags an earlier version stored on its DHT neighbours', async () => {
    const datastore = new MemoryDatastore()
    const key = await generateKeyPair('Ed25519')
    const neighbour = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const first = await dhtNode(datastore, key)
    await first.peerStore.merge(neighbour, { multiaddrs: [], tags: { [DHT_KEEP_ALIVE_TAG]: { value: 1 }, 'kad-close': { value: 50 }, other: { value: 5 } } })
    await first.stop()

    const again = await dhtNode(datastore, key)
    const tags = (await again.peerStore.get(neighbour)).tags
    expect([...tags.keys()]).not.toContain(DHT_KEEP_ALIVE_TAG)
    expect([...tags.keys()]).not.toContain('kad-close')
    // Tags of anything else stay.
    expect(tags.get('other')?.value).toBe(5)
  }, 30_000)
})
