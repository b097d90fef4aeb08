import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerId, Startable, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { isLoopback } from '@libp2p/utils'
import { TOPICS } from '../wire/constants.ts'

/**
 * specmesh's gossipsub peer-scoring policy (protocols/README.md "Peer scoring").
 *
 * What counts against a peer is sending messages our validators Reject (P4,
 * squared). What counts for it is staying in the mesh (P1) and being the
 * first to bring us a message (P2), both capped, so an honest peer sits a few
 * points above zero and a little bad luck (one Reject, a crowded address) does
 * not push it below the gossip threshold. The mesh-delivery-rate terms (P3,
 * P3b) stay off: our topics are bursty, and a quiet peer is not a bad one.
 *
 * The IP colocation term (P6) is set for NATs, shared hosts and relays, where
 * many honest nodes share one address: it starts beyond 32 peers on one IP,
 * weighs -1 per surplus peer squared, counts only peers connected now (a gone
 * peer keeps its score for RETAIN_SCORE_MS but no longer counts against those
 * still on its address), never counts a relayed peer as the relay's address,
 * and never counts a loopback address (127.0.0.0/8, ::1) at all: peers there
 * are processes on this host, which P6 cannot tell apart from one another and
 * which need no IP to be many (bench:scale's 100 nodes on 127.0.0.1 put every
 * peer of a coordinator with 42 connections at -100, below the graylist
 * threshold, and it received no gossip). Private and public addresses keep it.
 */
export const TOPIC_SCORE = createTopicScoreParams({
  topicWeight: 1,
  // P1: +1 per minute in the mesh, up to +5.
  timeInMeshWeight: 1 / 60,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  // P2: +1 per message first delivered by this peer, decaying by half every ~7 s, up to +5.
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 5,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  // P4: -10 × (Rejected messages)², decaying 1% a second.
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.99
})

/** The most positive score all topics together give a peer. */
export const TOPIC_SCORE_CAP = 20
/** P6: peers on one IP before any penalty, and the weight of each surplus peer, squared. */
export const IP_COLOCATION_THRESHOLD = 32
export const IP_COLOCATION_WEIGHT = -1
/** How long a disconnected peer's (non-positive) score is kept, so leaving and coming back does not wash it. */
export const RETAIN_SCORE_MS = 10 * 60_000

export const SCORE_PARAMS = {
  topics: Object.fromEntries(Object.values(TOPICS).map(topic => [topic, TOPIC_SCORE])),
  topicScoreCap: TOPIC_SCORE_CAP,
  IPColocationFactorThreshold: IP_COLOCATION_THRESHOLD,
  IPColocationFactorWeight: IP_COLOCATION_WEIGHT,
  retainScore: RETAIN_SCORE_MS
}

/**
 * Score a topic joined at run time (a spec's market topics) as the fixed ones
 * are: gossipsub reads its topic parameters from this table on every score,
 * but takes no new ones after it starts. Kept after the topic is left, so a
 * peer's counters for it decay under the same parameters.
 */
export function scoreTopic (pubsub: GossipSub, topic: string): void {
  const topics = (pubsub as unknown as GossipSubInternals).score.params.topics
  topics[topic] ??= TOPIC_SCORE
}

/** Whether gossipsub scores the topic (for tests and diagnostics). */
export function isScoredTopic (pubsub: GossipSub, topic: string): boolean {
  return (pubsub as unknown as GossipSubInternals).score.params.topics[topic] != null
}

/** What gossipsub's peer score exposes to JavaScript (not part of its typed API). */
interface ScoreInternals {
  params: { topics: Record<string, typeof TOPIC_SCORE> }
  peerStats: Map<string, { connected: boolean, knownIPs: Set<string> }>
  removeIP: (id: string, ip: string) => void
}
interface GossipSubInternals {
  score: ScoreInternals
  addPeer: (peerId: PeerId, direction: string, addr: Multiaddr) => void
}

/** An address gossipsub reads no IP from: what a relayed or loopback peer is recorded under. */
const NO_IP = multiaddr('/p2p-circuit')

export function isRelayed (addr: Multiaddr): boolean {
  return addr.toString().includes('/p2p-circuit')
}

/** Whether P6 leaves the peer at this address out of IP colocation: relayed (not its own IP) or loopback (this host). */
export function colocationExempt (addr: Multiaddr): boolean {
  return isRelayed(addr) || isLoopback(addr)
}

/**
 * The parts of the policy gossipsub has no setting for, as a libp2p service
 * composed after pubsub: a relayed or loopback peer is added without an IP
 * (gossipsub's IPColocationFactorWhitelist takes exact addresses, not the
 * loopback range), and a peer that disconnects stops counting toward its
 * address's colocation.
 */
export class PeerScorePolicy implements Startable {
  private readonly events: TypedEventTarget<Libp2pEvents>
  private readonly pubsub: GossipSubInternals
  private originalAddPeer: GossipSubInternals['addPeer'] | undefined

  constructor (components: { events: TypedEventTarget<Libp2pEvents>, pubsub: GossipSub }) {
    this.events = components.events
    this.pubsub = components.pubsub as unknown as GossipSubInternals
  }

  start (): void {
    const original = this.pubsub.addPeer.bind(this.pubsub)
    this.originalAddPeer = this.pubsub.addPeer
    this.pubsub.addPeer = (peerId, direction, addr) => { original(peerId, direction, colocationExempt(addr) ? NO_IP : addr) }
    this.events.addEventListener('peer:disconnect', this.onDisconnect)
  }

  stop (): void {
    this.events.removeEventListener('peer:disconnect', this.onDisconnect)
    if (this.originalAddPeer != null) this.pubsub.addPeer = this.originalAddPeer
  }

  /** After gossipsub has retained the gone peer's score, drop its address from colocation counts. */
  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString()
    setTimeout(() => {
      const stats = this.pubsub.score.peerStats.get(id)
      if (stats == null || stats.connected) return
      for (const ip of [...stats.knownIPs]) this.pubsub.score.removeIP(id, ip)
    }, 0)
  }
}

export function peerScorePolicy (): (components: { events: TypedEventTarget<Libp2pEvents>, pubsub: GossipSub }) => PeerScorePolicy {
  return components => new PeerScorePolicy(components)
}
