import type { Connection, Stream } from '@libp2p/interface'
import { hashHex } from '../crypto/content-id.ts'
import { canonicalBytes } from '../wire/canonical.ts'
import { sameKey, type Signer } from '../crypto/signatures.ts'
import { seal, encodeEnvelope, parseEnvelopeJson, verifyEnvelope, type Envelope } from '../wire/envelope.ts'
import { MAX_HANDLER_MESSAGE_CHARS, MAX_OUTPUT_BYTES, MAX_INPUT_BYTES } from '../wire/constants.ts'
import { marketTopic, type SpecTopicKind } from './topics.ts'
import type { Spec } from '../spec/index.ts'
import type { Gossip } from '../net/gossip.ts'
import { DeadlineExceededError, HandlerError, Refusal } from './errors.ts'
import type { Handler } from './exec-handler.ts'
import { execStream, readCancelFrame, supportsCancel, supportsLeases, supportsReceipts } from './exec-protocol.ts'
import { FrameError } from '../net/frames.ts'
import { MessageValidationError } from '../wire/errors.ts'
import { after } from './timers.ts'
import { bidHoldsUntil, firstBidUntil } from './constants.ts'
import { AwardBodySchema, publishableReason, type BidAnswer, MAX_ADVERT_SPECS, MAX_ADVERT_TTL_MS, MAX_DURATION_MS, MAX_QUEUE, MAX_SLOTS, type AwardBody, type BidBody, type CapacityBody, type ClaimBody, type JobBody } from './messages.ts'
import type { RecentJobs } from './recent-jobs.ts'
import { checkBody } from './validators.ts'
import { plainlyShapedLeaseAwardBody } from './body-shapes.ts'
import { AgentLeases } from './lease-agent.ts'
import { LeaseAwardBodySchema, type LeaseAwardBody, type LeaseBody, type LeaseCallBody } from './lease-messages.ts'
import { parseJsonBytes } from '../wire/json-input.ts'
import { BidHolds } from './bid-holds.ts'

/** Bid-stream failures that are the ordinary way to gossip a bid (no connection to the coordinator, a stream not answering yet), logged at debug; the others warn. */
const BY_GOSSIP_AS_USUAL = new Set(['NoCoordinatorConnectionError', 'ColdBidStreamError'])
import { inputMatchesHash } from './input-hash.ts'

export interface ServeOptions {
  /** Price asked per job, in USD. @default the spec's costUsd, or 0 */
  priceUsd?: number
  /** How long one execution is expected to take; bids and admission use it. @default 1000 */
  estimatedMs?: number
  /** Executions of this spec at once; never above the spec's capacity.maxConcurrentRequests. @default that limit, or 4 */
  concurrency?: number
  /**
   * 'spec' (the default) admits work as the spec says: within the concurrency
   * limit, before the soft deadline, only what can finish by the deadline, and
   * aborts at the deadline. 'none' is a plain server that takes whatever it is
   * given and runs it to the end: for comparisons such as bench:cascade only.
   */
  admission?: 'spec' | 'none'
  /**
   * Awards that find every slot taken may wait in a short queue for one (never
   * past the soft deadline, nor so long the work could not finish by the
   * deadline) instead of being refused: coordinators that raced for the same
   * freed slot then cost a wait, not a retry. @default the concurrency limit
   */
  queue?: number
}

interface Served {
  specId: string
  spec: Spec
  handler: Handler
  priceUsd: number
  estimatedMs: number
  limit: number
  inFlight: number
  /** Deadlines of the executions running now. */
  deadlines: Set<{ deadline: number }>
  enforcesSpec: boolean
  queueLimit: number
  /** Awards waiting for a slot, first come first served. */
  waiting: Array<() => void>
  /**
   * Job calls that arrived while every place was committed, oldest first: the
   * first place to free goes to the oldest still open, with a bid at once,
   * rather than waiting for an advert to bring a new call.
   */
  kept: KeptCall[]
  /** A bid on kept calls is due (placeFreed), or a held place is about to be released. */
  refillDue: boolean
  holdTimer?: NodeJS.Timeout
}

interface KeptCall {
  envelope: Envelope<JobBody>
  /** After this a bid could reach the coordinator too late for its first-bid wait. */
  bidBy: number
}

/** A request's award: from the job's auction, or under a lease (execute/1.2.0). */
type AnyAward = Envelope<AwardBody> | Envelope<LeaseAwardBody>

interface OutstandingBid {
  bidId: string
  jobId: string
  specId: string
  priceUsd: number
  expiresAt: number
  /**
   * Until when the bid holds a place (a slot or a queue place) for its job.
   * Released early when the job is awarded, to us or to another agent.
   */
  holdsUntil: number
}

export interface AgentDeps {
  signer: Signer
  gossip: Gossip
  jobs: RecentJobs
  /** Our own addresses, advertised in bids so a coordinator several hops away can dial us. */
  addresses: () => string[]
  now?: () => number
  log?: (event: string, fields?: Record<string, unknown>) => void
  /** How often capacity is re-announced when nothing changes. @default 2000 */
  advertIntervalMs?: number
  /** How long one execution-stream frame may take to arrive once it has begun. @default EXEC_FRAME_TIMEOUT_MS */
  execFrameTimeoutMs?: number
  /** Where a message about a spec is published (market/topics.ts). @default the global topics */
  topicOf?: (specId: string, kind: SpecTopicKind) => string
  /** One advert per spec on that spec's capacity topic (per-spec topics), rather than one for all on the global topic. */
  advertPerSpec?: boolean
  /**
   * Sends a bid straight to the job's coordinator over the bid stream and
   * resolves with its answer (market.bids 'stream'); throws when the stream
   * fails, and the bid then goes by gossip. Absent: bids are gossiped.
   * `coldWithinMs`: how long to wait on a stream that has not answered yet (BidClient.send).
   */
  sendBid?: (coordinator: string, bid: Envelope<BidBody>, options: { coldWithinMs: number }) => Promise<BidAnswer>
  /**
   * Judge and store a receipt frame from a coordinator's execution stream
   * (execute/1.3.0): the receipt of one of our attempts, signed by that
   * coordinator. Throws MessageValidationError: a Reject ends the stream, an
   * Ignore (a duplicate) drops the frame. Absent: receipt frames are dropped.
   * `parsed`: the frame through parseEnvelopeJson already (the stream's reader
   * parses each frame once, to read its type), so it is not parsed again.
   */
  takeReceipt?: (frame: Uint8Array, coordinator: string, parsed: { raw: unknown }) => Promise<void>
}

const DEFAULT_CONCURRENCY = 4
/** Receipt frames of one execution stream judged at once; the stream's next frame waits for a place. */
const MAX_RECEIPT_FRAMES_PENDING = 64
const DEFAULT_ADVERT_INTERVAL_MS = 2000
/** Adverts on change are at most this frequent: load changes faster than gossip should carry it. */
const MIN_ADVERT_GAP_MS = 20
/** Room (free slots plus queue places) at or below which every change of load is announced. */
const TIGHT_ROOM = 2
const DEFAULT_ESTIMATED_MS = 1000
/** What a busy agent suggests a coordinator waits before asking again. */
const BUSY_RETRY_AFTER_MS = 250
/** How often expired used awards and bids are swept (forgetExpired). */
const EXPIRED_SWEEP_MS = 1000
/** Job calls kept per spec while it is full; beyond this the oldest is dropped. */
const MAX_KEPT_CALLS = 64

/** Abort reason of an execution its coordinator cancelled (a cancel frame). */
export class ExecutionCancelledError extends Error {
  override name = 'ExecutionCancelledError'
  constructor () {
    super('cancelled by the coordinator')
  }
}

/**
 * What an operator should hear when serving starts: a price no job will take,
 * a concurrency the spec does not allow.
 */
export function serveWarnings (spec: Spec, priceUsd: number, wantedConcurrency: number, limit: number): string[] {
  const warnings: string[] = []
  const budget = spec.budget?.maxUsd
  if (budget != null && priceUsd > budget) {
    warnings.push(`price ${priceUsd} USD is above this spec's ceiling ${budget} USD (budget.maxUsd): no job of it can be awarded to this agent; lower the price (--price)`)
  } else if (budget == null && spec.costUsd != null && priceUsd > spec.costUsd) {
    warnings.push(`price ${priceUsd} USD is above this spec's costUsd ${spec.costUsd} USD, the default ceiling of its jobs: only jobs submitted with a higher --max-usd can be awarded to this agent`)
  }
  if (wantedConcurrency > limit) {
    warnings.push(`concurrency ${wantedConcurrency} is capped at ${limit}: the spec's capacity.maxConcurrentRequests`)
  }
  return warnings
}

/**
 * The executing side of the market: bids on jobs for the specs it serves when it
 * can meet them, and executes awarded jobs under the spec's limits.
 */
export class AgentService {
  private readonly deps: AgentDeps
  private readonly now: () => number
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private readonly served = new Map<string, Served>()
  private readonly bids = new Map<string, OutstandingBid>()
  /** The places our bids hold now, per spec (a subset of `bids`). */
  private readonly holds = new BidHolds<OutstandingBid>()
  /** Awards already executed or refused, kept until their job's deadline: replays are refused. */
  private readonly usedAwards = new Map<string, number>()
  private readonly running = new Set<AbortController>()
  private readonly advertIntervalMs: number
  private readonly topicOf: (specId: string, kind: SpecTopicKind) => string
  /** Specs no longer served whose capacity topic still needs an empty advert (per-spec adverts). */
  private readonly withdrawn = new Set<string>()
  private advertTimer: NodeJS.Timeout | undefined
  private advertInterval: NodeJS.Timeout | undefined
  private lastAdvertAt = 0
  /** The last time stamped on an advert or a bid of ours (see stamp). */
  private lastStamp = 0
  private lastAdvertTight = false
  private stopped = false
  /** Draining: no more bids or awards, running work goes on (see drain()). */
  private draining = false
  /** Woken whenever an execution or a queued award ends, for drain(). */
  private onIdle: (() => void) | undefined
  private readonly leases: AgentLeases
  /** When forgetExpired next sweeps (see there). */
  private nextSweepAt = 0

  constructor (deps: AgentDeps) {
    this.deps = deps
    this.advertIntervalMs = deps.advertIntervalMs ?? DEFAULT_ADVERT_INTERVAL_MS
    this.topicOf = deps.topicOf ?? ((specId, kind) => marketTopic('global', specId, kind))
    this.now = deps.now ?? Date.now
    this.log = deps.log ?? (() => {})
    this.leases = new AgentLeases({
      signer: deps.signer,
      gossip: deps.gossip,
      topicOf: this.topicOf,
      addresses: deps.addresses,
      served: specId => this.served.get(specId),
      effectiveLimit: specId => { const s = this.served.get(specId); return s == null ? 0 : this.effectiveLimit(s) },
      committed: specId => { const s = this.served.get(specId); return s == null ? 0 : this.committed(s) },
      draining: () => this.draining,
      // A lease ending or shrinking may free places: kept job calls get them (placeFreed).
      loadChanged: () => { this.loadChanged(); for (const specId of this.served.keys()) this.placeFreed(specId) },
      now: this.now,
      log: this.log
    })
  }

  /** A lease call validated from gossip: bid on it when this agent can (lease-agent.ts). */
  async onLeaseCall (envelope: Envelope<LeaseCallBody>): Promise<void> {
    await this.leases.onCall(envelope)
  }

  /** A lease validated from gossip: a lease of a call we bid on, to another agent, frees our bid's slots. */
  onLease (envelope: Envelope<LeaseBody>): void {
    this.leases.onLeaseGossip(envelope)
  }

  serve (specId: string, spec: Spec, handler: Handler, options: ServeOptions = {}): () => void {
    const specLimit = spec.capacity?.maxConcurrentRequests
    const wanted = options.concurrency ?? specLimit ?? DEFAULT_CONCURRENCY
    const served: Served = {
      specId,
      spec,
      handler,
      priceUsd: options.priceUsd ?? spec.costUsd ?? 0,
      // Clamped to what a receiver accepts in bids and adverts (messages.ts): never send what would be Rejected.
      estimatedMs: Math.min(options.estimatedMs ?? DEFAULT_ESTIMATED_MS, MAX_DURATION_MS),
      limit: Math.min(MAX_SLOTS, Math.max(1, specLimit != null ? Math.min(wanted, specLimit) : wanted)),
      inFlight: 0,
      deadlines: new Set(),
      enforcesSpec: options.admission !== 'none',
      queueLimit: 0,
      waiting: [],
      kept: [],
      refillDue: false
    }
    // The queue defaults to the concurrency limit, known only once the limit is.
    served.queueLimit = Math.min(MAX_QUEUE, Math.max(0, options.queue ?? served.limit))
    this.served.set(specId, served)
    this.withdrawn.delete(specId)
    this.log('agent.serving', { specId, name: spec.name, priceUsd: served.priceUsd, limit: served.limit })
    for (const warning of serveWarnings(spec, served.priceUsd, wanted, served.limit)) this.log('agent.serve-warning', { level: 'warn', specId, message: warning })
    this.advertiseSoon()
    this.startAdverts()
    return () => {
      this.served.delete(specId)
      clearTimeout(served.holdTimer)
      if (this.deps.advertPerSpec === true) this.withdrawn.add(specId)
      this.advertiseSoon()
    }
  }

  servedSpecs (): Array<{ specId: string, name: string, priceUsd: number, inFlight: number, limit: number }> {
    return [...this.served.values()].map(s => ({ specId: s.specId, name: s.spec.name, priceUsd: s.priceUsd, inFlight: s.inFlight, limit: s.limit }))
  }

  /**
   * The concurrency this agent allows itself now: its limit, less one for each
   * execution that is close to its deadline (less time left than one estimate).
   * Work about to be abandoned must not be crowded out by new work that would
   * share the same resources; the limit never drops below 1.
   */
  private effectiveLimit (served: Served): number {
    const now = this.now()
    let atRisk = 0
    for (const running of served.deadlines) if (running.deadline - now < served.estimatedMs) atRisk++
    return Math.max(1, served.limit - atRisk)
  }

  /**
   * Announce a change of load soon, when it matters: coordinators only need a
   * fresh count near saturation (little room left, or just left it). Far from
   * it the periodic advert is enough, and gossip carries less.
   */
  private loadChanged (): void {
    if (this.nearSaturation() || this.lastAdvertTight) this.advertiseSoon()
  }

  /** Whether some served spec has TIGHT_ROOM places or fewer left (slots plus queue, less what is promised). */
  private nearSaturation (): boolean {
    return [...this.served.values()].some(s => this.effectiveLimit(s) + s.queueLimit - this.committed(s) <= TIGHT_ROOM)
  }

  /** Announce capacity now, or as soon as the rate limit allows; changes in between are folded in. */
  advertiseSoon (): void {
    if (this.advertTimer != null || this.stopped) return
    const wait = Math.max(0, this.lastAdvertAt + MIN_ADVERT_GAP_MS - this.now())
    this.advertTimer = setTimeout(() => {
      this.advertTimer = undefined
      this.advertise().catch(err => { this.log('agent.advert-failed', { level: 'warn', error: (err as Error).message }) })
    }, wait)
    this.advertTimer.unref()
  }

  private startAdverts (): void {
    if (this.advertInterval != null) return
    this.advertInterval = setInterval(() => { this.advertiseSoon() }, this.advertIntervalMs)
    this.advertInterval.unref()
  }

  /**
   * The time for an advert's issuedAt or a bid's createdAt: now, but always
   * later than the last one. A coordinator tells whether an advert counts a bid
   * by which of the two is later (protocols/market.md "Waiting for capacity");
   * an advert made in the same millisecond as a bid, just before it, would
   * otherwise pass for counting it, and the coordinator would call for a job on
   * a place the bid already holds. A burst runs the stamps ahead of the clock
   * by one ms per advert or bid made within the same ms (64 calls at once: 64 ms),
   * far inside the clock skew receivers allow, and the clock catches up after.
   */
  private stamp (): number {
    this.lastStamp = Math.max(this.now(), this.lastStamp + 1)
    return this.lastStamp
  }

  private async advertise (): Promise<void> {
    this.lastAdvertAt = this.now()
    const issuedAt = this.stamp()
    this.lastAdvertTight = this.nearSaturation()
    const entryOf = (s: Served): CapacityBody['specs'][number] => ({ specId: s.specId, inFlight: Math.min(s.inFlight, MAX_SLOTS), queued: Math.min(s.waiting.length + this.held(s.specId), MAX_SLOTS + MAX_QUEUE), limit: this.effectiveLimit(s), queue: s.queueLimit, priceUsd: s.priceUsd })
    const advert = (specs: CapacityBody['specs']): Envelope<CapacityBody> => seal('capacity', { specs, issuedAt, expiresAt: issuedAt + Math.min(MAX_ADVERT_TTL_MS, 3 * this.advertIntervalMs) }, this.deps.signer)
    // A draining agent advertises nothing, so coordinators stop counting on it.
    if (this.deps.advertPerSpec !== true) {
      await this.deps.gossip.publish(this.topicOf('', 'capacity'), advert(this.draining ? [] : [...this.served.values()].slice(0, MAX_ADVERT_SPECS).map(entryOf)))
      return
    }
    // Per-spec topics: one advert per spec on its own topic, naming that spec
    // alone (validators Reject any other), and an empty one where we stopped serving.
    const sends: Array<Promise<void>> = []
    for (const s of this.served.values()) sends.push(this.deps.gossip.publish(this.topicOf(s.specId, 'capacity'), advert(this.draining ? [] : [entryOf(s)])))
    for (const specId of this.withdrawn) sends.push(this.deps.gossip.publish(this.topicOf(specId, 'capacity'), advert([])))
    this.withdrawn.clear()
    await Promise.all(sends)
  }

  /**
   * Decide whether to bid on a job just validated from gossip, and bid if so.
   * A job this agent would take but has no place for is kept: a place freeing
   * before the job's bidding ends goes to it (bidOnKept).
   */
  async onJob (envelope: Envelope<JobBody>): Promise<void> {
    this.forgetExpired(this.now())
    const job = envelope.body
    const served = this.served.get(job.specId)
    if (served == null || sameKey(envelope.signer, this.deps.signer.peerId) || this.draining) return
    const terms = this.termsRefusal(served, job)
    const room = terms == null ? this.roomRefusal(served) : null
    if (terms != null || room != null) {
      const kept = terms == null && this.keep(served, envelope)
      this.log('agent.no-bid', { jobId: envelope.id, reason: terms ?? room, ...(kept ? { kept } : {}) })
      return
    }
    await this.bid(served, envelope)
  }

  /** Sign and publish a bid; the place it holds counts as committed before anything is awaited. */
  private async bid (served: Served, envelope: Envelope<JobBody>): Promise<void> {
    const job = envelope.body
    const now = this.now()
    const body: BidBody = {
      jobId: envelope.id,
      specId: job.specId,
      priceUsd: served.priceUsd,
      estimatedMs: served.estimatedMs,
      load: { inFlight: Math.min(this.committed(served), MAX_SLOTS), limit: this.effectiveLimit(served) },
      createdAt: this.stamp(),
      expiresAt: job.deadline
    }
    const addrs = this.deps.addresses().slice(0, 8)
    if (addrs.length > 0) body.addrs = addrs
    const bid = seal('bid', body, this.deps.signer)
    // The place is held through the bid window and its grace for a late first bid (never past the job's deadline).
    const holdsUntil = Math.min(bidHoldsUntil(this.published(envelope)), job.deadline)
    const outstanding: OutstandingBid = { bidId: bid.id, jobId: envelope.id, specId: job.specId, priceUsd: served.priceUsd, expiresAt: job.deadline, holdsUntil }
    this.bids.set(bid.id, outstanding)
    this.holds.add(outstanding)
    this.loadChanged()
    this.log('agent.bid', { jobId: envelope.id, specId: job.specId, priceUsd: served.priceUsd, estimatedMs: served.estimatedMs, ceilingUsd: job.maxUsd })
    if (this.deps.sendBid != null) {
      let answer: BidAnswer | undefined
      try {
        // Half the window for a stream that has not answered yet, so that a bid it holds up still arrives by gossip within the window.
        answer = await this.deps.sendBid(envelope.signer, bid, { coldWithinMs: job.bidWindowMs / 2 })
      } catch (err) {
        // No stream to the coordinator (unreachable directly, or it went away): the spec's bids topic, where it also listens.
        // Not being connected to a coordinator is ordinary (it is gossip's job then); a stream that failed is not.
        this.log('agent.bid-stream-failed', { level: BY_GOSSIP_AS_USUAL.has((err as Error).name) ? 'debug' : 'warn', jobId: envelope.id, coordinator: envelope.signer, error: (err as Error).message })
      }
      if (answer != null) {
        if (!answer.accepted) {
          // A refused bid will never be awarded: the place it held is free again.
          this.bids.delete(bid.id)
          this.holds.release(outstanding, this.now())
          this.loadChanged()
          this.log('agent.bid-refused', { level: 'warn', jobId: envelope.id, code: answer.code, reason: answer.reason })
        }
        return
      }
    }
    await this.deps.gossip.publish(this.topicOf(job.specId, 'bids'), bid)
  }

  /** The job as RecentJobs knows it (publication as this agent saw it). */
  private published (envelope: Envelope<JobBody>): { body: JobBody, publishedAt: number } {
    return this.deps.jobs.get(envelope.id) ?? { body: envelope.body, publishedAt: Math.max(envelope.body.createdAt, this.now()) }
  }

  /**
   * Keep a call this agent has no place for, while a bid on it could still
   * count: until one bid window before the coordinator stops waiting for a
   * first bid, so that a late bid has a window to travel. False when too late already.
   */
  private keep (served: Served, envelope: Envelope<JobBody>): boolean {
    if (!served.enforcesSpec) return false
    const bidBy = firstBidUntil(this.published(envelope)) - envelope.body.bidWindowMs
    if (bidBy <= this.now()) return false
    served.kept.push({ envelope, bidBy })
    if (served.kept.length > MAX_KEPT_CALLS) served.kept.shift()
    this.armHoldRelease(served)
    return true
  }

  /**
   * A place may have freed on a spec (an execution or a queued award ended, a
   * held place was released): bid on the kept calls it can now take. Deferred
   * to setImmediate, after the award woken from the queue has taken the freed
   * slot, so that slot is never promised twice.
   */
  private placeFreed (specId: string): void {
    const served = this.served.get(specId)
    if (served == null || served.kept.length === 0 || served.refillDue) return
    served.refillDue = true
    setImmediate(() => {
      served.refillDue = false
      this.bidOnKept(served)
    })
  }

  /** Bid, oldest first, on the kept calls still open, while a place is free. */
  private bidOnKept (served: Served): void {
    if (this.draining || this.stopped || this.served.get(served.specId) !== served) return
    const now = this.now()
    this.forgetExpired(now)
    while (served.kept.length > 0 && this.roomRefusal(served) == null) {
      const call = served.kept.shift()!
      if (now > call.bidBy || this.termsRefusal(served, call.envelope.body) != null) continue
      this.bid(served, call.envelope).catch(err => { this.log('agent.bid-failed', { level: 'warn', jobId: call.envelope.id, error: (err as Error).message }) })
    }
    served.kept = served.kept.filter(c => c.bidBy >= now)
    this.armHoldRelease(served)
  }

  /**
   * With calls kept, a place held by a bid that is never awarded frees when its
   * hold ends, with no event to say so: look again then.
   */
  private armHoldRelease (served: Served): void {
    clearTimeout(served.holdTimer)
    served.holdTimer = undefined
    if (served.kept.length === 0) return
    const now = this.now()
    const next = this.holds.nextEnd(served.specId, now)
    if (next === Infinity) return
    served.holdTimer = setTimeout(() => { this.placeFreed(served.specId) }, next - now + 1)
    served.holdTimer.unref()
  }

  /** Why there is no place for one more job of the spec now (every slot and queue place committed), or null. */
  private roomRefusal (served: Served): string | null {
    if (!served.enforcesSpec) return null
    const limit = this.effectiveLimit(served)
    if (this.committed(served) >= limit + served.queueLimit) {
      return `no free slot (${served.inFlight}/${limit} in flight, ${served.waiting.length} queued, ${this.held(served.specId)} held by bids${limit < served.limit ? `; limit lowered from ${served.limit} while work nears its deadline` : ''})`
    }
    return null
  }

  /** Why this job's terms rule a bid out whatever the load (soft deadline, deadline, execution window, price), or null. */
  private termsRefusal (served: Served, job: JobBody): string | null {
    const now = this.now()
    if (!served.enforcesSpec) return served.priceUsd > job.maxUsd ? `price ${served.priceUsd} is above the job's ceiling ${job.maxUsd}` : null
    if (job.softDeadline != null && now > job.softDeadline) return 'past the soft deadline'
    if (now + served.estimatedMs > job.deadline) return `cannot finish by the deadline (estimate ${served.estimatedMs} ms)`
    const window = served.spec.executionWindow
    if (window != null && served.estimatedMs > window * 1000) return `estimate ${served.estimatedMs} ms exceeds the execution window of ${window} s`
    if (served.priceUsd > job.maxUsd) return `price ${served.priceUsd} is above the job's ceiling ${job.maxUsd}`
    return null
  }

  /**
   * An award seen on gossip. When it went to someone else our bid lost this
   * round and releases the place it held. The bid itself stays valid until it
   * expires: the coordinator may still come to it if the winner fails.
   */
  onAward (envelope: Envelope<AwardBody>): void {
    if (sameKey(envelope.body.agent, this.deps.signer.peerId)) return
    // Its bidding is over: a kept call of it needs no bid any more.
    const served = this.served.get(envelope.body.specId)
    if (served != null && served.kept.length > 0) served.kept = served.kept.filter(c => c.envelope.id !== envelope.body.jobId)
    if (this.holds.releaseJob(envelope.body.specId, envelope.body.jobId, this.now())) {
      this.loadChanged()
      this.placeFreed(envelope.body.specId)
    }
  }

  /** Places held by our bids still waiting on an award, and by lease bids and idle lease slots, per spec. */
  private held (specId: string): number {
    const now = this.now()
    return this.leases.reserved(specId) + this.holds.count(specId, now)
  }

  /** Executions, queued awards and places held by bids: everything this agent has promised on a spec. */
  private committed (served: Served): number {
    return served.inFlight + served.waiting.length + this.held(served.specId)
  }

  /**
   * Handler of the execution stream. One stream carries many exchanges from
   * one coordinator: each request is an award frame and an input frame; each
   * is handled concurrently and answered with a claim frame (and the output
   * frame on success), written whole in one send so replies never interleave.
   */
  async handleExecStream (stream: Stream, connection: Connection): Promise<void> {
    const lp = execStream(stream, this.deps.execFrameTimeoutMs)
    const coordinator = connection.remotePeer.toString()
    const cancels = supportsCancel(stream)
    const leases = supportsLeases(stream)
    const receipts = supportsReceipts(stream)
    /** Receipt frames of this stream being judged and stored. */
    const receiptsPending = new Set<Promise<void>>()
    /** This stream's requests being handled, by award id: what its cancel frames can reach. */
    const running = new Map<string, AbortController>()
    // The coordinator hanging up means nobody will take these results: stop working.
    stream.addEventListener('close', () => {
      for (const controller of running.values()) controller.abort(new Error('coordinator closed the stream'))
      this.leases.streamClosed(lp)
    }, { once: true })
    for (;;) {
      let awardBytes: Uint8Array
      let inputBytes: Uint8Array
      try {
        awardBytes = await lp.read()
      } catch (err) {
        // The coordinator closed the stream, or it failed, or broke the framing (the stream is reset): nothing more to read.
        this.logFrameError(coordinator, err)
        return
      }
      if (cancels) {
        let cancel
        try {
          cancel = readCancelFrame(awardBytes)
        } catch (err) {
          this.log('agent.stream-failed', { level: 'warn', coordinator, error: `malformed cancel frame: ${(err as Error).message}` })
          stream.abort(new Error('malformed cancel frame'))
          return
        }
        if (cancel != null) {
          // A request already answered (or never sent) has nothing left to cancel.
          running.get(cancel.awardId)?.abort(new ExecutionCancelledError())
          continue
        }
      }
      // Parsed once here: on execute/1.2.0 the envelope's type tells a request
      // (award or lease-award, an input frame follows) from a lease frame (alone).
      let raw: unknown
      try {
        raw = parseEnvelopeJson(awardBytes)
      } catch (err) {
        this.log('agent.stream-failed', { level: 'warn', coordinator, error: (err as Error).message })
        stream.abort(err as Error)
        return
      }
      const type = (raw as { type?: unknown } | null)?.type
      if (leases && (type === 'lease' || type === 'lease-end')) {
        try {
          if (type === 'lease') await this.leases.onLeaseFrame(raw, coordinator, lp)
          else this.leases.onEndFrame(raw, coordinator)
        } catch (err) {
          this.log('agent.stream-failed', { level: 'warn', coordinator, error: `bad ${type} frame: ${(err as Error).message}` })
          stream.abort(err as Error)
          return
        }
        continue
      }
      if (receipts && type === 'receipt') {
        // Judged beside the read loop (a store write must not hold up the next award), a bounded number at once.
        if (receiptsPending.size >= MAX_RECEIPT_FRAMES_PENDING) await Promise.race(receiptsPending)
        const taking: Promise<void> = this.takeReceipt(awardBytes, coordinator, raw).then(ok => {
          receiptsPending.delete(taking)
          if (!ok) stream.abort(new Error('bad receipt frame'))
        })
        receiptsPending.add(taking)
        continue
      }
      // The award is judged once its input frame has arrived too (the two are one request);
      // the input of an award that is then refused has been read, within the frame limit, and is dropped.
      try {
        inputBytes = await lp.read()
      } catch (err) {
        this.logFrameError(coordinator, err)
        return
      }
      this.answer(raw, leases && type === 'lease-award', inputBytes, coordinator, running, cancels)
        .then(async reply => { await lp.writeV(reply) })
        .catch((err: Error) => {
          this.log('agent.stream-failed', { level: 'warn', coordinator, error: err.message })
          stream.abort(err)
        })
    }
  }

  /**
   * A receipt frame, judged and stored by deps.takeReceipt. False when it is
   * to be Rejected (forged, or not a receipt of our work signed by this
   * coordinator): the caller ends the stream. A duplicate is dropped quietly.
   */
  private async takeReceipt (frame: Uint8Array, coordinator: string, raw: unknown): Promise<boolean> {
    try {
      await this.deps.takeReceipt?.(frame, coordinator, { raw })
      return true
    } catch (err) {
      if (err instanceof MessageValidationError && err.action === 'ignore') return true
      this.log('agent.stream-failed', { level: 'warn', coordinator, error: `bad receipt frame: ${(err as Error).message}` })
      return false
    }
  }

  private logFrameError (coordinator: string, err: unknown): void {
    if (err instanceof FrameError) this.log('agent.stream-failed', { level: 'warn', coordinator, error: `${err.code}: ${err.message}` })
  }

  /** The reply frames for one request; throws only when no claim can be signed (an unreadable award). */
  private async answer (raw: unknown, leased: boolean, inputBytes: Uint8Array, coordinator: string, running: Map<string, AbortController>, cancels: boolean): Promise<Uint8Array[]> {
    const startedAt = this.now()
    // A lease-award's job is canonicalized once, inside the envelope's body: its id check reuses that text.
    const parts = leased ? new WeakMap<object, string>() : undefined
    // A lease-award's signature is not verified here (protocols/market.md "Leases", Agent side): it comes
    // from its signer, the lease's coordinator (admit holds the signer and this stream's peer to it), over
    // this stream, whose handshake proved that peer's key; the agent keeps no copy and passes none on, so
    // the check would prove nothing to anyone. It was an eighth of a leased agent's CPU per job.
    const award: AnyAward = leased
      ? checkBody(verifyEnvelope(raw, { expectType: 'lease-award', canonicalParts: parts, fromAuthenticatedSigner: true }), 'lease-award', LeaseAwardBodySchema, plainlyShapedLeaseAwardBody)
      : checkBody(verifyEnvelope(raw, { expectType: 'award' }), 'award', AwardBodySchema)
    const controller = new AbortController()
    running.set(award.id, controller)
    this.running.add(controller)
    let leaseDone: (() => void) | undefined
    try {
      let served: Served
      let job: { body: JobBody }
      if (award.type === 'lease-award') {
        const admitted = this.leases.admit(award as Envelope<LeaseAwardBody>, coordinator, this.usedAwards, parts)
        leaseDone = admitted.done
        served = this.served.get(admitted.served)!
        job = { body: admitted.job }
        this.forgetExpired(this.now())
      } else {
        served = this.admit(award as Envelope<AwardBody>, coordinator)
        job = this.deps.jobs.get(award.body.jobId)!
      }
      this.log('agent.awarded', { jobId: award.body.jobId, attempt: award.body.attempt, priceUsd: award.body.priceUsd, coordinator, ...(award.type === 'lease-award' ? { leaseId: (award.body as LeaseAwardBody).leaseId } : {}) })
      if (inputBytes.byteLength > MAX_INPUT_BYTES) throw new Refusal(`input is ${inputBytes.byteLength} bytes; the limit is ${MAX_INPUT_BYTES}`)
      let input: unknown
      try {
        input = parseJsonBytes(inputBytes, { what: 'input' })
      } catch (err) {
        throw new Refusal((err as Error).message)
      }
      if (!inputMatchesHash(inputBytes, input, job.body.inputHash)) throw new Refusal('input does not match the job\'s inputHash')
      await this.slot(served, job.body, controller.signal)
      const result = await this.execute(served, award, job.body, input, controller, cancels)
      return result.output != null ? [encodeEnvelope(result.claim), result.output] : [encodeEnvelope(result.claim)]
    } catch (err) {
      if (err instanceof ExecutionCancelledError && cancels) {
        this.log('agent.outcome', { jobId: award.body.jobId, outcome: 'cancelled', reason: 'cancelled while queued for a slot', durationMs: this.now() - startedAt, priceUsd: award.body.priceUsd })
        return [encodeEnvelope(this.claim(award, { outcome: 'cancelled', startedAt, endedAt: this.now(), costUsd: 0, reason: 'cancelled by the coordinator while queued for a slot' }))]
      }
      if (!(err instanceof Refusal)) throw err
      this.log('agent.refused', { level: 'warn', jobId: award.body.jobId, reason: err.message })
      return [encodeEnvelope(this.claim(award, { outcome: 'refused', startedAt, endedAt: this.now(), costUsd: 0, reason: err.message, retryAfterMs: err.retryAfterMs, stopping: err.stopping && cancels ? true : undefined }))]
    } finally {
      leaseDone?.()
      if (running.get(award.id) === controller) running.delete(award.id)
      this.running.delete(controller)
      // The slot or queue place this award had (or its bid's hold, if refused) is free again.
      this.placeFreed(award.type === 'lease-award' ? (award.body as LeaseAwardBody).job.specId : (award.body as AwardBody).specId)
      this.onIdle?.()
    }
  }

  /** Every check an award must pass before any work starts; throws Refusal. */
  private admit (award: Envelope<AwardBody>, coordinator: string): Served {
    const body = award.body
    const now = this.now()
    if (!sameKey(body.agent, this.deps.signer.peerId)) throw new Refusal('award is for another agent')
    if (this.draining) throw new Refusal('stopping: this agent is shutting down and takes no new work', undefined, true)
    if (this.usedAwards.has(award.id)) throw new Refusal('award already used (replay)')
    const job = this.deps.jobs.get(body.jobId)
    if (job == null) throw new Refusal(`unknown job ${body.jobId}`)
    if (!sameKey(award.signer, job.coordinator) || !sameKey(coordinator, job.coordinator)) throw new Refusal('award is not from the job\'s coordinator')
    const bid = this.bids.get(body.bidId)
    if (bid == null || bid.jobId !== body.jobId || bid.expiresAt < now) throw new Refusal('award names no bid of this agent for this job')
    if (body.priceUsd !== bid.priceUsd) throw new Refusal(`award price ${body.priceUsd} differs from the bid's ${bid.priceUsd}`)
    if (body.priceUsd > job.body.maxUsd) throw new Refusal(`award price ${body.priceUsd} is above the job's ceiling ${job.body.maxUsd}`)
    const served = this.served.get(body.specId)
    if (served == null) throw new Refusal(`this agent does not serve spec ${body.specId}`)
    if (served.enforcesSpec) {
      if (job.body.softDeadline != null && now > job.body.softDeadline) throw new Refusal('award arrived after the soft deadline')
      if (now + served.estimatedMs > Math.min(job.body.deadline, body.deadline)) throw new Refusal('cannot finish before the deadline')
      const limit = this.effectiveLimit(served)
      if (served.inFlight >= limit && served.waiting.length >= served.queueLimit) {
        throw new Refusal(`busy: ${served.inFlight}/${limit} in flight and ${served.waiting.length} queued${limit < served.limit ? ` (limit lowered from ${served.limit} while work nears its deadline)` : ''}`, BUSY_RETRY_AFTER_MS)
      }
    }
    // The bid stays valid until it expires: a retry may award it again (under a new award id).
    // Its held place becomes this execution (or queue place).
    this.holds.release(bid, now)
    this.usedAwards.set(award.id, job.body.deadline)
    this.forgetExpired(now)
    return served
  }

  /**
   * Wait for a free slot when every one is taken, in the serve queue. Gives up
   * (busy) at the soft deadline, or once the work could no longer finish by the
   * deadline: nothing starts that the spec says should not.
   */
  private async slot (served: Served, job: JobBody, signal: AbortSignal): Promise<void> {
    if (!served.enforcesSpec || served.inFlight < this.effectiveLimit(served)) return
    const giveUpAt = Math.min(job.softDeadline ?? Infinity, job.deadline - served.estimatedMs)
    this.loadChanged()
    const got = await new Promise<boolean>(resolve => {
      const leave = (): void => {
        const i = served.waiting.indexOf(wake)
        if (i >= 0) served.waiting.splice(i, 1)
        signal.removeEventListener('abort', leave)
        cancel()
        resolve(false)
      }
      const wake = (): void => { cancel(); signal.removeEventListener('abort', leave); resolve(true) }
      const cancel = after(giveUpAt - this.now(), leave)
      signal.addEventListener('abort', leave, { once: true })
      served.waiting.push(wake)
    })
    this.loadChanged()
    if (signal.aborted) throw signal.reason
    if (!got) throw new Refusal(`busy until ${job.softDeadline != null && giveUpAt === job.softDeadline ? 'the soft deadline' : 'too late to finish by the deadline'}`)
    if (job.softDeadline != null && this.now() > job.softDeadline) throw new Refusal('a slot came free only after the soft deadline')
  }

  private async execute (served: Served, award: AnyAward, job: JobBody, input: unknown, controller: AbortController, cancels: boolean): Promise<{ claim: Envelope<ClaimBody>, output?: Uint8Array }> {
    const startedAt = this.now()
    const window = served.spec.executionWindow
    // The spec's limits bind the agent too: the deadline, the execution window
    // and the per-attempt timeout (after which the coordinator has given up).
    const timeout = served.spec.capacity?.timeoutSeconds
    const limits: Array<[number, string]> = [
      // A lease-award carries the job itself, whose deadline is the only one.
      [Math.min(job.deadline, 'deadline' in award.body ? award.body.deadline : job.deadline), 'deadline reached'],
      [window != null ? startedAt + window * 1000 : Infinity, 'execution window exceeded'],
      [timeout != null ? startedAt + timeout * 1000 : Infinity, 'attempt timeout (capacity.timeoutSeconds) reached']
    ]
    const [stopAt, stopWhy] = served.enforcesSpec ? limits.reduce((a, b) => (b[0] < a[0] ? b : a)) : [Infinity, '']
    const cancelTimer = stopAt === Infinity ? undefined : after(stopAt - startedAt, () => controller.abort(new DeadlineExceededError(stopWhy)))
    const execution = { deadline: stopAt }
    served.inFlight++
    served.deadlines.add(execution)
    this.loadChanged()
    try {
      const value = await served.handler(input, { signal: controller.signal, jobId: award.body.jobId, specId: served.specId, deadline: job.deadline, softDeadline: job.softDeadline })
      if (controller.signal.aborted) throw controller.signal.reason
      if (value === undefined) throw new HandlerError('handler returned no value')
      let output: Uint8Array
      try {
        output = canonicalBytes(value)
      } catch (err) {
        throw new HandlerError(`handler output is not JSON: ${(err as Error).message}`)
      }
      if (output.byteLength > MAX_OUTPUT_BYTES) throw new HandlerError(`output is ${output.byteLength} bytes; the limit is ${MAX_OUTPUT_BYTES}`)
      const endedAt = this.now()
      const claim = this.claim(award, {
        outcome: 'success', outputHash: hashHex(output), outputSize: output.byteLength, startedAt, endedAt, costUsd: award.body.priceUsd
      })
      this.log('agent.outcome', { jobId: award.body.jobId, outcome: 'success', durationMs: endedAt - startedAt, priceUsd: award.body.priceUsd })
      return { claim, output }
    } catch (err) {
      const cancelled = controller.signal.reason instanceof ExecutionCancelledError && cancels
      const timedOut = err instanceof DeadlineExceededError || (err instanceof HandlerError && err.outcome === 'timeout')
      // A HandlerError's reason is what it means to publish; a TS handler's own thrown
      // message is its choice, bounded like an --exec program's. The full detail
      // (an --exec program's stderr, the command) stays in this agent's log.
      const reason = cancelled
        ? 'cancelled by the coordinator'
        : err instanceof HandlerError ? err.reason : publishableReason((err as Error)?.message ?? String(err), MAX_HANDLER_MESSAGE_CHARS)
      const outcome = cancelled ? 'cancelled' : timedOut ? 'timeout' : 'error'
      const endedAt = this.now()
      this.log('agent.outcome', { level: cancelled ? 'info' : 'warn', jobId: award.body.jobId, outcome, reason, detail: (err as Error)?.message ?? String(err), durationMs: endedAt - startedAt, priceUsd: award.body.priceUsd })
      return { claim: this.claim(award, { outcome, startedAt, endedAt, costUsd: 0, reason }) }
    } finally {
      served.inFlight--
      served.deadlines.delete(execution)
      // Hand the slot straight to the first queued award, so it never idles.
      if (served.inFlight < this.effectiveLimit(served)) served.waiting.shift()?.()
      this.loadChanged()
      cancelTimer?.()
    }
  }

  private claim (award: AnyAward, fields: Omit<ClaimBody, 'jobId' | 'awardId'>): Envelope<ClaimBody> {
    const body: ClaimBody = { jobId: award.body.jobId, awardId: award.id, ...fields }
    if (body.reason != null) body.reason = publishableReason(body.reason)
    for (const key of Object.keys(body) as Array<keyof ClaimBody>) if (body[key] === undefined) delete body[key]
    return seal('claim', body, this.deps.signer)
  }

  /**
   * Drop used awards and bids past their job's deadline. A sweep walks every
   * entry (thousands at hundreds of jobs a second), so it runs at most once per
   * EXPIRED_SWEEP_MS, not on every job; until then an expired entry only lingers
   * (a replay of its award is still refused, and admit checks a bid's expiry itself).
   */
  private forgetExpired (now: number): void {
    if (now < this.nextSweepAt) return
    this.nextSweepAt = now + EXPIRED_SWEEP_MS
    for (const [id, until] of this.usedAwards) if (until < now) this.usedAwards.delete(id)
    for (const [id, bid] of this.bids) {
      if (bid.expiresAt >= now) continue
      this.bids.delete(id)
      this.holds.release(bid, now)
    }
  }

  /** Executions running and awards queued for a slot, over every served spec. */
  private busy (): number {
    let n = 0
    for (const served of this.served.values()) n += served.inFlight + served.waiting.length
    return n
  }

  /**
   * Graceful stop, first half: bid no more, refuse new awards as stopping
   * (claims say `stopping`, so coordinators do not come back), advertise no
   * specs, and wait until the work already running and queued has finished or
   * `timeoutMs` has passed, or `signal` aborts. Resolves with how many
   * executions are still running (0: drained).
   */
  async drain (timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (!this.draining) {
      this.draining = true
      this.log('agent.draining', { running: this.busy(), timeoutMs })
      // Leases end now, so their coordinators send the rest of their work elsewhere.
      this.leases.endAll('stopping: this agent is shutting down and takes no new work')
      this.advertiseSoon()
    }
    const until = this.now() + timeoutMs
    while (this.busy() > 0 && this.now() < until && signal?.aborted !== true) {
      await new Promise<void>(resolve => {
        const done = (): void => {
          cancel()
          signal?.removeEventListener('abort', done)
          this.onIdle = undefined
          resolve()
        }
        const cancel = after(until - this.now(), done)
        signal?.addEventListener('abort', done, { once: true })
        this.onIdle = done
      })
    }
    return this.busy()
  }

  /** Abort everything still running (node shutdown). */
  stop (): void {
    this.stopped = true
    this.leases.stop()
    for (const served of this.served.values()) clearTimeout(served.holdTimer)
    clearTimeout(this.advertTimer)
    clearInterval(this.advertInterval)
    for (const controller of this.running) controller.abort(new Error('node is stopping'))
  }
}
