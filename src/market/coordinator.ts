import { randomBytes } from 'node:crypto'
import { hashHex } from '../crypto/content-id.ts'
import { canonicalBytes } from '../wire/canonical.ts'
import type { Signer } from '../crypto/signatures.ts'
import { seal, type Envelope } from '../wire/envelope.ts'
import { MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, TOPICS } from '../wire/constants.ts'
import { checkInput, checkOutput, jobDeadlines, type Spec } from '../spec/index.ts'
import type { Gossip } from '../net/gossip.ts'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import type { JobRecord, JobStore, AttemptRecord } from '../store/job-store.ts'
import type { ReceiptStore, StoredReceipt } from '../store/receipt-store.ts'
import { ExecClient } from './exec-client.ts'
import { MessageValidationError } from '../wire/errors.ts'
import type { AwardBody, BidBody, ClaimBody, JobBody, Outcome, ReceiptBody } from './messages.ts'
import type { RecentJobs } from './recent-jobs.ts'
import { rankBids, NEUTRAL_REPUTATION, type RankedBid } from './scoring.ts'
import { openClaim } from './validators.ts'
import { InvalidJobError, UnknownSpecError } from './job-errors.ts'

export interface SubmitOptions {
  /** Ceiling for one attempt's price, in USD. @default the spec's budget.maxUsd, else its costUsd */
  maxUsd?: number
  /** Absolute deadline (epoch ms, Date or ISO string); only tightens the spec's. */
  deadline?: number | Date | string
  /** How long bids are collected before the award. @default 100 */
  bidWindowMs?: number
}

export interface JobResult {
  jobId: string
  status: 'succeeded' | 'failed'
  output?: unknown
  receipt?: Envelope<ReceiptBody>
  costUsd: number
  reason?: string
  attempts: AttemptRecord[]
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
  reputationOf?: (agent: string, spec: Spec) => number
  /** Called with each receipt this node signs, after it is stored. */
  onReceipt?: (record: StoredReceipt) => void
  now?: () => number
  log?: (event: string, fields?: Record<string, unknown>) => void
}

export const DEFAULT_BID_WINDOW_MS = 100
/** Deadline of a job whose spec sets none and whose requester gave none. */
export const DEFAULT_JOB_DEADLINE_MS = 60_000

/**
 * When the window closes with no bid at all, the coordinator waits up to this
 * many windows more for a first one: on a loaded mesh a bid can be late, and
 * failing a job that an agent is about to bid on helps nobody.
 */
export const NO_BID_GRACE_FACTOR = 4

interface Auction {
  bids: Array<{ bidId: string, agent: string, body: BidBody }>
  /** Resolves the wait for a first bid, when one is pending. */
  onFirstBid?: () => void
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

const decoder = new TextDecoder()

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

  constructor (deps: CoordinatorDeps) {
    this.deps = deps
    this.exec = new ExecClient(deps.libp2p)
    this.now = deps.now ?? Date.now
    this.log = deps.log ?? (() => {})
  }

  /** True when the bid belongs to one of our open auctions (it was recorded). */
  onBid (envelope: Envelope<BidBody>): boolean {
    const auction = this.auctions.get(envelope.body.jobId)
    if (auction == null) return false
    if (!auction.bids.some(b => b.agent === envelope.signer)) {
      auction.bids.push({ bidId: envelope.id, agent: envelope.signer, body: envelope.body })
      auction.onFirstBid?.()
    }
    return true
  }

  stop (): void {
    this.exec.close()
  }

  isCoordinating (jobId: string): boolean {
    return this.auctions.has(jobId)
  }

  async submit (specId: string, input: unknown, options: SubmitOptions = {}): Promise<JobResult> {
    const spec = await this.deps.specOf(specId)
    if (spec == null) throw new UnknownSpecError(specId)
    const inputCheck = checkInput(spec, input)
    if (!inputCheck.ok) throw new InvalidJobError(inputCheck.problems.map(p => ({ path: `input${p.path === '' ? '' : '.' + p.path}`, message: p.message })))
    const inputBytes = canonicalBytes(input)
    if (inputBytes.byteLength > MAX_INPUT_BYTES) throw new InvalidJobError([{ path: 'input', message: `is ${inputBytes.byteLength} bytes; the limit is ${MAX_INPUT_BYTES}` }])

    const now = this.now()
    const limits = jobDeadlines(spec, now)
    const requested = options.deadline != null ? toEpochMs(options.deadline) : undefined
    const deadline = Math.min(limits.deadline ?? now + DEFAULT_JOB_DEADLINE_MS, requested ?? Infinity)
    const budgetCeiling = spec.budget?.maxUsd
    const maxUsd = Math.min(options.maxUsd ?? budgetCeiling ?? spec.costUsd ?? 0, budgetCeiling ?? Infinity)
    if (options.maxUsd != null && (!Number.isFinite(options.maxUsd) || options.maxUsd < 0)) {
      throw new InvalidJobError([{ path: 'maxUsd', message: `${options.maxUsd} is not an amount of money; use a number ≥ 0` }])
    }
    const bidWindowMs = options.bidWindowMs ?? DEFAULT_BID_WINDOW_MS

    const body: JobBody = {
      specId,
      inputHash: hashHex(inputBytes),
      inputSize: inputBytes.byteLength,
      maxUsd,
      deadline,
      bidWindowMs,
      createdAt: now,
      nonce: randomBytes(8).toString('hex')
    }
    if (limits.softDeadline != null) body.softDeadline = limits.softDeadline
    const envelope = seal('job', body, this.deps.signer)
    const record: JobRecord = {
      jobId: envelope.id,
      specId,
      specName: spec.name,
      status: 'bidding',
      submittedAt: now,
      deadline,
      softDeadline: body.softDeadline,
      maxUsd,
      inputHash: body.inputHash,
      costUsd: 0,
      attempts: []
    }

    const refusal = deadline <= now
      ? 'the deadline has already passed'
      : body.softDeadline != null && now > body.softDeadline
        ? 'the soft deadline has passed: nothing is submitted after it'
        : null
    if (refusal != null) return await this.fail(record, input, refusal)

    this.deps.jobs.add({ jobId: envelope.id, coordinator: this.deps.signer.peerId, body })
    const auction: Auction = { bids: [] }
    this.auctions.set(envelope.id, auction)
    try {
      // The record is durable before any award can be made (the window is far longer than the write).
      await Promise.all([this.deps.jobStore.create(record, input), this.deps.gossip.publish(TOPICS.jobs, envelope)])
      this.log('job.submitted', { jobId: envelope.id, specId, maxUsd, deadline })
      // The window is counted from the job's createdAt, as bidders see it.
      await new Promise(resolve => setTimeout(resolve, Math.max(0, now + bidWindowMs - this.now())))
      if (auction.bids.length === 0) await this.awaitFirstBid(auction, Math.min(deadline, now + NO_BID_GRACE_FACTOR * bidWindowMs))
    } finally {
      this.auctions.delete(envelope.id)
    }
    const ranked = rankBids(auction.bids, maxUsd, agent => this.deps.reputationOf?.(agent, spec) ?? NEUTRAL_REPUTATION)
    if (ranked.length === 0) return await this.fail(record, undefined, `no agent bid within the ${bidWindowMs} ms bid window (nor in ${NO_BID_GRACE_FACTOR} windows more)`)
    return await this.runAttempts(record, spec, envelope, input, inputBytes, ranked)
  }

  private async awaitFirstBid (auction: Auction, until: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, Math.max(0, until - this.now()))
      auction.onFirstBid = () => { clearTimeout(timer); resolve() }
    })
    auction.onFirstBid = undefined
  }

  private async runAttempts (record: JobRecord, spec: Spec, job: Envelope<JobBody>, input: unknown, inputBytes: Uint8Array, ranked: RankedBid[]): Promise<JobResult> {
    const maxAttempts = 1 + (spec.capacity?.maxRetries ?? 0)
    const budget = spec.budget?.maxUsd
    let lastReason = ''
    for (const bid of ranked) {
      if (record.attempts.length >= maxAttempts) {
        lastReason += `; no retry: the spec allows ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'}`
        break
      }
      if (this.now() >= record.deadline) {
        lastReason += '; the deadline passed before another attempt'
        break
      }
      if (budget != null && record.costUsd + bid.body.priceUsd > budget + 1e-12) {
        lastReason += `; an attempt at ${bid.body.priceUsd} USD would take the spend to ${(record.costUsd + bid.body.priceUsd).toFixed(4)}, above budget.maxUsd ${budget}`
        if (spec.budget?.overageBehavior !== 'warn') break
      }
      const attempt = record.attempts.length + 1
      const awardBody: AwardBody = {
        jobId: job.id, specId: job.body.specId, bidId: bid.bidId, agent: bid.agent, priceUsd: bid.body.priceUsd, attempt, deadline: record.deadline, issuedAt: this.now()
      }
      const award = seal('award', awardBody, this.deps.signer)
      const attemptRecord: AttemptRecord = { attempt, agent: bid.agent, bidId: bid.bidId, awardId: award.id, priceUsd: bid.body.priceUsd }
      record.attempts.push(attemptRecord)
      record.status = 'running'
      this.log('job.awarded', { jobId: job.id, agent: bid.agent, priceUsd: bid.body.priceUsd, attempt, score: bid.score })
      const result = await this.attempt(award, bid, inputBytes, record.deadline, spec)
      // Gossiped once the attempt is over, so that validating it on every node
      // never competes with the attempt itself; losing bidders release on it.
      this.gossipLater(TOPICS.awards, award)
      if (result.outcome === 'success') {
        const verdict = checkOutput(spec, input, result.output)
        if (!verdict.ok) {
          result.outcome = 'criteria-failed'
          result.reason = verdict.failures.map(f => `${f.criterion}: ${f.reason}`).join('; ')
        }
      }
      // The agent is paid for work it delivered; refusals, errors and timeouts delivered nothing.
      const charged = result.outcome === 'success' || result.outcome === 'criteria-failed' ? Math.min(bid.body.priceUsd, result.claim?.body.costUsd ?? bid.body.priceUsd) : 0
      const receipt = this.signReceipt(award, record, result, charged)
      Object.assign(attemptRecord, { outcome: result.outcome, reason: result.reason, receiptId: receipt.id, startedAt: result.startedAt, endedAt: result.endedAt })
      record.costUsd += charged
      const succeeded = result.outcome === 'success'
      if (succeeded) {
        record.status = 'succeeded'
        record.receiptId = receipt.id
        record.finishedAt = this.now()
      }
      await this.persist(record, receipt, succeeded ? result.output : undefined)
      if (succeeded) {
        this.log('job.succeeded', { jobId: job.id, agent: bid.agent, costUsd: record.costUsd })
        return { jobId: job.id, status: 'succeeded', output: result.output, receipt, costUsd: record.costUsd, attempts: record.attempts }
      }
      lastReason = `attempt ${attempt} by ${bid.agent}: ${result.outcome}${result.reason != null ? ` (${result.reason})` : ''}`
      this.log('job.attempt-failed', { jobId: job.id, agent: bid.agent, outcome: result.outcome, reason: result.reason })
    }
    if (record.attempts.length < maxAttempts && record.attempts.length === ranked.length && lastReason !== '') {
      lastReason += '; no other bid to try'
    }
    return await this.fail(record, undefined, lastReason)
  }

  /** One attempt over the execution stream, bounded by the deadline and the spec's execution window. */
  private async attempt (award: Envelope<AwardBody>, bid: RankedBid, inputBytes: Uint8Array, deadline: number, spec: Spec): Promise<AttemptResult> {
    const startedAt = this.now()
    const window = spec.executionWindow
    const timeout = spec.capacity?.timeoutSeconds
    const stopAt = Math.min(deadline, window != null ? startedAt + window * 1000 : Infinity, timeout != null ? startedAt + timeout * 1000 : Infinity)
    const stopReason = stopAt === deadline ? 'no result by the deadline' : 'no result within the execution window'
    const signal = AbortSignal.timeout(Math.max(1, stopAt - startedAt))
    const failed = (outcome: Outcome, reason: string, claim: Envelope<ClaimBody> | null = null): AttemptResult =>
      ({ outcome, reason, claim, startedAt, endedAt: this.now() })
    try {
      const reply = await this.exec.exchange(bid.agent, bid.body.addrs, award, inputBytes, signal)
      const claim = openClaim(reply.claimBytes)
      if (claim.signer !== bid.agent || claim.body.awardId !== award.id || claim.body.jobId !== award.body.jobId) {
        return failed('error', 'the agent\'s claim is not signed by it or is for another award')
      }
      if (claim.body.outcome !== 'success') {
        return { ...failed(claim.body.outcome, claim.body.reason ?? claim.body.outcome, claim), startedAt: claim.body.startedAt, endedAt: claim.body.endedAt }
      }
      const outputBytes = reply.outputBytes ?? new Uint8Array()
      if (outputBytes.byteLength > MAX_OUTPUT_BYTES) return failed('error', `output is ${outputBytes.byteLength} bytes; the limit is ${MAX_OUTPUT_BYTES}`, claim)
      let output: unknown
      try {
        output = JSON.parse(decoder.decode(outputBytes))
      } catch {
        return failed('error', 'output is not JSON', claim)
      }
      // The hash is of the canonical form, so an agent's formatting never matters.
      const outputHash = hashHex(canonicalBytes(output))
      if (outputHash !== claim.body.outputHash) return failed('error', 'output does not match the hash the agent signed', claim)
      return { outcome: 'success', claim, output, outputHash, startedAt: claim.body.startedAt, endedAt: claim.body.endedAt }
    } catch (err) {
      if (signal.aborted) return failed('timeout', stopReason)
      if (err instanceof MessageValidationError) return failed('error', `the agent's claim is invalid: ${err.message}`)
      return failed('error', `could not reach the agent or the stream failed: ${(err as Error).message}`)
    }
  }

  /**
   * Publish off the caller's path: encrypting a message for every mesh peer is
   * synchronous work that the requester need not wait for.
   */
  private gossipLater (topic: string, envelope: Envelope<object>): void {
    setImmediate(() => {
      this.deps.gossip.publish(topic, envelope).catch(err => { this.log('gossip.publish-failed', { topic, error: (err as Error).message }) })
    })
  }

  private signReceipt (award: Envelope<AwardBody>, record: JobRecord, result: AttemptResult, costUsd: number): Envelope<ReceiptBody> {
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
    if (result.reason != null) body.reason = result.reason.slice(0, 2000)
    return seal('receipt', body, this.deps.signer)
  }

  /** Store the receipt with the job record (and output) in one batch, then gossip it. */
  private async persist (record: JobRecord, receipt: Envelope<ReceiptBody>, output?: unknown): Promise<void> {
    const stored: StoredReceipt = { id: receipt.id, envelope: receipt, receivedAt: this.now() }
    await this.deps.jobStore.save(record, { output, with: this.deps.receipts.operations(stored) })
    this.deps.onReceipt?.(stored)
    this.gossipLater(TOPICS.receipts, receipt)
  }

  private async fail (record: JobRecord, input: unknown, reason: string): Promise<JobResult> {
    record.status = 'failed'
    record.reason = reason.replace(/^; /, '')
    record.finishedAt = this.now()
    if (input !== undefined) await this.deps.jobStore.create(record, input)
    else await this.deps.jobStore.save(record)
    this.log('job.failed', { jobId: record.jobId, reason: record.reason })
    const last = record.attempts.at(-1)
    const receipt = last?.receiptId != null ? (await this.deps.receipts.get(last.receiptId))?.envelope : undefined
    return { jobId: record.jobId, status: 'failed', reason: record.reason, receipt, costUsd: record.costUsd, attempts: record.attempts }
  }
}
