/**
 * A market without a network: one coordinator, a population of agents with
 * hidden success rates and prices, and jobs awarded one after another by the
 * REAL award code (src/market/scoring.ts) reading the REAL reputation
 * (src/reputation/reputation.ts) fed with a receipt per job. Used by
 * `npm run bench:market` (10,000+ jobs) and by a unit test (a shorter run that
 * asserts the targets), so the rule cannot regress unnoticed.
 *
 * The population: incumbents with an established record, mediocre agents, a
 * better and cheaper agent that joins late, and whitewashers that drop their
 * key for a fresh one after k failures. Every rule faces the same population,
 * the same arrivals and the same outcome stream (one seeded generator per rule,
 * so one rule's choices do not shift the other's luck).
 */
import { Reputation } from '../../src/reputation/reputation.ts'
import { rankBids, rankForAward, REPUTATION_WEIGHT, PRICE_WEIGHT, type AwardPolicy } from '../../src/market/scoring.ts'
import type { BidBody, Outcome } from '../../src/market/messages.ts'
import type { StoredReceipt } from '../../src/store/receipt-store.ts'

export type AgentKind = 'incumbent' | 'mediocre' | 'late-best' | 'whitewasher'

export interface SimAgent {
  name: string
  kind: AgentKind
  /** Hidden probability that an attempt succeeds. */
  successRate: number
  priceUsd: number
  /** Job index from which it bids (0: from the start). */
  joinsAt?: number
  /** Whitewashers: failures on one key after which it takes a fresh key. */
  rekeyAfterFailures?: number
  /** Incumbents: receipts of history it brings (dated before the first job). */
  history?: number
}

export interface SimConfig {
  jobs: number
  seed: number
  ceilingUsd: number
  /** Virtual time between two jobs. */
  jobIntervalMs: number
  agents: SimAgent[]
}

export const LATE_BEST_ARRIVAL = 2000

/** The population the issue describes; `jobs` and `seed` are the caller's. */
export function defaultPopulation (jobs = 10_000, seed = 1): SimConfig {
  return {
    jobs,
    seed,
    ceilingUsd: 0.10,
    jobIntervalMs: 60_000,
    agents: [
      { name: 'incumbent-1', kind: 'incumbent', successRate: 0.90, priceUsd: 0.040, history: 100 },
      { name: 'incumbent-2', kind: 'incumbent', successRate: 0.88, priceUsd: 0.045, history: 100 },
      { name: 'incumbent-3', kind: 'incumbent', successRate: 0.85, priceUsd: 0.050, history: 100 },
      { name: 'mediocre-1', kind: 'mediocre', successRate: 0.70, priceUsd: 0.030 },
      { name: 'mediocre-2', kind: 'mediocre', successRate: 0.65, priceUsd: 0.025 },
      { name: 'late-best', kind: 'late-best', successRate: 0.97, priceUsd: 0.030, joinsAt: Math.min(LATE_BEST_ARRIVAL, Math.floor(jobs / 5)) },
      { name: 'whitewasher-1', kind: 'whitewasher', successRate: 0.40, priceUsd: 0.020, rekeyAfterFailures: 3 },
      { name: 'whitewasher-2', kind: 'whitewasher', successRate: 0.30, priceUsd: 0.015, rekeyAfterFailures: 2 }
    ]
  }
}

/** An award rule as the coordinator applies it: the ranking of one job's bids, best first. */
export interface SimRule {
  name: string
  choose: (bids: Bid[], context: { jobId: string, ceilingUsd: number, reputation: Reputation, spec: string }) => string
}

type Bid = { bidId: string, agent: string, body: BidBody }

/** Today's rule: 0.7 × posterior mean (Beta(1, 1) prior, 0.5 for a stranger) + 0.3 × price term. */
export const meanRule: SimRule = {
  name: 'mean',
  choose: (bids, { ceilingUsd, reputation, spec }) => rankBids(bids, ceilingUsd, agent => reputation.forAward(agent, spec))[0]!.agent
}

/** The award rule of src/market/scoring.ts with the reputation's award posterior, as src/node.ts wires it. */
export function thompsonRule (seed: string, policy?: AwardPolicy): SimRule {
  return {
    name: 'thompson',
    choose: (bids, { jobId, ceilingUsd, reputation, spec }) =>
      rankForAward(bids, { jobId, ceilingUsd, seed, policy, posteriorOf: agent => reputation.awardPosterior(agent, spec) }).ranked[0]!.agent
  }
}

export interface RuleMetrics {
  rule: string
  jobs: number
  /** Share of jobs not given to the best agent present, by expected value 0.7 × p + 0.3 × (1 − price/ceiling). */
  regret: number
  /** Jobs from the late agent's arrival to its first award, counting that job (null: never). */
  jobsToFirstAwardForLateBest: number | null
  /** Its share of the jobs from 1,000 jobs after its arrival to the end. */
  lateBestShareAfter1000: number
  /** Its share of the first 1,000 jobs after its arrival. */
  lateBestShareFirst1000: number
  whitewasherShare: number
  /** Keys the whitewashers went through. */
  whitewasherKeys: number
  /** Share of jobs whose award failed (one attempt per job). */
  failedJobShare: number
  mediocreShare: number
  incumbentShare: number
  meanPriceUsd: number
}

const SPEC = 'sim-spec'
const SELF = 'coordinator'

/** mulberry32: small, fast, seeded. */
function generator (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function simulate (config: SimConfig, rule: SimRule): RuleMetrics {
  const random = generator(config.seed)
  const start = 1_800_000_000_000
  let now = start
  const reputation = new Reputation({ self: SELF, now: () => now })
  let receiptSeq = 0
  const record = (agent: string, outcome: Outcome, at: number): void => {
    const receipt = {
      id: `r${receiptSeq++}`,
      envelope: { signer: SELF, body: { agent, outcome, verdictAt: at, specId: 'sim' } },
      receivedAt: at
    } as unknown as StoredReceipt
    reputation.add(receipt, SPEC)
  }

  // Incumbents' history: spread over the day before the first job.
  for (const agent of config.agents) {
    const n = agent.history ?? 0
    for (let i = 0; i < n; i++) record(agent.name, random() < agent.successRate ? 'success' : 'timeout', start - (n - i) * (86_400_000 / n))
  }

  const keyOf = new Map(config.agents.map(a => [a.name, a.name]))
  const failuresOnKey = new Map<string, number>()
  const value = (a: SimAgent): number => REPUTATION_WEIGHT * a.successRate + PRICE_WEIGHT * (1 - Math.min(1, a.priceUsd / config.ceilingUsd))
  const wins = new Map<AgentKind, number>()
  const lateBest = config.agents.find(a => a.kind === 'late-best')
  const arrival = lateBest?.joinsAt ?? 0
  let regret = 0
  let failed = 0
  let spent = 0
  let keys = config.agents.filter(a => a.kind === 'whitewasher').length
  let firstLate: number | null = null
  let lateAfter = 0
  let jobsAfter = 0
  let lateFirst = 0
  let jobsFirst = 0

  for (let j = 0; j < config.jobs; j++) {
    now = start + j * config.jobIntervalMs
    const present = config.agents.filter(a => (a.joinsAt ?? 0) <= j)
    const byKey = new Map(present.map(a => [keyOf.get(a.name)!, a]))
    const jobId = `job-${j}`
    const bids: Bid[] = present.map(a => ({
      bidId: `${jobId}-${a.name}`,
      agent: keyOf.get(a.name)!,
      body: { jobId, specId: 'sim', priceUsd: a.priceUsd, estimatedMs: 100, load: { inFlight: 0, limit: 1 }, createdAt: now, expiresAt: now + 1000 }
    }))
    const winnerKey = rule.choose(bids, { jobId, ceilingUsd: config.ceilingUsd, reputation, spec: SPEC })
    const winner = byKey.get(winnerKey)!
    const best = Math.max(...present.map(value))
    if (value(winner) < best - 1e-12) regret++
    wins.set(winner.kind, (wins.get(winner.kind) ?? 0) + 1)
    const ok = random() < winner.successRate
    record(winnerKey, ok ? 'success' : 'criteria-failed', now)
    spent += winner.priceUsd
    if (!ok) failed++

    if (lateBest != null && j >= arrival) {
      const isLate = winner === lateBest
      if (isLate && firstLate == null) firstLate = j - arrival + 1
      if (j < arrival + 1000) { jobsFirst++; if (isLate) lateFirst++ } else { jobsAfter++; if (isLate) lateAfter++ }
    }
    if (winner.kind === 'whitewasher' && !ok) {
      const f = (failuresOnKey.get(winnerKey) ?? 0) + 1
      failuresOnKey.set(winnerKey, f)
      if (f >= (winner.rekeyAfterFailures ?? Infinity)) {
        keys++
        keyOf.set(winner.name, `${winner.name}#${keys}`)
      }
    }
  }
  const share = (kind: AgentKind): number => round((wins.get(kind) ?? 0) / config.jobs)
  return {
    rule: rule.name,
    jobs: config.jobs,
    regret: round(regret / config.jobs),
    jobsToFirstAwardForLateBest: firstLate,
    lateBestShareAfter1000: round(jobsAfter > 0 ? lateAfter / jobsAfter : 0),
    lateBestShareFirst1000: round(jobsFirst > 0 ? lateFirst / jobsFirst : 0),
    whitewasherShare: share('whitewasher'),
    whitewasherKeys: keys,
    failedJobShare: round(failed / config.jobs),
    mediocreShare: share('mediocre'),
    incumbentShare: share('incumbent'),
    meanPriceUsd: round(spent / config.jobs, 5)
  }
}

const round = (n: number, digits = 4): number => Number(n.toFixed(digits))
