import { NEUTRAL_REPUTATION } from '../market/scoring.ts'

/**
 * The prior an agent starts from on a spec name, estimated from the agents
 * this node has already rated there (protocols/reputation.md, "Newcomer prior"):
 *
 *   c_i = min(1, α_i + β_i − 2)       agent i's trust-weighted, decayed evidence, capped at 1
 *   μ0  = (NEUTRAL + Σ_i c_i · α_i / (α_i + β_i)) / (1 + Σ_i c_i)
 *   α0  = PRIOR_STRENGTH · μ0,  β0 = PRIOR_STRENGTH · (1 − μ0)
 *
 * over the agents rated on the spec name (α_i, β_i as in reputation.ts, with
 * the Beta(1, 1) prior). Each agent counts as one member once one receipt's
 * worth is known of it, less before: an agent seen once through a barely
 * trusted coordinator hardly moves the prior.
 *
 * A new key is a draw from the population it joins, failures included: every
 * identity an agent abandoned stays a member, so the more a spec's agents wash
 * their records the lower every newcomer starts. The neutral pseudo-member keeps
 * μ0 strictly between 0.5 and the best member, so a fresh key always starts
 * below an established honest agent and above nothing it has not earned.
 */

/** What an agent with no record on a spec, on a node that rated no one there, starts from: Beta(1, 1), the award rule's stranger. */
export const NEUTRAL_PRIOR_MEAN = NEUTRAL_REPUTATION
/** Pseudo-observations of the newcomer prior: as strong as Beta(1, 1), so evidence moves it as fast. */
export const PRIOR_STRENGTH = 2
/** Evidence (α + β − 2) at which an agent counts as a whole member of its spec's population. */
export const FULL_MEMBER_EVIDENCE = 1

export interface NewcomerPrior {
  alpha: number
  beta: number
  /** α0 / (α0 + β0). */
  mean: number
  /** How many members it was estimated from: Σ c_i (agents, each counted up to 1 by its evidence). */
  members: number
}

export function newcomerPrior (population: Iterable<{ alpha: number, beta: number }>): NewcomerPrior {
  let sum = NEUTRAL_PRIOR_MEAN
  let members = 0
  for (const { alpha, beta } of population) {
    const c = Math.min(FULL_MEMBER_EVIDENCE, alpha + beta - 2)
    if (!(c > 0)) continue
    sum += c * alpha / (alpha + beta)
    members += c
  }
  const mean = sum / (1 + members)
  return { alpha: PRIOR_STRENGTH * mean, beta: PRIOR_STRENGTH * (1 - mean), mean, members }
}
