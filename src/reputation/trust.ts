/**
 * EigenTrust over the coordinator graph (Kamvar, Schlosser, Garcia-Molina 2003),
 * with the pre-trusted peers as both the start vector and the teleport target:
 *
 *   c_ij = max(S_ij − F_ij, 0) / Σ_k max(S_ik − F_ik, 0)
 *   t    = (1 − a) · Cᵀ t + a · p
 *
 * S_ij, F_ij are the (decayed) successes and failures that i, as coordinator,
 * recorded for j, as agent. p is uniform over the pre-trusted peers. A peer
 * with no positive rating of anyone (a pure agent, or one that only failed
 * others) hands its trust to p, so C stays row-stochastic and t sums to 1.
 * Trust only enters the graph at pre-trusted peers: a ring of identities that
 * nobody trusted ever rated holds exactly zero.
 */

export interface TrustGraph {
  /** Number of peers; peers are 0 … size − 1. */
  size: number
  /** Indices of the pre-trusted peers (non-empty). */
  preTrusted: readonly number[]
  /** rows.get(i) = for each agent j that coordinator i rated: [S_ij, F_ij]. */
  rows: ReadonlyMap<number, ReadonlyMap<number, { s: number, f: number }>>
}

export interface TrustOptions {
  /** The teleport weight a. */
  teleport: number
  /** Stop when the L1 change of t falls below this. @default 1e-14 */
  tolerance?: number
  /** @default 1000 */
  maxIterations?: number
}

export interface TrustResult {
  trust: Float64Array
  iterations: number
}

export function eigenTrust (graph: TrustGraph, options: TrustOptions): TrustResult {
  const n = graph.size
  const a = options.teleport
  const tolerance = options.tolerance ?? 1e-14
  const maxIterations = options.maxIterations ?? 1000
  const p = new Float64Array(n)
  for (const i of graph.preTrusted) p[i] = 1 / graph.preTrusted.length

  // Normalised positive local trust, as flat arrays per row (CSR).
  const rowStart = new Int32Array(n + 1)
  const cols: number[] = []
  const vals: number[] = []
  const counts = new Int32Array(n)
  const perRow: Array<{ j: number[], v: number[] } | undefined> = new Array(n)
  for (const [i, row] of graph.rows) {
    const j: number[] = []
    const v: number[] = []
    let sum = 0
    for (const [agent, e] of row) {
      const positive = e.s - e.f
      if (positive > 0) { j.push(agent); v.push(positive); sum += positive }
    }
    if (sum > 0) {
      for (let k = 0; k < v.length; k++) v[k] = v[k]! / sum
      perRow[i] = { j, v }
      counts[i] = j.length
    }
  }
  for (let i = 0; i < n; i++) {
    rowStart[i + 1] = rowStart[i]! + counts[i]!
    const row = perRow[i]
    if (row != null) { cols.push(...row.j); vals.push(...row.v) }
  }

  let t = Float64Array.from(p)
  let next = new Float64Array(n)
  let iterations = 0
  while (iterations < maxIterations) {
    iterations++
    next.fill(0)
    let dangling = 0
    for (let i = 0; i < n; i++) {
      const ti = t[i]!
      if (ti === 0) continue
      const start = rowStart[i]!
      const end = rowStart[i + 1]!
      if (start === end) { dangling += ti; continue }
      for (let k = start; k < end; k++) {
        const j = cols[k]!
        next[j] = next[j]! + ti * vals[k]!
      }
    }
    let delta = 0
    for (let j = 0; j < n; j++) {
      const value = (1 - a) * (next[j]! + dangling * p[j]!) + a * p[j]!
      next[j] = value
      delta += Math.abs(value - t[j]!)
    }
    const swap = t
    t = next
    next = swap
    if (delta < tolerance) break
  }
  return { trust: t, iterations }
}

export interface WeightInput {
  /** The peer's global trust t. */
  trust: number
  preTrusted: boolean
  teleport: number
  preTrustedCount: number
  /** The peer's verdict volume: its scored receipts as coordinator (decayed). */
  volume: number
  /** The mean verdict volume of the pre-trusted peers that signed any (decayed). */
  referenceVolume: number
}

/**
 * How much one verdict signed by a peer counts, in [0, 1]:
 *
 *   w = 1                                    for a pre-trusted peer
 *   w = min(1, (t / (a/|P|)) · (V_ref / V))  otherwise (V = 0: min(1, t / (a/|P|)))
 *
 * t / (a/|P|) is the peer's trust relative to the floor teleport alone gives
 * each pre-trusted peer. The volume factor makes that trust a budget rather
 * than a per-receipt rate: a coordinator as trusted as a pre-trusted peer may
 * sign as much weighted evidence as a pre-trusted peer does on average, and
 * minting more receipts only thins each one. So a ring that earned a little
 * trust (one honest job for a trusted peer) cannot turn it into unbounded
 * evidence by awarding itself thousands of successes.
 */
export function weightOf (input: WeightInput): number {
  if (input.preTrusted) return 1
  if (!(input.trust > 0)) return 0
  const relative = input.trust * input.preTrustedCount / input.teleport
  if (!(input.volume > 0)) return Math.min(1, relative)
  if (!(input.referenceVolume > 0)) return 0
  return Math.min(1, relative * input.referenceVolume / input.volume)
}
