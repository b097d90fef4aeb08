import { createHash } from 'node:crypto'
import type { BidBody } from './messages.ts'
import { betaQuantile } from '../util/beta.ts'

/**
 * How a coordinator ranks bids (documented in protocols/market.md):
 *
 *   score = REPUTATION_WEIGHT × reputation + PRICE_WEIGHT × (1 − price / ceiling)
 *
 * reputation is the coordinator's own estimate in [0, 1] of the agent's success
 * on this spec (NEUTRAL_REPUTATION for an agent it knows nothing of); price is
 * the bid's, ceiling the job's maxUsd. Higher wins. Reputation weighs more than
 * price so a cheap agent with a poor record loses to a fairly priced reliable
 * one, while a newcomer at neutral can still win on price.
 * Ties: lower price, then shorter estimate, then the smaller bid id, so the
 * ranking is deterministic given the same bids and the same reputations.
 */
export const REPUTATION_WEIGHT = 0.7
export const PRICE_WEIGHT = 0.3
export const NEUTRAL_REPUTATION = 0.5

/** What the award rule reads of a bid's body: a job's bid, or a lease bid. */
export interface ScoredBody {
  priceUsd: number
  estimatedMs: number
}

export interface RankedBid<B extends ScoredBody = BidBody> {
  bidId: string
  agent: string
  body: B
  /** The success rate the score used: the posterior mean, or (exploring) the agent's draw from its posterior. */
  reputation: number
  score: number
  /** Posterior mean of the agent's success rate, when ranked by `rankForAward`. */
  mean?: number
  /** A requester-preferred agent: ranked ahead of every other bid. */
  preferred?: boolean
  /** Set once an attempt has used this bid. */
  tried?: boolean
}

export function scoreBid (priceUsd: number, ceilingUsd: number, reputation: number): number {
  const priceShare = ceilingUsd > 0 ? Math.min(1, priceUsd / ceilingUsd) : (priceUsd > 0 ? 1 : 0)
  const clamped = Math.min(1, Math.max(0, reputation))
  return REPUTATION_WEIGHT * clamped + PRICE_WEIGHT * (1 - priceShare)
}

export function rankBids (
  bids: Array<{ bidId: string, agent: string, body: BidBody }>,
  ceilingUsd: number,
  reputationOf: (agent: string) => number = () => NEUTRAL_REPUTATION
): RankedBid[] {
  return bids
    .map(bid => {
      const reputation = reputationOf(bid.agent)
      return { ...bid, reputation, score: scoreBid(bid.body.priceUsd, ceilingUsd, reputation) }
    })
    .sort(compareRanked)
}

/** Best first: preferred agents, then higher score, lower price, shorter estimate, smaller bid id. */
export function compareRanked (a: RankedBid<ScoredBody>, b: RankedBid<ScoredBody>): number {
  return Number(b.preferred === true) - Number(a.preferred === true) ||
    b.score - a.score ||
    a.body.priceUsd - b.body.priceUsd ||
    a.body.estimatedMs - b.body.estimatedMs ||
    (a.bidId < b.bidId ? -1 : a.bidId > b.bidId ? 1 : 0)
}

/** A Beta(α, β) posterior over an agent's success rate on a spec. */
export interface BetaPosterior {
  alpha: number
  beta: number
}

/** What the requester says about one job's award (protocols/market.md, "Requester's award policy"). */
export interface AwardPolicy {
  /** false: rank by the posterior mean only, never by a draw (critical jobs). @default true */
  explore?: boolean
  /** Bids from agents whose posterior mean is below this are not considered, in [0, 1]. */
  minReputation?: number
  /** Their bids rank ahead of all others (among themselves, by the rule); others remain fallbacks. */
  preferredAgents?: readonly string[]
}

export interface AwardContext {
  jobId: string
  /** The job's maxUsd. */
  ceilingUsd: number
  /** The coordinator's award seed: with the job id it fixes every draw. */
  seed: string
  /** The agent's posterior on the job's spec; undefined: Beta(1, 1). */
  posteriorOf: (agent: string) => BetaPosterior | undefined
  policy?: AwardPolicy
}

export interface ExcludedBid {
  bidId: string
  agent: string
  mean: number
  reason: string
}

export interface AwardRanking<B extends ScoredBody = BidBody> {
  ranked: Array<RankedBid<B>>
  /** Bids the policy ruled out (minReputation), with why. */
  excluded: ExcludedBid[]
}

/**
 * The award rule (protocols/market.md, "Award rule"): Thompson sampling with
 * price kept in the score. Each bidder's success rate is drawn from its Beta
 * posterior, deterministically from (seed, job id, agent), and scored as
 * REPUTATION_WEIGHT × draw + PRICE_WEIGHT × (1 − price/ceiling). A well-known
 * agent's draw stays near its mean; a little-known one's spreads over its
 * prior, so it wins now and then in proportion to the chance it is in fact the
 * better choice, and each job it is given sharpens the estimate. With
 * `explore: false` the draw is replaced by the mean.
 */
export function rankForAward<B extends ScoredBody = BidBody> (
  bids: ReadonlyArray<{ bidId: string, agent: string, body: B }>,
  context: AwardContext
): AwardRanking<B> {
  const policy = context.policy ?? {}
  const preferred = new Set(policy.preferredAgents ?? [])
  const ranked: Array<RankedBid<B>> = []
  const excluded: ExcludedBid[] = []
  for (const bid of bids) {
    const { alpha, beta } = context.posteriorOf(bid.agent) ?? { alpha: 1, beta: 1 }
    const mean = alpha / (alpha + beta)
    if (policy.minReputation != null && mean < policy.minReputation) {
      excluded.push({ bidId: bid.bidId, agent: bid.agent, mean, reason: `posterior mean ${mean.toFixed(3)} is below minReputation ${policy.minReputation}` })
      continue
    }
    const value = policy.explore === false ? mean : betaQuantile(awardDraw(context.seed, context.jobId, bid.agent), alpha, beta)
    const rankedBid: RankedBid<B> = { ...bid, reputation: value, mean, score: scoreBid(bid.body.priceUsd, context.ceilingUsd, value) }
    if (preferred.has(bid.agent)) rankedBid.preferred = true
    ranked.push(rankedBid)
  }
  return { ranked: ranked.sort(compareRanked), excluded }
}

const TWO_POW_53 = 2 ** 53

/**
 * The uniform number in (0, 1) behind an agent's draw for a job: the first 8
 * bytes of SHA-256(seed ‖ 0x00 ‖ jobId ‖ 0x00 ‖ agent) as a big-endian
 * integer, its top 53 bits k, and u = (k + ½) / 2^53. Keyed by the agent, not
 * by its place among the bids, so bids ranked in a later batch draw the same.
 */
export function awardDraw (seed: string, jobId: string, agent: string): number {
  const digest = createHash('sha256').update(`${seed}\u0000${jobId}\u0000${agent}`, 'utf8').digest()
  const k = digest.readBigUInt64BE(0) >> 11n
  return (Number(k) + 0.5) / TWO_POW_53
}
