/**
 * kad-dht (js-libp2p) tags the 20 DHT peers closest to us that it has pinged
 * with a KEEP_ALIVE tag ('keep-alive-kad-dht'), and libp2p then redials such a
 * peer at once, retrying with backoff, whenever its connection ends. specmesh
 * nodes do not keep their DHT neighbours connected: go-libp2p's DHT and IPFS's
 * do not either; a lookup dials the peers it needs, and the routing table
 * checks an old contact by pinging it when its bucket fills.
 *
 * Why (bench:scale, 100 nodes): the peers a node has pinged are the few it
 * met, and everyone meets the coordinators, whose provider lookups reach the
 * whole mesh. So most bystanders kept both coordinators alive; each
 * coordinator's connection budget closed those connections and the
 * bystanders redialled them, about 290 dials in 20 s of jobs, each a noise
 * handshake, identify and sync on the coordinator, while it ran the jobs.
 * The two sides' policies fought; now only the budget's holds.
 *
 * kad-dht offers no option for this (its ClosestPeers' set size is not passed
 * through KadDHTInit), so the set size is set on the instance before the node
 * starts; a kad-dht whose internals moved throws here, and the test
 * (test/integration/dht-neighbours.test.ts) says so.
 */
import type { PeerStore } from '@libp2p/interface'

/** kad-dht's tags on a closest peer (@libp2p/kad-dht constants: KEEP_ALIVE_TAG, KAD_CLOSE_TAG_NAME). */
export const DHT_KEEP_ALIVE_TAG = 'keep-alive-kad-dht'
const DHT_CLOSE_TAG = 'kad-close'

interface ClosestPeersTagger { peerSetSize: number }

/** Make kad-dht tag no closest peer. Call before the node starts (ClosestPeers sizes its set at start). */
export function keepNoDhtNeighboursAlive (dht: unknown): void {
  const tagger = (dht as { routingTable?: { closestPeerTagger?: ClosestPeersTagger } } | undefined)?.routingTable?.closestPeerTagger
  if (tagger == null || typeof tagger.peerSetSize !== 'number') {
    throw new Error('@libp2p/kad-dht changed: routingTable.closestPeerTagger.peerSetSize is gone; see src/net/dht-neighbours.ts')
  }
  tagger.peerSetSize = 0
}

/**
 * Remove the tags an earlier version left in the peer store (it lives in the
 * node's LevelDB): libp2p redials every keep-alive peer at start.
 */
export async function forgetDhtNeighbourTags (peerStore: PeerStore): Promise<number> {
  const tagged = await peerStore.all({ filters: [peer => peer.tags.has(DHT_KEEP_ALIVE_TAG)] })
  for (const peer of tagged) {
    await peerStore.merge(peer.id, { tags: { [DHT_KEEP_ALIVE_TAG]: undefined, [DHT_CLOSE_TAG]: undefined } })
  }
  return tagged.length
}
