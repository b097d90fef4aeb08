import { cidOfText, contentId } from '../crypto/content-id.ts'
import { sameKey, type Signer } from '../crypto/signatures.ts'
import { encodeEnvelope, seal, verifyEnvelope, type Envelope } from '../wire/envelope.ts'
import { MAX_CLOCK_SKEW_MS } from '../wire/constants.ts'
import type { Gossip } from '../net/gossip.ts'
import type { FramedStream } from '../net/frames.ts'
import type { Spec } from '../spec/index.ts'
import { Refusal } from './errors.ts'
import { MAX_SLOTS, publishableReason, type JobBody } from './messages.ts'
import type { SpecTopicKind } from './topics.ts'
import { after } from './timers.ts'
import { assertJobWithinSpec, checkBody } from './validators.ts'
import { leaseBidHoldsUntil } from './lease-validators.ts'
import { LeaseBodySchema, LeaseEndBodySchema, type LeaseAwardBody, type LeaseBidBody, type LeaseBody, type LeaseCallBody, type LeaseEndBody } from './lease-messages.ts'

/** What the lease side reads of a spec the agent serves (agent.ts Served). */
export interface LeasedSpec {
  specId: string
  spec: Spec
  priceUsd: number
  estimatedMs: number
  limit: number
  /** Places of its admission queue (awards waiting for a slot). */
  queueLimit: number
  enforcesSpec: boolean
}

export interface AgentLeasesDeps {
  signer: Signer
  gossip: Gossip
  topicOf: (specId: string, kind: SpecTopicKind) => string
  addresses: () => string[]
  served: (specId: string) => LeasedSpec | undefined
  /** The agent's effective limit on the spec now (agent.ts effectiveLimit). */
  effectiveLimit: (specId: string) => number
  /** Everything promised on the spec: executions, queued awards, bid holds and lease slots. */
  committed: (specId: string) => number
  draining: () => boolean
  loadChanged: () => void
  now: () => number
  log: (event: string, fields?: Record<string, unknown>) => void
}

interface HeldLeaseBid {
  bidId: string
  callId: string
  coordinator: string
  specId: string
  priceUsd: number
  slots: number
  durationMs: number
  /** Until when its slots are held (released early by a lease of the call to another agent). */
  holdsUntil: number
}

interface HeldLease {
  id: string
  coordinator: string
  specId: string
  slots: number
  priceUsd: number
  expiresAt: number
  /** Lease-awards admitted and not yet answered. */
  running: number
  /** The stream the lease was opened on: lease-awards come on it, a lease-end goes back on it. */
  stream: FramedStream
  cancelExpiry: () => void
}

/**
 * The agent's side of leases (protocols/market.md "Leases"): bids on lease
 * calls with the slots it has free, holds them, opens a lease that names its
 * bid, counts the lease's idle slots as committed (so adverts and bids show
 * them taken), admits lease-awards within the lease's slots and the spec's
 * limits, and ends its leases when it stops.
 */
export class AgentLeases {
  private readonly deps: AgentLeasesDeps
  private readonly bids = new Map<string, HeldLeaseBid>()
  private readonly leases = new Map<string, HeldLease>()

  constructor (deps: AgentLeasesDeps) {
    this.deps = deps
  }

  /** Slots promised on the spec by lease bids still holding and by leases' idle slots. */
  reserved (specId: string): number {
    const now = this.deps.now()
    let n = 0
    for (const [id, bid] of this.bids) {
      if (bid.holdsUntil <= now) this.bids.delete(id)
      else if (bid.specId === specId) n += bid.slots
    }
    for (const lease of this.leases.values()) if (lease.specId === specId) n += Math.max(0, lease.slots - lease.running)
    return n
  }

  /** A lease call validated from gossip: bid with the slots free now, when the spec's rules allow. */
  async onCall (envelope: Envelope<LeaseCallBody>): Promise<void> {
    const call = envelope.body
    const served = this.deps.served(call.specId)
    if (served == null || sameKey(envelope.signer, this.deps.signer.peerId) || this.deps.draining()) return
    const now = this.deps.now()
    const limit = this.deps.effectiveLimit(call.specId)
    const committed = this.deps.committed(call.specId)
    const free = served.enforcesSpec ? limit - committed : served.limit
    const window = served.spec.executionWindow
    const why = free < 1
      ? `no free slot (${committed} of ${limit} committed)`
      : served.priceUsd > call.maxUsd
        ? `price ${served.priceUsd} is above the lease call's ceiling ${call.maxUsd}`
        : served.enforcesSpec && window != null && served.estimatedMs > window * 1000
          ? `estimate ${served.estimatedMs} ms exceeds the execution window of ${window} s`
          : null
    if (why != null) {
      this.deps.log('agent.no-lease-bid', { callId: envelope.id, reason: why })
      return
    }
    const holdsUntil = leaseBidHoldsUntil(call)
    if (holdsUntil <= now) return
    const slots = Math.min(call.slots, free)
    const body: LeaseBidBody = {
      callId: envelope.id,
      specId: call.specId,
      priceUsd: served.priceUsd,
      slots,
      estimatedMs: served.estimatedMs,
      load: { inFlight: Math.min(committed, MAX_SLOTS), limit },
      createdAt: now,
      expiresAt: holdsUntil
    }
    const addrs = this.deps.addresses().slice(0, 8)
    if (addrs.length > 0) body.addrs = addrs
    const bid = seal('lease-bid', body, this.deps.signer)
    this.bids.set(bid.id, { bidId: bid.id, callId: envelope.id, coordinator: envelope.signer, specId: call.specId, priceUsd: served.priceUsd, slots, durationMs: call.durationMs, holdsUntil })
    this.deps.loadChanged()
    this.deps.log('agent.lease-bid', { callId: envelope.id, specId: call.specId, slots, priceUsd: served.priceUsd })
    await this.deps.gossip.publish(this.deps.topicOf(call.specId, 'leases'), bid)
  }

  /** A lease seen on gossip: one of the call to another agent means our bid lost, and its slots are free again. */
  onLeaseGossip (envelope: Envelope<LeaseBody>): void {
    if (sameKey(envelope.body.agent, this.deps.signer.peerId)) return
    let released = false
    for (const [id, bid] of this.bids) {
      if (bid.callId === envelope.body.callId) {
        this.bids.delete(id)
        released = true
      }
    }
    if (released) this.deps.loadChanged()
  }

  /**
   * A lease frame on the execution stream: open the lease when it names our
   * bid, else answer with a lease-end saying why. Throws (the stream is
   * aborted) when the frame is not a valid lease envelope.
   */
  async onLeaseFrame (raw: unknown, coordinator: string, stream: FramedStream): Promise<void> {
    const envelope = checkBody(verifyEnvelope(raw, { expectType: 'lease' }), 'lease', LeaseBodySchema)
    const refusal = this.leaseRefusal(envelope, coordinator)
    if (refusal != null) {
      this.deps.log('agent.lease-refused', { level: 'warn', leaseId: envelope.id, reason: refusal })
      await stream.writeV([this.endFrame(envelope.id, refusal)])
      return
    }
    const body = envelope.body
    this.bids.delete(body.bidId)
    const lease: HeldLease = { id: envelope.id, coordinator, specId: body.specId, slots: body.slots, priceUsd: body.priceUsd, expiresAt: body.expiresAt, running: 0, stream, cancelExpiry: () => {} }
    lease.cancelExpiry = after(Math.max(0, body.expiresAt - this.deps.now()), () => { this.drop(lease, 'expired') })
    this.leases.set(lease.id, lease)
    this.deps.log('agent.leased', { leaseId: lease.id, specId: lease.specId, coordinator, slots: lease.slots, priceUsd: lease.priceUsd, expiresAt: lease.expiresAt })
    this.deps.loadChanged()
  }

  private leaseRefusal (envelope: Envelope<LeaseBody>, coordinator: string): string | null {
    const body = envelope.body
    const now = this.deps.now()
    if (!sameKey(body.agent, this.deps.signer.peerId)) return 'the lease is for another agent'
    if (this.deps.draining()) return 'stopping: this agent is shutting down and takes no new work'
    if (this.leases.has(envelope.id)) return 'lease already open (replay)'
    const bid = this.bids.get(body.bidId)
    if (bid == null || bid.callId !== body.callId) return 'the lease names no open lease bid of this agent'
    if (!sameKey(envelope.signer, bid.coordinator) || !sameKey(coordinator, bid.coordinator)) return 'the lease is not from the call\'s coordinator'
    if (body.priceUsd !== bid.priceUsd) return `lease price ${body.priceUsd} differs from the bid's ${bid.priceUsd}`
    if (body.slots > bid.slots) return `the lease takes ${body.slots} slots; the bid offered ${bid.slots}`
    if (body.expiresAt <= now || body.expiresAt < body.issuedAt || body.expiresAt - body.issuedAt > bid.durationMs || body.expiresAt > now + bid.durationMs + MAX_CLOCK_SKEW_MS) {
      return 'the lease\'s term is not the call\'s'
    }
    const served = this.deps.served(body.specId)
    if (served == null || body.specId !== bid.specId) return `this agent does not serve spec ${body.specId}`
    // The bid's own hold is the lease's to take. While it held, awards bid for
    // meanwhile counted it and took what was left, the admission queue's places
    // included: those do not take the lease's slots. Without a hold the slots
    // must be free now.
    if (served.enforcesSpec) {
      const holding = bid.holdsUntil > now
      const free = this.deps.effectiveLimit(body.specId) + (holding ? served.queueLimit + bid.slots : 0) - this.deps.committed(body.specId)
      if (body.slots > free) return `busy: ${free} slot${free === 1 ? '' : 's'} free for a lease of ${body.slots}`
    }
    return null
  }

  /** A lease-end frame from the coordinator: the lease is over (work already admitted runs on). */
  onEndFrame (raw: unknown, coordinator: string): void {
    const envelope = checkBody(verifyEnvelope(raw, { expectType: 'lease-end' }), 'lease-end', LeaseEndBodySchema)
    const lease = this.leases.get(envelope.body.leaseId)
    if (lease == null || !sameKey(envelope.signer, lease.coordinator) || !sameKey(coordinator, lease.coordinator)) return
    this.drop(lease, `ended by the coordinator: ${envelope.body.reason}`)
  }

  /**
   * The checks of a lease-award before any work (protocols/market.md "Leases",
   * Agent side); throws Refusal. On success the lease's slot is taken until
   * `done()` is called, once the request is answered. `canonicalParts`: the
   * canonical texts verifyEnvelope filled in for the award's body, so the
   * job's id is checked without canonicalizing the job a second time.
   */
  admit (award: Envelope<LeaseAwardBody>, coordinator: string, usedAwards: Map<string, number>, canonicalParts?: WeakMap<object, string>): { served: string, job: JobBody, done: () => void } {
    const body = award.body
    const job = body.job
    const now = this.deps.now()
    if (!sameKey(body.agent, this.deps.signer.peerId)) throw new Refusal('lease-award is for another agent')
    if (this.deps.draining()) throw new Refusal('stopping: this agent is shutting down and takes no new work', undefined, true)
    if (usedAwards.has(award.id)) throw new Refusal('award already used (replay)')
    const lease = this.leases.get(body.leaseId)
    if (lease == null) throw new Refusal(`no open lease ${body.leaseId} (unknown, expired or ended)`)
    if (!sameKey(award.signer, lease.coordinator) || !sameKey(coordinator, lease.coordinator)) throw new Refusal('lease-award is not from the lease\'s coordinator')
    if (now > lease.expiresAt) throw new Refusal('the lease has expired')
    const jobText = canonicalParts?.get(job)
    if ((jobText != null ? cidOfText(jobText) : contentId(job)) !== body.jobId) throw new Refusal('lease-award jobId is not the id of the job it carries')
    if (job.specId !== lease.specId) throw new Refusal(`the job is for spec ${job.specId}, the lease for ${lease.specId}`)
    if (body.priceUsd !== lease.priceUsd) throw new Refusal(`lease-award price ${body.priceUsd} differs from the lease's ${lease.priceUsd}`)
    if (body.priceUsd > job.maxUsd) throw new Refusal(`lease-award price ${body.priceUsd} is above the job's ceiling ${job.maxUsd}`)
    const served = this.deps.served(lease.specId)
    if (served == null) throw new Refusal(`this agent does not serve spec ${lease.specId}`)
    try {
      assertJobWithinSpec(job, served.spec)
    } catch (err) {
      throw new Refusal(`the job is not within the spec: ${(err as Error).message}`)
    }
    if (served.enforcesSpec) {
      if (job.softDeadline != null && now > job.softDeadline) throw new Refusal('award arrived after the soft deadline')
      if (now + served.estimatedMs > job.deadline) throw new Refusal('cannot finish before the deadline')
    }
    if (lease.running >= lease.slots) throw new Refusal(`busy: the lease's ${lease.slots} slot${lease.slots === 1 ? ' is' : 's are'} all in use`)
    lease.running++
    usedAwards.set(award.id, job.deadline)
    let released = false
    return {
      served: lease.specId,
      job,
      done: () => {
        if (released) return
        released = true
        lease.running--
        this.deps.loadChanged()
      }
    }
  }

  /** The stream a lease was opened on closed: its coordinator is gone, and so are its leases. */
  streamClosed (stream: FramedStream): void {
    for (const lease of [...this.leases.values()]) if (lease.stream === stream) this.drop(lease, 'its execution stream closed')
  }

  /** End every lease (draining): each coordinator hears it on its stream and moves its work. */
  endAll (reason: string): void {
    for (const lease of [...this.leases.values()]) {
      this.drop(lease, reason)
      lease.stream.writeV([this.endFrame(lease.id, reason)]).catch(err => { this.deps.log('agent.lease-end-failed', { level: 'warn', leaseId: lease.id, error: (err as Error).message }) })
    }
  }

  private endFrame (leaseId: string, reason: string): Uint8Array {
    const body: LeaseEndBody = { leaseId, reason: publishableReason(reason), endedAt: this.deps.now() }
    return encodeEnvelope(seal('lease-end', body, this.deps.signer))
  }

  private drop (lease: HeldLease, why: string): void {
    if (this.leases.get(lease.id) !== lease) return
    this.leases.delete(lease.id)
    lease.cancelExpiry()
    this.deps.log('agent.lease-ended', { leaseId: lease.id, specId: lease.specId, reason: why })
    this.deps.loadChanged()
  }

  stop (): void {
    for (const lease of this.leases.values()) lease.cancelExpiry()
    this.leases.clear()
    this.bids.clear()
  }
}
