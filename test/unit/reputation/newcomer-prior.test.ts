import { describe, expect, it } from 'vitest'
import { Reputation } from '../../../src/reputation/reputation.ts'
import { newcomerPrior, PRIOR_STRENGTH } from '../../../src/reputation/newcomer-prior.ts'
import type { Outcome } from '../../../src/market/messages.ts'
import { receipt } from './helpers.ts'

const T = 1_767_225_600_000

function rated (records: Record<string, Outcome[]>): Reputation {
  const rep = new Reputation({ self: 'self', trustRefreshMs: 0, now: () => T })
  for (const [agent, outcomes] of Object.entries(records)) {
    for (const outcome of outcomes) rep.add(receipt({ coordinator: 'self', agent, outcome, at: T }), 'extract')
  }
  return rep
}
const times = (n: number, outcome: Outcome): Outcome[] => Array.from({ length: n }, () => outcome)

describe('newcomer prior (src/reputation/newcomer-prior.ts)', () => {
  it('is Beta(1, 1) on a spec nobody was rated on', () => {
    expect(newcomerPrior([])).toEqual({ alpha: 1, beta: 1, mean: 0.5, members: 0 })
    expect(rated({}).awardPosterior('stranger', 'extract')).toEqual({ alpha: 1, beta: 1 })
  })

  it('comes from the spec population: a new key starts below the established honest agent, above a failed one', () => {
    const rep = rated({ honest: [...times(18, 'success'), 'timeout'], failed: times(4, 'criteria-failed') })
    const prior = rep.newcomerPrior('extract')
    // (0.5 + 19/21 + 1/6) / 3 = 0.5238…
    expect(prior.mean).toBeCloseTo((0.5 + 19 / 21 + 1 / 6) / 3, 12)
    expect(prior.alpha + prior.beta).toBeCloseTo(PRIOR_STRENGTH, 12)
    expect(prior.members).toBe(2)
    const fresh = rep.awardPosterior('new-key', 'extract')
    const honest = rep.awardPosterior('honest', 'extract')
    const failed = rep.awardPosterior('failed', 'extract')
    const mean = (p: { alpha: number, beta: number }): number => p.alpha / (p.alpha + p.beta)
    expect(mean(fresh)).toBeLessThan(mean(honest))
    expect(mean(fresh)).toBeGreaterThan(mean(failed))
    // The agents' own evidence is added to the prior.
    expect(honest.alpha).toBeCloseTo(prior.alpha + 18, 12)
    expect(honest.beta).toBeCloseTo(prior.beta + 1, 12)
  })

  it('falls as whitewashers abandon failed keys: each one stays a member of the population', () => {
    const records: Record<string, Outcome[]> = { honest: times(20, 'success') }
    const before = rated(records).newcomerPrior('extract').mean
    for (let k = 0; k < 10; k++) records[`washed-${k}`] = ['timeout', 'timeout']
    const after = rated(records).newcomerPrior('extract').mean
    expect(before).toBeGreaterThan(0.7)
    expect(after).toBeLessThan(0.35)
  })

  it('weighs an agent by its evidence up to one member: a barely known agent hardly moves it', () => {
    expect(newcomerPrior([{ alpha: 1.1, beta: 1 }]).members).toBeCloseTo(0.1, 12)
    expect(newcomerPrior([{ alpha: 1.1, beta: 1 }]).mean).toBeCloseTo((0.5 + 0.1 * 1.1 / 2.1) / 1.1, 12)
    expect(newcomerPrior([{ alpha: 30, beta: 2 }]).members).toBe(1)
  })

  it('the report carries a 95% credible interval with each score and the prior per spec', () => {
    const report = rated({ honest: times(9, 'success'), once: ['success'] }).report({ spec: 'extract' })
    const honest = report.agents.find(a => a.agent === 'honest')!
    const once = report.agents.find(a => a.agent === 'once')!
    expect(honest.interval[0]).toBeCloseTo(Math.pow(0.025, 1 / 10), 9) // Beta(10, 1): x^10
    expect(honest.interval[1]).toBeCloseTo(Math.pow(0.975, 1 / 10), 9)
    expect(once.interval[1] - once.interval[0]).toBeGreaterThan(honest.interval[1] - honest.interval[0])
    expect(report.newcomerPriors.extract!.members).toBe(2)
  })
})
