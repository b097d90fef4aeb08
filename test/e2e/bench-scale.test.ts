import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/mesh.ts'
import { BenchRun } from '../helpers/bench-processes.ts'
import { ROOT, runNode } from '../helpers/cli.ts'

const SCRIPT = join(ROOT, 'scripts/bench-scale.ts')
const NODE_SCRIPT = join(ROOT, 'scripts/lib/scale-node.ts')

/**
 * npm run bench:scale at a tiny size (6 node processes, both topic modes, a few
 * seconds each), so that the bench cannot rot unseen: it must finish, print its
 * JSON last line in the documented shape with figures a real run gives (bytes
 * received by every role, messages at the parties, latency, CPU, RSS), write
 * the parties' daemon logs where BENCH_SCALE_LOG says, and leave no node
 * process behind.
 */
describe('bench:scale at a tiny size', () => {
  it('runs 6 real node processes per mode and reports plausible per-role figures', async () => {
    const bench = new BenchRun()
    const logs = await tempHome('specmesh-bench-scale-logs-')
    const result = await runNode([SCRIPT, '--nodes', '6', '--modes', 'global,per-spec', '--specs', '2', '--agents', '1',
      '--rate', '2', '--seconds', '3', '--warmup-jobs', '2', '--bid-window-ms', '500', '--idle-seconds', '2'], 'bench:scale', { timeoutMs: 90_000, env: { ...bench.env, BENCH_SCALE_LOG: logs } })
    expect(result.code, result.stderr).toBe(0)
    // BENCH_SCALE_LOG: one daemon log per party and run (2 specs × (coordinator + agent), 2 runs), none for the bystanders;
    // in each agent of spec A's, its bid on every job it was called for.
    const logFiles = (await readdir(logs)).sort()
    expect(logFiles.length, logFiles.join(' ')).toBe(8)
    expect(logFiles.filter(f => f.includes('-bystander-'))).toEqual([])
    for (const file of logFiles.filter(f => f.includes('-agent-'))) {
      const bids = (await readFile(join(logs, file), 'utf8')).split('\n').filter(line => line.includes('"event":"agent.bid"'))
      expect(bids.length, file).toBeGreaterThanOrEqual(6)
    }
    await rm(logs, { recursive: true, force: true })
    const lines = result.stdout.trim().split('\n')
    const json = JSON.parse(lines.at(-1)!) as { runs: any[], targets: any[], ratios: any[], phases: Record<string, string> }
    expect(json.runs.map(r => r.topics).sort()).toEqual(['global', 'per-spec'])
    for (const run of json.runs) {
      expect(run.nodes).toBe(6)
      // Bids travel as a node sends them by default: over the bid stream.
      expect(run.bids).toBe('stream')
      expect(run.jobs).toBe(6)
      expect(run.failed).toBe(0)
      expect(run.jobsPerSec).toBeGreaterThan(0.5)
      expect(run.latencyMs.p50).toBeGreaterThan(0)
      expect(run.latencyMs.p99).toBeGreaterThanOrEqual(run.latencyMs.p50)
      // Every measured job is timed phase by phase from its coordinator's job events, and the slowest of the 6 is the tail.
      expect(run.phases.jobs).toBe(6)
      expect(run.phases.tail.jobs).toBe(1)
      expect(run.phases.tail.meanTotalMs).toBeGreaterThan(0)
      for (const phase of Object.keys(json.phases)) expect(Number.isFinite(run.phases.p99[phase]), phase).toBe(true)
      // One agent per spec: once it has bid, every expected agent has, so windows close early.
      expect(run.phases.closedEarlyShare).toBeGreaterThan(0)
      for (const role of ['coordinator', 'agent', 'otherAgent', 'bystander']) {
        const figures = run.perJob[role]
        expect(figures, role).toBeDefined()
        expect(typeof figures.msgs, role).toBe('number')
        // The parties' connections carry the job's traffic. A bystander's bytes may be 0 in a few
        // seconds (pings every 30 s, no gossip on the topics it is on): what it receives is checked below.
        if (role !== 'bystander') expect(figures.bytes, role).toBeGreaterThan(0)
        expect(figures.cpuMs, role).toBeGreaterThan(0)
        expect(figures.rssMB, role).toBeGreaterThan(20)
      }
      // The parties of the measured spec see its job, bids, award and receipt, and the agent its input: kilobytes per job.
      expect(run.perJob.coordinator.msgs).toBeGreaterThan(1)
      expect(run.perJob.agent.msgs).toBeGreaterThan(1)
      expect(run.perJob.agent.bytes).toBeGreaterThan(1000)
      expect(run.perJob.agent.msgsByKind.jobs).toBeGreaterThan(0)
      // What a bystander notices: with per-spec topics no job call, bid, award, capacity advert or
      // lease of the running spec reaches it; with the global topics the same jobs do (so the count works).
      const market = ['jobs', 'bids', 'awards', 'capacity', 'leases', 'bid-stream']
      const bystanderMarket = market.reduce((sum, kind) => sum + (run.perJob.bystander.msgsByKind[kind] ?? 0), 0)
      if (run.topics === 'per-spec') expect(bystanderMarket, JSON.stringify(run.perJob.bystander.msgsByKind)).toBe(0)
      else expect(run.perJob.bystander.msgsByKind.jobs, JSON.stringify(run.perJob.bystander.msgsByKind)).toBeGreaterThan(0)
      // Each coordinator met its one agent before the measured jobs; the node processes' CPU is measured idle and during the jobs.
      expect(run.advertsHeld).toEqual([1, 1])
      expect(run.advertsComplete).toBe(true)
      expect(run.cpu.idleTotalMsPerSec).toBeGreaterThan(0)
      expect(run.cpu.windowTotalMsPerSec).toBeGreaterThan(0)
      // Spec A's parties run at the normal priority; as root (CI) everyone else at the default --others-nice 19, as the system reads it back.
      const othersNice = process.getuid?.() === 0 ? 19 : 0
      expect(run.niceByRole, JSON.stringify(run.niceByRole)).toMatchObject({ coordinator: 0, agent: 0, otherAgent: othersNice, bystander: othersNice })
      expect(run.cpu.idleMsPerSec.bystander).toBeGreaterThan(0)
    }
    expect(json.targets.length).toBeGreaterThan(0)
    for (const t of json.targets) expect(typeof t.met).toBe('boolean')
    expect(json.ratios.map(r => r.role)).toContain('bystander')
    expect(result.stdout).toContain('targets:')
    expect(bench.leftovers(NODE_SCRIPT)).toEqual([])
  }, 120_000)
})
