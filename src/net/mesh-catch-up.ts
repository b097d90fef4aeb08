import type { GossipSub } from '@libp2p/gossipsub'
import type { Startable } from '@libp2p/interface'

/** Most message ids one IHAVE may carry: gossipsub's own cap (GossipsubMaxIHaveLength); a receiver looks at no more. */
const MAX_IHAVE_IDS = 5000

/** What gossipsub exposes to JavaScript but not in its typed API: its message cache and its queue of IHAVEs per peer. */
interface GossipSubInternals {
  mcache: { getGossipIDs: (topics: Set<string>) => Map<string, Uint8Array[]> }
  gossip: Map<string, Array<{ topicID: string, messageIDs: Uint8Array[] }>>
  addEventListener: GossipSub['addEventListener']
  removeEventListener: GossipSub['removeEventListener']
}

interface GraftEvent {
  peerId: string
  topic: string
  direction: 'inbound' | 'outbound'
}

/**
 * Tells a peer that has just joined our mesh for a topic which of the topic's
 * messages went by lately, so it can ask for the ones it missed.
 *
 * gossipsub forwards a message only to the peers in its mesh at that moment,
 * and gossips message ids (IHAVE) only to topic peers outside the mesh. A peer
 * whose subscription we learn of just after a message went by is in neither
 * set for it: it is grafted into the mesh at the next heartbeat, from then on
 * gets no IHAVE, and so never hears of that message. On a mesh that is still
 * forming this loses a message for good (a spec published the moment three
 * nodes connect missed one of them about one time in seven). So on every
 * GRAFT, sent or received, we queue an IHAVE of the topic's messages in the
 * gossip window (the last `mcacheGossip` heartbeats); gossipsub sends it with
 * the next RPC to the peer or at the next heartbeat, and the peer asks (IWANT)
 * only for ids it has not seen.
 */
export class MeshCatchUp implements Startable {
  private readonly pubsub: GossipSubInternals

  constructor (components: { pubsub: GossipSub }) {
    this.pubsub = components.pubsub as unknown as GossipSubInternals
  }

  readonly [Symbol.toStringTag] = 'specmesh:mesh-catch-up'

  start (): void {
    this.pubsub.addEventListener('gossipsub:graft', this.onGraft as any)
  }

  stop (): void {
    this.pubsub.removeEventListener('gossipsub:graft', this.onGraft as any)
  }

  private readonly onGraft = (event: CustomEvent<GraftEvent>): void => {
    const { peerId, topic } = event.detail
    const recent = this.pubsub.mcache.getGossipIDs(new Set([topic])).get(topic) ?? []
    if (recent.length === 0) return
    const queued = this.pubsub.gossip.get(peerId) ?? []
    this.pubsub.gossip.set(peerId, [...queued, { topicID: topic, messageIDs: recent.slice(-MAX_IHAVE_IDS) }])
  }
}

/** The catch-up as a libp2p service, composed after pubsub. */
export function meshCatchUp (): (components: { pubsub: GossipSub }) => MeshCatchUp {
  return components => new MeshCatchUp(components)
}
