import type { Startable } from '@libp2p/interface'
import type { Gossip, TopicValidator } from '../net/gossip.ts'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import { scoreTopic } from '../net/peer-scoring.ts'
import type { Spec } from '../spec/index.ts'
import { TOPICS } from '../wire/constants.ts'
import { marketTopic, parseSpecTopic, SPEC_TOPIC_KINDS, type SpecTopicKind, type TopicMode } from './topics.ts'

/**
 * Why a node is on a spec's topics (protocols/market.md "Who subscribes"):
 * it serves the spec, it has submitted a job for it, or its operator follows it.
 */
export type JoinReason = 'serving' | 'coordinating' | 'following'

/**
 * What `--follow` holds: spec ids, `name@version` or `name` (every version),
 * or 'all' (every spec held, including ones that arrive later).
 */
export type FollowList = readonly string[] | 'all'

/** The validators of one spec's topics; `topicSpec` null for the global topics. */
export type TopicValidators = (topicSpec: string | null) => Record<SpecTopicKind, TopicValidator>

export interface SpecSubscriptionsDeps {
  libp2p: SpecmeshLibp2p
  gossip: Gossip
  mode: TopicMode
  validators: TopicValidators
  follow?: FollowList
  /** The specs held now, for `--follow all` and follows by name. */
  heldSpecs: () => Promise<Array<{ id: string, spec: Spec }>>
  /** A spec's topics were joined (first reason) — the node meets its parties here. */
  onJoined?: (specId: string, reason: JoinReason) => void
  /** The node now takes the spec's receipts (its receipts topic was joined): catch up on those held by its peers. */
  onReceiptsJoined?: (specId: string) => void
  /** A peer subscribed to one of the spec's topics we are on. */
  onPeerSubscribed?: (specId: string, kind: SpecTopicKind, peer: string) => void
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/**
 * The topics of a spec each reason puts a node on. An agent serving S is on
 * all but S's receipts: the receipts of the other agents' work are not its
 * business (validating and storing them was most of what the agents that did
 * not win a job spent on it, bench:jobs), and its own come over the execution
 * stream they ran on (protocols/market.md "Receipt frame"). Coordinators and
 * followers, who rate agents from receipts, are on all six.
 */
export const KINDS_FOR: Readonly<Record<JoinReason, readonly SpecTopicKind[]>> = {
  serving: SPEC_TOPIC_KINDS.filter(kind => kind !== 'receipts'),
  coordinating: SPEC_TOPIC_KINDS,
  following: SPEC_TOPIC_KINDS
}

function kindsOf (reasons: Iterable<JoinReason>): Set<SpecTopicKind> {
  const kinds = new Set<SpecTopicKind>()
  for (const reason of reasons) for (const kind of KINDS_FOR[reason]) kinds.add(kind)
  return kinds
}

/** Whether a follow entry names this spec: its id, `name@version`, or `name`. */
export function followMatches (entry: string, id: string, spec: Spec): boolean {
  return entry === id || entry === spec.name || (spec.version != null && entry === `${spec.name}@${spec.version}`)
}

/**
 * Joins and leaves a spec's market topics for the reasons a node has to be
 * there (KINDS_FOR), registers their validators and their peer-score parameters, and
 * tells the agent when a peer arrives on a capacity topic. Under the 'global'
 * mode it holds the fixed global topics instead, and every spec counts as joined.
 */
export class SpecSubscriptions implements Startable {
  private readonly deps: SpecSubscriptionsDeps
  private readonly reasons = new Map<string, Set<JoinReason>>()
  private started = false

  constructor (deps: SpecSubscriptionsDeps) {
    this.deps = deps
  }

  get mode (): TopicMode {
    return this.deps.mode
  }

  async start (): Promise<void> {
    this.started = true
    if (this.deps.mode === 'global') {
      const validate = this.deps.validators(null)
      for (const kind of SPEC_TOPIC_KINDS) this.deps.gossip.handle(TOPICS[kind], validate[kind])
      return
    }
    this.deps.libp2p.services.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    if (this.deps.follow != null && (this.deps.follow === 'all' || this.deps.follow.length > 0)) {
      for (const { id, spec } of await this.deps.heldSpecs()) this.specHeld(id, spec)
    }
  }

  stop (): void {
    this.started = false
    this.deps.libp2p.services.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.reasons.clear()
  }

  /** A spec is held (at start, or newly arrived): join it when it is followed. */
  specHeld (id: string, spec: Spec): void {
    const follow = this.deps.follow
    if (follow == null || this.deps.mode === 'global') return
    if (follow === 'all' || follow.some(entry => followMatches(entry, id, spec))) this.join(id, 'following')
  }

  /** Be on the spec's topics for `reason`; true when this joined them (no reason held before). */
  join (specId: string, reason: JoinReason): boolean {
    if (this.deps.mode === 'global' || !this.started) return false
    const held = this.reasons.get(specId)
    if (held?.has(reason) === true) return false
    const before = kindsOf(held ?? [])
    const reasons = held ?? new Set<JoinReason>()
    reasons.add(reason)
    this.reasons.set(specId, reasons)
    const validate = this.deps.validators(specId)
    const pubsub = this.deps.libp2p.services.pubsub
    for (const kind of kindsOf(reasons)) {
      if (before.has(kind)) continue
      const topic = marketTopic('per-spec', specId, kind)
      scoreTopic(pubsub, topic)
      this.deps.gossip.handle(topic, validate[kind])
    }
    if (held == null) {
      this.deps.log?.('topics.joined', { specId, reason })
      this.deps.onJoined?.(specId, reason)
    }
    if (!before.has('receipts') && KINDS_FOR[reason].includes('receipts')) this.deps.onReceiptsJoined?.(specId)
    return held == null
  }

  /** Drop one reason; each topic is left once no remaining reason needs it, the spec once none remains. */
  leave (specId: string, reason: JoinReason): void {
    const held = this.reasons.get(specId)
    if (held == null || !held.delete(reason)) return
    const still = kindsOf(held)
    for (const kind of KINDS_FOR[reason]) if (!still.has(kind)) this.deps.gossip.unhandle(marketTopic('per-spec', specId, kind))
    if (held.size > 0) return
    this.reasons.delete(specId)
    this.deps.log?.('topics.left', { specId })
  }

  /** Whether this node is on the spec's topics (always, under 'global'). */
  joined (specId: string): boolean {
    return this.deps.mode === 'global' || this.reasons.has(specId)
  }

  /** The specs whose market traffic this node receives: 'all' under the global topics or `--follow all`. */
  joinedSpecs (): string[] | 'all' {
    if (this.deps.mode === 'global' || this.deps.follow === 'all') return 'all'
    return [...this.reasons.keys()]
  }

  /** Whether this node is on the spec's topic of `kind` (always, under 'global'). */
  isOn (specId: string, kind: SpecTopicKind): boolean {
    if (this.deps.mode === 'global') return true
    const held = this.reasons.get(specId)
    return held != null && kindsOf(held).has(kind)
  }

  /** Whether this node takes the spec's receipts (is on its receipts topic). */
  takesReceipts (specId: string): boolean {
    return this.isOn(specId, 'receipts')
  }

  /**
   * The specs whose receipts this node takes (it coordinates or follows them),
   * or 'all' under the global topics or `--follow all`: what sync pulls receipts of.
   */
  receiptSpecs (): string[] | 'all' {
    if (this.deps.mode === 'global' || this.deps.follow === 'all') return 'all'
    return [...this.reasons.keys()].filter(specId => this.takesReceipts(specId))
  }

  /** Why this node is on each spec's topics (diagnostics, `specmesh status`). */
  joinReasons (): Array<{ specId: string, reasons: JoinReason[] }> {
    return [...this.reasons].map(([specId, reasons]) => ({ specId, reasons: [...reasons] }))
  }

  /** Where a message of `kind` about `specId` is published. */
  topicOf (specId: string, kind: SpecTopicKind): string {
    return marketTopic(this.deps.mode, specId, kind)
  }

  /** Peers we know to be on the spec's topic of `kind`. */
  topicPeers (specId: string, kind: SpecTopicKind): string[] {
    return this.deps.libp2p.services.pubsub.getSubscribers(this.topicOf(specId, kind)).map(p => p.toString())
  }

  private readonly onSubscriptionChange = (event: CustomEvent<{ peerId: { toString: () => string }, subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    if (this.deps.onPeerSubscribed == null) return
    for (const { topic, subscribe } of event.detail.subscriptions) {
      if (!subscribe) continue
      const parsed = parseSpecTopic(topic)
      if (parsed != null && this.reasons.has(parsed.specId)) this.deps.onPeerSubscribed(parsed.specId, parsed.kind, event.detail.peerId.toString())
    }
  }
}
