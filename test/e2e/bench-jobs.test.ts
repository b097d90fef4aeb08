import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BenchRun } from '../helpers/bench-processes.ts'
import { ROOT, runNode } from '../helpers/cli.ts'

const SCRIPT = join(ROOT, 'scripts/bench-jobs.ts')
const NODE_SCRIPT = join(ROOT, 'scripts/lib/scale-node.ts')

/**
 * npm run bench:jobs at a tiny size (5 node processes, a few dozen jobs, two
 * operate turns), so that the bench cannot rot unseen: it must finish, print
 * its JSON last line in the shape issue 13 asks for with figures a real run
 * gives, and leave no node process behind. The bid window is wide so that a
 * loaded machine does not fail the jobs.
 */
describe('bench:jobs at a tiny size', () => {
  it('runs the coordinator and four agents in their own processes and reports the issue\'s JSON shape', async () => {
    const bench = new BenchRun()
    const result = await runNode([SCRIPT], 'bench:jobs', {
      timeoutMs: 280_000,
      env: {
        ...bench.env,
        BENCH_JOBS: '40',
        BENCH_SEQUENTIAL_JOBS: '5',
        BENCH_RTT_SAMPLES: '20',
        BENCH_OPERATE_TURNS: '2',
        BENCH_OPERATE_JOBS: '20',
        BENCH_IN_FLIGHT: '8',
        BENCH_BID_WINDOW_MS: '400'
      }
    })
    expect(result.code, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout.trim().split('\n').at(-1)!)
    expect(Object.keys(json)).toEqual(['auction', 'lease', 'rawRttMs', 'coordinatorCpuMsPerJob', 'operate', 'loadAverage'])
    expect(json.auction.jobsPerSec).toBeGreaterThan(0)
    expect(json.auction.overheadMs.p50).toBeGreaterThan(0)
    expect(json.auction.overheadMs.p99).toBeGreaterThanOrEqual(json.auction.overheadMs.p50)
    expect(json.rawRttMs.p50).toBeGreaterThan(0)
    expect(json.rawRttMs.p99).toBeGreaterThanOrEqual(json.rawRttMs.p50)
    // The lease path runs the same jobs under one lease, beside the auction path.
    expect(json.lease.jobsPerSec).toBeGreaterThan(0)
    expect(json.lease.overheadMs.p50).toBeGreaterThan(0)
    expect(json.coordinatorCpuMsPerJob.auction).toBeGreaterThan(0)
    expect(json.coordinatorCpuMsPerJob.lease).toBeGreaterThan(0)
    expect(json.operate.ratio).toBeGreaterThan(0)
    expect(json.operate.cpuRatio).toBeGreaterThan(0)
    expect(typeof json.operate.targetMet).toBe('boolean')
    expect(result.stdout).toContain('auction path: throughput')
    expect(bench.leftovers(NODE_SCRIPT)).toEqual([])
  }, 300_000)
})
