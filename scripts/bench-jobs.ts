/**
 * npm run bench:jobs — jobs per second through one coordinator with four
 * agents and a trivial handler, every node in its own process
 * (scripts/lib/scale-node.ts over IPC, as bench:scale), on 127.0.0.1, fully
 * meshed, serving one spec. Prints a table; the last line is one JSON object:
 *
 *   {"auction":{"jobsPerSec","overheadMs":{"p50","p99"}},
 *    "lease":{"jobsPerSec","overheadMs":{"p50","p99"}},
 *    "rawRttMs":{"p50","p99"},
 *    "coordinatorCpuMsPerJob":{"auction","lease"}, "operate":{…}}
 *
 * What it measures, in one run:
 * - auction path: BENCH_JOBS jobs, BENCH_IN_FLIGHT (64) in flight (closed
 *   loop: a job starts as soon as one ends), each a whole auction (job call,
 *   bids, award, execution, receipt); jobs/s over the burst.
 * - lease path: the same jobs under one lease of BENCH_IN_FLIGHT slots
 *   (node.requestLease), no auction per job; figures as for the auction path.
 * - per-job overhead: a job's latency (submitJob called → result, timed in the
 *   coordinator's process) minus the time it spent collecting bids (its
 *   biddingMs: the bid window, or less when every agent advertising room bid
 *   sooner and the coordinator closed it early). What is left is job setup,
 *   the award, the execution stream's round trip with the handler (trivial),
 *   output verification, the signed verdict and the receipt stored: the
 *   per-job cost the raw round trip below is its floor for. Measured one job
 *   at a time (BENCH_SEQUENTIAL_JOBS), so queueing is not in it; the same
 *   figure with 64 in flight is in the table and the saved result.
 * - raw round trip: one length-prefixed frame each way on a fresh libp2p
 *   stream between the coordinator's and an agent's processes
 *   (scripts/lib/raw-rtt.ts), nothing signed, checked or stored.
 * - coordinator CPU per job: process.cpuUsage (user + system) of the
 *   coordinator's process over the concurrent burst, divided by its jobs.
 * - operate (issue 11): the cost of metrics and logging. BENCH_OPERATE_TURNS
 *   (8) short turns, each a fresh node in every process, alternately with
 *   Prometheus metrics (the node's and libp2p's) on and the daemon's JSON log
 *   written to a file in every process, and with neither, in the order off on
 *   on off off on on off…, so drift on a shared machine falls on both. Each
 *   pair of turns (1-2, 3-4, …) gives one on/off ratio of jobs/s; `ratio` is
 *   their median, `spread` their lowest and highest (1 = no cost; target ≥
 *   0.95). Throughput on a loaded machine moves by tens of percent from turn
 *   to turn, so each turn also sums the CPU time (user + system) of all five
 *   processes over its burst; `cpuRatio` is the median of the pairs' on/off
 *   CPU ms per job, the cost itself, which load does not inflate as much
 *   (1 = no cost; ≤ 1.05 is the same target). BENCH_OPERATE=0 skips it;
 *   BENCH_OPERATE_PARTS=metrics (or log) turns only that one on in the on turns.
 * - the load average at the start and the end: the figures of a run on a
 *   busy machine (load above the 2 cores) are not those of a quiet one.
 *
 * BENCH_CPU_PROF=DIR runs the coordinator's process under --cpu-prof, its
 * profile written to DIR when the bench ends.
 */
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { summarize, table, saveResult, round } from './lib/bench.ts'
import { killAll, ScaleNodeProcess } from './lib/scale-pool.ts'

const AGENTS = 4
const JOBS = positive('BENCH_JOBS', 1000)
const IN_FLIGHT = positive('BENCH_IN_FLIGHT', 64)
const BID_WINDOW_MS = positive('BENCH_BID_WINDOW_MS', 50)
const SEQUENTIAL_JOBS = positive('BENCH_SEQUENTIAL_JOBS', 100)
const RTT_SAMPLES = positive('BENCH_RTT_SAMPLES', 1000)
const OPERATE = process.env.BENCH_OPERATE !== '0'
const OPERATE_TURNS = positive('BENCH_OPERATE_TURNS', 8)
const OPERATE_JOBS = positive('BENCH_OPERATE_JOBS', 500)
/** Which of the operating surfaces an on turn turns on: both by default; one alone to see what each costs. */
const OPERATE_PARTS = new Set((process.env.BENCH_OPERATE_PARTS ?? 'metrics,log').split(',').map(s => s.trim()))
for (const part of OPERATE_PARTS) {
  if (part !== 'metrics' && part !== 'log') {
    console.error(`bench:jobs: BENCH_OPERATE_PARTS takes metrics and/or log (comma-separated), got '${part}'`)
    process.exit(2)
  }
}
const WARM_UP_JOBS = 40
const CPU_PROF = process.env.BENCH_CPU_PROF
/** Issue 13's targets on this 2-core machine. */
const TARGETS = { auctionJobsPerSec: 150, leaseJobsPerSec: 1000, leaseOverheadRtts: 3, operateRatio: 0.95 }
const MESH_DEADLINE_MS = 30_000

function positive (name: string, fallback: number): number {
  const text = process.env[name]
  if (text == null || text === '') return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`bench:jobs: ${name} must be a positive integer, got '${text}'`)
    process.exit(2)
  }
  return n
}
if (OPERATE && OPERATE_TURNS % 2 !== 0) {
  console.error(`bench:jobs: BENCH_OPERATE_TURNS must be even (each pair of turns is one off and one on), got ${OPERATE_TURNS}`)
  process.exit(2)
}

const benchStarted = Date.now()
const progress = (text: string): void => { process.stderr.write(`bench:jobs [${Math.round((Date.now() - benchStarted) / 1000)} s]: ${text}\n`) }

async function waitUntil (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + MESH_DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench:jobs: timed out after ${MESH_DEADLINE_MS} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A running mesh: a node in each process, the spec published and served, every node on its topics. */
export interface Mesh {
  coordinator: ScaleNodeProcess
  agents: ScaleNodeProcess[]
  agentPeerIds: string[]
  specId: string
}

/** One path's figures (auction or lease). */
export interface PathFigures {
  jobsPerSec: number
  /** One job at a time: latency less time spent collecting bids (none on a lease). */
  overheadMs: { p50: number, p99: number }
  /** The same with IN_FLIGHT jobs in flight (queueing included). */
  loadedOverheadMs: { p50: number, p99: number }
  coordinatorCpuMsPerJob: number
  jobs: number
  failed: number
}

/** Start a node in every process (metrics and logging per `operate`), full mesh, one spec served by every agent. */
async function startMesh (coordinator: ScaleNodeProcess, agents: ScaleNodeProcess[], operate: boolean): Promise<Mesh> {
  const procs = [coordinator, ...agents]
  // Each node bootstraps to every node started before it, and keeps them connected: a full mesh.
  const addrs: string[] = []
  const peerIds: string[] = []
  for (const proc of procs) {
    const started = await proc.send({ cmd: 'start', bootstrap: [...addrs], topics: 'per-spec', metrics: operate && OPERATE_PARTS.has('metrics'), log: operate && OPERATE_PARTS.has('log') }, 60_000)
    addrs.push(started.addr)
    peerIds.push(started.peerId)
  }
  await waitUntil('a full mesh', async () => (await Promise.all(procs.map(async p => (await p.send({ cmd: 'status', specIds: [] })).connections))).every(c => c >= AGENTS))
  const { specId } = await coordinator.send({ cmd: 'publish', name: `bench-jobs-${operate ? 'operate' : 'plain'}` })
  await waitUntil('the spec on every agent', async () => (await Promise.all(agents.map(async a => (await a.send({ cmd: 'status', specIds: [specId] })).specsHeld))).every(n => n === 1))
  for (const [i, agent] of agents.entries()) await agent.send({ cmd: 'serve', specId, priceUsd: 0.01 * (i + 1) })
  // The coordinator joins the spec's topics (as its first job would); then every node sees the others on them.
  await coordinator.send({ cmd: 'join', specId })
  await waitUntil('every node on every topic of the spec', async () => (await Promise.all(procs.map(async p => (await p.send({ cmd: 'status', specIds: [], topicsOf: specId })).topicPeers))).every(n => n >= AGENTS))
  await waitUntil('every agent\'s capacity advert at the coordinator', async () => (await coordinator.send({ cmd: 'status', specIds: [], advertsOf: specId })).adverts === AGENTS)
  return { coordinator, agents, agentPeerIds: peerIds.slice(1), specId }
}

async function stopMesh (mesh: Mesh): Promise<void> {
  await Promise.all([mesh.coordinator, ...mesh.agents].map(async p => await p.send({ cmd: 'stop' }, 30_000)))
}

type Burst = Awaited<ReturnType<typeof burst>>

async function burst (mesh: Mesh, count: number, inFlight: number): Promise<{ elapsedMs: number, latenciesMs: number[], overheadsMs: number[], failed: number, cpuMs: number, jobs: number }> {
  const answer = await mesh.coordinator.send({ cmd: 'burst', specId: mesh.specId, count, inFlight, bidWindowMs: BID_WINDOW_MS }, 60_000 + count * 1000)
  if (answer.failed > 0) process.stderr.write(`bench:jobs: ${answer.failed} of ${count} jobs failed, e.g. ${answer.reasons.join('; ')}\n`)
  return {
    elapsedMs: answer.elapsedMs,
    latenciesMs: answer.latenciesMs,
    overheadsMs: answer.latenciesMs.map((latency, i) => latency - answer.biddingMs[i]!),
    failed: answer.failed,
    cpuMs: answer.cpuMs,
    jobs: count
  }
}

const perSec = (b: Burst): number => round((b.jobs - b.failed) / (b.elapsedMs / 1000), 1)

/** The auction path: one job at a time for the overhead, then IN_FLIGHT at once for the throughput and the coordinator's CPU. */
async function runAuctionPath (mesh: Mesh): Promise<PathFigures & { latencyMs: { p50: number, p99: number }, biddingMs: { p50: number, p99: number } }> {
  const sequential = await burst(mesh, SEQUENTIAL_JOBS, 1)
  const concurrent = await burst(mesh, JOBS, IN_FLIGHT)
  return {
    jobsPerSec: perSec(concurrent),
    overheadMs: summarize(sequential.overheadsMs),
    loadedOverheadMs: summarize(concurrent.overheadsMs),
    latencyMs: summarize(sequential.latenciesMs),
    biddingMs: summarize(sequential.latenciesMs.map((l, i) => l - sequential.overheadsMs[i]!)),
    coordinatorCpuMsPerJob: round(concurrent.cpuMs / Math.max(1, concurrent.jobs - concurrent.failed), 3),
    jobs: concurrent.jobs,
    failed: concurrent.failed
  }
}

/**
 * The lease path (issue 13): the coordinator asks for a lease of IN_FLIGHT
 * slots (node.requestLease: one auction of lease bids, won by the award rule),
 * then runs the same jobs as the auction path, one at a time for the overhead
 * and IN_FLIGHT at once for the throughput; each goes over the winner's
 * execution stream with its own signed lease-award, claim and receipt, and no
 * job call, bid or award gossip. The lease outlives the bursts (renew off);
 * the figures say how many jobs the lease carried, so a job that fell back to
 * the auction shows.
 */
async function runLeasePath (mesh: Mesh): Promise<PathFigures & { leases: number, leasedJobs: number, slots: number }> {
  const durationMs = 60_000 + (JOBS + SEQUENTIAL_JOBS) * 20
  const granted = await mesh.coordinator.send({ cmd: 'lease', specId: mesh.specId, slots: IN_FLIGHT, durationMs }, 60_000)
  if (granted.leases.length === 0) throw new Error('bench:jobs: no agent took the lease (lease path)')
  const before = leasedJobs(granted.leases)
  const sequential = await burst(mesh, SEQUENTIAL_JOBS, 1)
  const concurrent = await burst(mesh, JOBS, IN_FLIGHT)
  const after = await mesh.coordinator.send({ cmd: 'leases', specId: mesh.specId })
  return {
    jobsPerSec: perSec(concurrent),
    overheadMs: summarize(sequential.overheadsMs),
    loadedOverheadMs: summarize(concurrent.overheadsMs),
    coordinatorCpuMsPerJob: round(concurrent.cpuMs / Math.max(1, concurrent.jobs - concurrent.failed), 3),
    jobs: concurrent.jobs,
    failed: concurrent.failed,
    leases: granted.leases.length,
    slots: granted.leases.reduce((n, l) => n + l.slots, 0),
    leasedJobs: leasedJobs(after.leases.filter(l => granted.leases.some(g => g.leaseId === l.leaseId))) - before
  }
}

const leasedJobs = (leases: Array<{ jobs: number }>): number => leases.reduce((n, l) => n + l.jobs, 0)

/** off on on off off on on off…: each adjacent pair holds one of each, and which goes first alternates. */
function operateOrder (turns: number): boolean[] {
  return Array.from({ length: turns }, (_, i) => [false, true, true, false][i % 4]!)
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const procs = [
  new ScaleNodeProcess(0, CPU_PROF != null ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${resolve(CPU_PROF)}`] } : {}),
  ...Array.from({ length: AGENTS }, (_, i) => new ScaleNodeProcess(i + 1))
]
const [coordinatorProc, ...agentProcs] = procs as [ScaleNodeProcess, ...ScaleNodeProcess[]]
const loadAtStart = loadavg()[0]!
try {
  await Promise.all(procs.map(async p => { await p.whenReady() }))
  progress(`${procs.length} node processes up; starting the mesh`)
  const mesh = await startMesh(coordinatorProc, agentProcs, false)
  await mesh.agents[0]!.send({ cmd: 'echo' })
  const rtt = await coordinatorProc.send({ cmd: 'rtt', peerId: mesh.agentPeerIds[0]!, samples: RTT_SAMPLES }, 120_000)
  const rawRttMs = summarize(rtt.samplesMs)
  progress(`raw round trip p50 ${rawRttMs.p50} ms; warming up`)
  await burst(mesh, WARM_UP_JOBS, 4)
  progress(`auction path: ${SEQUENTIAL_JOBS} jobs one at a time, then ${JOBS} with ${IN_FLIGHT} in flight`)
  const auction = await runAuctionPath(mesh)
  progress(`auction path: ${auction.jobsPerSec} jobs/s; lease path`)
  const lease = await runLeasePath(mesh)
  await stopMesh(mesh)

  const turns: Array<{ operate: boolean, jobsPerSec: number, failed: number, cpuMsPerJob: number }> = []
  if (OPERATE) {
    for (const [i, operate] of operateOrder(OPERATE_TURNS).entries()) {
      const m = await startMesh(coordinatorProc, agentProcs, operate)
      await burst(m, WARM_UP_JOBS, 4)
      await Promise.all(m.agents.map(async a => await a.send({ cmd: 'mark' })))
      const b = await burst(m, OPERATE_JOBS, IN_FLIGHT)
      const agentCpuMs = (await Promise.all(m.agents.map(async a => (await a.send({ cmd: 'counters' })).counters.cpuMs))).reduce((x, y) => x + y, 0)
      await stopMesh(m)
      const cpuMsPerJob = round((b.cpuMs + agentCpuMs) / Math.max(1, b.jobs - b.failed), 3)
      turns.push({ operate, jobsPerSec: perSec(b), failed: b.failed, cpuMsPerJob })
      progress(`operate turn ${i + 1}/${OPERATE_TURNS} (${operate ? 'on' : 'off'}): ${perSec(b)} jobs/s, ${cpuMsPerJob} CPU ms per job in all processes`)
    }
  }
  const loadAtEnd = loadavg()[0]!

  const rows: Array<Record<string, string>> = [
    { measure: `auction path: throughput, ${IN_FLIGHT} jobs in flight (${auction.jobs} jobs)`, value: `${auction.jobsPerSec} jobs/s`, note: `target ≥ ${TARGETS.auctionJobsPerSec}: ${auction.jobsPerSec >= TARGETS.auctionJobsPerSec ? 'met' : 'NOT met'}; ${auction.failed} failed` },
    { measure: 'auction path: job latency, one at a time (p50/p99)', value: `${auction.latencyMs.p50} / ${auction.latencyMs.p99} ms`, note: `${SEQUENTIAL_JOBS} jobs` },
    { measure: '  of which collecting bids (p50/p99)', value: `${auction.biddingMs.p50} / ${auction.biddingMs.p99} ms`, note: `window ${BID_WINDOW_MS} ms, closed early once all ${AGENTS} advertised agents bid` },
    { measure: 'auction path: overhead beyond bidding, one at a time (p50/p99)', value: `${auction.overheadMs.p50} / ${auction.overheadMs.p99} ms`, note: `${round(auction.overheadMs.p50 / rawRttMs.p50, 1)}× the raw round trip at p50` },
    { measure: `auction path: overhead beyond bidding, ${IN_FLIGHT} in flight (p50/p99)`, value: `${auction.loadedOverheadMs.p50} / ${auction.loadedOverheadMs.p99} ms`, note: 'queueing included' },
    { measure: 'auction path: coordinator CPU per job', value: `${auction.coordinatorCpuMsPerJob} ms`, note: `${round(auction.coordinatorCpuMsPerJob * auction.jobsPerSec / 10, 0)}% of one core at that rate` }
  ]
  rows.push(
    { measure: `lease path: throughput, ${IN_FLIGHT} jobs in flight (${lease.jobs} jobs)`, value: `${lease.jobsPerSec} jobs/s`, note: `target ≥ ${TARGETS.leaseJobsPerSec}: ${lease.jobsPerSec >= TARGETS.leaseJobsPerSec ? 'met' : 'NOT met'}; ${lease.failed} failed; ${lease.leasedJobs} of ${lease.jobs + SEQUENTIAL_JOBS} jobs ran under ${lease.leases} lease(s) of ${lease.slots} slots` },
    { measure: 'lease path: overhead, one at a time (p50/p99)', value: `${lease.overheadMs.p50} / ${lease.overheadMs.p99} ms`, note: `${round(lease.overheadMs.p50 / rawRttMs.p50, 1)}× the raw round trip (target ≤ ${TARGETS.leaseOverheadRtts}×: ${lease.overheadMs.p50 <= TARGETS.leaseOverheadRtts * rawRttMs.p50 ? 'met' : 'NOT met'})` },
    { measure: `lease path: overhead, ${IN_FLIGHT} in flight (p50/p99)`, value: `${lease.loadedOverheadMs.p50} / ${lease.loadedOverheadMs.p99} ms`, note: 'queueing included' },
    { measure: 'lease path: coordinator CPU per job', value: `${lease.coordinatorCpuMsPerJob} ms`, note: `auction path ${auction.coordinatorCpuMsPerJob} ms` }
  )
  rows.push({ measure: 'raw libp2p request/response, fresh stream (p50/p99)', value: `${rawRttMs.p50} / ${rawRttMs.p99} ms`, note: `${RTT_SAMPLES} samples, coordinator's process to an agent's` })

  let operate: Record<string, unknown> | undefined
  if (OPERATE) {
    const pairs = Array.from({ length: turns.length / 2 }, (_, p) => {
      const pair = turns.slice(2 * p, 2 * p + 2)
      return { on: pair.find(t => t.operate)!, off: pair.find(t => !t.operate)! }
    })
    const pairRatios = pairs.map(({ on, off }) => round(on.jobsPerSec / off.jobsPerSec, 3))
    const cpuPairRatios = pairs.map(({ on, off }) => round(on.cpuMsPerJob / off.cpuMsPerJob, 3))
    const ratio = round(median(pairRatios), 3)
    const cpuRatio = round(median(cpuPairRatios), 3)
    const spread = [Math.min(...pairRatios), Math.max(...pairRatios)]
    const met = ratio >= TARGETS.operateRatio
    const cpuMet = cpuRatio <= 2 - TARGETS.operateRatio
    const middle = (on: boolean, of: (t: typeof turns[number]) => number): number => round(median(turns.filter(t => t.operate === on).map(of)), 2)
    rows.push(
      {
        measure: `${[...OPERATE_PARTS].join(' and ')} on/off: throughput, ${OPERATE_TURNS} turns of ${OPERATE_JOBS} jobs`,
        value: `${ratio}`,
        note: `median of pairs ${pairRatios.join(', ')} (spread ${spread.join('–')}); target ≥ ${TARGETS.operateRatio}: ${met ? 'met' : 'NOT met'}; median turn off ${middle(false, t => t.jobsPerSec)}, on ${middle(true, t => t.jobsPerSec)} jobs/s`
      },
      {
        measure: `${[...OPERATE_PARTS].join(' and ')} on/off: CPU per job, all five processes`,
        value: `${cpuRatio}`,
        note: `median of pairs ${cpuPairRatios.join(', ')}; target ≤ ${round(2 - TARGETS.operateRatio, 2)}: ${cpuMet ? 'met' : 'NOT met'}; median turn off ${middle(false, t => t.cpuMsPerJob)}, on ${middle(true, t => t.cpuMsPerJob)} ms`
      }
    )
    operate = { parts: [...OPERATE_PARTS], ratio, spread, pairRatios, targetMet: met, cpuRatio, cpuPairRatios, cpuTargetMet: cpuMet, turns }
  }
  rows.push({ measure: 'load average (1 min), start / end', value: `${round(loadAtStart, 1)} / ${round(loadAtEnd, 1)}`, note: 'above 2 (the cores): a busy machine, slower figures' })

  console.log(`specmesh bench:jobs — 1 coordinator, ${AGENTS} agents, each in its own process; trivial handler, bid window ${BID_WINDOW_MS} ms\n`)
  console.log(table(rows))
  const line = {
    auction: { jobsPerSec: auction.jobsPerSec, overheadMs: auction.overheadMs },
    lease: { jobsPerSec: lease.jobsPerSec, overheadMs: lease.overheadMs },
    rawRttMs,
    coordinatorCpuMsPerJob: { auction: auction.coordinatorCpuMsPerJob, lease: lease.coordinatorCpuMsPerJob },
    ...(operate != null ? { operate: { ratio: operate.ratio, spread: operate.spread, targetMet: operate.targetMet, cpuRatio: operate.cpuRatio } } : {}),
    loadAverage: [round(loadAtStart, 2), round(loadAtEnd, 2)]
  }
  const file = await saveResult('bench-jobs', { ...line, auctionDetail: auction, leaseDetail: lease, operate, inFlight: IN_FLIGHT, bidWindowMs: BID_WINDOW_MS, targets: TARGETS })
  console.log(`\nsaved ${file}`)
  console.log(JSON.stringify(line))
} finally {
  // A profiled coordinator writes its profile on a clean exit: stop its node and let it go.
  await Promise.all(procs.map(async p => { await p.close() }))
  killAll()
}
process.exit(0)
