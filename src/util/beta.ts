/**
 * The Beta distribution's CDF (the regularized incomplete beta function) and
 * its quantile, as the award rule and the reputation report need them
 * (protocols/market.md, "Award rule"). Plain IEEE-754 double arithmetic, no
 * randomness: the same (x, α, β) gives the same value on every platform to
 * about 1e-13, which is what lets a second implementation reproduce an award.
 */

/** Absolute tolerance of `betaQuantile` (the width of its final bracket). */
export const QUANTILE_TOLERANCE = 1e-12
const MAX_CF_TERMS = 1000
const CF_EPSILON = 3e-16
const TINY = 1e-300

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: relative error below 1e-15). */
export function logGamma (x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x)
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]
  const z = x - 1
  let sum = c[0]!
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i)
  const t = z + 7.5
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum)
}

/** Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2). */
function betaContinuedFraction (x: number, a: number, b: number): number {
  const qab = a + b
  const qap = a + 1
  const qam = a - 1
  let c = 1
  let d = 1 - qab * x / qap
  if (Math.abs(d) < TINY) d = TINY
  d = 1 / d
  let h = d
  for (let m = 1; m <= MAX_CF_TERMS; m++) {
    const m2 = 2 * m
    let aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    h *= d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < CF_EPSILON) break
  }
  return h
}

/** P(X ≤ x) for X ~ Beta(a, b), a, b > 0. */
export function betaCdf (x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`Beta(${a}, ${b}): both parameters must be positive`)
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x)
  const front = Math.exp(lnFront)
  if (x < (a + 1) / (a + b + 2)) return front * betaContinuedFraction(x, a, b) / a
  return 1 - front * betaContinuedFraction(1 - x, b, a) / b
}

/**
 * The u-quantile of Beta(a, b): the x with P(X ≤ x) = u, by bisection of
 * [0, 1] until the bracket is narrower than QUANTILE_TOLERANCE (40 halvings).
 * Bisection rather than Newton: slower, but every step is the same on every
 * implementation, so two nodes agree on a draw to the tolerance.
 */
export function betaQuantile (u: number, a: number, b: number): number {
  if (!(u >= 0 && u <= 1)) throw new RangeError(`quantile ${u} is not in [0, 1]`)
  if (u === 0) return 0
  if (u === 1) return 1
  let lo = 0
  let hi = 1
  while (hi - lo > QUANTILE_TOLERANCE) {
    const mid = (lo + hi) / 2
    if (betaCdf(mid, a, b) < u) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/** The equal-tailed credible interval holding `mass` of Beta(a, b): [q((1 − mass)/2), q((1 + mass)/2)]. */
export function betaInterval (a: number, b: number, mass = 0.95): [number, number] {
  return [betaQuantile((1 - mass) / 2, a, b), betaQuantile((1 + mass) / 2, a, b)]
}
