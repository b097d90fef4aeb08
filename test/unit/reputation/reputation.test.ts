import { describe, expect, it } from 'vitest'
import { DEFAULT_HALF_LIFE_MS, NEUTRAL_SCORE, Reputation, type ReputationOptions } from '../../../src/reputation/reputation.ts'
import { NEUTRAL_REPUTATION, rankBids } from '../../../src/market/scoring.ts'
import type { Outcome } from '../../../src/market/messages.ts'
import type { StoredReceipt } from '../../../src/store/receipt-store.ts'
import { assertClose, receipt, rng } from './helpers.ts'

const T = 1_767_225_600_000
const H = DEFAULT_HALF_LIFE_MS

function make (options: Partial<ReputationOptions> = {}, now = T): Reputation {
  return new Reputation({ self: 'self', trustRefreshMs: 0, now: () => now, ...options })
}

describe('Beta reputation', () => {
  it('scores an agent it knows nothing of as neutral, Beta(1, 1)', () => {
    const rep = make()
    expect(NEUTRAL_SCORE).toBe(NEUTRAL_REPUTATION)
    expect(rep.forAward('stranger', 'extract')).toBe(0.5)
    expect(rep.score('stranger', 'extract')).toBeNull()
  })

  it('counts successes in α and criteria-failed, timeout and error in β; refusals, cancellations and unreachable agents are counted, not scored', () => {
    const rep = make()
    const outcomes: Outcome[] = ['success', 'success', 'success', 'criteria-failed', 'timeout', 'error', 'refused', 'refused', 'cancelled', 'unreachable']
    for (const outcome of outcomes) rep.add(receipt({ coordinator: 'self', agent: 'a', outcome, at: T }), 'extract')
    const r = rep.score('a', 'extract')!
    expect(r.alpha).toBeCloseTo(4, 12)
    expect(r.beta).toBeCloseTo(4, 12)
    expect(r.score).toBeCloseTo(0.5, 12)
    expect(r.receipts).toBe(10)
    expect(r.evidence.outcomes).toEqual({ success: 3, 'criteria-failed': 1, timeout: 1, refused: 2, error: 1, cancelled: 1, unreachable: 1 })
    expect(r.evidence.coordinators).toEqual([{ coordinator: 'self', weight: 1, preTrusted: true, receipts: 10, success: 3, failure: 3, share: 1 }])
    expect(rep.forAward('a', 'extract')).toBeCloseTo(0.5, 12)
  })

  it('is per spec name', () => {
    const rep = make()
    rep.add(receipt({ coordinator: 'self', agent: 'a', at: T }), 'extract')
    rep.add(receipt({ coordinator: 'self', agent: 'a', outcome: 'timeout', at: T }), 'summarise')
    expect(rep.forAward('a', 'extract')).toBeCloseTo(2 / 3, 12)
    expect(rep.forAward('a', 'summarise')).toBeCloseTo(1 / 3, 12)
    expect(rep.list({ spec: 'extract' }).map(r => r.agent)).toEqual(['a'])
    expect(rep.list().length).toBe(2)
  })

  it('halves evidence every half-life and returns to neutral as it fades', () => {
    let now = T
    const rep = new Reputation({ self: 'self', now: () => now })
    for (let i = 0; i < 4; i++) rep.add(receipt({ coordinator: 'self', agent: 'a', at: T }), 'x')
    rep.add(receipt({ coordinator: 'self', agent: 'a', outcome: 'error', at: T - H }), 'x')
    expect(rep.score('a', 'x')!.alpha).toBeCloseTo(5, 12)
    expect(rep.score('a', 'x')!.beta).toBeCloseTo(1.5, 12)
    now = T + H
    expect(rep.score('a', 'x')!.alpha).toBeCloseTo(3, 12)
    expect(rep.score('a', 'x')!.beta).toBeCloseTo(1.25, 12)
    now = T + 60 * H
    expect(rep.forAward('a', 'x')).toBeCloseTo(0.5, 9)
  })

  it('dates a receipt by the earlier of verdictAt and receivedAt, so a verdict dated ahead gains nothing', () => {
    const rep = make({}, T)
    rep.add(receipt({ coordinator: 'self', agent: 'a', at: T + H, receivedAt: T }), 'x')
    expect(rep.score('a', 'x')!.alpha).toBeCloseTo(2, 12)
  })

  it('ignores a receipt whose coordinator is its own agent, and a receipt seen before', () => {
    const rep = make()
    expect(rep.add(receipt({ coordinator: 'self', agent: 'self', at: T }), 'x')).toBe(false)
    const r = receipt({ coordinator: 'self', agent: 'a', at: T })
    expect(rep.add(r, 'x')).toBe(true)
    expect(rep.add(r, 'x')).toBe(false)
    expect(rep.score('self', 'x')).toBeNull()
    expect(rep.score('a', 'x')!.receipts).toBe(1)
    expect(rep.stats()).toMatchObject({ receipts: 1, selfReceipts: 1, duplicates: 1 })
  })

  it('lowers an agent\'s score with every failure in a stream of failed receipts', () => {
    const rep = make()
    for (let i = 0; i < 10; i++) rep.add(receipt({ coordinator: 'self', agent: 'a', at: T - 1000 + i }), 'x')
    let last = rep.forAward('a', 'x')
    expect(last).toBeCloseTo(11 / 12, 6)
    for (let i = 0; i < 20; i++) {
      rep.add(receipt({ coordinator: 'self', agent: 'a', outcome: i % 2 === 0 ? 'criteria-failed' : 'timeout', at: T - 500 + i }), 'x')
      const now = rep.forAward('a', 'x')
      expect(now).toBeLessThan(last)
      last = now
    }
    expect(last).toBeLessThan(0.4)
  })

  it('resolves spec names through the resolver once, and skips receipts for unknown specs', async () => {
    const asked: string[] = []
    const rep = make({ specName: async id => { asked.push(id); return id === 'known' ? 'extract' : null } })
    expect(await rep.ingest(receipt({ coordinator: 'self', agent: 'a', at: T, specId: 'known' }))).toBe(true)
    expect(await rep.ingest(receipt({ coordinator: 'self', agent: 'a', at: T, specId: 'known' }))).toBe(true)
    expect(await rep.ingest(receipt({ coordinator: 'self', agent: 'a', at: T, specId: 'unknown' }))).toBe(false)
    expect(asked).toEqual(['known', 'unknown'])
    expect(rep.score('a', 'extract')!.receipts).toBe(2)
    expect(rep.stats().unknownSpec).toBe(1)
  })
})

describe('trust in coordinators', () => {
  it('weighs verdicts of a coordinator nobody trusted at zero, and shows them as untrusted evidence', () => {
    const rep = make()
    for (let i = 0; i < 10; i++) rep.add(receipt({ coordinator: 'stranger', agent: 'a', at: T }), 'x')
    const r = rep.score('a', 'x')!
    expect(r.score).toBe(0.5)
    expect(r.alpha).toBe(1)
    expect(r.evidence.coordinators).toEqual([])
    expect(r.evidence.untrusted).toEqual({ coordinators: 1, receipts: 10 })
    expect(r.evidence.outcomes.success).toBe(10)
  })

  it('weighs the operator\'s trusted peers fully, from config or set later', () => {
    const rep = make({ trustedPeers: ['c1'] })
    rep.add(receipt({ coordinator: 'c1', agent: 'a', at: T }), 'x')
    rep.add(receipt({ coordinator: 'c2', agent: 'a', at: T }), 'x')
    expect(rep.score('a', 'x')!.alpha).toBeCloseTo(2, 12)
    rep.setTrustedPeers(['c1', 'c2'])
    expect(rep.score('a', 'x')!.alpha).toBeCloseTo(3, 12)
    expect(rep.weightOf('c2')).toBe(1)
    expect(rep.trustedPeers().sort()).toEqual(['c1', 'c2', 'self'])
  })

  it('trusts a coordinator for the successful work it did as an agent for trusted coordinators', () => {
    const rep = make()
    // self rated x and z equally; x, as coordinator, rated y.
    for (let i = 0; i < 5; i++) {
      rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'x-work')
      rep.add(receipt({ coordinator: 'self', agent: 'z', at: T }), 'x-work')
    }
    for (let i = 0; i < 30; i++) rep.add(receipt({ coordinator: 'x', agent: 'y', at: T }), 'y-work')
    // Closed form (trust.test.ts): t_self = 1 / (1 + 0.8 + 0.32), t_x = 0.4 t_self. x's verdicts
    // weigh t_x / (a/|P|) × V_ref / V_x: its trust relative to the pre-trust floor, spread over
    // its 30 verdicts against the 10 self signed.
    const tSelf = 1 / 2.12
    const weight = (0.4 * tSelf / 0.2) * 10 / 30
    expect(rep.weightOf('x')).toBeCloseTo(weight, 10)
    expect(rep.score('y', 'y-work')!.alpha).toBeCloseTo(1 + 30 * weight, 10)
    const trust = rep.trustReport()
    expect(trust[0]!.peer).toBe('self')
    expect(trust.reduce((s, t) => s + t.trust, 0)).toBeCloseTo(1, 12)
    expect(trust.find(t => t.peer === 'x')).toMatchObject({ asCoordinator: 30, asAgent: 5, preTrusted: false })
  })

  it('re-weighs an agent when trust changes, without re-reading receipts', () => {
    const rep = make()
    for (let i = 0; i < 4; i++) rep.add(receipt({ coordinator: 'x', agent: 'y', at: T }), 'w')
    expect(rep.forAward('y', 'w')).toBe(0.5)
    // Now self vouches for x's own work: x's verdicts about y start to count.
    for (let i = 0; i < 4; i++) rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'v')
    expect(rep.forAward('y', 'w')).toBeGreaterThan(0.7)
  })

  it('recomputes trust lazily: at most every trustRefreshMs unless trustRefreshReceipts arrive', () => {
    let now = T
    const rep = new Reputation({ self: 'self', now: () => now, trustRefreshMs: 1000, trustRefreshReceipts: 3 })
    rep.add(receipt({ coordinator: 'x', agent: 'y', at: T }), 'w')
    expect(rep.forAward('y', 'w')).toBe(0.5)
    rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'v')
    expect(rep.forAward('y', 'w')).toBe(0.5) // trust computed at the first read is still fresh
    now += 1000
    expect(rep.forAward('y', 'w')).toBeGreaterThan(0.5)
    const before = rep.stats().trustComputations
    rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'v')
    rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'v')
    rep.forAward('y', 'w')
    expect(rep.stats().trustComputations).toBe(before)
    rep.add(receipt({ coordinator: 'self', agent: 'x', at: T }), 'v')
    rep.forAward('y', 'w')
    expect(rep.stats().trustComputations).toBe(before + 1)
  })
})

describe('Sybil resistance', () => {
  const ring = ['r1', 'r2', 'r3', 'r4', 'r5']
  const honestRecord = (rep: Reputation): void => {
    for (const c of ['c1', 'c2', 'c3']) for (let k = 0; k < 3; k++) rep.add(receipt({ coordinator: c, agent: 'honest', at: T }), 'x')
  }
  const ringAwards = (rep: Reputation, each: number): void => {
    for (const agent of ring) {
      for (let k = 0; k < each; k++) {
        const coordinator = ring[(ring.indexOf(agent) + 1 + (k % 4)) % 5]!
        rep.add(receipt({ coordinator, agent, at: T }), 'x')
      }
    }
  }

  it('a ring of five fresh identities awarding each other 50 successes each stays neutral, below an honest agent with a record from three trusted coordinators', () => {
    const rep = make({ trustedPeers: ['c1', 'c2', 'c3'] })
    honestRecord(rep)
    ringAwards(rep, 50)
    const list = rep.list({ spec: 'x' })
    expect(list[0]!.agent).toBe('honest')
    expect(list[0]!.score).toBeCloseTo(10 / 11, 12)
    for (const member of list.slice(1)) {
      expect(ring).toContain(member.agent)
      expect(member.score).toBe(0.5)
      expect(member.evidence.untrusted.receipts).toBe(50)
    }
    for (const peer of ring) {
      expect(rep.weightOf(peer)).toBe(0)
      expect(rep.trustReport().find(t => t.peer === peer)!.trust).toBe(0)
    }
  })

  it('a ring that did one honest job for this node cannot mint that foothold into a record above the honest agent', () => {
    for (const each of [50, 500]) {
      const rep = make({ trustedPeers: ['c1', 'c2', 'c3'] })
      honestRecord(rep)
      rep.add(receipt({ coordinator: 'self', agent: 'r1', at: T }), 'y')
      ringAwards(rep, each)
      const list = rep.list({ spec: 'x' })
      expect(list[0]!.agent).toBe('honest')
      for (const member of list.slice(1)) expect(member.score).toBeLessThan(list[0]!.score - 0.05)
    }
  })

  it('minting more receipts does not raise a ring that earned some trust', () => {
    const scores = [48, 480].map(each => {
      const rep = make({ trustedPeers: ['c1', 'c2', 'c3'] })
      honestRecord(rep)
      rep.add(receipt({ coordinator: 'self', agent: 'r1', at: T }), 'y')
      ringAwards(rep, each)
      return rep.forAward('r2', 'x')
    })
    expect(scores[1]).toBeCloseTo(scores[0]!, 9)
  })
})

describe('incremental updates equal a rebuild from the stored receipts', () => {
  function stream (seed: number, count: number, spanMs: number): StoredReceipt[] {
    const random = rng(seed)
    const peers = Array.from({ length: 12 }, (_, i) => i === 0 ? 'self' : `p${i}`)
    const outcomes: Outcome[] = ['success', 'success', 'success', 'criteria-failed', 'timeout', 'refused', 'error']
    const out: StoredReceipt[] = []
    for (let i = 0; i < count; i++) {
      const coordinator = peers[Math.floor(random() * 6)]!
      const agent = random() < 0.03 ? coordinator : peers[Math.floor(random() * peers.length)]!
      const at = T - Math.floor(random() * spanMs)
      const r = receipt({ id: `s${seed}-${i}`, coordinator, agent, outcome: outcomes[Math.floor(random() * outcomes.length)]!, at, receivedAt: at + Math.floor(random() * 2000) - 1000, specId: `spec-${Math.floor(random() * 3)}` })
      out.push(r)
      if (random() < 0.02) out.push(r) // a duplicate delivery
    }
    return out
  }
  const names = (id: string): string => id === 'spec-2' ? 'spec-1-renamed' : id

  for (const [seed, halfLifeMs, spanMs] of [[1, H, 60 * 86_400_000], [2, H, 3_600_000], [3, 1000, 2_000_000], [4, H, 600 * 86_400_000], [5, 3 * H, 90 * 86_400_000]] as const) {
    it(`seed ${seed}: half-life ${halfLifeMs} ms over ${spanMs} ms`, async () => {
      const random = rng(seed * 7919)
      const receipts = stream(seed, 600, spanMs)
      const options = { self: 'self', trustedPeers: ['p1', 'p2'], halfLifeMs, now: () => T, specName: (id: string) => names(id) }
      // Incremental, with lazy trust and reads interleaved (stale caches, stale trust, rebases).
      const incremental = new Reputation({ ...options, trustRefreshMs: Infinity, trustRefreshReceipts: 1 + Math.floor(random() * 50) })
      for (const r of receipts) {
        await incremental.ingest(r)
        if (random() < 0.2) incremental.forAward(r.envelope.body.agent, names(r.envelope.body.specId))
        if (random() < 0.02) incremental.list({ spec: 'spec-0' })
      }
      // Rebuilt from the store, in another order (the store yields by id).
      const shuffled = [...receipts].sort(() => random() - 0.5)
      const rebuilt = new Reputation(options)
      await rebuilt.rebuild(shuffled)
      const at = T + 1234
      const max = assertClose(incremental.snapshot(at), rebuilt.snapshot(at), 1e-9)
      expect(max).toBeLessThan(1e-9)
      expect(incremental.stats()).toMatchObject({ receipts: rebuilt.stats().receipts, scored: rebuilt.stats().scored })
      expect(incremental.snapshot(at).agents.length).toBeGreaterThan(10)
    })
  }

  it('keeps receipts ingested while a rebuild runs', async () => {
    const rep = make()
    const stored = [receipt({ coordinator: 'self', agent: 'a', at: T }), receipt({ coordinator: 'self', agent: 'b', at: T })]
    const late = receipt({ coordinator: 'self', agent: 'c', at: T })
    async function * slowStore (): AsyncIterable<StoredReceipt> {
      for (const r of stored) {
        await new Promise(resolve => setTimeout(resolve, 5))
        yield r
      }
      yield late // stored meanwhile: the store yields it too
    }
    rep.learnSpec('spec-id', 'x')
    const rebuilding = rep.rebuild(slowStore())
    await rep.ingest(late)
    await rebuilding
    expect(rep.list({ spec: 'x' }).map(r => r.agent).sort()).toEqual(['a', 'b', 'c'])
    expect(rep.stats().receipts).toBe(3)
  })
})

describe('awards (src/market/scoring.ts rankBids with forAward)', () => {
  const bid = (agent: string, priceUsd: number) => ({ bidId: `bid-${agent}`, agent, body: { jobId: 'j', specId: 's', priceUsd, estimatedMs: 100, load: { inFlight: 0, limit: 1 }, createdAt: T, expiresAt: T + 1000 } })

  it('a cheap agent with a poor record loses to a fairly priced reliable one', () => {
    const rep = make()
    for (let i = 0; i < 8; i++) rep.add(receipt({ coordinator: 'self', agent: 'reliable', at: T }), 'x')
    for (let i = 0; i < 8; i++) rep.add(receipt({ coordinator: 'self', agent: 'cheap', outcome: i < 2 ? 'success' : 'criteria-failed', at: T }), 'x')
    const ranked = rankBids([bid('cheap', 0.05), bid('reliable', 0.3)], 0.5, agent => rep.forAward(agent, 'x'))
    expect(ranked.map(b => b.agent)).toEqual(['reliable', 'cheap'])
  })

  it('a newcomer at neutral wins on price against a poor incumbent, and loses to a reliable one unless far cheaper', () => {
    const rep = make()
    for (let i = 0; i < 6; i++) rep.add(receipt({ coordinator: 'self', agent: 'poor', outcome: i < 2 ? 'success' : 'timeout', at: T }), 'x')
    for (let i = 0; i < 6; i++) rep.add(receipt({ coordinator: 'self', agent: 'good', at: T }), 'x')
    const reputationOf = (agent: string): number => rep.forAward(agent, 'x')
    expect(rankBids([bid('poor', 0.2), bid('new', 0.2)], 0.5, reputationOf)[0]!.agent).toBe('new')
    expect(rankBids([bid('good', 0.3), bid('new', 0.25)], 0.5, reputationOf)[0]!.agent).toBe('good')
    // good: 0.7 × 7/8 + 0.3 × (1 − 0.9) = 0.6425; new at 0.02: 0.35 + 0.3 × 0.96 = 0.638; at 0.01: 0.644.
    expect(rankBids([bid('good', 0.45), bid('new', 0.01)], 0.5, reputationOf)[0]!.agent).toBe('new')
  })
})
