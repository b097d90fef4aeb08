/**
 * Per-peer, per-topic accounting of validation work, the way Lodestar bounds
 * its gossip queues per message type and rate-limits per peer.
 *
 * Every message a peer makes us validate that turns out useless (Ignored:
 * unknown spec, expired, duplicate; or Rejected) costs a token from that peer's
 * bucket for that topic. Honest traffic needs few: gossipsub already drops
 * duplicates by message id, and an honest peer forwards only what it validated.
 * A peer whose bucket runs dry is **throttled**: its messages on that topic are
 * dropped before any decoding for a while. A peer still flooding while
 * throttled (or throttled again soon after) is **graylisted**: its gossipsub
 * application-specific score (P5) falls far below the graylist threshold, so
 * gossipsub drops its RPCs unread, and its connection is closed and refused for
 * the graylist period, so the flood stops costing even the decryption.
 *
 * Validation in flight is bounded per peer too, so a flood cannot pile up
 * pending validations (and their memory) faster than they finish.
 */

export interface ValidationGuardInit {
  /**
   * Useless validations (Ignore or Reject) a peer may cost us per second on one topic, sustained.
   * Honest peers forward only what they validated, so what an honest peer makes us
   * Ignore is what it originates for a spec or job we do not hold: far below this.
   * @default 50
   */
  wastePerSecond?: number
  /** Burst allowance on top of the sustained rate. @default 50 */
  wasteBurst?: number
  /**
   * Rejected messages (forged, malformed: the sender's fault), fading by half every
   * 10 s, after which a peer is graylisted and disconnected. gossipsub's own score
   * (P4) suppresses such a peer too, but keeps the connection, so a garbage flood
   * would still cost us every frame's decryption; a handful of bad messages is left
   * to gossipsub's score alone.
   * @default 20
   */
  maxRejects?: number
  /** How long a throttled peer's messages on the topic are dropped unread. @default 2000 */
  throttleMs?: number
  /**
   * Messages dropped while throttled (on any topic) after which the peer is graylisted.
   * A peer that stops when throttled never reaches it.
   * @default 50
   */
  graylistAfterDropped?: number
  /** How long a graylisted peer stays graylisted (and disconnected). @default 60000 */
  graylistMs?: number
  /**
   * Validations of one peer in flight at once, per topic; more are dropped unread.
   * High enough for an honest burst (a node publishing hundreds of receipts at once),
   * low enough that pending validations cannot grow without bound.
   * @default 1024
   */
  maxInFlightPerPeer?: number
  now?: () => number
  /** Told once per throttle and per graylisting. */
  onThrottle?: (peer: string, topic: string) => void
  onGraylist?: (peer: string) => void
}

/** How fast a peer's count of Rejected messages fades. */
const REJECT_HALF_LIFE_MS = 10_000
/** Defaults of wastePerSecond and wasteBurst (ValidationGuardInit). */
export const DEFAULT_WASTE_PER_SECOND = 50
export const DEFAULT_WASTE_BURST = 50

/** Below any graylist threshold a deployment would use (gossipsub's default is -80). */
export const GRAYLIST_APP_SCORE = -1_000_000

interface Bucket {
  tokens: number
  refilledAt: number
  throttledUntil: number
  inFlight: number
}

interface PeerState {
  topics: Map<string, Bucket>
  droppedWhileThrottled: number
  /** Rejects, decaying by half every REJECT_HALF_LIFE_MS. */
  rejects: number
  rejectsAt: number
  graylistedUntil: number
  /** When it was first throttled and graylisted: figures for tests and benchmarks. */
  firstThrottledAt?: number
  firstGraylistedAt?: number
}

export interface PeerGuardStats {
  firstThrottledAt?: number
  firstGraylistedAt?: number
  droppedWhileThrottled: number
  graylisted: boolean
}

export class ValidationGuard {
  private readonly peers = new Map<string, PeerState>()
  private readonly rate: number
  private readonly burst: number
  private readonly throttleMs: number
  private readonly graylistAfter: number
  private readonly maxRejects: number
  private readonly graylistMs: number
  private readonly maxInFlight: number
  private readonly now: () => number
  private readonly init: ValidationGuardInit

  constructor (init: ValidationGuardInit = {}) {
    this.init = init
    this.rate = init.wastePerSecond ?? DEFAULT_WASTE_PER_SECOND
    this.burst = init.wasteBurst ?? DEFAULT_WASTE_BURST
    this.throttleMs = init.throttleMs ?? 2000
    this.graylistAfter = init.graylistAfterDropped ?? 50
    this.maxRejects = init.maxRejects ?? 20
    this.graylistMs = init.graylistMs ?? 60_000
    this.maxInFlight = init.maxInFlightPerPeer ?? 1024
    this.now = init.now ?? Date.now
  }

  /**
   * May this peer's message on this topic be validated now? False drops it
   * unread (the caller answers Ignore). True reserves a validation slot, which
   * finish() gives back.
   */
  admit (peer: string, topic: string): boolean {
    const state = this.state(peer)
    const now = this.now()
    if (state.graylistedUntil > now) return false
    const bucket = this.bucket(state, topic, now)
    if (bucket.throttledUntil > now) {
      state.droppedWhileThrottled++
      if (state.droppedWhileThrottled >= this.graylistAfter) this.graylist(peer, state, now)
      return false
    }
    if (bucket.inFlight >= this.maxInFlight) return false
    bucket.inFlight++
    return true
  }

  /** The verdict of an admitted message: useless ones cost the peer a token. */
  finish (peer: string, topic: string, verdict: 'accept' | 'ignore' | 'reject'): void {
    const state = this.state(peer)
    const now = this.now()
    const bucket = this.bucket(state, topic, now)
    bucket.inFlight = Math.max(0, bucket.inFlight - 1)
    if (verdict === 'accept') return
    if (verdict === 'reject') {
      state.rejects = state.rejects * 0.5 ** ((now - state.rejectsAt) / REJECT_HALF_LIFE_MS) + 1
      state.rejectsAt = now
      if (state.rejects >= this.maxRejects) {
        state.firstThrottledAt ??= now
        this.graylist(peer, state, now)
        return
      }
    }
    bucket.tokens -= 1
    if (bucket.tokens <= 0 && bucket.throttledUntil <= now) {
      bucket.throttledUntil = now + this.throttleMs
      state.firstThrottledAt ??= now
      this.init.onThrottle?.(peer, topic)
    }
  }

  /** gossipsub's application-specific score (P5) of a peer. */
  appScore (peer: string): number {
    const state = this.peers.get(peer)
    return state != null && state.graylistedUntil > this.now() ? GRAYLIST_APP_SCORE : 0
  }

  isGraylisted (peer: string): boolean {
    return this.appScore(peer) < 0
  }

  stats (peer: string): PeerGuardStats {
    const state = this.peers.get(peer)
    return {
      ...(state?.firstThrottledAt != null ? { firstThrottledAt: state.firstThrottledAt } : {}),
      ...(state?.firstGraylistedAt != null ? { firstGraylistedAt: state.firstGraylistedAt } : {}),
      droppedWhileThrottled: state?.droppedWhileThrottled ?? 0,
      graylisted: this.isGraylisted(peer)
    }
  }

  /** Forget peers with nothing to remember, so the table stays as small as the peer set. */
  prune (): void {
    const now = this.now()
    for (const [peer, state] of this.peers) {
      if (state.graylistedUntil > now) continue
      const busy = state.rejects * 0.5 ** ((now - state.rejectsAt) / REJECT_HALF_LIFE_MS) > 0.1 || [...state.topics.values()].some(b => b.inFlight > 0 || b.throttledUntil > now || b.tokens + (now - b.refilledAt) * this.rate / 1000 < this.burst)
      if (!busy) this.peers.delete(peer)
    }
  }

  private graylist (peer: string, state: PeerState, now: number): void {
    if (state.graylistedUntil > now) return
    state.graylistedUntil = now + this.graylistMs
    state.droppedWhileThrottled = 0
    state.firstGraylistedAt ??= now
    this.init.onGraylist?.(peer)
  }

  private state (peer: string): PeerState {
    let state = this.peers.get(peer)
    if (state == null) {
      state = { topics: new Map(), droppedWhileThrottled: 0, rejects: 0, rejectsAt: 0, graylistedUntil: 0 }
      this.peers.set(peer, state)
    }
    return state
  }

  private bucket (state: PeerState, topic: string, now: number): Bucket {
    let bucket = state.topics.get(topic)
    if (bucket == null) {
      bucket = { tokens: this.burst, refilledAt: now, throttledUntil: 0, inFlight: 0 }
      state.topics.set(topic, bucket)
    } else if (now > bucket.refilledAt) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.refilledAt) * this.rate / 1000)
      bucket.refilledAt = now
    }
    return bucket
  }
}
