import type { Spec } from './schema.ts'
import { isAbsolute } from './deadlines.ts'
import { formatInstant } from './time.ts'

/**
 * What the receipts a node holds say about how a spec performs in practice,
 * and the deadline and budget the observed data would have met. Pure: the
 * caller passes the spec and the receipt bodies.
 *
 * Method (documented here because a person should be able to redo it by hand):
 * - Percentiles are nearest-rank: p-th = the value at rank ⌈p/100 · n⌉ of the
 *   sorted sample, so a reported p95 is a value that was actually observed and
 *   at least 95% of the sample is at or below it.
 * - Duration is an attempt's `endedAt − startedAt`, over every receipt except
 *   `refused` ones (the agent declined, nothing ran). A `timeout` attempt was
 *   cut off at the deadline, so its true duration is unknown and at least what
 *   was recorded; when more than 5% of attempts timed out, the p95 is a lower
 *   bound and the suggestion says so.
 * - Suggested deadline = p95 duration × DEADLINE_SAFETY_MARGIN +
 *   DEADLINE_ALLOWANCE_SECONDS (bidding, transfer and the verdict happen
 *   inside a job's deadline but outside the attempt's own time), rounded up to
 *   a readable step (1 s below 10 s, 5 s below a minute, 30 s below 10 minutes,
 *   then whole minutes). It is ≥ the p95, so at least 95% of the observed
 *   attempts would have met it.
 * - Cost: per attempt, each receipt's `costUsd` (what the coordinator was
 *   charged; 0 for attempts that delivered nothing); per job, the sum over the
 *   job's receipts, since every attempt counts against `budget.maxUsd`.
 *   Suggested budget = p95 of the per-job cost rounded up to two significant
 *   digits, never below the spec's costUsd (a budget under the price would make
 *   the spec invalid). Fees are not in receipts; with `includesFees` add them.
 * - Below MIN_CONFIDENT_EXECUTIONS executions the suggestion is still given
 *   but marked not confident: a p95 of a handful of samples is mostly noise.
 */

/** Executions needed before a suggestion is called confident. */
export const MIN_CONFIDENT_EXECUTIONS = 20
/** Multiplier on the p95 attempt duration for the suggested deadline. */
export const DEADLINE_SAFETY_MARGIN = 1.25
/** Seconds added to the suggested deadline for what happens around an attempt (bids, transfer, verdict). */
export const DEADLINE_ALLOWANCE_SECONDS = 1
/** Share of timed-out attempts above which the observed p95 duration is only a lower bound. */
export const CENSORED_SHARE = 0.05

export const STAT_OUTCOMES = ['success', 'criteria-failed', 'timeout', 'refused', 'error', 'cancelled', 'unreachable'] as const
export type StatOutcome = typeof STAT_OUTCOMES[number]

/** The parts of a receipt body the statistics read. */
export interface ReceiptFacts {
  jobId: string
  startedAt: number
  endedAt: number
  /** The job's deadline, epoch ms. */
  deadline: number
  costUsd: number
  outcome: string
}

export interface Summary {
  n: number
  mean: number
  p50: number
  p95: number
  max: number
}

export type DeadlineInfo =
  | { kind: 'relative', seconds: number }
  | { kind: 'absolute', at: string, secondsLeft: number }

export interface SpecStats {
  specId: string
  name: string
  variant: string | null
  /** Receipts (attempts) held for the spec. */
  executions: number
  /** Distinct jobs among them. */
  jobs: number
  outcomes: Record<StatOutcome, number>
  /**
   * success / the executions that are the spec's to pass or fail: every one but
   * `cancelled` (the requester stopped it) and `unreachable` (nothing was sent);
   * null without such executions.
   */
  successRate: number | null
  /** Share of jobs with at least one successful attempt, or null without jobs. */
  jobSuccessRate: number | null
  deadline: DeadlineInfo | null
  durationMs: Summary | null
  /** For relative deadlines: p50 and p95 duration as a share of the deadline. */
  durationOfDeadline: { p50: number, p95: number } | null
  /** Attempts that ended after their job's deadline or timed out. */
  deadlineMisses: number
  cost: {
    costUsd: number | null
    budgetMaxUsd: number | null
    perAttempt: Summary | null
    perJob: Summary | null
    /** Attempts charged more than the spec's costUsd. */
    attemptsAboveCostUsd: number
    /** Jobs whose receipts add up to more than budget.maxUsd. */
    jobsAboveBudget: number
  }
  suggestion: Suggestion | null
}

export interface Suggestion {
  /** The per-job deadline, in seconds, that the observed attempts would have met at least 95% of the time. */
  deadlineSeconds: number
  /** budget.maxUsd that at least 95% of the observed jobs stayed within. */
  budgetMaxUsd: number
  /** Enough executions (≥ minExecutions) and the p95 is not censored by timeouts. */
  confident: boolean
  executions: number
  minExecutions: number
  safetyMargin: number
  allowanceSeconds: number
  /** Assignments for `specmesh spec fork ID --set …` that apply the suggestion and keep the spec valid. */
  set: Record<string, string | number>
  /** Plain-language caveats: few receipts, censored durations, adjusted fields. */
  notes: string[]
}

export interface StatsOptions {
  /** epoch ms, for the time left before an absolute deadline. @default Date.now() */
  now?: number
  /** @default MIN_CONFIDENT_EXECUTIONS */
  minExecutions?: number
}

/** Nearest-rank percentile of an ascending sample (non-empty). */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample')
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export function summarize (values: readonly number[], round: (n: number) => number = n => n): Summary | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
  return { n: sorted.length, mean: round(mean), p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1)!) }
}

const usd = (n: number): number => Math.round(n * 1e6) / 1e6
const ms = (n: number): number => Math.round(n)
const share = (n: number): number => Math.round(n * 1e4) / 1e4

/** Seconds rounded up to a step a person would write: 1 s, 5 s, 30 s or a minute, by size. */
export function roundUpSeconds (seconds: number): number {
  const step = seconds <= 10 ? 1 : seconds <= 60 ? 5 : seconds <= 600 ? 30 : 60
  return Math.max(step, Math.ceil(seconds / step - 1e-9) * step)
}

/** Dollars rounded up to two significant digits (0.137 → 0.14, 0.0042 → 0.0042, 2.31 → 2.4), at least a micro-dollar step. */
export function roundUpUsd (dollars: number): number {
  if (dollars <= 0) return 0
  const step = Math.max(1e-6, 10 ** (Math.floor(Math.log10(dollars)) - 1))
  return usd(Math.ceil(dollars / step - 1e-9) * step)
}

/** A duration as the spec format writes it: "45s", "2m", "1m30s". */
export function formatSeconds (seconds: number): string {
  if (seconds < 60 || !Number.isInteger(seconds)) return `${Number(seconds.toFixed(3))}s`
  const m = Math.floor(seconds / 60)
  const s = seconds % 60
  return s === 0 ? `${m}m` : `${m}m${s}s`
}

/** Statistics of one spec from the receipt bodies held for it (receipts of other specs must be filtered out first). */
export function specStats (specId: string, spec: Spec, receipts: readonly ReceiptFacts[], options: StatsOptions = {}): SpecStats {
  const now = options.now ?? Date.now()
  const minExecutions = options.minExecutions ?? MIN_CONFIDENT_EXECUTIONS
  const outcomes = Object.fromEntries(STAT_OUTCOMES.map(o => [o, 0])) as Record<StatOutcome, number>
  for (const r of receipts) if ((STAT_OUTCOMES as readonly string[]).includes(r.outcome)) outcomes[r.outcome as StatOutcome]++

  const byJob = new Map<string, ReceiptFacts[]>()
  for (const r of receipts) byJob.set(r.jobId, [...(byJob.get(r.jobId) ?? []), r])

  // Refusals, cancellations and unreachable agents never ran the work to its end: their times say nothing of its duration.
  const ran = receipts.filter(r => r.outcome !== 'refused' && r.outcome !== 'cancelled' && r.outcome !== 'unreachable')
  const durations = ran.map(r => Math.max(0, r.endedAt - r.startedAt))
  const durationMs = summarize(durations, ms)

  let deadline: DeadlineInfo | null = null
  if (spec.deadline !== undefined) {
    deadline = isAbsolute(spec.deadline)
      ? { kind: 'absolute', at: spec.deadline, secondsLeft: Math.max(0, Math.round((Date.parse(spec.deadline) - now) / 1000)) }
      : { kind: 'relative', seconds: spec.deadline }
  }
  const durationOfDeadline = durationMs != null && deadline?.kind === 'relative'
    ? { p50: share(durationMs.p50 / 1000 / deadline.seconds), p95: share(durationMs.p95 / 1000 / deadline.seconds) }
    : null

  const jobCosts = [...byJob.values()].map(rs => usd(rs.reduce((a, r) => a + r.costUsd, 0)))
  const costUsd = spec.costUsd ?? null
  const budgetMaxUsd = spec.budget?.maxUsd ?? null
  const cost = {
    costUsd,
    budgetMaxUsd,
    perAttempt: summarize(receipts.map(r => r.costUsd), usd),
    perJob: summarize(jobCosts, usd),
    attemptsAboveCostUsd: costUsd == null ? 0 : receipts.filter(r => r.costUsd > costUsd + 1e-9).length,
    jobsAboveBudget: budgetMaxUsd == null ? 0 : jobCosts.filter(c => c > budgetMaxUsd + 1e-9).length
  }

  const succeededJobs = [...byJob.values()].filter(rs => rs.some(r => r.outcome === 'success')).length
  // A requester's cancel and an agent nobody could reach are neither the spec's success nor its failure.
  const judged = receipts.length - outcomes.cancelled - outcomes.unreachable
  return {
    specId,
    name: spec.name,
    variant: spec.variant ?? null,
    executions: receipts.length,
    jobs: byJob.size,
    outcomes,
    successRate: judged === 0 ? null : share(outcomes.success / judged),
    jobSuccessRate: byJob.size === 0 ? null : share(succeededJobs / byJob.size),
    deadline,
    durationMs,
    durationOfDeadline,
    deadlineMisses: receipts.filter(r => r.outcome === 'timeout' || r.endedAt > r.deadline).length,
    cost,
    suggestion: suggest(spec, receipts.length, ran, durationMs, cost.perJob, minExecutions, now)
  }
}

function suggest (spec: Spec, executions: number, ran: readonly ReceiptFacts[], durationMs: Summary | null, perJob: Summary | null, minExecutions: number, now: number): Suggestion | null {
  if (durationMs == null || perJob == null) return null
  const notes: string[] = []
  const p95Seconds = durationMs.p95 / 1000
  const deadlineSeconds = roundUpSeconds(p95Seconds * DEADLINE_SAFETY_MARGIN + DEADLINE_ALLOWANCE_SECONDS)
  let confident = executions >= minExecutions
  if (!confident) notes.push(`only ${executions} execution${executions === 1 ? '' : 's'}; at least ${minExecutions} are needed for a confident suggestion, so treat this one as a first guess`)
  const timeouts = ran.filter(r => r.outcome === 'timeout').length
  if (ran.length > 0 && timeouts / ran.length > CENSORED_SHARE) {
    confident = false
    notes.push(`${timeouts} of ${ran.length} attempts were cut off at the deadline, so their real duration is unknown: the p95 duration and the suggested deadline are lower bounds`)
  }
  let budgetMaxUsd = roundUpUsd(perJob.p95)
  if (spec.costUsd !== undefined && budgetMaxUsd < spec.costUsd) {
    budgetMaxUsd = spec.costUsd
    notes.push(`95% of jobs cost at most ${perJob.p95} USD, less than costUsd ${spec.costUsd}; the budget is kept at costUsd, since a spec's budget may not be below its price (fork with a lower costUsd to go further)`)
  }

  const set: Record<string, string | number> = {}
  if (spec.deadline === undefined || !isAbsolute(spec.deadline)) {
    if (spec.deadline !== deadlineSeconds) set.deadline = formatSeconds(deadlineSeconds)
    if (spec.softDeadline !== undefined && !isAbsolute(spec.softDeadline) && spec.softDeadline > deadlineSeconds) {
      // The last moment to start must leave time for a p95 attempt before the deadline.
      const soft = Math.max(1, deadlineSeconds - roundUpSeconds(p95Seconds))
      set.softDeadline = formatSeconds(soft)
      notes.push(`softDeadline ${spec.softDeadline} s would come after the suggested deadline; moved to ${formatSeconds(soft)} so a typical attempt can still finish`)
    }
    if (spec.executionWindow !== undefined && spec.executionWindow > deadlineSeconds) {
      set.executionWindow = formatSeconds(deadlineSeconds)
      notes.push(`executionWindow ${spec.executionWindow} s is longer than the suggested deadline; capped at it`)
    }
  } else {
    // An absolute deadline is a calendar fact: suggest when to stop starting work instead.
    const softAt = Date.parse(spec.deadline) - deadlineSeconds * 1000
    if (softAt > now) set.softDeadline = formatInstant(softAt)
    notes.push(`the deadline is absolute (${spec.deadline}); a job needs about ${formatSeconds(deadlineSeconds)}, so ${softAt > now ? `stop starting work at ${formatInstant(softAt)}` : 'there is no longer enough time left for a typical job'}`)
  }
  if (spec.budget?.maxUsd !== budgetMaxUsd) {
    set['budget.maxUsd'] = budgetMaxUsd
    // A breakdown that adds up to more than the new budget would make the fork invalid: scale it down with it.
    const parts = Object.entries(spec.budget?.costBreakdown ?? {})
    const total = parts.reduce((sum, [, usd]) => sum + usd, 0)
    if (total > budgetMaxUsd) {
      const ratio = budgetMaxUsd / total
      for (const [category, usd] of parts) set[`budget.costBreakdown.${category}`] = Math.floor(usd * ratio * 1e6) / 1e6
      notes.push(`budget.costBreakdown adds up to ${total} USD, more than the suggested budget; each part is scaled by the same factor (${Number(ratio.toFixed(4))})`)
    }
  }
  return {
    deadlineSeconds,
    budgetMaxUsd,
    confident,
    executions,
    minExecutions,
    safetyMargin: DEADLINE_SAFETY_MARGIN,
    allowanceSeconds: DEADLINE_ALLOWANCE_SECONDS,
    set,
    notes
  }
}
