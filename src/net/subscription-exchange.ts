import type { IdentifyResult, PeerUpdate } from '@libp2p/interface'
import type { SpecmeshLibp2p } from './libp2p.ts'
import { nextEvent, type NextChange } from '../util/until.ts'

/**
 * How long after its connection opened a peer's subscriptions are waited for.
 * Gossipsub sends them within moments of the connection (a loaded machine has
 * shown 800 ms); a peer that has sent none by then is taken to have none, so a
 * peer that never tells (a broken or hostile one) cannot keep `spec agents`
 * from ready or hold every new spec's first job for its whole wait.
 */
export const SUBSCRIPTIONS_DUE_MS = 5_000

/** Gossipsub's protocol ids all start so (/meshsub/1.0.0 … 1.2.0). */
const GOSSIPSUB = '/meshsub/'

function speaksGossip (protocols: string[]): boolean {
  return protocols.some(p => p.startsWith(GOSSIPSUB))
}

/**
 * Which connected peers have not told this node their gossipsub subscriptions
 * yet. Gossipsub sends a peer's list on the stream it opens after the
 * connection (and identify), so for a moment a peer shows as connected while
 * this node cannot tell which topics it is on: an agent of a spec looks like
 * no agent at all. A coordinator's first job waits out that moment (hearAgents
 * in node.ts), and `specmesh spec agents` shows such peers as pending.
 *
 * A peer counts as heard once any list of its subscriptions has arrived, or
 * once it is on `announcedTopic` (the specs topic every specmesh node is on:
 * that covers lists that came before this started). A peer whose identify
 * shows no gossipsub, or that is reached only over a limited (relayed)
 * connection, on which gossipsub does not run, is never waited for, nor is
 * one connected for longer than SUBSCRIPTIONS_DUE_MS without a list.
 */
export class SubscriptionExchange {
  private readonly libp2p: SpecmeshLibp2p
  private readonly announcedTopic: string
  private readonly heard = new Set<string>()
  private readonly withoutGossip = new Set<string>()

  constructor (libp2p: SpecmeshLibp2p, announcedTopic: string) {
    this.libp2p = libp2p
    this.announcedTopic = announcedTopic
  }

  start (): void {
    this.libp2p.services.pubsub.addEventListener('subscription-change', this.onSubscriptions)
    this.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.libp2p.addEventListener('peer:update', this.onUpdate)
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
  }

  stop (): void {
    this.libp2p.services.pubsub.removeEventListener('subscription-change', this.onSubscriptions)
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    this.libp2p.removeEventListener('peer:update', this.onUpdate)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.heard.clear()
    this.withoutGossip.clear()
  }

  /** Connected peers whose subscriptions have not arrived yet and are not overdue. */
  pending (): string[] {
    return [...this.unheardSince(Date.now()).keys()]
  }

  /**
   * Each peer whose subscriptions are still awaited, with when its oldest open
   * connection opened (the time its list came due from). A peer counts from its
   * oldest connection: a redial does not restart its time.
   */
  private unheardSince (now: number): Map<string, number> {
    const announced = new Set(this.libp2p.services.pubsub.getSubscribers(this.announcedTopic).map(p => p.toString()))
    const since = new Map<string, number>()
    for (const connection of this.libp2p.getConnections()) {
      if (connection.status !== 'open' || connection.limits != null) continue
      const peer = connection.remotePeer.toString()
      if (this.heard.has(peer) || announced.has(peer) || this.withoutGossip.has(peer)) continue
      const opened = connection.timeline.open
      since.set(peer, Math.min(since.get(peer) ?? opened, opened))
    }
    for (const [peer, opened] of since) if (now - opened >= SUBSCRIPTIONS_DUE_MS) since.delete(peer)
    return since
  }

  /**
   * Resolves when `pending()` may have changed: a peer's subscriptions or
   * protocols arrived, a peer came or went, or a pending peer fell overdue.
   */
  readonly changed: NextChange = async (maxWaitMs, signal) => {
    const now = Date.now()
    const nextDue = Math.min(...[...this.unheardSince(now).values()].map(opened => opened + SUBSCRIPTIONS_DUE_MS - now))
    const waitMs = Math.min(maxWaitMs, Number.isFinite(nextDue) ? Math.max(0, nextDue) : maxWaitMs)
    await Promise.race([
      nextEvent(this.libp2p.services.pubsub, 'subscription-change')(waitMs, signal),
      nextEvent(this.libp2p, 'peer:identify', 'peer:update', 'peer:disconnect', 'connection:open')(waitMs, signal)
    ])
  }

  private readonly onSubscriptions = (event: CustomEvent<{ peerId: { toString: () => string } }>): void => {
    this.heard.add(event.detail.peerId.toString())
  }

  /** Identify tells a peer's protocols in full; the peer store learns them piecemeal (a stream's protocol at a time) before. */
  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const peer = event.detail.peerId.toString()
    if (speaksGossip(event.detail.protocols)) this.withoutGossip.delete(peer)
    else this.withoutGossip.add(peer)
  }

  /** A peer whose handlers were not all registered when identify ran tells its protocols again (identify push). */
  private readonly onUpdate = (event: CustomEvent<PeerUpdate>): void => {
    if (speaksGossip(event.detail.peer.protocols)) this.withoutGossip.delete(event.detail.peer.id.toString())
  }

  private readonly onDisconnect = (event: CustomEvent<{ toString: () => string }>): void => {
    const peer = event.detail.toString()
    this.heard.delete(peer)
    this.withoutGossip.delete(peer)
  }
}
