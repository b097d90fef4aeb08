import { describe, expect, it } from 'vitest'
import { defaultPopulation, meanRule, simulate, thompsonRule } from '../../../scripts/lib/market-sim.ts'

/**
 * A shorter run of `npm run bench:market` (scripts/lib/market-sim.ts: the real
 * scoring and reputation code, no network), asserting the targets for
 * the award rule against today's rule measured in the same run. Seeded, so it
 * is deterministic; it fails when a change to the rule or to the newcomer prior
 * gives up any of them.
 */
describe('award rule in a simulated market (5,000 jobs)', () => {
  const config = defaultPopulation(5000, 1)
  const today = simulate(config, meanRule)
  const rule = simulate(config, thompsonRule('market-sim-test'))

  it('today\'s rule never tries the better, cheaper agent that joins late', () => {
    expect(today.jobsToFirstAwardForLateBest).toBeNull()
    expect(today.regret).toBeGreaterThan(0.5)
  })

  it('the new rule gives the late better agent a first job within 50 jobs and most jobs after 1,000', () => {
    expect(rule.jobsToFirstAwardForLateBest).not.toBeNull()
    expect(rule.jobsToFirstAwardForLateBest!).toBeLessThanOrEqual(50)
    expect(rule.lateBestShareAfter1000).toBeGreaterThan(0.5)
    expect(rule.regret).toBeLessThan(today.regret / 2)
  })

  it('keeps whitewashers to at most 5% of jobs and fails no more jobs than today + 1 point', () => {
    expect(rule.whitewasherKeys).toBeGreaterThan(2) // they did wash: the test exercises it
    expect(rule.whitewasherShare).toBeLessThanOrEqual(0.05)
    expect(rule.failedJobShare).toBeLessThanOrEqual(today.failedJobShare + 0.01)
  })
})
