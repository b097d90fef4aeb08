import { describe, expect, it } from 'vitest'
import { eigenTrust, weightOf } from '../../../src/reputation/trust.ts'

type Rows = Map<number, Map<number, { s: number, f: number }>>
const rows = (edges: Array<[number, number, number, number?]>): Rows => {
  const out: Rows = new Map()
  for (const [i, j, s, f] of edges) {
    if (!out.has(i)) out.set(i, new Map())
    out.get(i)!.set(j, { s, f: f ?? 0 })
  }
  return out
}
const sum = (t: Float64Array): number => t.reduce((a, b) => a + b, 0)

describe('eigenTrust', () => {
  it('matches the closed form on a small graph', () => {
    // 0 (pre-trusted) rates 1 and 2 equally; 1 rates 3; 2 and 3 rate nobody (their trust returns to p).
    // t0 = a + (1−a)(t2 + t3), t1 = t2 = (1−a)/2 · t0, t3 = (1−a) t1  ⇒  t0 = 1 / (1 + (1−a) + (1−a)²/2)
    const a = 0.2
    const { trust } = eigenTrust({ size: 4, preTrusted: [0], rows: rows([[0, 1, 5], [0, 2, 5], [1, 3, 3]]) }, { teleport: a })
    const t0 = 1 / (1 + (1 - a) + (1 - a) ** 2 / 2)
    expect(trust[0]).toBeCloseTo(t0, 12)
    expect(trust[1]).toBeCloseTo((1 - a) / 2 * t0, 12)
    expect(trust[2]).toBeCloseTo((1 - a) / 2 * t0, 12)
    expect(trust[3]).toBeCloseTo((1 - a) ** 2 / 2 * t0, 12)
    expect(sum(trust)).toBeCloseTo(1, 12)
  })

  it('gives a ring that no trusted peer rated exactly zero, however much it rates itself', () => {
    const ring = [3, 4, 5, 6, 7]
    const edges: Array<[number, number, number]> = [[0, 1, 10], [0, 2, 10]]
    for (const i of ring) for (const j of ring) if (i !== j) edges.push([i, j, 50])
    const { trust } = eigenTrust({ size: 8, preTrusted: [0], rows: rows(edges) }, { teleport: 0.2 })
    for (const i of ring) expect(trust[i]).toBe(0)
    expect(sum(trust)).toBeCloseTo(1, 12)
  })

  it('ignores ratings that are more failure than success', () => {
    const { trust } = eigenTrust({ size: 3, preTrusted: [0], rows: rows([[0, 1, 2, 5], [0, 2, 4, 1]]) }, { teleport: 0.2 })
    expect(trust[1]).toBe(0)
    expect(trust[2]).toBeGreaterThan(0)
  })

  it('spreads pre-trust evenly and never leaves a pre-trusted peer below a/|P|', () => {
    const { trust } = eigenTrust({ size: 5, preTrusted: [0, 1], rows: rows([[0, 2, 1], [1, 3, 1], [2, 4, 1]]) }, { teleport: 0.3 })
    expect(trust[0]).toBeGreaterThanOrEqual(0.15)
    expect(trust[1]).toBeGreaterThanOrEqual(0.15)
    expect(sum(trust)).toBeCloseTo(1, 12)
  })
})

describe('weightOf', () => {
  const base = { teleport: 0.2, preTrustedCount: 1, volume: 0, referenceVolume: 10 }
  it('is 1 for pre-trusted peers, 0 without trust, else trust relative to the pre-trust floor a/|P|, capped at 1', () => {
    expect(weightOf({ ...base, trust: 0, preTrusted: true })).toBe(1)
    expect(weightOf({ ...base, trust: 0, preTrusted: false })).toBe(0)
    expect(weightOf({ ...base, trust: 0.02, preTrusted: false })).toBeCloseTo(0.1, 15)
    expect(weightOf({ ...base, trust: 0.9, preTrusted: false })).toBe(1)
    expect(weightOf({ ...base, trust: 0.02, preTrusted: false, preTrustedCount: 4 })).toBeCloseTo(0.4, 15)
  })

  it('turns trust into a budget: signing more verdicts than a pre-trusted peer thins each one', () => {
    const w = (volume: number): number => weightOf({ ...base, trust: 0.1, preTrusted: false, volume })
    expect(w(5)).toBe(1)
    expect(w(50)).toBeCloseTo(0.1, 15)
    expect(w(500)).toBeCloseTo(0.01, 15)
    // Total weighted evidence stays the same however many receipts are minted.
    expect(w(500) * 500).toBeCloseTo(w(50) * 50, 12)
  })
})
