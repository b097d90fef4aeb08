import { describe, expect, it } from 'vitest'
import { awardDraw, compareRanked, rankForAward, scoreBid, type BetaPosterior } from '../../../src/market/scoring.ts'
import { awardPolicyProblems, normalizeAwardPolicy } from '../../../src/market/award-policy.ts'
import { betaCdf, betaInterval, betaQuantile, QUANTILE_TOLERANCE } from '../../../src/util/beta.ts'
import type { BidBody } from '../../../src/market/messages.ts'

const bid = (bidId: string, agent: string, priceUsd: number) => ({
  bidId, agent, body: { jobId: 'j', specId: 's', priceUsd, estimatedMs: 100, load: { inFlight: 0, limit: 1 }, createdAt: 0, expiresAt: 1 } satisfies BidBody
})
const PEER_A = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('Beta distribution (src/util/beta.ts)', () => {
  it('matches closed forms', () => {
    expect(betaCdf(0.3, 1, 1)).toBeCloseTo(0.3, 12)
    expect(betaCdf(0.9, 9, 1)).toBeCloseTo(0.9 ** 9, 12) // Beta(a, 1): x^a
    expect(betaCdf(0.2, 1, 4)).toBeCloseTo(1 - 0.8 ** 4, 12) // Beta(1, b): 1 − (1 − x)^b
    expect(betaCdf(0.5, 7, 7)).toBeCloseTo(0.5, 12)
    expect(betaQuantile(0.5 ** 3, 3, 1)).toBeCloseTo(0.5, 10)
    const [lo, hi] = betaInterval(1, 1)
    expect(lo).toBeCloseTo(0.025, 10)
    expect(hi).toBeCloseTo(0.975, 10)
  })

  it('quantile inverts the CDF to QUANTILE_TOLERANCE across shapes, big and small', () => {
    for (const [a, b] of [[0.4, 1.6], [1.2, 0.8], [2, 5], [91, 11], [900, 100], [3000, 20]] as const) {
      for (const u of [1e-6, 0.025, 0.3, 0.5, 0.9, 0.975]) {
        const x = betaQuantile(u, a, b)
        expect(betaCdf(Math.max(0, x - QUANTILE_TOLERANCE), a, b)).toBeLessThanOrEqual(u)
        expect(betaCdf(Math.min(1, x + QUANTILE_TOLERANCE), a, b)).toBeGreaterThanOrEqual(u)
      }
    }
  })
})

describe('award rule (src/market/scoring.ts rankForAward)', () => {
  const posteriors: Record<string, BetaPosterior> = { incumbent: { alpha: 91, beta: 11 }, newcomer: { alpha: 1.6, beta: 0.4 } }
  const context = (jobId: string, policy = {}) => ({ jobId, ceilingUsd: 0.1, seed: 'seed-1', policy, posteriorOf: (a: string) => posteriors[a] })
  const bids = [bid('b1', 'incumbent', 0.04), bid('b2', 'newcomer', 0.03)]

  it('is a pure function of (seed, job id, agent, posterior, price): same inputs, same ranking, in any order', () => {
    for (let j = 0; j < 50; j++) {
      const once = rankForAward(bids, context(`job-${j}`)).ranked
      const again = rankForAward([...bids].reverse(), context(`job-${j}`)).ranked
      expect(again).toEqual(once)
      for (const r of once) {
        const p = posteriors[r.agent]!
        expect(r.reputation).toBe(betaQuantile(awardDraw('seed-1', `job-${j}`, r.agent), p.alpha, p.beta))
        expect(r.score).toBe(scoreBid(r.body.priceUsd, 0.1, r.reputation))
      }
    }
  })

  it('pins the draw: SHA-256 of seed, 0, job id, 0, agent; top 53 bits; (k + ½)/2^53', () => {
    // A second implementation checks itself against these.
    expect(awardDraw('seed-1', 'job-0', 'incumbent')).toBe(0.270482653939167)
    expect(awardDraw('', '', '')).toBe(0.5884184134528798)
    // The worked example of protocols/market.md, "Award rule".
    const [example] = rankForAward([bid('b1', 'incumbent', 0.04)], context('job-0')).ranked
    expect(example!.reputation).toBeCloseTo(0.875167212, 9)
    expect(example!.score).toBeCloseTo(0.792617049, 9)
    expect(rankForAward([bid('b1', 'incumbent', 0.04)], context('job-0', { explore: false })).ranked[0]!.score).toBeCloseTo(0.804509804, 9)
  })

  it('gives a little-known agent some jobs and a well-known one the rest; explore off always ranks by the mean', () => {
    let newcomerWins = 0
    for (let j = 0; j < 1000; j++) {
      if (rankForAward(bids, context(`job-${j}`)).ranked[0]!.agent === 'newcomer') newcomerWins++
      const exploit = rankForAward(bids, context(`job-${j}`, { explore: false })).ranked
      expect(exploit.map(r => r.agent)).toEqual(['incumbent', 'newcomer'])
      expect(exploit[0]!.reputation).toBeCloseTo(91 / 102, 12)
    }
    // P(0.7·θn + 0.3·0.7 > 0.7·θi + 0.3·0.6) for θn ~ Beta(1.6, 0.4), θi ~ Beta(91, 11): about 0.6 here.
    expect(newcomerWins).toBeGreaterThan(300)
    expect(newcomerWins).toBeLessThan(900)
  })

  it('minReputation rules bids out by posterior mean and says why; preferred agents rank first', () => {
    const { ranked, excluded } = rankForAward(bids, context('j', { minReputation: 0.85 }))
    expect(ranked.map(r => r.agent)).toEqual(['incumbent'])
    expect(excluded).toEqual([{ bidId: 'b2', agent: 'newcomer', mean: 0.8, reason: 'posterior mean 0.800 is below minReputation 0.85' }])
    for (let j = 0; j < 20; j++) {
      const preferred = rankForAward(bids, context(`job-${j}`, { preferredAgents: ['newcomer'] })).ranked
      expect(preferred.map(r => r.agent)).toEqual(['newcomer', 'incumbent'])
      expect([...preferred].reverse().sort(compareRanked)).toEqual(preferred)
    }
  })
})

describe('award policy checks (src/market/award-policy.ts)', () => {
  it('names the field and the fix', () => {
    expect(awardPolicyProblems({ explore: 'maybe', minReputation: 1.5, preferredAgents: ['nope'], other: 1 })).toEqual([
      { path: 'award.other', message: 'unknown field; the award policy takes explore, minReputation and preferredAgents' },
      { path: 'award.explore', message: '"maybe" is not on or off; write off (or false) to award by reputation mean only, on (or true) to explore' },
      { path: 'award.minReputation', message: '1.5 is not a success rate; write a number from 0 to 1 such as 0.8' },
      { path: 'award.preferredAgents[0]', message: '"nope" is not a peer id; copy it from `specmesh reputation` or `specmesh peers` (12D3KooW…)' }
    ])
    expect(awardPolicyProblems('off')[0]!.path).toBe('award')
    expect(awardPolicyProblems({ explore: 'off', minReputation: 0.8, preferredAgents: [PEER_A] })).toEqual([])
    expect(normalizeAwardPolicy({ explore: 'off', minReputation: 0.8, preferredAgents: [PEER_A, PEER_A] })).toEqual({ explore: false, minReputation: 0.8, preferredAgents: [PEER_A] })
  })
})
