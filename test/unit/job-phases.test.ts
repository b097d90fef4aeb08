import { describe, expect, it } from 'vitest'
import { jobTiming, phaseBreakdown, PHASES, type JobTiming } from '../../scripts/lib/job-phases.ts'
import type { JobEvent } from '../../src/market/job-events.ts'

/** A job's events as a coordinator records them: [type, at] in order. */
function events (list: Array<[JobEvent['type'], number]>): JobEvent[] {
  return list.map(([type, at], i) => ({ seq: i + 1, jobId: 'job-1', type, at, data: {} }))
}

const sum = (t: JobTiming): number => PHASES.reduce((s, p) => s + t.phases[p], 0)

describe('where a job\'s latency went (bench:scale phases)', () => {
  it('splits a job whose window closed early, on the bid that completed the set', () => {
    const t = jobTiming({
      events: events([['submitted', 1000], ['bid', 1030], ['bid', 1040], ['bid', 1050], ['award', 1052], ['attempt-started', 1052], ['attempt-ended', 1070], ['receipt', 1075], ['done', 1075]]),
      calledAt: 999,
      resolvedAt: 1080,
      biddingMs: 45,
      bidWindowMs: 1000,
      handler: { startedAt: 1060, endedAt: 1061 }
    })!
    expect(t.closedEarly).toBe(true)
    expect(t.bidsAtClose).toBe(3)
    // Closed at 1050 after 45 ms of bidding: published at 1005.
    expect(t.phases).toEqual({ submit: 1, toPublish: 5, toFirstBid: 25, bidWindowRest: 20, closeToAward: 2, awardToHandler: 8, handler: 1, claimBack: 9, persist: 5, toCaller: 5 })
    expect(sum(t)).toBe(t.totalMs)
    expect(t.totalMs).toBe(81)
  })

  it('splits a job whose window ran to its end, the award taken as the close', () => {
    const t = jobTiming({
      events: events([['submitted', 1000], ['bid', 1100], ['bid', 1300], ['award', 2010], ['attempt-started', 2010], ['attempt-ended', 2030], ['receipt', 2031], ['done', 2031]]),
      calledAt: 1000,
      resolvedAt: 2032,
      biddingMs: 1000,
      bidWindowMs: 1000,
      handler: { startedAt: 2020, endedAt: 2021 }
    })!
    expect(t.closedEarly).toBe(false)
    expect(t.bidsAtClose).toBe(2)
    expect(t.phases.toPublish).toBe(10)
    expect(t.phases.toFirstBid).toBe(90)
    expect(t.phases.bidWindowRest).toBe(910)
    expect(t.phases.closeToAward).toBe(0)
    expect(sum(t)).toBe(t.totalMs)
  })

  it('does not time a job without a bid window or a claim (run under a lease)', () => {
    expect(jobTiming({ events: events([['submitted', 1], ['award', 2], ['attempt-ended', 3], ['receipt', 4]]), calledAt: 0, resolvedAt: 5, biddingMs: undefined, bidWindowMs: 1000, handler: { startedAt: 2, endedAt: 3 } })).toBeUndefined()
    expect(jobTiming({ events: events([['submitted', 1], ['bid', 2], ['award', 2], ['attempt-ended', 3], ['receipt', 4]]), calledAt: 0, resolvedAt: 5, biddingMs: 1, bidWindowMs: 1000, handler: undefined })).toBeUndefined()
  })

  it('names the phase the slowest 2% lost their time in', () => {
    const job = (firstBidMs: number, claimBackMs: number): JobTiming => {
      const phases = Object.fromEntries(PHASES.map(p => [p, 1])) as JobTiming['phases']
      phases.toFirstBid = firstBidMs
      phases.claimBack = claimBackMs
      return { phases, totalMs: PHASES.length - 2 + firstBidMs + claimBackMs, closedEarly: firstBidMs < 100, bidsAtClose: 3 }
    }
    // 98 quick jobs; two whose bid came 500 ms late, one of them with a slow claim too.
    const timings = [...Array.from({ length: 98 }, () => job(10, 5)), job(500, 5), job(500, 300)]
    const b = phaseBreakdown(timings)
    expect(b.jobs).toBe(100)
    expect(b.tail.jobs).toBe(2)
    expect(b.tail.mean.toFirstBid).toBe(500)
    expect(b.tail.mean.claimBack).toBe(152.5)
    expect(b.tail.closedEarly).toBe(0)
    expect(b.p50.toFirstBid).toBe(10)
    expect(b.p99.toFirstBid).toBe(500)
    expect(b.closedEarlyShare).toBe(0.98)
    expect(phaseBreakdown([]).tail.jobs).toBe(0)
  })
})
