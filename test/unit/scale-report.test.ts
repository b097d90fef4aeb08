import { describe, expect, it } from 'vitest'
import { latencyByN, ratios, targets, type RunResult } from '../../scripts/lib/scale-report.ts'
import { phaseBreakdown } from '../../scripts/lib/job-phases.ts'

/** A run with what the report reads: latency and the bytes of the roles the targets compare. */
function run (nodes: number, pass: number, p99: number, topics: RunResult['topics'] = 'per-spec', bystanderBytes = 100): RunResult {
  const role = (bytes: number) => ({ nodes: 1, msgs: 1, bytes, gossipBytes: 0, cpuMs: 1, rssMB: 50, msgsByKind: {}, bytesByProtocol: {} })
  return {
    nodes, pass, topics, bids: 'gossip', jobsPerSec: 5, targetJobsPerSec: 5, jobs: 200, failed: 0, skipped: 0, windowMs: 40_000,
    latencyMs: { p50: 20, p99 }, latencyParts: { biddingMs: { p50: 0, p99: 0 }, afterBidsMs: { p50: 0, p99: 0 }, attemptMs: { p50: 0, p99: 0 } },
    phases: phaseBreakdown([]),
    degree: 6, setupMs: 0, perJob: { agent: role(10_000), bystander: role(bystanderBytes) }, advertsHeld: [3, 3], advertsWaitMs: 0, advertsComplete: true, warmupFailed: 0, niceByRole: {}, loopDelayMs: {},
    cpu: { cores: 2, idleSeconds: 10, idleMsPerSec: {}, idleTotalMsPerSec: 0, windowTotalMsPerSec: 0 }
  }
}

describe('bench:scale report with sizes run more than once (--nodes 10,100,10,100)', () => {
  const runs = [run(10, 1, 40), run(100, 1, 300), run(10, 2, 200), run(100, 2, 90), run(10, 3, 50), run(100, 3, 70)]

  it('lists every run\'s p99 per N in the order they ran, with the median', () => {
    expect(latencyByN(runs).map(l => [l.nodes, l.p99s, l.medianP99])).toEqual([[10, [40, 200, 50], 50], [100, [300, 90, 70], 90]])
  })

  it('compares p99 by the median of each size, so one slow run does not decide the target', () => {
    const p99 = targets(runs).find(t => t.target.startsWith('latency p99'))!
    // Medians 50 and 90: 1.8×. The first pass alone would say 7.5×, the second 0.45×.
    expect(p99.value).toBe('1.8× (median of 3 and 3 runs: 40, 200, 50 → 300, 90, 70 ms)')
    expect(p99.met).toBe(false)
    expect(targets([run(10, 1, 40), run(100, 1, 50)]).find(t => t.target.startsWith('latency p99'))!.met).toBe(true)
  })

  it('divides per-spec by the global run of the same N and the same pass', () => {
    const paired = ratios([run(10, 1, 40, 'global', 1000), run(10, 2, 40, 'global', 400), run(10, 1, 40, 'per-spec', 10), run(10, 2, 40, 'per-spec', 10)])
    expect(paired.filter(r => r.role === 'bystander').map(r => r.bytes)).toEqual([0.01, 0.03])
  })
})
