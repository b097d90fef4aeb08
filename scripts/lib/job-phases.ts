/**
 * Where a job's latency went, phase by phase, from what its coordinator saw:
 * the job events it recorded (src/market/job-events.ts), the job's result
 * (its bid window's length, biddingMs, and the agent's signed claim of when
 * its handler ran) and when the caller called submitJob and got the result.
 * bench:scale times every measured job this way so that its report can say
 * which phase the slowest jobs lost their time in (issue 9).
 *
 * All times are epoch ms (Date.now) from processes on one machine, so the
 * agent's claim and the coordinator's events share a clock.
 */
import type { JobEvent } from '../../src/market/job-events.ts'
import { summarize } from './bench.ts'

/** The phases, in the order a job goes through them; their sum is the job's latency. */
export const PHASES = ['submit', 'toPublish', 'toFirstBid', 'bidWindowRest', 'closeToAward', 'awardToHandler', 'handler', 'claimBack', 'persist', 'toCaller'] as const
export type Phase = typeof PHASES[number]

/** What each phase holds (printed with the report). */
export const PHASE_MEANING: Record<Phase, string> = {
  submit: 'submitJob called → the coordinator\'s submitted event',
  toPublish: 'submitted → job call published (the job record\'s write, the auction gate, waiting for capacity)',
  toFirstBid: 'published → the first bid taken',
  bidWindowRest: 'first bid → the bid window closed (early, once every expected agent bid, or at its end)',
  closeToAward: 'window closed → award (ranking; 0 for a window that ran to its end, where the close is not observed)',
  awardToHandler: 'award → the agent\'s handler started (the award over the execution stream, the agent\'s checks)',
  handler: 'the agent\'s handler, by its signed claim',
  claimBack: 'handler ended → attempt-ended (the claim back over the stream, the output check, the receipt signed)',
  persist: 'attempt-ended → receipt event (job record, receipt and ledger written)',
  toCaller: 'receipt event → submitJob resolved in the caller'
}

export interface JobTiming {
  /** Milliseconds per phase; they add up to the job's latency (caller's submit → result). */
  phases: Record<Phase, number>
  totalMs: number
  /** The bid window closed before its end (every expected agent had bid). */
  closedEarly: boolean
  /** Bids taken before the award. */
  bidsAtClose: number
}

/**
 * One succeeded job's timing. `events`: its events in order; `calledAt` and
 * `resolvedAt`: when the caller called submitJob and when it resolved;
 * `biddingMs`: the result's; `handler`: the successful attempt's claim.
 * Undefined when an event the split needs is missing (a job run under a lease has no bid window).
 */
export function jobTiming (input: { events: JobEvent[], calledAt: number, resolvedAt: number, biddingMs: number | undefined, bidWindowMs: number, handler: { startedAt?: number, endedAt?: number } | undefined }): JobTiming | undefined {
  const { events, calledAt, resolvedAt, biddingMs, bidWindowMs, handler } = input
  const first = (type: JobEvent['type']): JobEvent | undefined => events.find(e => e.type === type)
  const last = (type: JobEvent['type']): JobEvent | undefined => events.findLast(e => e.type === type)
  const submitted = first('submitted')
  // The attempt that succeeded is the last one.
  const award = last('award')
  const ended = last('attempt-ended')
  const receipt = last('receipt')
  if (submitted == null || award == null || ended == null || receipt == null || biddingMs == null || handler?.startedAt == null || handler.endedAt == null) return undefined
  // The bids the first award was ranked from (bids after it are the retries' candidates).
  const firstAward = first('award')!
  const bids = events.filter(e => e.type === 'bid' && e.at <= firstAward.at)
  const closedEarly = biddingMs < bidWindowMs
  // An early close happens on the bid that completed the set: the window closed when that bid was taken.
  // A window that ran to its end closed on a timer no event marks; the award follows it at once.
  const closedAt = closedEarly && bids.length > 0 ? bids.at(-1)!.at : firstAward.at
  const publishedAt = closedAt - biddingMs
  const firstBidAt = bids[0]?.at ?? closedAt
  const phases: Record<Phase, number> = {
    submit: submitted.at - calledAt,
    toPublish: publishedAt - submitted.at,
    toFirstBid: firstBidAt - publishedAt,
    bidWindowRest: closedAt - firstBidAt,
    // With retries, what came between the first award and the last one is here too.
    closeToAward: award.at - closedAt,
    awardToHandler: handler.startedAt - award.at,
    handler: handler.endedAt - handler.startedAt,
    claimBack: ended.at - handler.endedAt,
    persist: receipt.at - ended.at,
    toCaller: resolvedAt - receipt.at
  }
  return { phases, totalMs: resolvedAt - calledAt, closedEarly, bidsAtClose: bids.length }
}

/** Where a run's jobs, and its slowest ones, spent their time. */
export interface PhaseBreakdown {
  /** Jobs with a full timing (of the run's succeeded jobs). */
  jobs: number
  /** Per phase over every timed job. */
  p50: Record<Phase, number>
  p99: Record<Phase, number>
  /** Mean per phase over every timed job. */
  mean: Record<Phase, number>
  /** The slowest 2% of the timed jobs (at least one): how many, their latency, the mean of each phase, and how their windows closed. */
  tail: { jobs: number, meanTotalMs: number, mean: Record<Phase, number>, closedEarly: number, meanBidsAtClose: number }
  /** Share of all timed jobs whose bid window closed early. */
  closedEarlyShare: number
}

/** The share of jobs `tail` takes as the slowest. */
export const TAIL_SHARE = 0.02

const r1 = (n: number): number => Math.round(n * 10) / 10
const meanOf = (values: number[]): number => values.length === 0 ? NaN : r1(values.reduce((a, b) => a + b, 0) / values.length)
function perPhase (f: (phase: Phase) => number): Record<Phase, number> {
  return Object.fromEntries(PHASES.map(p => [p, f(p)])) as Record<Phase, number>
}

export function phaseBreakdown (timings: JobTiming[]): PhaseBreakdown {
  const slowest = [...timings].sort((a, b) => b.totalMs - a.totalMs).slice(0, Math.max(1, Math.ceil(timings.length * TAIL_SHARE)))
  return {
    jobs: timings.length,
    p50: perPhase(p => timings.length === 0 ? NaN : summarize(timings.map(t => t.phases[p])).p50),
    p99: perPhase(p => timings.length === 0 ? NaN : summarize(timings.map(t => t.phases[p])).p99),
    mean: perPhase(p => meanOf(timings.map(t => t.phases[p]))),
    tail: {
      jobs: timings.length === 0 ? 0 : slowest.length,
      meanTotalMs: meanOf(slowest.map(t => t.totalMs)),
      mean: perPhase(p => meanOf(slowest.map(t => t.phases[p]))),
      closedEarly: slowest.filter(t => t.closedEarly).length,
      meanBidsAtClose: meanOf(slowest.map(t => t.bidsAtClose))
    },
    closedEarlyShare: timings.length === 0 ? NaN : r1(100 * timings.filter(t => t.closedEarly).length / timings.length) / 100
  }
}
