import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BenchRun } from '../helpers/bench-processes.ts'
import { ROOT, runNode } from '../helpers/cli.ts'

const SCRIPT = join(ROOT, 'scripts/bench-jobs.ts')
const NODE_SCRIPT = join(ROOT, 'scripts/lib/scale-node.ts')

/**
 * npm run bench:jobs at a tiny size (5 node processes, a few dozen jobs, an
 * operate on/off pair and an A/A control pair), so that the bench cannot rot unseen: it must finish, print
 * its JSON last line in the shape issue 13 asks for with figures a real run
 * gives, and leave no node process behind. The bid window is wide so that a
 * loaded machine does not fail the jobs.
 */
describe('bench:jobs at a tiny size', () => {
  it('runs the coordinator and four agents in their own processes and reports the issue\'s JSON shape', async () => {
    const bench = new BenchRun()
    // The bench saves its result under ./bench-results: here, in a folder of this test's own.
    const cwd = mkdtempSync(join(tmpdir(), 'specmesh-bench-jobs-'))
    const result = await runNode([SCRIPT], 'bench:jobs', {
      timeoutMs: 280_000,
      cwd,
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
    expect(Object.keys(json)).toEqual(['auction', 'lease', 'rawRttMs', 'coordinatorCpuMsPerJob', 'cpuMsPerJob', 'operate', 'loadAverage'])
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
    // The CPU per job of all five processes on each path: the coordinator's and each agent's, summed.
    for (const path of ['auction', 'lease']) expect(json.cpuMsPerJob[path]).toBeGreaterThan(json.coordinatorCpuMsPerJob[path])
    // Metrics and logging on/off, from pairs of turns, beside an A/A control (off/off) that shows the noise floor.
    expect(Object.keys(json.operate)).toEqual(['ratio', 'spread', 'targetMet', 'cpuRatio', 'cpuSpread', 'cpuTargetMet', 'control'])
    expect(json.operate.ratio).toBeGreaterThan(0)
    expect(json.operate.cpuRatio).toBeGreaterThan(0)
    expect(typeof json.operate.targetMet).toBe('boolean')
    expect(typeof json.operate.cpuTargetMet).toBe('boolean')
    for (const figures of [json.operate, json.operate.control]) {
      for (const [middle, spread] of [[figures.ratio, figures.spread], [figures.cpuRatio, figures.cpuSpread]]) {
        expect(middle).toBeGreaterThan(0)
        expect(spread).toHaveLength(2)
        expect(spread[0]).toBeLessThanOrEqual(middle)
        expect(spread[1]).toBeGreaterThanOrEqual(middle)
      }
    }
    // The saved result holds every turn: one on/off pair (one of each) and one control pair (two off), each in fresh processes.
    const savedResult = JSON.parse(readFileSync(join(cwd, 'bench-results', 'bench-jobs-latest.json'), 'utf8')).result
    expect(savedResult.leaseDetail.cpuMsPerJob.agents).toHaveLength(4)
    // How busy each process's event loop was over the burst: a share of the time, the coordinator's and each agent's.
    const busy = savedResult.leaseDetail.eventLoopBusy
    expect(busy.agents).toHaveLength(4)
    for (const share of [busy.coordinator, ...busy.agents]) { expect(share).toBeGreaterThan(0); expect(share).toBeLessThanOrEqual(1) }
    // Gossip messages received per job, by topic kind: every agent gets each job call (duplicates
    // too); bids go over the bid stream by default, so the coordinator receives next to no bid
    // on gossip (by gossip it would be about 14 per job: four bids and their duplicates).
    const msgs = savedResult.auctionDetail.msgsPerJob
    expect(msgs.agent.jobs).toBeGreaterThanOrEqual(1)
    expect(msgs.coordinator.bids ?? 0).toBeLessThan(2)
    const saved = savedResult.operate
    expect(saved.turns.map((t: { pair: number, operate: boolean }) => [t.pair, t.operate])).toEqual([[0, false], [0, true], [1, false], [1, false]])
    expect(saved.turns.every((t: { cpuMsPerJob: number, coordinatorCpuMsPerJob: number, agentCpuMsPerJob: number }) => t.cpuMsPerJob > 0 && t.coordinatorCpuMsPerJob > 0 && t.agentCpuMsPerJob > 0)).toBe(true)
    expect(result.stdout).toContain('A/A control (off/off)')
    expect(result.stdout).toContain('auction path: throughput')
    expect(bench.leftovers(NODE_SCRIPT)).toEqual([])
    rmSync(cwd, { recursive: true, force: true })
  }, 300_000)
})
