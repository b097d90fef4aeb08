import { randomBytes } from 'node:crypto'
import { randomNonce } from '../crypto/nonce.ts'
import { hashHex } from '../crypto/content-id.ts'
import { canonicalBytes } from '../wire/canonical.ts'
import { sameKey, type Signer } from '../crypto/signatures.ts'
import { encodeEnvelopeOnce, seal, sealLazily, type Envelope } from '../wire/envelope.ts'
import { MAX_INPUT_BYTES, MAX_OUTPUT_BYTES } from '../wire/constants.ts'
import { marketTopic, type SpecTopicKind } from './topics.ts'
import { describeValueProblem, parseJsonBytes, valueProblem } from '../wire/json-input.ts'
import { checkInput, checkOutput, jobDeadlines, type Spec } from '../spec/index.ts'
import type { Gossip } from '../net/gossip.ts'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import type { JobRecord, JobStore, AttemptRecord } from '../store/job-store.ts'
import type { ReceiptStore, StoredReceipt } from '../store/receipt-store.ts'
import { AgentUnreachableError, ExchangeCancelledError, ExecClient } from './exec-client.ts'
import { MessageValidationError } from '../wire/errors.ts'
import { JobBodySchema, MAX_ATTEMPT, MAX_AWARD_BIDS, MAX_AWARD_BIDS_BYTES, publishableReason, type AwardBody, type BidBody, type ClaimBody, type JobBody, type Outcome, type ReceiptBody } from './messages.ts'
import type { RecentJobs } from './recent-jobs.ts'
import { compareRanked, rankForAward, type AwardPolicy, type BetaPosterior, type ExcludedBid, type RankedBid } from './scoring.ts'
import { openClaim, verifyClaim } from './validators.ts'
import { plainlyShapedJobBody } from './body-shapes.ts'
import { awardPolicyProblems, normalizeAwardPolicy, type AwardPolicyInput } from './award-policy.ts'
import { InvalidJobError, JobCancelledError, UnknownSpecError } from './job-errors.ts'
import { Semaphore } from './backoff.ts'
import { after, clearableTimeout, collectBids, timeoutSignal } from './timers.ts'
import { bidHoldsUntil, firstBidUntil, NO_BID_GRACE_FACTOR } from './constants.ts'
import { meetAgentUntil } from './meet-agent.ts'
import { specPolicy, type RequesterPolicy } from './policy.ts'
import type { AdvertisedLoad, CapacityTable } from './capacity-table.ts'
import type { JobEventLog } from './job-events.ts'
import { diagnoseNoBid, type AdvertisedAgent, type NoBidDiagnosis } from './no-bid.ts'
import type { ProviderLookup } from '../net/spec-discovery.ts'
import { applyEntry, newJobLedger, roundUsd, type JobLedger, type LedgerStore } from '../store/ledger-store.ts'
import { CoordinatorLeases, type ActiveLease, type LeaseInfo, type LeaseRequest } from './lease-coordinator.ts'
import { LeaseCalls } from './lease-validators.ts'
import type { LeaseAwardBody, LeaseBidBody } from './lease-messages.ts'
import { AuctionGate, type AuctionGateOptions } from './auction-gate.ts'
import { LateBids } from './late-bids.ts'

export interface SubmitOptions {
  /** Ceiling for one attempt's price, in USD. @default the spec's budget.maxUsd, else its costUsd */
  maxUsd?: number
  /** Absolute deadline (epoch ms, Date or ISO string); only tightens the spec's. */
  deadline?: number | Date | string
  /** How long bids are collected before the award. @default 100 */
  bidWindowMs?: number
  /** The requester's say in the award: explore, minReputation, preferredAgents (award-policy.ts). */
  award?: AwardPolicyInput
}

export interface JobResult {
  jobId: string
  status: 'succeeded' | 'failed' | 'cancelled'
  output?: unknown
  receipt?: Envelope<ReceiptBody>
  costUsd: number
  reason?: string
  attempts: AttemptRecord[]
  /** How long bids were collected: the window, or less when every expected agent bid sooner. */
  biddingMs?: number
  /** When nobody bid: which case it was (no peers, nobody serving, prices over the ceiling, …). */
  noBid?: NoBidDiagnosis
}

export interface CoordinatorDeps {
  signer: Signer
  libp2p: SpecmeshLibp2p
  gossip: Gossip
  /** Looks a spec up by id (cached: specs are immutable). */
  specOf: (specId: string) => Promise<Spec | null>
  jobStore: JobStore
  receipts: ReceiptStore
  jobs: RecentJobs
  /** The agent's Beta posterior on the spec, for the award rule (scoring.ts); unknown: Beta(1, 1). */
  posteriorOf?: (agent: string, spec: Spec) => BetaPosterior
  /** The operator's award policy for a spec (config.json awardPolicies); a job's own wins, field by field. */
  specAwardPolicy?: (spec: Spec) => AwardPolicy | undefined
  /** Fixes every award draw together with the job id (scoring.ts awardDraw). @default random per start */
  awardSeed?: string
  ledger: LedgerStore
  capacity: CapacityTable
  /** First retry's backoff; later ones multiply by the spec's backoffMultiplier. @default 1000 */
  retryBaseMs?: number
  /** How the spec's limits are applied. @default specPolicy(retryBaseMs) */
  policy?: RequesterPolicy
  /** Fee per attempt counted against the budget when the spec's budget includesFees. @default 0 */
  feePerAttemptUsd?: number
  /** Called with each receipt this node signs, after it is stored. */
  onReceipt?: (record: StoredReceipt) => void
  /** Where the steps of every job go (see job-events.ts). */
  events: JobEventLog
  /**
   * Sends a receipt this node signed and stored on its topic (market.ts hands
   * it to the ReceiptBatcher); `bytes` are its encoding (encodeEnvelope's).
   * @default published alone, off the caller's path
   */
  publishReceipt?: (topic: string, receipt: Envelope<ReceiptBody>, bytes: Uint8Array) => void
  /** Where a message about a spec is published (market/topics.ts). @default the global topics */
  topicOf?: (specId: string, kind: SpecTopicKind) => string
  /** The lease calls the leases topic's validator knows (lease-validators.ts). @default a memory of its own */
  leaseCalls?: LeaseCalls
  /** Call for a lease by itself once this many jobs of one spec are in progress at once; 0: only when asked. @default 0 */
  leaseAutoThreshold?: number
  /** How many auctions of one spec run at once, and how that adapts (auction-gate.ts). @default AuctionGate's */
  auctionGate?: AuctionGateOptions
  /**
   * Agents of a spec may be met after its job was submitted (the node looks them up in the DHT
   * in the background): a job that holds no advert of any waits for one before it is published
   * (awaitAgent). @default false: published at once
   */
  meetsAgentsLater?: boolean
  /** This node's latest DHT lookup of a spec's providers, for the reason a job met no agent (no-bid.ts). @default none known */
  providerLookup?: (specId: string) => ProviderLookup | undefined
  /**
   * When this node began looking a spec's providers up in the background (Date.now()), undefined when
   * it is not: a job that knows no agent waits to meet one until MEET_AGENT_WAIT_MS after it (meet-agent.ts).
   * @default never
   */
  providersSoughtSince?: (specId: string) => number | undefined
  now?: () => number
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/**
 * Whom an attempt goes to: a bid of the job's auction, or a slot of a lease
 * (then `bidId` names the lease and the award is a lease-award).
 */
interface AttemptTarget {
  agent: string
  addrs?: string[]
  priceUsd: number
  bidId: string
  score?: number
  lease?: ActiveLease
}

/** What an attempt's receipt and claim check read of its award, whichever kind it is. */
type AnyAward = Envelope<AwardBody> | Envelope<LeaseAwardBody>

const targetOfBid = (bid: RankedBid): AttemptTarget => ({ agent: bid.agent, addrs: bid.body.addrs, priceUsd: bid.body.priceUsd, bidId: bid.bidId, score: bid.score })

export const DEFAULT_BID_WINDOW_MS = 100
export const DEFAULT_RETRY_BASE_MS = 1000
/** Longest wait between two looks at capacity when nothing announces a change. */
const CAPACITY_RECHECK_MS = 1000

const loadKey = (agent: string, specId: string): string => `${agent} ${specId}`

/**
 * Awards an agent takes on a spec at once: its executions (never above the
 * spec's maxConcurrentRequests nor its advertised limit) plus its admission queue.
 */
function capacityAt (spec: Spec, advert: AdvertisedLoad | undefined): number {
  return Math.min(spec.capacity?.maxConcurrentRequests ?? Infinity, advert?.limit ?? Infinity) + (advert?.queue ?? 0)
}
/** Wait `ms`, or less when `signal` aborts first. */
async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      cancel()
      signal.removeEventListener('abort', done)
      resolve()
    }
    const cancel = after(ms, done)
    signal.addEventListener('abort', done, { once: true })
  })
}
/**
 * The bids an award embeds when bids came over the bid stream (nobody else saw
 * them): the awarded bid first, then the others in the order they were ranked
 * (untried, then tried), as many as MAX_AWARD_BIDS and MAX_AWARD_BIDS_BYTES allow.
 */
function embeddedBids (awarded: RankedBid, ranked: RankedBid[], auction: Auction): Array<Envelope<BidBody>> {
  const envelopeOf = new Map(auction.bids.map(b => [b.bidId, b.envelope]))
  const out: Array<Envelope<BidBody>> = []
  let bytes = 1 // '[' … ']' and the commas between: the canonical JSON of the array
  for (const bid of [awarded, ...ranked.filter(b => b !== awarded)]) {
    const envelope = envelopeOf.get(bid.bidId)
    if (envelope == null || out.length >= MAX_AWARD_BIDS) continue
    const size = canonicalBytes(envelope).byteLength + 1
    if (bytes + size > MAX_AWARD_BIDS_BYTES) continue
    bytes += size
    out.push(envelope)
  }
  return out
}

/** Deadline of a job whose spec sets none and whose requester gave none. */
export const DEFAULT_JOB_DEADLINE_MS = 60_000


interface Auction {
  specId: string
  bids: Array<{ bidId: string, agent: string, body: BidBody, envelope: Envelope<BidBody>, viaStream: boolean }>
  /**
   * Agents whose capacity adverts say they serve the spec, have room and ask no
   * more than the ceiling: once each of them has bid, nobody else is expected
   * and the window closes early.
   */
  expected: Set<string>
  /** Wakes the coordinator waiting on the window (early close, or a first late bid). */
  wake?: () => void
  /** When the first bid was taken (the auction gate's measure of how fast bids come back). */
  firstBidAt?: number
  /** The requester's award policy for this job. */
  award?: AwardPolicy
}

interface AttemptResult {
  outcome: Outcome
  reason?: string
  claim: Envelope<ClaimBody> | null
  output?: unknown
  outputHash?: string
  startedAt: number
  endedAt: number
}


function toEpochMs (value: number | Date | string): number {
  const ms = typeof value === 'number' ? value : new Date(value).getTime()
  if (!Number.isFinite(ms)) throw new InvalidJobError([{ path: 'deadline', message: `"${String(value)}" is not a date; use an ISO 8601 time such as 2026-03-01T18:00:00Z` }])
  return ms
}

/**
 * The requesting side of the market: publishes a job, collects bids for the bid
 * window, awards by score, sends award and input over the execution stream,
 * checks the output against the spec, and signs and gossips the receipt. A
 * failed attempt goes to the next-best bid while the spec's retries, the
 * deadline and the budget allow.
 */
export class Coordinator {
  private readonly deps: CoordinatorDeps
  private readonly now: () => number
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private readonly auctions = new Map<string, Auction>()
  private readonly exec: ExecClient
  /** Our own executions in flight, per agent and spec. */
  private readonly ownInFlight = new Map<string, number>()
  /** Per spec: our jobs calling for bids and not yet awarded; they count against the free slots. */
  private readonly bidding = new Map<string, number>()
  /**
   * Per spec: our jobs that took a place in `bidding` and whose auction is not
   * open yet (a microtask away): no advert counts them, and without them two
   * jobs resuming in one turn (their records stored in one batch) could both
   * see one advertised free place.
   */
  private readonly opening = new Map<string, number>()
  /** Per spec: retries in flight from this node (capacity.maxConcurrentRetries). */
  private readonly retrySlots = new Map<string, Semaphore>()
  private readonly policy: RequesterPolicy
  private readonly feeUsd: number
  private readonly events: JobEventLog
  /** Jobs running now: how to cancel each, and its outcome to come. */
  private readonly active = new Map<string, { cancel: AbortController, done: Promise<JobResult> }>()
  private readonly awardSeed: string
  private readonly leases: CoordinatorLeases
  /** Per spec: our jobs in progress now (started, not ended): the lease auto trigger's measure. */
  private readonly inProgress = new Map<string, number>()
  /** Per spec: how many of our auctions run at once (auction-gate.ts). */
  private readonly gates = new Map<string, AuctionGate>()
  /** Bids on our jobs that came back after their window: what a no-bid failure is told by (no-bid.ts 'late'). */
  private readonly lateBids: LateBids
  /**
   * The canonical text of the bodies this node sealed (its jobs) or verified
   * (their claims), by body object: the lease-award carries the job's body and
   * the receipt the claim, and neither is canonicalized again (seal's `known`).
   * Held weakly: an entry goes with its job.
   */
  private readonly canonicalTexts = new WeakMap<object, string>()

  constructor (deps: CoordinatorDeps) {
    this.deps = deps
    this.exec = new ExecClient(deps.libp2p, { onLeaseEnd: (agent, frame) => { this.leases.onAgentEnd(agent, frame) } })
    this.policy = deps.policy ?? specPolicy(deps.retryBaseMs ?? DEFAULT_RETRY_BASE_MS)
    this.feeUsd = deps.feePerAttemptUsd ?? 0
    this.events = deps.events
    this.awardSeed = deps.awardSeed ?? randomBytes(16).toString('hex')
    this.now = deps.now ?? Date.now
    this.log = deps.log ?? (() => {})
    this.lateBids = new LateBids(this.now)
    this.leases = new CoordinatorLeases({
      signer: deps.signer,
      gossip: deps.gossip,
      exec: this.exec,
      capacity: deps.capacity,
      calls: deps.leaseCalls ?? new LeaseCalls(),
      topicOf: (specId, kind) => this.topicOf(specId, kind),
      posteriorOf: deps.posteriorOf,
      awardSeed: this.awardSeed,
      autoThreshold: deps.leaseAutoThreshold,
      now: this.now,
      log: this.log
    })
  }

  /** A validated lease bid (leases topic): recorded when it answers one of our lease calls. */
  onLeaseBid (envelope: Envelope<LeaseBidBody>): void {
    this.leases.onBid(envelope)
  }

  /**
   * Call for lease bids on a spec and award leases (protocols/market.md
   * "Leases"); later jobs of the spec run under them. Resolves with the leases
   * awarded, none when no agent bid. Throws UnknownSpecError, InvalidLeaseError.
   */
  async requestLease (specId: string, request: LeaseRequest = {}): Promise<LeaseInfo[]> {
    const spec = await this.deps.specOf(specId)
    if (spec == null) throw new UnknownSpecError(specId)
    return await this.leases.request(specId, spec, request)
  }

  /** End one of our leases now; false when no live lease has that id. */
  endLease (leaseId: string): boolean {
    return this.leases.endById(leaseId)
  }

  /** Our live leases (of one spec, or all), then recently ended ones. */
  leasesOf (specId?: string): LeaseInfo[] {
    return this.leases.list(specId)
  }

  /**
   * A validated bid: recorded when it is for one of our open auctions, the
   * first from its agent. `viaStream`: it came over the bid stream, so only we
   * saw it and the award will embed it. Says what became of it.
   */
  onBid (envelope: Envelope<BidBody>, viaStream = false): 'taken' | 'already-bid' | 'not-open' {
    const auction = this.auctions.get(envelope.body.jobId)
    if (auction == null) {
      this.onBidAfterClose(envelope.body.jobId, envelope.signer)
      return 'not-open'
    }
    if (auction.bids.some(b => sameKey(b.agent, envelope.signer))) return 'already-bid'
    auction.bids.push({ bidId: envelope.id, agent: envelope.signer, body: envelope.body, envelope, viaStream })
    auction.firstBidAt ??= this.now()
    this.events.record(envelope.body.jobId, 'bid', { agent: envelope.signer, bidId: envelope.id, priceUsd: envelope.body.priceUsd, estimatedMs: envelope.body.estimatedMs })
    auction.expected.delete(envelope.signer)
    auction.wake?.()
    return 'taken'
  }

  /**
   * A bid of `agent` for `jobId` that came when no auction of it was open: when
   * that auction closed without a bid, it counts as a late bid of its spec
   * (what a later no-bid failure is told by) and is logged.
   */
  onBidAfterClose (jobId: string, agent: string): void {
    if (this.lateBids.bidAfterClose(jobId)) this.log('job.late-bid', { jobId, agent, reason: 'the bid came after the job\'s auction closed without one' })
  }

  /** Whether the open auction of `jobId` took the bid `bidId` of `agent` from gossip (not over the bid stream). */
  tookByGossip (jobId: string, bidId: string, agent: string): boolean {
    return this.auctions.get(jobId)?.bids.some(b => b.bidId === bidId && !b.viaStream && sameKey(b.agent, agent)) === true
  }

  /** Whether `jobId` is one of our jobs still taking bids (its auction runs until the job ends). */
  ownsOpenJob (jobId: string): boolean {
    return this.auctions.has(jobId)
  }

  stop (): void {
    this.leases.stop()
    this.exec.close()
  }

  /** How many of this coordinator's jobs sit in each of its queues now (metrics, status). */
  queues (): { auctions: number, bidding: number, executing: number, retrying: number } {
    const sum = (values: Iterable<number>): number => { let n = 0; for (const v of values) n += v; return n }
    return {
      auctions: this.auctions.size,
      bidding: sum(this.bidding.values()),
      executing: sum(this.ownInFlight.values()),
      retrying: sum([...this.retrySlots.values()].map(s => s.inUse))
    }
  }

  /** Submit a job and wait for its outcome: start() then its `done`. */
  async submit (specId: string, input: unknown, options: SubmitOptions = {}): Promise<JobResult> {
    const { done } = await this.start(specId, input, options)
    return await done
  }

  /**
   * Validate, sign and record a job, and return its id at once; `done` settles
   * with its outcome. Throws UnknownSpecError or InvalidJobError before
   * anything is recorded or sent.
   */
  async start (specId: string, submitted: unknown, options: SubmitOptions = {}): Promise<{ jobId: string, done: Promise<JobResult> }> {
    const spec = await this.deps.specOf(specId)
    if (spec == null) throw new UnknownSpecError(specId)
    // An SDK caller's value never went through the API's strict reader: the same checks here.
    const malformed = valueProblem(submitted)
    if (malformed != null) {
      throw new InvalidJobError([{ path: malformed.path === '' ? 'input' : `input.${malformed.path}`, message: describeValueProblem(malformed) }])
    }
    const inputCheck = checkInput(spec, submitted)
    if (!inputCheck.ok) throw new InvalidJobError(inputCheck.problems)
    // From here on the job's input is the private copy just checked: what the
    // caller does to its object later changes neither what is sent, stored or
    // judged, and the output check needs no copy of its own.
    const input = inputCheck.value
    const inputBytes = canonicalBytes(input)
    if (inputBytes.byteLength > MAX_INPUT_BYTES) throw new InvalidJobError([{ path: 'input', message: `is ${inputBytes.byteLength} bytes; the limit is ${MAX_INPUT_BYTES}` }])

    const now = this.now()
    const limits = jobDeadlines(spec, now)
    const requested = options.deadline != null ? toEpochMs(options.deadline) : undefined
    const deadline = Math.min(limits.deadline ?? now + DEFAULT_JOB_DEADLINE_MS, requested ?? Infinity)
    if (options.maxUsd != null && (!Number.isFinite(options.maxUsd) || options.maxUsd < 0)) {
      throw new InvalidJobError([{ path: 'maxUsd', message: `${options.maxUsd} is not an amount of money; use a number ≥ 0` }])
    }
    const policyProblems = awardPolicyProblems(options.award)
    if (policyProblems.length > 0) throw new InvalidJobError(policyProblems)
    const ownAward = normalizeAwardPolicy(options.award)
    const specAward = this.deps.specAwardPolicy?.(spec)
    const award = specAward != null || ownAward != null ? { ...specAward, ...ownAward } : undefined
    const budgetCeiling = spec.budget?.maxUsd
    const maxUsd = Math.min(options.maxUsd ?? budgetCeiling ?? spec.costUsd ?? 0, budgetCeiling ?? Infinity)
    const bidWindowMs = options.bidWindowMs ?? DEFAULT_BID_WINDOW_MS
    // A spec may set a soft deadline and no deadline: the job's deadline is then the
    // requester's (or the default), and the soft deadline never comes after it
    // (receivers Reject a job whose soft deadline is after its deadline).
    const softDeadline = limits.softDeadline != null ? Math.min(limits.softDeadline, deadline) : undefined

    // The job is sealed now, so its id is known at once; a job that waits for
    // capacity is published later under the same id (bid windows and holds
    // count from publication, see KnownJob.publishedAt).
    const body: JobBody = { specId, inputHash: hashHex(inputBytes), inputSize: inputBytes.byteLength, maxUsd, deadline, bidWindowMs, createdAt: now, nonce: randomNonce() }
    if (softDeadline != null) body.softDeadline = softDeadline
    // Whatever our peers would Reject we never sign: the job body meets the same
    // schema as the validator's (bid window, nonce, amounts, times) before anything else.
    const selfCheck = plainlyShapedJobBody(body) ? null : JobBodySchema.safeParse(body)
    if (selfCheck?.success === false) {
      throw new InvalidJobError(selfCheck.error.issues.map(i => ({ path: i.path.map(String).join('.') || '(job)', message: i.message })))
    }
    // Signed when first published: a job that runs under a lease never is (its lease-award carries the body).
    const envelope = sealLazily('job', body, this.deps.signer, this.canonicalTexts)
    const record: JobRecord = {
      jobId: envelope.id, specId, specName: spec.name, status: 'bidding', submittedAt: now, deadline, softDeadline, maxUsd, inputHash: body.inputHash, costUsd: 0, attempts: []
    }
    // The record is written beside the job's start rather than before it: the
    // job call goes out (or, under a lease, its award) while the write is under
    // way. Waiting for the write first put a LevelDB batch on every job's path:
    // at 100 nodes (bench:scale) the slowest jobs spent 95-200 ms there before
    // their job call went out. The group commit writes the record before the
    // award's reservation, and the receipt waits for both. The job counts as
    // accepted only once it is on disk: start() resolves with its id after the
    // write, so a job whose id a caller holds survives a kill -9 (recovery.ts
    // closes it). A job whose record could not be written is cancelled; a job
    // call it already sent gets no award, and the bids on it lapse.
    const created = this.deps.jobStore.create(record, input)
    created.catch(() => {})
    this.events.record(envelope.id, 'submitted', { specId, specName: spec.name, maxUsd, deadline, ...(softDeadline != null ? { softDeadline } : {}), bidWindowMs }, now)
    const cancel = new AbortController()
    const inProgress = (this.inProgress.get(specId) ?? 0) + 1
    this.inProgress.set(specId, inProgress)
    this.leases.demand(specId, spec, inProgress)
    const done = this.run(spec, envelope, record, input, inputBytes, cancel.signal, award)
      .catch(async (err: Error) => {
        // A bug or a failing disk: the job still ends, and says why.
        await this.fail(record, `the coordinator failed: ${err.message}`).catch(() => {})
        throw err
      })
      .finally(() => {
        this.active.delete(envelope.id)
        const left = (this.inProgress.get(specId) ?? 1) - 1
        if (left > 0) this.inProgress.set(specId, left)
        else this.inProgress.delete(specId)
      })
    done.catch(() => {}) // a caller that never waits must not see an unhandled rejection
    this.active.set(envelope.id, { cancel, done })
    try {
      await created
    } catch (err) {
      cancel.abort(err)
      throw err
    }
    return { jobId: envelope.id, done }
  }

  /** The outcome of a job: waits while it runs; null when this node never coordinated it. */
  async wait (jobId: string): Promise<JobResult | null> {
    const active = this.active.get(jobId)
    if (active != null) return await active.done
    const record = await this.deps.jobStore.get(jobId)
    return record == null ? null : await this.resultOf(record)
  }

  /**
   * Cancel a job: no further bid window, backoff or attempt, and a running
   * attempt ends at once. Resolves with the final record (unchanged when the
   * job had already ended); null when this node never coordinated it.
   */
  async cancel (jobId: string): Promise<JobRecord | null> {
    const active = this.active.get(jobId)
    if (active != null) {
      active.cancel.abort(new JobCancelledError())
      await active.done.catch(() => {})
    }
    return await this.deps.jobStore.get(jobId)
  }

  /** A finished job's result, rebuilt from its record, output and receipt. */
  private async resultOf (record: JobRecord): Promise<JobResult> {
    const receiptId = record.receiptId ?? record.attempts.at(-1)?.receiptId
    const receipt = receiptId != null ? (await this.deps.receipts.get(receiptId))?.envelope : undefined
    const status = record.status === 'succeeded' || record.status === 'cancelled' ? record.status : 'failed'
    const result: JobResult = { jobId: record.jobId, status, costUsd: record.costUsd, attempts: record.attempts, biddingMs: record.biddingMs }
    if (status === 'succeeded') result.output = await this.deps.jobStore.output(record.jobId)
    if (receipt != null) result.receipt = receipt
    if (record.reason != null) result.reason = record.reason
    if (record.noBid != null) result.noBid = record.noBid
    return result
  }

  private async run (spec: Spec, envelope: Envelope<JobBody>, record: JobRecord, input: unknown, inputBytes: Uint8Array, signal: AbortSignal, award: AwardPolicy | undefined): Promise<JobResult> {
    const { specId, deadline, softDeadline, bidWindowMs, maxUsd } = envelope.body
    const now = this.now()
    const refusal = !this.policy.respectsDeadlines
      ? null
      : deadline <= now
        ? 'the deadline has already passed'
        : softDeadline != null && now > softDeadline
          ? 'the soft deadline has passed: nothing is submitted after it'
          : null
    if (refusal != null) return await this.fail(record, refusal)
    // Under a lease the job skips the auction: its first attempt takes a lease slot.
    let leasedBefore: { ledger: JobLedger, agent: string } | undefined
    if (this.leases.has(specId)) {
      const lease = await this.leases.acquire(specId, softDeadline ?? deadline, signal)
      if (lease != null) {
        const leased = await this.runLeased(record, spec, envelope, input, inputBytes, lease, signal)
        if (leased.result != null) return leased.result
        if (signal.aborted) return await this.cancelled(record)
        // The attempt failed: the lease has ended and the job goes to the auction, its next attempt a retry.
        leasedBefore = { ledger: leased.ledger, agent: lease.agent }
      }
      if (signal.aborted) return await this.cancelled(record)
    }
    // Our auctions of the spec at once are held to what the mesh answers within the window (auction-gate.ts).
    const gate = this.policy.respectsCapacity ? this.gateOf(specId) : undefined
    if (gate != null && !await gate.acquire(softDeadline ?? deadline, signal)) {
      if (signal.aborted) return await this.cancelled(record)
      return await this.fail(record, `this node's auctions of the spec stayed at their limit (${gate.limit} at once, lowered because bids came back after the bid window) until the ${softDeadline != null ? 'soft deadline' : 'deadline'}, so nothing was submitted; submit again later or give it a later --deadline`)
    }
    let inGate = gate != null
    const leaveGate = (openedAt: number, inTime?: boolean): void => {
      if (!inGate) return
      inGate = false
      gate?.release(openedAt, inTime)
    }
    await this.awaitAgent(record.jobId, specId, envelope.body, signal)
    if (signal.aborted) {
      leaveGate(this.now())
      return await this.cancelled(record)
    }
    if (!await this.awaitCapacity(record.jobId, specId, spec, softDeadline ?? deadline, signal)) {
      leaveGate(this.now())
      if (signal.aborted) return await this.cancelled(record)
      const agents = this.advertisedAgents(specId, spec)
      record.noBid = {
        cause: 'all-busy',
        peers: this.peerCount(),
        agents,
        ceilingUsd: maxUsd,
        ...(spec.budget?.maxUsd != null ? { budgetUsd: spec.budget.maxUsd } : {})
      }
      return await this.fail(record, `every one of the ${agents.length} agent${agents.length === 1 ? '' : 's'} serving the spec stayed at its concurrency limit until the ${softDeadline != null ? 'soft deadline' : 'deadline'}, so nothing was submitted; submit again later, give it a later --deadline, or give the spec more agents`)
    }
    // awaitCapacity took a place among our jobs calling for bids. It is handed
    // over to the job's first award (counted in ownInFlight) without a gap
    // another job could slip into, or given back when the job ends without one.
    let holdsBidSlot = true
    let isOpening = true
    const opened = (): void => {
      if (!isOpening) return
      isOpening = false
      this.opening.set(specId, (this.opening.get(specId) ?? 1) - 1)
    }
    const releaseBidSlot = (): void => {
      if (!holdsBidSlot) return
      holdsBidSlot = false
      this.bidding.set(specId, (this.bidding.get(specId) ?? 1) - 1)
      this.deps.capacity.notify()
    }
    const publishedAt = this.now()
    const auction: Auction = { specId, bids: [], expected: this.expectedBidders(specId, spec, maxUsd), award }
    const expectedAtOpen = auction.expected.size
    const wakeOnCancel = (): void => { auction.wake?.() }
    signal.addEventListener('abort', wakeOnCancel)
    try {
      if (signal.aborted) return await this.cancelled(record)
      if (this.policy.respectsDeadlines && publishedAt >= deadline) {
        return await this.fail(record, 'the deadline passed while waiting for capacity: nothing was submitted')
      }
      if (this.policy.respectsDeadlines && softDeadline != null && publishedAt > softDeadline) {
        return await this.fail(record, 'the soft deadline passed while waiting for capacity: nothing is submitted after it')
      }
      this.deps.jobs.add({ jobId: envelope.id, coordinator: this.deps.signer.peerId, body: envelope.body, publishedAt })
      this.auctions.set(envelope.id, auction)
      opened()
      await this.deps.gossip.publish(this.topicOf(specId, 'jobs'), envelope)
      this.log('job.submitted', { jobId: envelope.id, specId, maxUsd, deadline })
      // While the bids come in, open the execution stream to each agent that can bid, so
      // the award does not wait for one.
      // Remembered per spec, so each agent is looked at once, not on every job.
      this.exec.warmFor(specId, this.deps.capacity.agentsServing(specId))
      await collectBids(auction, publishedAt + bidWindowMs, firstBidUntil({ body: envelope.body, publishedAt }), () => signal.aborted, this.now, { openedAt: publishedAt, expectedAtOpen })
      record.biddingMs = this.now() - publishedAt
      leaveGate(publishedAt, signal.aborted ? undefined : auction.firstBidAt != null && auction.firstBidAt <= publishedAt + bidWindowMs)
      if (signal.aborted) return await this.cancelled(record)
      if (auction.firstBidAt != null && auction.firstBidAt > publishedAt + bidWindowMs) this.lateBids.firstBidLate(specId)
      if (auction.bids.length === 0) {
        this.lateBids.closedWithoutBid(envelope.id, specId)
        const { diagnosis, reason } = this.diagnoseNoBid(specId, spec, record.maxUsd, bidWindowMs)
        record.noBid = diagnosis
        return await this.fail(record, reason)
      }
      // Bids that arrive after an early close still count: they are the retries' candidates.
      return await this.runAttempts(record, spec, envelope, input, inputBytes, auction, releaseBidSlot, signal, leasedBefore)
    } finally {
      signal.removeEventListener('abort', wakeOnCancel)
      this.auctions.delete(envelope.id)
      opened()
      releaseBidSlot()
      leaveGate(publishedAt)
    }
  }

  private gateOf (specId: string): AuctionGate {
    let gate = this.gates.get(specId)
    if (gate == null) {
      gate = new AuctionGate({ now: this.now, ...this.deps.auctionGate })
      this.gates.set(specId, gate)
    }
    return gate
  }

  /** Which no-bid case this is, from our peers and the adverts of the agents serving the spec. */
  private diagnoseNoBid (specId: string, spec: Spec, ceilingUsd: number, bidWindowMs: number): ReturnType<typeof diagnoseNoBid> {
    return diagnoseNoBid({ peers: this.peerCount(), agents: this.advertisedAgents(specId, spec), ceilingUsd, budgetUsd: spec.budget?.maxUsd, bidWindowMs, graceWindows: NO_BID_GRACE_FACTOR, lateBids: this.lateBids.recent(specId), providerLookup: this.deps.providerLookup?.(specId) })
  }

  private peerCount (): number {
    return new Set(this.deps.libp2p.getConnections().map(c => c.remotePeer.toString())).size
  }

  /** The agents whose adverts name the spec, with their price, the room we think they have, and whether we are connected to them. */
  private advertisedAgents (specId: string, spec: Spec): AdvertisedAgent[] {
    const peers = this.deps.libp2p.getConnections().map(c => c.remotePeer.toString())
    return this.deps.capacity.agentsServing(specId).map(agent => ({
      agent, priceUsd: this.deps.capacity.load(agent, specId)?.priceUsd ?? 0, room: this.room(agent, specId, spec), connected: peers.some(p => sameKey(p, agent))
    }))
  }

  /** The agents expected to bid: a live advert for the spec, room now, and a price within the ceiling. */
  private expectedBidders (specId: string, spec: Spec, maxUsd: number): Set<string> {
    const expected = new Set<string>()
    for (const agent of this.deps.capacity.agentsServing(specId)) {
      const advert = this.deps.capacity.load(agent, specId)
      if (advert != null && advert.priceUsd <= maxUsd && !this.saturated(agent, specId, spec)) expected.add(agent)
    }
    return expected
  }

  /**
   * Attempts in rank order until one succeeds or the spec says stop: at most
   * 1 + capacity.maxRetries attempts; each retry after an exponential backoff
   * with jitter and within the spec's retry budget (maxConcurrentRetries per
   * node); never an attempt at an agent already at its concurrency limit, and
   * never one whose price would take the job past budget.maxUsd.
   */
  private async runAttempts (record: JobRecord, spec: Spec, job: Envelope<JobBody>, input: unknown, inputBytes: Uint8Array, auction: Auction, onAwarded: () => void, cancel: AbortSignal, leasedBefore?: { ledger: JobLedger, agent: string }): Promise<JobResult> {
    // Awards and receipts carry the attempt number, and receivers refuse one above MAX_ATTEMPT.
    const maxAttempts = Math.min(this.policy.maxAttempts(spec), MAX_ATTEMPT)
    const budget = spec.budget?.maxUsd ?? null
    const feeUsd = spec.budget?.includesFees === true ? this.feeUsd : 0
    // A job whose leased attempt failed carries that attempt's ledger on, and
    // the leased agent's bid counts as tried: the work moves to another agent first.
    let ledger = leasedBefore?.ledger ?? newJobLedger(record.jobId, record.specId, budget)
    // Untried bids in rank order (bids arriving during the attempts join them);
    // then bids already tried, in the order they failed.
    const untried: RankedBid[] = []
    const tried: RankedBid[] = []
    const ranked = new Set<string>()
    // Agents that are stopping or cannot be reached get no further attempt of this job.
    const excluded = new Set<string>()
    const exclude = (agent: string): void => {
      excluded.add(agent)
      for (const line of [untried, tried]) {
        for (let i = line.length - 1; i >= 0; i--) if (line[i]!.agent === agent) line.splice(i, 1)
      }
    }
    // Bids the requester's award policy ruled out (minReputation), and why.
    const ruledOut: ExcludedBid[] = []
    const admitNewBids = (): void => {
      const fresh = auction.bids.filter(b => !ranked.has(b.bidId) && !excluded.has(b.agent))
      if (fresh.length === 0) return
      for (const b of fresh) ranked.add(b.bidId)
      const ranking = rankForAward(fresh, { jobId: job.id, ceilingUsd: record.maxUsd, seed: this.awardSeed, policy: auction.award, posteriorOf: agent => this.deps.posteriorOf?.(agent, spec) })
      for (const bid of ranking.ranked) {
        if (leasedBefore == null || !sameKey(bid.agent, leasedBefore.agent)) untried.push(bid)
        else {
          bid.tried = true
          tried.push(bid)
        }
      }
      untried.sort(compareRanked)
      ruledOut.push(...ranking.excluded)
    }
    let stop = ''
    let lastOutcome = ''
    let retryAfterMs = 0
    // Waits for the retry budget end at the deadline or on cancel. Made for
    // the first retry that waits on it: most jobs never retry, and a timer
    // pending to the deadline plus a combined signal per job add up.
    let deadlineSignal: AbortSignal | undefined
    const untilDeadline = (): AbortSignal => (deadlineSignal ??= AbortSignal.any([timeoutSignal(record.deadline - this.now()), cancel]))

    while (stop === '') {
      if (cancel.aborted) return await this.cancelled(record)
      const attempt = record.attempts.length + 1
      if (attempt > maxAttempts) {
        stop = this.policy.name === 'spec'
          ? `no retry left: the spec allows ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'} (capacity.maxRetries ${maxAttempts - 1})`
          : `gave up after ${maxAttempts} attempts`
        break
      }
      admitNewBids()
      if (untried.length + tried.length === 0) {
        stop = ruledOut.length > 0 && attempt === 1
          ? `no bid met the award policy: ${ruledOut.map(e => `${e.agent}'s ${e.reason}`).join('; ')}`
          : 'no other bid to try'
        break
      }
      if (attempt > 1) {
        const delay = this.policy.retryDelayMs(spec, attempt - 1, retryAfterMs)
        if (this.policy.respectsDeadlines && this.now() + delay >= record.deadline) {
          stop = `the deadline would pass during the ${Math.round(delay)} ms backoff before retry ${attempt - 1}`
          break
        }
        if (delay > 0) {
          this.log('job.backoff', { jobId: job.id, retry: attempt - 1, delayMs: Math.round(delay) })
          this.events.record(job.id, 'backoff', { retry: attempt - 1, delayMs: Math.round(delay) })
          await sleep(delay, cancel)
          if (cancel.aborted) return await this.cancelled(record)
        }
      }
      admitNewBids()
      const bid = await this.nextUnsaturated([...untried, ...tried], spec, this.policy.respectsDeadlines ? (record.softDeadline ?? record.deadline) : record.deadline, cancel)
      if (cancel.aborted) return await this.cancelled(record)
      if (this.policy.respectsDeadlines && record.softDeadline != null && this.now() > record.softDeadline) {
        stop = 'the soft deadline passed: no further attempt is submitted after it'
        break
      }
      if (bid == null) {
        stop = `every agent that bid stayed at its concurrency limit until the ${record.softDeadline != null ? 'soft deadline' : 'deadline'}`
        break
      }
      const price = bid.body.priceUsd
      if (budget != null && ledger.spentUsd + ledger.reservedUsd + price + feeUsd > budget + 1e-9) {
        const would = roundUsd(ledger.spentUsd + ledger.reservedUsd + price + feeUsd)
        const why = `an attempt at ${price} USD${feeUsd > 0 ? ` + ${feeUsd} USD fees` : ''} would take the job's spend to ${would} USD, above budget.maxUsd ${budget}`
        if (this.policy.enforcesBudget && spec.budget?.overageBehavior !== 'warn') {
          stop = `${why}: not made (overageBehavior fail)`
          break
        }
        this.log('job.over-budget', { level: 'warn', jobId: job.id, reason: `${why}; made anyway (overageBehavior warn)` })
      }
      const retrying = attempt > 1 && this.policy.usesRetryBudget ? await this.retrySlot(spec, job.body.specId, untilDeadline()) : null
      if (retrying === false) {
        if (cancel.aborted) return await this.cancelled(record)
        stop = spec.capacity?.maxConcurrentRetries === 0
          ? 'the spec allows no retries in flight (capacity.maxConcurrentRetries 0)'
          : `the spec's retry budget (capacity.maxConcurrentRetries ${spec.capacity?.maxConcurrentRetries}) stayed full until the deadline`
        break
      }
      try {
        if (retrying === true && this.policy.respectsDeadlines && record.softDeadline != null && this.now() > record.softDeadline) {
          stop = 'the soft deadline passed while waiting for the retry budget: no further attempt is submitted after it'
          break
        }
        const from = untried.includes(bid) ? untried : tried
        from.splice(from.indexOf(bid), 1)
        const embedded = auction.bids.some(b => b.viaStream) ? embeddedBids(bid, [...untried, ...tried], auction) : undefined
        const outcome = await this.oneAttempt(record, spec, job, input, inputBytes, targetOfBid(bid), attempt, feeUsd, ledger, onAwarded, cancel, embedded)
        ledger = outcome.ledger
        if (outcome.result != null) return outcome.result
        if (cancel.aborted) return await this.cancelled(record)
        lastOutcome = outcome.summary
        retryAfterMs = outcome.retryAfterMs ?? 0
        if (outcome.agentGone) {
          exclude(bid.agent)
          continue
        }
        // The failed bid goes to the back of the line: untried bids come first,
        // and with a single agent the retry (after its backoff) goes back to it.
        // Its held place was used by the attempt.
        bid.tried = true
        tried.push(bid)
      } finally {
        if (retrying === true) this.retrySlots.get(job.body.specId)?.release()
      }
    }
    return await this.fail(record, lastOutcome === '' ? stop : `${lastOutcome}; ${stop}`)
  }

  /**
   * A job's first attempt in a slot of a lease: the same award-to-receipt path
   * as an auctioned attempt, with a lease-award in place of the award. Any
   * outcome but success (or the requester's cancel) ends the lease.
   */
  private async runLeased (record: JobRecord, spec: Spec, job: Envelope<JobBody>, input: unknown, inputBytes: Uint8Array, lease: ActiveLease, cancel: AbortSignal): Promise<{ ledger: JobLedger, result?: JobResult }> {
    const budget = spec.budget?.maxUsd ?? null
    const feeUsd = spec.budget?.includesFees === true ? this.feeUsd : 0
    const ledger = newJobLedger(record.jobId, record.specId, budget)
    if (budget != null && lease.priceUsd + feeUsd > budget + 1e-9 && this.policy.enforcesBudget && spec.budget?.overageBehavior !== 'warn') {
      // Not made under the lease; the auction path judges the budget and says why.
      this.leases.release(lease, null)
      return { ledger }
    }
    let outcome: Awaited<ReturnType<Coordinator['oneAttempt']>> | undefined
    try {
      outcome = await this.oneAttempt(record, spec, job, input, inputBytes, { agent: lease.agent, addrs: lease.addrs, priceUsd: lease.priceUsd, bidId: lease.id, lease }, 1, feeUsd, ledger, () => {}, cancel)
    } finally {
      this.leases.release(lease, outcome == null ? 'the coordinator failed' : outcome.result != null || cancel.aborted ? null : outcome.summary)
    }
    return outcome
  }

  /** Award, execute, judge and record one attempt; returns the job result when it succeeded. */
  private async oneAttempt (record: JobRecord, spec: Spec, job: Envelope<JobBody>, input: unknown, inputBytes: Uint8Array, bid: AttemptTarget, attempt: number, feeUsd: number, ledger: JobLedger, onAwarded: () => void, cancel: AbortSignal, embedded?: Array<Envelope<BidBody>>): Promise<{ ledger: JobLedger, result?: JobResult, summary: string, retryAfterMs?: number, agentGone?: boolean }> {
    // Counted at the agent before anything is awaited, so no other job can take this slot meanwhile.
    const key = loadKey(bid.agent, job.body.specId)
    this.ownInFlight.set(key, (this.ownInFlight.get(key) ?? 0) + 1)
    onAwarded()
    const award: AnyAward = bid.lease != null
      ? this.leases.sealAward(bid.lease, job, attempt, this.canonicalTexts)
      : seal('award', { jobId: job.id, specId: job.body.specId, bidId: bid.bidId, agent: bid.agent, priceUsd: bid.priceUsd, attempt, deadline: record.deadline, issuedAt: this.now(), ...(embedded != null ? { bids: embedded as AwardBody['bids'] } : {}) } satisfies AwardBody, this.deps.signer)
    const attemptRecord: AttemptRecord = { attempt, agent: bid.agent, bidId: bid.bidId, awardId: award.id, priceUsd: bid.priceUsd }
    if (bid.lease != null) attemptRecord.leaseId = bid.lease.id
    record.attempts.push(attemptRecord)
    record.status = 'running'
    const entry = { attempt, awardId: award.id, agent: bid.agent, priceUsd: bid.priceUsd, feeUsd }
    ledger = applyEntry(ledger, { ...entry, at: this.now(), kind: 'reserve' })

    let result: AttemptResult
    try {
      // The reservation is written while the attempt runs: nothing is charged
      // without a receipt, and a node that dies before it signs one closes the
      // job as interrupted at its next start (recovery.ts), so the write need
      // not hold up the award. It completes before the receipt is stored.
      const reserved = this.deps.jobStore.save(record, { with: [this.deps.ledger.operation(ledger)] })
      reserved.catch(() => {})
      this.log('job.awarded', { jobId: job.id, agent: bid.agent, priceUsd: bid.priceUsd, attempt, score: bid.score, ...(bid.lease != null ? { leaseId: bid.lease.id } : {}) })
      this.events.record(job.id, 'award', { attempt, agent: bid.agent, awardId: award.id, bidId: bid.bidId, priceUsd: bid.priceUsd, ...(bid.lease != null ? { leaseId: bid.lease.id } : { score: bid.score }) })
      this.events.record(job.id, 'attempt-started', { attempt, agent: bid.agent })
      result = await this.attempt(award, bid, inputBytes, record.deadline, spec, cancel)
      await reserved
    } finally {
      this.ownInFlight.set(key, (this.ownInFlight.get(key) ?? 1) - 1)
      this.deps.capacity.notify()
    }
    // Gossiped once the attempt is over, so that validating it on every node
    // never competes with the attempt itself; losing bidders release on it.
    // A lease-award is not gossiped: nobody else bid on the job.
    if (award.type === 'award') this.gossipLater(this.topicOf(job.body.specId, 'awards'), award)
    if (result.outcome === 'success') {
      const verdict = checkOutput(spec, input, result.output, { checkedInput: true })
      if (!verdict.ok) {
        result.outcome = 'criteria-failed'
        result.reason = verdict.failures.map(f => `${f.criterion}: ${f.reason}`).join('; ')
      }
    }
    // The agent is paid for work it delivered; refusals, errors and timeouts delivered nothing.
    const delivered = result.outcome === 'success' || result.outcome === 'criteria-failed'
    const charged = delivered ? Math.min(bid.priceUsd, result.claim?.body.costUsd ?? bid.priceUsd) : 0
    const receipt = this.signReceipt(award, record, result, charged)
    this.events.record(job.id, 'attempt-ended', { attempt, agent: bid.agent, outcome: result.outcome, ...(result.reason != null ? { reason: result.reason } : {}), durationMs: Math.max(0, result.endedAt - result.startedAt) })
    // Settling releases the whole reservation and spends what was charged (perhaps less than the bid).
    ledger = applyEntry(ledger, { ...entry, priceUsd: delivered ? charged : entry.priceUsd, at: this.now(), kind: delivered ? 'settle' : 'release', receiptId: receipt.id })
    Object.assign(attemptRecord, { outcome: result.outcome, reason: result.reason, receiptId: receipt.id, startedAt: result.startedAt, endedAt: result.endedAt })
    record.costUsd = ledger.spentUsd
    const succeeded = result.outcome === 'success'
    if (succeeded) {
      record.status = 'succeeded'
      record.receiptId = receipt.id
      record.finishedAt = this.now()
    }
    await this.persist(record, receipt, ledger, succeeded ? result.output : undefined)
    this.events.record(job.id, 'receipt', { attempt, receiptId: receipt.id, outcome: result.outcome, costUsd: charged })
    if (succeeded) {
      this.log('job.succeeded', { jobId: job.id, agent: bid.agent, costUsd: record.costUsd })
      this.events.record(job.id, 'done', { status: 'succeeded', costUsd: record.costUsd, receiptId: receipt.id, attempts: record.attempts.length })
      return { ledger, summary: 'success', result: { jobId: job.id, status: 'succeeded', output: result.output, receipt, costUsd: record.costUsd, attempts: record.attempts, biddingMs: record.biddingMs } }
    }
    this.log('job.attempt-failed', { level: 'warn', jobId: job.id, agent: bid.agent, outcome: result.outcome, reason: result.reason })
    const retryAfterMs = result.outcome === 'refused' ? result.claim?.body.retryAfterMs : undefined
    // An agent that is shutting down, or that we cannot reach, is not tried again for this job.
    const agentGone = result.outcome === 'unreachable' || (result.outcome === 'refused' && result.claim?.body.stopping === true)
    return { ledger, retryAfterMs, agentGone, summary: `attempt ${attempt} by ${bid.agent}: ${result.outcome}${result.reason != null ? ` (${result.reason})` : ''}` }
  }

  /**
   * Awards an agent can take now on a spec, as far as this node can tell from
   * its advert and our own awards there: its free execution slots (never more
   * than capacity.maxConcurrentRequests run) plus the free places of its
   * admission queue, where an award waits for a slot instead of being refused.
   */
  private room (agent: string, specId: string, spec: Spec): number {
    const advert = this.deps.capacity.load(agent, specId)
    const load = Math.max(this.ownInFlight.get(loadKey(agent, specId)) ?? 0, advert?.inFlight ?? 0)
    return Math.max(0, capacityAt(spec, advert) - load)
  }

  /** Whether the agent still holds a place for this bid (it does until the window and its grace pass). */
  private holdsPlace (bid: RankedBid): boolean {
    const job = this.deps.jobs.get(bid.body.jobId)
    if (job == null || bid.tried === true) return false
    return this.now() < bidHoldsUntil(job)
  }

  private saturated (agent: string, specId: string, spec: Spec): boolean {
    return this.room(agent, specId, spec) === 0
  }

  /** The best remaining bid whose agent has room; waits for room (until the deadline) when none has. */
  private async nextUnsaturated (candidates: RankedBid[], spec: Spec, deadline: number, cancel: AbortSignal): Promise<RankedBid | undefined> {
    for (;;) {
      if (cancel.aborted) return undefined
      // A bid still holding its place is that place: the agent's advert counts
      // it as load, so gating on the advert would keep the agent from its own bid.
      const free = candidates.find(b => !this.policy.respectsCapacity || this.holdsPlace(b) || !this.saturated(b.agent, b.body.specId, spec))
      if (free != null) return free
      const left = deadline - this.now()
      if (left <= 0) return undefined
      await this.deps.capacity.changed(Math.min(left, CAPACITY_RECHECK_MS), cancel)
    }
  }

  /**
   * Places for new jobs at the agents serving the spec, beyond our jobs already
   * calling for bids. Two views, the tighter wins: the adverts, less our calls
   * they cannot count yet (see uncounted), and our own bookkeeping (our awards
   * plus our jobs still calling for bids, which adverts may not show yet).
   * Counting our calls the adverts already count in both would hold back work for no one.
   */
  private freeSlots (specId: string, spec: Spec): number {
    const agents = this.deps.capacity.agentsServing(specId)
    if (agents.length === 0) return Infinity
    let byAdverts = 0
    let byOwn = 0
    for (const agent of agents) {
      const advert = this.deps.capacity.load(agent, specId)
      const capacity = capacityAt(spec, advert)
      byAdverts += Math.max(0, capacity - (advert?.inFlight ?? 0))
      byOwn += Math.max(0, capacity - (this.ownInFlight.get(loadKey(agent, specId)) ?? 0))
    }
    return Math.min(byAdverts - this.uncounted(specId), byOwn - (this.bidding.get(specId) ?? 0))
  }

  /**
   * Our calls for bids on the spec that no advert counts yet: no bid has come
   * (an agent counts a place once it bids, or keeps the call for its next free
   * place), or the first bidder's latest advert is older than its bid. Two
   * calls on one advertised free place would leave one without a bid.
   */
  private uncounted (specId: string): number {
    let n = this.opening.get(specId) ?? 0
    for (const auction of this.auctions.values()) {
      if (auction.specId !== specId) continue
      const first = auction.bids[0]
      const advert = first != null ? this.deps.capacity.load(first.agent, specId) : undefined
      if (first == null || advert == null || advert.issuedAt < first.body.createdAt) n++
    }
    return n
  }

  /**
   * A job of a spec whose agents this node has not met yet (no advert of any)
   * waits for the first advert before publishing, until meetAgentUntil. Then
   * it goes on either way; with still no agent it fails with no bid.
   */
  private async awaitAgent (jobId: string, specId: string, body: JobBody, cancel: AbortSignal): Promise<void> {
    if (this.deps.meetsAgentsLater !== true || this.deps.capacity.agentsServing(specId).length > 0) return
    const now = this.now()
    const until = meetAgentUntil(body, now, this.deps.providersSoughtSince?.(specId))
    this.log('job.waiting-for-agent', { jobId, specId, untilMs: until - now })
    while (!cancel.aborted && this.deps.capacity.agentsServing(specId).length === 0) {
      const left = until - this.now()
      if (left <= 0) return
      await this.deps.capacity.changed(left, cancel)
    }
  }

  /**
   * Before publishing: while the agents known to serve the spec have no free
   * slot for this job (counting our jobs already calling for bids), wait
   * instead of calling for bids. Returns with a place taken in `bidding`;
   * the caller gives it back once the job has its award or has ended.
   */
  private async awaitCapacity (jobId: string, specId: string, spec: Spec, until: number, cancel: AbortSignal): Promise<boolean> {
    let logged = false
    for (;;) {
      if (cancel.aborted) return false
      if (!this.policy.respectsCapacity || this.freeSlots(specId, spec) > 0) {
        this.bidding.set(specId, (this.bidding.get(specId) ?? 0) + 1)
        this.opening.set(specId, (this.opening.get(specId) ?? 0) + 1)
        return true
      }
      const left = until - this.now()
      if (left <= 0) return false
      if (!logged) {
        const agents = this.deps.capacity.agentsServing(specId).length
        this.log('job.waiting-for-capacity', { jobId, specId, agents })
        this.events.record(jobId, 'waiting-capacity', { agents })
        logged = true
      }
      await this.deps.capacity.changed(Math.min(left, CAPACITY_RECHECK_MS), cancel)
    }
  }

  /** Take a place in the spec's retry budget; null when the spec sets none, false when the deadline came first. */
  private async retrySlot (spec: Spec, specId: string, signal: AbortSignal): Promise<boolean | null> {
    const limit = spec.capacity?.maxConcurrentRetries
    if (limit == null) return null
    if (limit === 0) return false
    let slots = this.retrySlots.get(specId)
    if (slots == null) {
      slots = new Semaphore(limit)
      this.retrySlots.set(specId, slots)
    }
    return await slots.acquire(signal)
  }

  /** One attempt over the execution stream, bounded by the deadline and the spec's execution window. */
  private async attempt (award: AnyAward, bid: AttemptTarget, inputBytes: Uint8Array, deadline: number, spec: Spec, cancel: AbortSignal): Promise<AttemptResult> {
    const startedAt = this.now()
    const stopAt = this.policy.attemptStopAt(spec, startedAt, deadline)
    const stopReason = stopAt === deadline ? 'no result by the deadline' : 'no result within the attempt\'s time limit'
    // Cleared when the attempt ends: at hundreds of attempts a second, a timer
    // left pending for each attempt's whole window adds up (timers.ts).
    const limit = clearableTimeout(stopAt - startedAt)
    const signal = limit.signal
    const failed = (outcome: Outcome, reason: string, claim: Envelope<ClaimBody> | null = null): AttemptResult =>
      ({ outcome, reason, claim, startedAt, endedAt: this.now() })
    try {
      const reply = await this.exec.exchange(bid.agent, bid.addrs, award, inputBytes, signal, cancel)
      const claim = reply.claim !== undefined ? verifyClaim(reply.claim, this.canonicalTexts) : openClaim(reply.claimBytes)
      if (!sameKey(claim.signer, bid.agent) || claim.body.awardId !== award.id || claim.body.jobId !== award.body.jobId) {
        return failed('error', 'the agent\'s claim is not signed by it or is for another award')
      }
      if (claim.body.outcome !== 'success') {
        return { ...failed(claim.body.outcome, claim.body.reason ?? claim.body.outcome, claim), startedAt: claim.body.startedAt, endedAt: claim.body.endedAt }
      }
      const outputBytes = reply.outputBytes ?? new Uint8Array()
      if (outputBytes.byteLength > MAX_OUTPUT_BYTES) return failed('error', `output is ${outputBytes.byteLength} bytes; the limit is ${MAX_OUTPUT_BYTES}`, claim)
      let output: unknown
      try {
        output = parseJsonBytes(outputBytes, { what: 'the agent\'s output' })
      } catch (err) {
        return failed('error', (err as Error).message, claim)
      }
      // The hash is of the canonical form, so an agent's formatting never matters.
      const outputHash = hashHex(canonicalBytes(output))
      if (outputHash !== claim.body.outputHash) return failed('error', 'output does not match the hash the agent signed', claim)
      return { outcome: 'success', claim, output, outputHash, startedAt: claim.body.startedAt, endedAt: claim.body.endedAt }
    } catch (err) {
      if (err instanceof ExchangeCancelledError) return failed('cancelled', `cancelled by the requester (${err.message})`)
      if (signal.aborted) return failed('timeout', stopReason)
      if (err instanceof AgentUnreachableError) return failed('unreachable', err.message)
      if (err instanceof MessageValidationError) return failed('error', `the agent's claim is invalid: ${err.message}`)
      return failed('error', `could not reach the agent or the stream failed: ${(err as Error).message}`)
    } finally {
      limit.clear()
    }
  }

  /**
   * Publish off the caller's path: encrypting a message for every mesh peer is
   * synchronous work that the requester need not wait for.
   */
  private topicOf (specId: string, kind: SpecTopicKind): string {
    return this.deps.topicOf?.(specId, kind) ?? marketTopic('global', specId, kind)
  }

  private gossipLater (topic: string, envelope: Envelope<object>): void {
    setImmediate(() => {
      this.deps.gossip.publish(topic, envelope).catch(err => { this.log('gossip.publish-failed', { level: 'warn', topic, error: (err as Error).message }) })
    })
  }

  private signReceipt (award: AnyAward, record: JobRecord, result: AttemptResult, costUsd: number): Envelope<ReceiptBody> {
    const body: ReceiptBody = {
      specId: record.specId,
      jobId: record.jobId,
      awardId: award.id,
      agent: award.body.agent,
      attempt: award.body.attempt,
      inputHash: record.inputHash,
      startedAt: result.startedAt,
      endedAt: Math.max(result.startedAt, result.endedAt),
      deadline: record.deadline,
      costUsd,
      outcome: result.outcome,
      claim: result.claim as ReceiptBody['claim'],
      verdictAt: this.now()
    }
    const outputHash = result.outputHash ?? result.claim?.body.outputHash
    if (outputHash != null) body.outputHash = outputHash
    if (result.reason != null) body.reason = publishableReason(result.reason)
    return seal('receipt', body, this.deps.signer, this.canonicalTexts)
  }

  /**
   * Store the receipt with the job record, its ledger (and output) in one
   * batch, then send it. The receipt is encoded once: the stored record, the
   * agent's frame and the gossip message carry the same text.
   */
  private async persist (record: JobRecord, receipt: Envelope<ReceiptBody>, ledger: JobLedger, output?: unknown): Promise<void> {
    const stored: StoredReceipt = { id: receipt.id, envelope: receipt, receivedAt: this.now() }
    const encoded = encodeEnvelopeOnce(receipt)
    await this.deps.jobStore.save(record, { output, with: [...this.deps.receipts.operations(stored, encoded.text), this.deps.ledger.operation(ledger)] })
    this.deps.onReceipt?.(stored)
    // The agent is not on the spec's receipts topic: its own receipt comes over the stream its attempt ran on.
    this.exec.deliverReceipt(receipt.body.agent, encoded.bytes)
    const topic = this.topicOf(receipt.body.specId, 'receipts')
    if (this.deps.publishReceipt != null) this.deps.publishReceipt(topic, receipt, encoded.bytes)
    else this.gossipLater(topic, receipt)
  }

  private async fail (record: JobRecord, reason: string): Promise<JobResult> {
    return await this.end(record, 'failed', reason)
  }

  private async cancelled (record: JobRecord): Promise<JobResult> {
    return await this.end(record, 'cancelled', 'cancelled by the requester')
  }

  /** Close a job that did not succeed: record, log line and its 'done' event. */
  private async end (record: JobRecord, status: 'failed' | 'cancelled', reason: string): Promise<JobResult> {
    record.status = status
    record.reason = reason
    record.finishedAt = this.now()
    await this.deps.jobStore.save(record)
    this.log(`job.${status}`, { level: 'warn', jobId: record.jobId, reason })
    this.events.record(record.jobId, 'done', { status, reason, costUsd: record.costUsd, attempts: record.attempts.length, ...(record.noBid != null ? { noBid: record.noBid.cause } : {}) })
    return await this.resultOf(record)
  }
}
