import { randomNonce } from '../crypto/nonce.ts'
import type { Signer } from '../crypto/signatures.ts'
import { sameKey } from '../crypto/signatures.ts'
import { encodeEnvelope, seal, type Envelope } from '../wire/envelope.ts'
import type { Spec } from '../spec/index.ts'
import type { KnownCanonical } from '../wire/canonical.ts'
import type { Gossip } from '../net/gossip.ts'
import type { ExecClient } from './exec-client.ts'
import type { CapacityTable } from './capacity-table.ts'
import type { SpecTopicKind } from './topics.ts'
import { firstBidWaitMs } from './constants.ts'
import { MAX_SLOTS, publishableReason, type JobBody } from './messages.ts'
import { rankForAward, type AwardPolicy, type BetaPosterior } from './scoring.ts'
import { after, collectBids, timeoutSignal } from './timers.ts'
import { openTyped } from './validators.ts'
import type { LeaseCalls } from './lease-validators.ts'
import { LeaseCallBodySchema, LeaseEndBodySchema, MAX_LEASE_MS, type LeaseAwardBody, type LeaseBidBody, type LeaseBody, type LeaseCallBody, type LeaseEndBody } from './lease-messages.ts'
import { InvalidLeaseError } from './lease-errors.ts'

/** What a requester may ask of a lease call (SDK requestLease, the auto trigger's defaults). */
export interface LeaseRequest {
  /** Executions at once wanted, over every lease awarded for the call. @default the spec's capacity.maxConcurrentRequests, else 4 */
  slots?: number
  /** How long each lease runs from its award. @default 30000 */
  durationMs?: number
  /** Ceiling of the price per job. @default the spec's budget.maxUsd, else its costUsd, else 0 */
  maxUsd?: number
  /** How long lease bids are collected. @default 100 */
  bidWindowMs?: number
  /** Call for lease bids again when a lease that was used expires (a re-auction). @default true */
  renew?: boolean
  /** The requester's say in the award, as for a job. */
  award?: AwardPolicy
}

/** A lease as the SDK shows it. */
export interface LeaseInfo {
  leaseId: string
  callId: string
  specId: string
  agent: string
  slots: number
  priceUsd: number
  issuedAt: number
  expiresAt: number
  /** Jobs running under it now. */
  inUse: number
  /** Jobs sent under it so far. */
  jobs: number
  /** Why it ended, once it has. */
  ended?: string
}

export interface ActiveLease {
  envelope: Envelope<LeaseBody>
  id: string
  agent: string
  addrs?: string[]
  specId: string
  slots: number
  priceUsd: number
  expiresAt: number
  inUse: number
  jobs: number
  ended?: string
  renew: boolean
  request: LeaseRequest
  spec: Spec
  cancelExpiry: () => void
}

export interface CoordinatorLeasesDeps {
  signer: Signer
  gossip: Gossip
  exec: ExecClient
  capacity: CapacityTable
  /** The calls the leases topic's validator knows: ours go in before they are published. */
  calls: LeaseCalls
  topicOf: (specId: string, kind: SpecTopicKind) => string
  posteriorOf?: (agent: string, spec: Spec) => BetaPosterior
  awardSeed: string
  /** Call for a lease by itself once this many of the spec's jobs are in progress at once (0: never). @default 0 */
  autoThreshold?: number
  now?: () => number
  log?: (event: string, fields?: Record<string, unknown>) => void
}

export const DEFAULT_LEASE_MS = 30_000
export const DEFAULT_LEASE_BID_WINDOW_MS = 100
/** Jobs of one spec in progress at once from which the auto trigger calls for a lease. */
export const DEFAULT_LEASE_THRESHOLD = 4
/**
 * No lease-award is issued this close to a lease's expiry: the agent refuses
 * one that arrives after it, and a refusal would end the lease as a failure.
 */
export const LEASE_EXPIRY_MARGIN_MS = 250
/** How long sending a lease frame may take before that agent is passed over. */
const LEASE_SEND_TIMEOUT_MS = 5_000

interface OpenCall {
  bids: Array<{ bidId: string, agent: string, body: LeaseBidBody }>
  expected: Set<string>
  wake?: () => void
}

type Waiter = (lease: ActiveLease | null) => void

/**
 * The requester's side of leases (protocols/market.md "Leases"): calls for
 * lease bids, awards leases by the job award rule, hands their slots to jobs
 * (first come, first served), and ends a lease at its expiry, on the first
 * failed job, or when the agent ends it, calling again when a used lease expires.
 */
export class CoordinatorLeases {
  private readonly deps: CoordinatorLeasesDeps
  private readonly now: () => number
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private readonly calls = new Map<string, OpenCall>()
  private readonly active = new Map<string, ActiveLease[]>()
  private readonly byId = new Map<string, ActiveLease>()
  private readonly pending = new Map<string, Promise<LeaseInfo[]>>()
  private readonly waiters = new Map<string, Waiter[]>()
  private readonly ended: LeaseInfo[] = []
  private stopped = false

  constructor (deps: CoordinatorLeasesDeps) {
    this.deps = deps
    this.now = deps.now ?? Date.now
    this.log = deps.log ?? (() => {})
  }

  /** A validated lease bid from gossip: recorded when it answers one of our open calls (one per agent). */
  onBid (envelope: Envelope<LeaseBidBody>): void {
    const call = this.calls.get(envelope.body.callId)
    if (call == null || call.bids.some(b => sameKey(b.agent, envelope.signer))) return
    call.bids.push({ bidId: envelope.id, agent: envelope.signer, body: envelope.body })
    call.expected.delete(envelope.signer)
    call.wake?.()
  }

  /** Whether jobs of the spec should ask for a lease slot (a lease is live or being called for). */
  has (specId: string): boolean {
    return this.pending.has(specId) || this.live(specId).length > 0
  }

  /**
   * The auto trigger: with `inProgress` of the spec's jobs at once and no lease,
   * call for one (renewed while it is used).
   */
  demand (specId: string, spec: Spec, inProgress: number): void {
    const threshold = this.deps.autoThreshold ?? 0
    if (threshold <= 0 || inProgress < threshold || this.has(specId) || this.stopped) return
    this.log('lease.auto-call', { specId, inProgress })
    this.request(specId, spec, {}).catch(err => { this.log('lease.call-failed', { level: 'warn', specId, error: (err as Error).message }) })
  }

  /** Call for lease bids and award leases; resolves with the leases awarded (none when nobody bid). */
  async request (specId: string, spec: Spec, request: LeaseRequest): Promise<LeaseInfo[]> {
    const running = this.pending.get(specId)
    if (running != null) return await running
    const call = this.call(specId, spec, request)
    this.pending.set(specId, call)
    try {
      return await call
    } finally {
      if (this.pending.get(specId) === call) this.pending.delete(specId)
      this.wakeAll(specId)
    }
  }

  private async call (specId: string, spec: Spec, request: LeaseRequest): Promise<LeaseInfo[]> {
    const body = this.callBody(specId, spec, request)
    const envelope = seal('lease-call', body, this.deps.signer)
    this.deps.calls.add({ callId: envelope.id, coordinator: this.deps.signer.peerId, body }, this.now())
    const open: OpenCall = { bids: [], expected: this.expectedBidders(specId, body.maxUsd) }
    this.calls.set(envelope.id, open)
    try {
      await this.deps.gossip.publish(this.deps.topicOf(specId, 'leases'), envelope)
      this.log('lease.called', { specId, callId: envelope.id, slots: body.slots, durationMs: body.durationMs, maxUsd: body.maxUsd })
      const publishedAt = this.now()
      await collectBids(open, publishedAt + body.bidWindowMs, publishedAt + firstBidWaitMs(body.bidWindowMs), () => this.stopped, this.now)
      if (open.bids.length === 0) {
        this.log('lease.no-bid', { level: 'warn', specId, callId: envelope.id })
        return []
      }
      const { ranked } = rankForAward(open.bids, { jobId: envelope.id, ceilingUsd: body.maxUsd, seed: this.deps.awardSeed, policy: request.award, posteriorOf: agent => this.deps.posteriorOf?.(agent, spec) })
      const awarded: LeaseInfo[] = []
      let remaining = body.slots
      for (const bid of ranked) {
        if (remaining === 0 || this.stopped) break
        const lease = await this.award(envelope, bid, Math.min(bid.body.slots, remaining), spec, request)
        if (lease == null) continue
        remaining -= lease.slots
        awarded.push(this.infoOf(lease))
      }
      return awarded
    } finally {
      this.calls.delete(envelope.id)
    }
  }

  /** The call's body: the request's terms within the spec's limits; refuses what peers would Reject. */
  private callBody (specId: string, spec: Spec, request: LeaseRequest): LeaseCallBody {
    const specLimit = spec.capacity?.maxConcurrentRequests
    const budget = spec.budget?.maxUsd
    const body: LeaseCallBody = {
      specId,
      slots: Math.min(request.slots ?? specLimit ?? 4, specLimit ?? MAX_SLOTS),
      durationMs: request.durationMs ?? DEFAULT_LEASE_MS,
      maxUsd: Math.min(request.maxUsd ?? budget ?? spec.costUsd ?? 0, budget ?? Infinity),
      bidWindowMs: request.bidWindowMs ?? DEFAULT_LEASE_BID_WINDOW_MS,
      createdAt: this.now(),
      nonce: randomNonce()
    }
    const check = LeaseCallBodySchema.safeParse(body)
    if (!check.success) {
      throw new InvalidLeaseError(check.error.issues.map(i => ({ path: i.path.map(String).join('.') || '(lease)', message: i.path[0] === 'durationMs' ? `${i.message} (a lease runs 1 to ${MAX_LEASE_MS} ms)` : i.message })))
    }
    return body
  }

  private expectedBidders (specId: string, maxUsd: number): Set<string> {
    const expected = new Set<string>()
    for (const agent of this.deps.capacity.agentsServing(specId)) {
      const advert = this.deps.capacity.load(agent, specId)
      if (advert != null && advert.priceUsd <= maxUsd && advert.inFlight < advert.limit) expected.add(agent)
    }
    return expected
  }

  /** Sign a lease for a bid, open it on the agent's execution stream, gossip it; null when the agent cannot take it. */
  private async award (call: Envelope<LeaseCallBody>, bid: { bidId: string, agent: string, body: LeaseBidBody }, slots: number, spec: Spec, request: LeaseRequest): Promise<ActiveLease | null> {
    const issuedAt = this.now()
    const body: LeaseBody = { callId: call.id, specId: call.body.specId, bidId: bid.bidId, agent: bid.agent, slots, priceUsd: bid.body.priceUsd, issuedAt, expiresAt: issuedAt + call.body.durationMs }
    const envelope = seal('lease', body, this.deps.signer)
    try {
      await this.deps.exec.send(bid.agent, bid.body.addrs, encodeEnvelope(envelope), timeoutSignal(LEASE_SEND_TIMEOUT_MS))
    } catch (err) {
      this.log('lease.open-failed', { level: 'warn', agent: bid.agent, leaseId: envelope.id, error: (err as Error).message })
      return null
    }
    const lease: ActiveLease = {
      envelope, id: envelope.id, agent: bid.agent, specId: body.specId, slots, priceUsd: body.priceUsd, expiresAt: body.expiresAt, inUse: 0, jobs: 0, renew: request.renew ?? true, request, spec, cancelExpiry: () => {}
    }
    if (bid.body.addrs != null) lease.addrs = bid.body.addrs
    lease.cancelExpiry = after(Math.max(0, lease.expiresAt - LEASE_EXPIRY_MARGIN_MS - this.now()), () => { this.end(lease, 'expired') })
    const leases = this.active.get(lease.specId) ?? []
    leases.push(lease)
    this.active.set(lease.specId, leases)
    this.byId.set(lease.id, lease)
    this.log('lease.awarded', { specId: lease.specId, leaseId: lease.id, agent: lease.agent, slots, priceUsd: lease.priceUsd, expiresAt: lease.expiresAt })
    // Gossiped once the agent has it: followers audit it, losing bidders release their holds.
    setImmediate(() => {
      this.deps.gossip.publish(this.deps.topicOf(lease.specId, 'leases'), envelope).catch(err => { this.log('gossip.publish-failed', { level: 'warn', error: (err as Error).message }) })
    })
    this.wakeAll(lease.specId)
    return lease
  }

  private live (specId: string): ActiveLease[] {
    const now = this.now()
    return (this.active.get(specId) ?? []).filter(l => l.ended == null && now < l.expiresAt - LEASE_EXPIRY_MARGIN_MS)
  }

  /**
   * A slot of one of the spec's leases for a job: at once when one is free,
   * else the first to come free (first come, first served) or of a lease being
   * called for. Null when the spec has no lease (or none came by `until`): the
   * job goes to the auction.
   */
  async acquire (specId: string, until: number, signal: AbortSignal): Promise<ActiveLease | null> {
    for (;;) {
      if (signal.aborted || this.stopped) return null
      const pending = this.pending.get(specId)
      if (pending != null && this.live(specId).length === 0) {
        // A slot may be handed over while we wait for the call (a lease of it came and freed one).
        const handed = await this.wait(specId, until, signal)
        if (handed != null) return handed
        if (this.now() >= until) return null
        continue
      }
      const live = this.live(specId)
      if (live.length === 0) return null
      const queue = this.waiters.get(specId) ?? []
      const free = queue.length === 0 ? live.find(l => l.inUse < l.slots) : undefined
      if (free != null) return this.take(free)
      const handed = await this.wait(specId, until, signal)
      if (handed != null) return handed
      if (this.now() >= until) return null
    }
  }

  private take (lease: ActiveLease): ActiveLease {
    lease.inUse++
    lease.jobs++
    return lease
  }

  /** Wait for a slot handed over (the lease), or a change worth a new look (null). */
  private async wait (specId: string, until: number, signal: AbortSignal): Promise<ActiveLease | null> {
    return await new Promise<ActiveLease | null>(resolve => {
      const queue = this.waiters.get(specId) ?? []
      this.waiters.set(specId, queue)
      const done: Waiter = lease => {
        cancel()
        signal.removeEventListener('abort', leave)
        const i = queue.indexOf(done)
        if (i >= 0) queue.splice(i, 1)
        resolve(lease)
      }
      const leave = (): void => { done(null) }
      const cancel = after(Math.max(0, until - this.now()), leave)
      signal.addEventListener('abort', leave, { once: true })
      queue.push(done)
    })
  }

  private wakeAll (specId: string): void {
    for (const waiter of [...(this.waiters.get(specId) ?? [])]) waiter(null)
  }

  /**
   * The award-equivalent of one job under the lease, signed now. `known`: the
   * canonical text of the job's body from when it was sealed (see seal), so the
   * body it carries is not canonicalized a second time.
   */
  sealAward (lease: ActiveLease, job: Envelope<JobBody>, attempt: number, known?: KnownCanonical): Envelope<LeaseAwardBody> {
    return seal('lease-award', { leaseId: lease.id, jobId: job.id, job: job.body, agent: lease.agent, priceUsd: lease.priceUsd, attempt, issuedAt: this.now() }, this.deps.signer, known)
  }

  /**
   * A job's attempt under the lease is over. `failure`: the outcome said the
   * work should move (the spec's policy retries elsewhere), so the lease ends
   * and the jobs waiting for its slots go to the auction.
   */
  release (lease: ActiveLease, failure: string | null): void {
    lease.inUse--
    if (failure != null && lease.ended == null) this.end(lease, `a job failed under it: ${failure}`)
    if (lease.ended != null || this.now() >= lease.expiresAt - LEASE_EXPIRY_MARGIN_MS) return
    const next = this.waiters.get(lease.specId)?.[0]
    if (next != null) next(this.take(lease))
  }

  /** End a lease (our side): no more jobs go under it, the agent hears it, waiting jobs look again. */
  end (lease: ActiveLease, reason: string, tellAgent = true): void {
    if (lease.ended != null) return
    lease.ended = reason
    lease.cancelExpiry()
    const leases = (this.active.get(lease.specId) ?? []).filter(l => l !== lease)
    if (leases.length > 0) this.active.set(lease.specId, leases)
    else this.active.delete(lease.specId)
    this.byId.delete(lease.id)
    this.ended.push(this.infoOf(lease))
    if (this.ended.length > 1000) this.ended.shift()
    this.log('lease.ended', { specId: lease.specId, leaseId: lease.id, agent: lease.agent, reason, jobs: lease.jobs })
    if (tellAgent && reason !== 'expired') {
      const body: LeaseEndBody = { leaseId: lease.id, reason: publishableReason(reason), endedAt: this.now() }
      this.deps.exec.send(lease.agent, lease.addrs, encodeEnvelope(seal('lease-end', body, this.deps.signer)), timeoutSignal(LEASE_SEND_TIMEOUT_MS))
        .catch(err => { this.log('lease.end-failed', { level: 'warn', leaseId: lease.id, error: (err as Error).message }) })
    }
    // A lease that was used and ran its term is auctioned again: a better or cheaper agent may win it.
    if (reason === 'expired' && lease.renew && lease.jobs > 0 && !this.stopped && !this.has(lease.specId)) {
      this.request(lease.specId, lease.spec, lease.request).catch(err => { this.log('lease.call-failed', { level: 'warn', specId: lease.specId, error: (err as Error).message }) })
    }
    this.wakeAll(lease.specId)
  }

  /** End a lease by id (the requester's API); false when no live lease has it. */
  endById (leaseId: string, reason = 'ended by the requester'): boolean {
    const lease = this.byId.get(leaseId)
    if (lease == null) return false
    this.end(lease, reason)
    return true
  }

  /** A lease-end frame from an agent's stream: that agent no longer serves the lease. */
  onAgentEnd (agent: string, frame: Uint8Array): void {
    let envelope: Envelope<LeaseEndBody>
    try {
      envelope = openTyped(frame, 'lease-end', LeaseEndBodySchema)
    } catch (err) {
      this.log('lease.bad-end-frame', { level: 'warn', agent, error: (err as Error).message })
      return
    }
    const lease = this.byId.get(envelope.body.leaseId)
    if (lease == null || !sameKey(envelope.signer, lease.agent) || !sameKey(agent, lease.agent)) return
    this.end(lease, `ended by the agent: ${envelope.body.reason}`, false)
  }

  /** Live leases (of one spec, or all), then the most recent ended ones. */
  list (specId?: string): LeaseInfo[] {
    const live = [...this.byId.values()].filter(l => specId == null || l.specId === specId).map(l => this.infoOf(l))
    return [...live, ...this.ended.filter(l => specId == null || l.specId === specId)]
  }

  private infoOf (lease: ActiveLease): LeaseInfo {
    const info: LeaseInfo = { leaseId: lease.id, callId: lease.envelope.body.callId, specId: lease.specId, agent: lease.agent, slots: lease.slots, priceUsd: lease.priceUsd, issuedAt: lease.envelope.body.issuedAt, expiresAt: lease.expiresAt, inUse: lease.inUse, jobs: lease.jobs }
    if (lease.ended != null) info.ended = lease.ended
    return info
  }

  stop (): void {
    this.stopped = true
    for (const lease of [...this.byId.values()]) this.end(lease, 'the coordinator is stopping')
    for (const specId of this.waiters.keys()) this.wakeAll(specId)
    for (const call of this.calls.values()) call.wake?.()
  }
}
