import { describe, expect, it } from 'vitest'
import { forkSpec, type Assignment } from '../../../src/spec/fork.ts'
import { specId } from '../../../src/spec/index.ts'
import { formatSeconds, MIN_CONFIDENT_EXECUTIONS, percentile, roundUpSeconds, roundUpUsd, specStats, summarize, type ReceiptFacts } from '../../../src/spec/stats.ts'
import { baseSpec, valid } from './helpers.ts'

const NOW = Date.parse('2026-06-01T12:00:00Z')
/** costUsd 0.05, budget 0.5, deadline 60 s relative. */
const spec = valid({ ...baseSpec(), deadline: 60 })
const ID = specId(spec)

let seq = 0
/** One synthetic receipt: an attempt of `ms` milliseconds, charged `costUsd`. */
function receipt (ms: number, options: { outcome?: string, costUsd?: number, jobId?: string, deadlineMs?: number } = {}): ReceiptFacts {
  const startedAt = NOW - 3_600_000 + (seq++) * 1000
  return {
    jobId: options.jobId ?? `job-${seq}`,
    startedAt,
    endedAt: startedAt + ms,
    deadline: startedAt + (options.deadlineMs ?? 60_000),
    costUsd: options.costUsd ?? (options.outcome == null || options.outcome === 'success' || options.outcome === 'criteria-failed' ? 0.05 : 0),
    outcome: options.outcome ?? 'success'
  }
}

describe('percentiles and rounding', () => {
  it('nearest rank: the p-th percentile is an observed value with at least p% at or below it', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(sorted, 50)).toBe(50)
    expect(percentile(sorted, 95)).toBe(95)
    expect(percentile(sorted, 100)).toBe(100)
    expect(percentile([7], 95)).toBe(7)
    // 25 samples: rank ⌈0.95 · 25⌉ = 24.
    expect(percentile(Array.from({ length: 25 }, (_, i) => i), 95)).toBe(23)
    expect(percentile([1, 2, 3, 4], 50)).toBe(2)
    expect(() => percentile([], 50)).toThrow(RangeError)
  })

  it('summarize sorts its input and reports n, mean, p50, p95, max', () => {
    expect(summarize([3, 1, 2])).toEqual({ n: 3, mean: 2, p50: 2, p95: 3, max: 3 })
    expect(summarize([])).toBeNull()
  })

  it('rounds durations up to readable steps and money up to two significant digits', () => {
    expect([0.2, 1, 3.2, 10, 12, 58, 61, 299, 601, 3599].map(roundUpSeconds)).toEqual([1, 1, 4, 10, 15, 60, 90, 300, 660, 3600])
    expect([0.137, 0.0042, 2.31, 0.1, 0.05, 0].map(roundUpUsd)).toEqual([0.14, 0.0042, 2.4, 0.1, 0.05, 0])
    expect([5, 45, 60, 90, 120, 0.5].map(formatSeconds)).toEqual(['5s', '45s', '1m', '1m30s', '2m', '0.5s'])
  })
})

describe('specStats', () => {
  it('reports executions, outcomes, success rate, duration against the deadline and cost against the price', () => {
    // 40 attempts of 1..40 s plus one criteria failure and one refusal.
    const receipts = [
      ...Array.from({ length: 40 }, (_, i) => receipt((i + 1) * 1000)),
      receipt(500, { outcome: 'criteria-failed' }),
      receipt(0, { outcome: 'refused' })
    ]
    const stats = specStats(ID, spec, receipts, { now: NOW })
    expect(stats).toMatchObject({ specId: ID, name: 'extract-entities', variant: null, executions: 42, jobs: 42 })
    expect(stats.outcomes).toEqual({ success: 40, 'criteria-failed': 1, timeout: 0, refused: 1, error: 0, cancelled: 0, unreachable: 0 })
    expect(stats.successRate).toBeCloseTo(40 / 42, 4)
    // Durations exclude the refusal: 41 samples, 0.5 s and 1..40 s.
    expect(stats.durationMs).toEqual({ n: 41, mean: Math.round((820_000 + 500) / 41), p50: 20_000, p95: 38_000, max: 40_000 })
    expect(stats.deadline).toEqual({ kind: 'relative', seconds: 60 })
    expect(stats.durationOfDeadline).toEqual({ p50: 0.3333, p95: 0.6333 })
    expect(stats.deadlineMisses).toBe(0)
    expect(stats.cost).toMatchObject({ costUsd: 0.05, budgetMaxUsd: 0.5, attemptsAboveCostUsd: 0, jobsAboveBudget: 0 })
    expect(stats.cost.perAttempt).toMatchObject({ p95: 0.05, max: 0.05 })
    expect(stats.cost.perAttempt!.mean).toBeCloseTo(41 * 0.05 / 42, 6)
  })

  it('leaves cancelled and unreachable attempts out of the success rate: they are neither the spec\'s success nor its failure', () => {
    const receipts = [
      ...Array.from({ length: 8 }, () => receipt(1000)),
      receipt(500, { outcome: 'error' }),
      receipt(0, { outcome: 'refused' }),
      receipt(300, { outcome: 'cancelled' }),
      receipt(0, { outcome: 'unreachable' })
    ]
    const stats = specStats(ID, spec, receipts, { now: NOW })
    expect(stats.executions).toBe(12)
    expect(stats.outcomes).toMatchObject({ success: 8, error: 1, refused: 1, cancelled: 1, unreachable: 1 })
    expect(stats.successRate).toBeCloseTo(8 / 10, 4)
    // Nothing but cancelled and unreachable attempts: no rate, rather than 0 %.
    expect(specStats(ID, spec, [receipt(300, { outcome: 'cancelled' }), receipt(0, { outcome: 'unreachable' })], { now: NOW }).successRate).toBeNull()
  })

  it('suggests a deadline ≥ p95 with the documented margin, and the p95 job cost as budget', () => {
    const receipts = Array.from({ length: 40 }, (_, i) => receipt((i + 1) * 1000))
    const { suggestion, durationMs } = specStats(ID, spec, receipts, { now: NOW })
    // p95 = 38 s; 38 × 1.25 + 1 = 48.5 → 50 s (5 s steps below a minute).
    expect(suggestion).toMatchObject({ deadlineSeconds: 50, budgetMaxUsd: 0.05, confident: true, executions: 40, minExecutions: MIN_CONFIDENT_EXECUTIONS })
    expect(suggestion!.deadlineSeconds * 1000).toBeGreaterThanOrEqual(durationMs!.p95)
    // The suggestion would have been met by ≥ 95% of the observed attempts.
    const met = receipts.filter(r => r.endedAt - r.startedAt <= suggestion!.deadlineSeconds * 1000).length
    expect(met / receipts.length).toBeGreaterThanOrEqual(0.95)
    expect(suggestion!.set).toEqual({ deadline: '50s', 'budget.maxUsd': 0.05 })
    expect(suggestion!.notes).toEqual([])
  })

  it('its fork assignments make a valid fork of the spec', () => {
    const withSoft = valid({ ...baseSpec(), deadline: 600, softDeadline: 500, executionWindow: 400 })
    const receipts = Array.from({ length: 30 }, (_, i) => receipt(2000 + i * 100))
    const { suggestion } = specStats(specId(withSoft), withSoft, receipts, { now: NOW })
    // p95 = 4.8 s → 4.8 × 1.25 + 1 = 7 s.
    expect(suggestion!.deadlineSeconds).toBe(7)
    expect(suggestion!.set).toMatchObject({ deadline: '7s', softDeadline: '2s', executionWindow: '7s' })
    const assignments: Assignment[] = Object.entries(suggestion!.set).map(([path, value]) => ({ path, value }))
    const fork = forkSpec(specId(withSoft), withSoft, assignments, { now: NOW })
    expect(fork.ok, JSON.stringify(fork)).toBe(true)
  })

  it('scales a cost breakdown down with a lower suggested budget, so the fork stays valid', () => {
    const withParts = valid({ ...baseSpec(), budget: { maxUsd: 0.5, costBreakdown: { compute: 0.3, storage: 0.1, api_calls: 0.1 } } })
    const receipts = Array.from({ length: 30 }, (_, i) => receipt(2000 + i * 100, { costUsd: withParts.costUsd }))
    const { suggestion } = specStats(specId(withParts), withParts, receipts, { now: NOW })
    expect(suggestion!.budgetMaxUsd).toBeLessThan(0.5)
    const assignments: Assignment[] = Object.entries(suggestion!.set).map(([path, value]) => ({ path, value }))
    const fork = forkSpec(specId(withParts), withParts, assignments, { now: NOW })
    expect(fork.ok, JSON.stringify(fork)).toBe(true)
    const parts = Object.values(fork.ok ? fork.spec.budget!.costBreakdown! : {})
    expect(parts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(suggestion!.budgetMaxUsd)
  })

  it('sums every attempt of a job against the budget, and counts jobs above it', () => {
    const receipts = [
      ...Array.from({ length: 19 }, () => receipt(1000, { costUsd: 0.1 })),
      receipt(1000, { jobId: 'retried', outcome: 'criteria-failed', costUsd: 0.3 }),
      receipt(1000, { jobId: 'retried', costUsd: 0.3 })
    ]
    const stats = specStats(ID, spec, receipts, { now: NOW })
    expect(stats.jobs).toBe(20)
    expect(stats.cost.perJob).toMatchObject({ n: 20, p95: 0.1, max: 0.6 })
    expect(stats.cost.attemptsAboveCostUsd).toBe(21)
    expect(stats.cost.jobsAboveBudget).toBe(1)
    expect(stats.jobSuccessRate).toBe(1)
    expect(stats.suggestion!.budgetMaxUsd).toBe(0.1)
  })

  it('never suggests a budget below costUsd', () => {
    const receipts = Array.from({ length: 25 }, () => receipt(1000, { costUsd: 0.01 }))
    const { suggestion } = specStats(ID, spec, receipts, { now: NOW })
    expect(suggestion!.budgetMaxUsd).toBe(0.05)
    expect(suggestion!.notes.join(' ')).toMatch(/costUsd/)
  })

  it('says when there are too few receipts for a confident suggestion', () => {
    const stats = specStats(ID, spec, [receipt(1000), receipt(3000), receipt(2000)], { now: NOW })
    expect(stats.executions).toBe(3)
    expect(stats.suggestion).toMatchObject({ confident: false, deadlineSeconds: roundUpSeconds(3 * 1.25 + 1) })
    expect(stats.suggestion!.notes[0]).toMatch(/only 3 executions; at least 20/)
  })

  it('treats timeouts as censored: many of them make the suggestion a lower bound', () => {
    const receipts = [
      ...Array.from({ length: 20 }, () => receipt(5000)),
      ...Array.from({ length: 5 }, () => receipt(60_000, { outcome: 'timeout' }))
    ]
    const stats = specStats(ID, spec, receipts, { now: NOW })
    expect(stats.deadlineMisses).toBe(5)
    expect(stats.durationMs!.p95).toBe(60_000)
    expect(stats.suggestion!.confident).toBe(false)
    expect(stats.suggestion!.notes.join(' ')).toMatch(/lower bounds/)
  })

  it('reports time left for an absolute deadline and suggests when to stop starting work', () => {
    const absolute = valid({ ...baseSpec(), deadline: '2026-06-01T13:00:00Z' }, { now: NOW })
    const stats = specStats(specId(absolute), absolute, Array.from({ length: 20 }, () => receipt(8000)), { now: NOW })
    expect(stats.deadline).toEqual({ kind: 'absolute', at: '2026-06-01T13:00:00Z', secondsLeft: 3600 })
    expect(stats.durationOfDeadline).toBeNull()
    // 8 × 1.25 + 1 = 11 → 15 s.
    expect(stats.suggestion!.deadlineSeconds).toBe(15)
    expect(stats.suggestion!.set).toEqual({ softDeadline: '2026-06-01T12:59:45Z', 'budget.maxUsd': 0.05 })
  })

  it('has nothing to suggest without receipts', () => {
    const stats = specStats(ID, spec, [], { now: NOW })
    expect(stats).toMatchObject({ executions: 0, jobs: 0, successRate: null, durationMs: null, suggestion: null })
  })
})
