/**
 * npm run bench:jobs — jobs per second through one coordinator with four
 * agents and a trivial handler, every node in its own process
 * (scripts/lib/scale-node.ts over IPC, as bench:scale), on 127.0.0.1, fully
 * meshed, serving one spec. Prints a table; the last line is one JSON object:
 *
 *   {"auction":{"jobsPerSec","overheadMs":{"p50","p99"}},
 *    "lease":{"jobsPerSec","overheadMs":{"p50","p99"}},
 *    "rawRttMs":{"p50","p99"},
 *    "coordinatorCpuMsPerJob":{"auction","lease"}, "cpuMsPerJob":{"auction","lease"},
 *    "operate":{"ratio","spread","targetMet","cpuRatio","cpuSpread","cpuTargetMet",
 *               "control":{"ratio","spread","cpuRatio","cpuSpread"}}, "loadAverage"}
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
 * - operate (issue 11): the cost of metrics and logging. Turns of
 *   BENCH_OPERATE_JOBS (500) jobs with BENCH_OPERATE_IN_FLIGHT (16) in flight
 *   (below the auction path's saturation, where jobs fail for want of a bid
 *   in time and throughput swings), each in five fresh processes, in pairs:
 *   BENCH_OPERATE_TURNS (8) turns in on/off pairs, the on turn first in every
 *   other pair (off on, on off: ABBA, so drift on a shared machine falls on
 *   both), and after every two of them an A/A control pair of two off turns
 *   (BENCH_OPERATE_CONTROL_PAIRS, default a quarter of the turns). An on turn
 *   collects Prometheus metrics (the node's and libp2p's) and writes the
 *   daemon's JSON log to a file in every process, as the daemon does (lines
 *   batched per event-loop turn, written synchronously). Each pair gives a
 *   ratio of jobs/s (on/off; for A/A, one off turn over the other) and one of
 *   CPU per job, the CPU time (user + system) of all five processes over the
 *   burst over the jobs that succeeded: `ratio`/`cpuRatio` are their medians,
 *   `spread`/`cpuSpread` their lowest and highest, and `control` the same for
 *   the A/A pairs, the noise floor a reader should hold the on/off figures
 *   against (target: ratio ≥ 0.95, cpuRatio ≤ 1.05). BENCH_OPERATE=0 skips it;
 *   BENCH_OPERATE_PARTS=metrics (or log) turns only that one on in the on
 *   turns; BENCH_OPERATE_PROF=DIR writes a CPU profile of every process over
 *   each turn's burst (turnNN-on-nodeK.cpuprofile), which
 *   `node scripts/profile-summary.ts DIR` breaks down (logging, metrics, the rest).
 * - the load average at the start and the end: the figures of a run on a
 *   busy machine (load above the 2 cores) are not those of a quiet one.
 *
 * - CPU per job of every process on each path: each process's CPU time (user +
 *   system, process.cpuUsage) over the concurrent burst, over the jobs that
 *   succeeded; per process and summed. On 2 cores the sum bounds the rate:
 *   1,000 jobs/s needs at most ~2 ms of CPU per job over all five processes
 *   (less what the kernel and the other processes on the machine take).
 *
 * BENCH_BIDS=gossip has the agents gossip their bids on the spec's bids topic
 * (market.bids 'gossip') instead of sending them over the bid stream (a node's
 * default, DEFAULT_BID_MODE).
 *
 * BENCH_PATHS=lease (or auction) runs only that path (e.g. to profile it
 * alone); the other's figures are then null in the JSON and absent from the table.
 *
 * BENCH_CPU_PROF=DIR writes a CPU profile of every node's process over each
 * path's concurrent burst: the coordinator's to DIR/coordinator/<path>.cpuprofile,
 * agent i's to DIR/agent-i/<path>.cpuprofile (`node scripts/profile-summary.ts
 * DIR/agent-1 --all` breaks one down by function).
 */
import { loadavg } from 'node:os'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { median, summarize, table, saveResult, round } from './lib/bench.ts'
import { killAll, ScaleNodeProcess } from './lib/scale-pool.ts'
import { DEFAULT_BID_MODE, type BidMode } from '../src/market/bid-protocol.ts'

const AGENTS = 4
const JOBS = positive('BENCH_JOBS', 1000)
const IN_FLIGHT = positive('BENCH_IN_FLIGHT', 64)
const BID_WINDOW_MS = positive('BENCH_BID_WINDOW_MS', 50)
const SEQUENTIAL_JOBS = positive('BENCH_SEQUENTIAL_JOBS', 100)
const RTT_SAMPLES = positive('BENCH_RTT_SAMPLES', 1000)
const OPERATE = process.env.BENCH_OPERATE !== '0'
const OPERATE_TURNS = positive('BENCH_OPERATE_TURNS', 8)
const OPERATE_JOBS = positive('BENCH_OPERATE_JOBS', 500)
const OPERATE_IN_FLIGHT = positive('BENCH_OPERATE_IN_FLIGHT', 16)
/** A/A control pairs (off and off): one after every two on/off pairs by default. */
const CONTROL_PAIRS = positive('BENCH_OPERATE_CONTROL_PAIRS', Math.max(1, Math.round(OPERATE_TURNS / 4)))
/** A CPU profile of every process over each operate turn's measured burst, into this folder. */
const OPERATE_PROF = process.env.BENCH_OPERATE_PROF != null && process.env.BENCH_OPERATE_PROF !== '' ? resolve(process.env.BENCH_OPERATE_PROF) : undefined
/** Which of the operating surfaces an on turn turns on: both by default; one alone to see what each costs. */
const OPERATE_PARTS = choices('BENCH_OPERATE_PARTS', ['metrics', 'log'])
const WARM_UP_JOBS = 40
/** CPU profiles of every process over each path's concurrent burst, into this folder (one subfolder per process). */
const CPU_PROF = process.env.BENCH_CPU_PROF != null && process.env.BENCH_CPU_PROF !== '' ? resolve(process.env.BENCH_CPU_PROF) : undefined
/** Which paths run: both by default; one alone to profile it. */
const PATHS = choices('BENCH_PATHS', ['auction', 'lease'])
/** How the agents send bids (market.bids): by gossip, a node's default, or over the bid stream. */
const BIDS = (process.env.BENCH_BIDS ?? DEFAULT_BID_MODE) as BidMode
if (BIDS !== 'gossip' && BIDS !== 'stream') {
  console.error(`bench:jobs: BENCH_BIDS takes gossip or stream, got '${String(BIDS)}'`)
  process.exit(2)
}
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
/** A comma-separated subset of `allowed` (all of them when unset); anything else ends the bench. */
function choices (name: string, allowed: string[]): Set<string> {
  const picked = new Set((process.env[name] ?? allowed.join(',')).split(',').map(s => s.trim()))
  for (const value of picked) {
    if (!allowed.includes(value)) {
      console.error(`bench:jobs: ${name} takes ${allowed.join(' and/or ')} (comma-separated), got '${value}'`)
      process.exit(2)
    }
  }
  return picked
}
if (OPERATE && OPERATE_TURNS % 2 !== 0) {
  console.error(`bench:jobs: BENCH_OPERATE_TURNS must be even (each pair of turns is one off and one on), got ${OPERATE_TURNS}`)
  process.exit(2)
}

if (OPERATE_PROF != null) mkdirSync(OPERATE_PROF, { recursive: true })
if (CPU_PROF != null) for (const dir of ['coordinator', ...Array.from({ length: AGENTS }, (_, i) => `agent-${i + 1}`)]) mkdirSync(join(CPU_PROF, dir), { recursive: true })

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
  /** CPU ms per job over the concurrent burst: every process summed, the coordinator's and each agent's. */
  cpuMsPerJob: CpuPerJob
  /** Gossip messages received per job by topic kind, duplicates included: the coordinator's, and the mean agent's. */
  msgsPerJob: { coordinator: Record<string, number>, agent: Record<string, number> }
  /**
   * Over the concurrent burst, the share of the time each process's event loop was running (1 = never
   * waiting): a path bound by one process's main thread shows it near 1 there; two processes well under 1
   * while the throughput does not grow with more in flight are waiting on each other.
   */
  eventLoopBusy: { coordinator: number, agents: number[] }
  jobs: number
  failed: number
}

export interface CpuPerJob { total: number, coordinator: number, agents: number[] }

/** Start a node in every process (metrics and logging per `operate`), full mesh, one spec served by every agent. */
async function startMesh (coordinator: ScaleNodeProcess, agents: ScaleNodeProcess[], operate: boolean): Promise<Mesh> {
  const procs = [coordinator, ...agents]
  // Each node bootstraps to every node started before it, and keeps them connected: a full mesh.
  const addrs: string[] = []
  const peerIds: string[] = []
  for (const proc of procs) {
    const started = await proc.send({ cmd: 'start', bootstrap: [...addrs], topics: 'per-spec', bids: BIDS, metrics: operate && OPERATE_PARTS.has('metrics'), log: operate && OPERATE_PARTS.has('log') }, 60_000)
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

/**
 * A concurrent burst with the CPU of every process over it (a mark before, its
 * counters after; the coordinator's is the burst's own), and a CPU profile of
 * every process when BENCH_CPU_PROF asks.
 */
async function measuredBurst (mesh: Mesh, path: string, count: number, inFlight: number): Promise<Burst & Pick<PathFigures, 'cpuMsPerJob' | 'msgsPerJob' | 'eventLoopBusy'>> {
  const profile = (dir: string): { profile?: string } => CPU_PROF != null ? { profile: join(CPU_PROF, dir, `${path}.cpuprofile`) } : {}
  await Promise.all([mesh.coordinator.send({ cmd: 'mark', ...profile('coordinator') }), ...mesh.agents.map(async (a, k) => await a.send({ cmd: 'mark', ...profile(`agent-${k + 1}`) }))])
  const b = await burst(mesh, count, inFlight)
  const [coordinatorCounters, ...agentCounters] = await Promise.all([mesh.coordinator, ...mesh.agents].map(async p => (await p.send({ cmd: 'counters' }, 60_000)).counters))
  const succeeded = Math.max(1, b.jobs - b.failed)
  const agents = agentCounters.map(c => round(c.cpuMs / succeeded, 3))
  const coordinator = round(b.cpuMs / succeeded, 3)
  const msgsPerJob = { coordinator: perJob([coordinatorCounters!.msgs], succeeded), agent: perJob(agentCounters.map(c => c.msgs), succeeded) }
  const eventLoopBusy = { coordinator: round(coordinatorCounters!.eventLoopBusy, 3), agents: agentCounters.map(c => round(c.eventLoopBusy, 3)) }
  return { ...b, cpuMsPerJob: { total: round(coordinator + agents.reduce((x, y) => x + y, 0), 3), coordinator, agents }, msgsPerJob, eventLoopBusy }
}

/** Messages received per job by topic kind (duplicates included), the mean over the given processes. */
function perJob (counts: Array<Record<string, number>>, jobs: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const c of counts) for (const [kind, n] of Object.entries(c)) out[kind] = (out[kind] ?? 0) + n
  for (const kind of Object.keys(out)) out[kind] = round(out[kind]! / counts.length / jobs, 2)
  return out
}

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
  const concurrent = await measuredBurst(mesh, 'auction', JOBS, IN_FLIGHT)
  return {
    jobsPerSec: perSec(concurrent),
    overheadMs: summarize(sequential.overheadsMs),
    loadedOverheadMs: summarize(concurrent.overheadsMs),
    cpuMsPerJob: concurrent.cpuMsPerJob,
    eventLoopBusy: concurrent.eventLoopBusy,
    msgsPerJob: concurrent.msgsPerJob,
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
  const concurrent = await measuredBurst(mesh, 'lease', JOBS, IN_FLIGHT)
  const after = await mesh.coordinator.send({ cmd: 'leases', specId: mesh.specId })
  return {
    jobsPerSec: perSec(concurrent),
    overheadMs: summarize(sequential.overheadsMs),
    loadedOverheadMs: summarize(concurrent.overheadsMs),
    cpuMsPerJob: concurrent.cpuMsPerJob,
    eventLoopBusy: concurrent.eventLoopBusy,
    msgsPerJob: concurrent.msgsPerJob,
    coordinatorCpuMsPerJob: round(concurrent.cpuMs / Math.max(1, concurrent.jobs - concurrent.failed), 3),
    jobs: concurrent.jobs,
    failed: concurrent.failed,
    leases: granted.leases.length,
    slots: granted.leases.reduce((n, l) => n + l.slots, 0),
    leasedJobs: leasedJobs(after.leases.filter(l => granted.leases.some(g => g.leaseId === l.leaseId))) - before
  }
}

const leasedJobs = (leases: Array<{ jobs: number }>): number => leases.reduce((n, l) => n + l.jobs, 0)

/** One measured operate turn: its pair (index into the order's pairs), on or off, and its figures. */
interface OperateTurn {
  pair: number
  operate: boolean
  jobsPerSec: number
  failed: number
  /** CPU (user + system) of all five processes over the burst, per job that succeeded. */
  cpuMsPerJob: number
  coordinatorCpuMsPerJob: number
  agentCpuMsPerJob: number
  coordinatorWindowCpuMs: number
}

/**
 * The turns, pair by pair: on/off pairs alternate which goes first (off on,
 * on off: ABBA, so drift on a shared machine falls on both), and after every
 * two of them comes an A/A control pair (off off), until both kinds are used
 * up; control pairs left over go last.
 */
function operateOrder (onOffPairs: number, controlPairs: number): OrderedTurn[] {
  const pairs: boolean[] = []
  let onOff = 0
  let control = 0
  while (onOff < onOffPairs || control < controlPairs) {
    for (let k = 0; k < 2 && onOff < onOffPairs; k++, onOff++) pairs.push(false)
    if (control < controlPairs) { pairs.push(true); control++ }
  }
  let onOffSeen = 0
  return pairs.flatMap((isControl, pair): OrderedTurn[] => {
    if (isControl) return [{ pair, control: true, operate: false }, { pair, control: true, operate: false }]
    const onFirst = onOffSeen++ % 2 === 1
    return [{ pair, control: false, operate: onFirst }, { pair, control: false, operate: !onFirst }]
  })
}

interface OrderedTurn { pair: number, control: boolean, operate: boolean }

/**
 * Per pair, on/off of jobs/s and of CPU per job; for an A/A pair, one off turn
 * over the other, the later over the earlier and the earlier over the later in
 * turn, as an ABBA on/off pair alternates (so both see drift alike). Medians
 * and spreads (lowest, highest) of each.
 */
function operateFigures (turns: OperateTurn[]): { onOff: PairFigures, control: PairFigures, targetMet: boolean, cpuTargetMet: boolean } {
  const byPair = new Map<number, OperateTurn[]>()
  for (const t of turns) byPair.set(t.pair, [...(byPair.get(t.pair) ?? []), t])
  const onOff: Array<[OperateTurn, OperateTurn]> = []
  const control: Array<[OperateTurn, OperateTurn]> = []
  for (const pair of byPair.values()) {
    const [a, b] = pair as [OperateTurn, OperateTurn]
    if (a.operate !== b.operate) onOff.push(a.operate ? [a, b] : [b, a])
    else control.push(control.length % 2 === 0 ? [b, a] : [a, b])
  }
  const figures = (pairs: Array<[OperateTurn, OperateTurn]>): PairFigures => {
    const pairRatios = pairs.map(([x, y]) => round(x.jobsPerSec / y.jobsPerSec, 3))
    const cpuPairRatios = pairs.map(([x, y]) => round(x.cpuMsPerJob / y.cpuMsPerJob, 3))
    return {
      ratio: round(median(pairRatios), 3),
      spread: [Math.min(...pairRatios), Math.max(...pairRatios)],
      pairRatios,
      cpuRatio: round(median(cpuPairRatios), 3),
      cpuSpread: [Math.min(...cpuPairRatios), Math.max(...cpuPairRatios)],
      cpuPairRatios
    }
  }
  const onOffFigures = figures(onOff)
  return {
    onOff: onOffFigures,
    control: figures(control),
    targetMet: onOffFigures.ratio >= TARGETS.operateRatio,
    cpuTargetMet: onOffFigures.cpuRatio <= 2 - TARGETS.operateRatio
  }
}

interface PairFigures { ratio: number, spread: number[], pairRatios: number[], cpuRatio: number, cpuSpread: number[], cpuPairRatios: number[] }

/**
 * Node processes as the daemon runs: V8's own young-generation size, not the
 * 2 MiB semi-space that lets bench:scale fit 100 nodes in memory (at hundreds
 * of jobs a second a 2 MiB young generation is scavenged so often that GC was a
 * quarter of the coordinator's CPU). BENCH_SEMI_SPACE_MB=2 measures it as before.
 */
const SEMI_SPACE_MB = positive('BENCH_SEMI_SPACE_MB', 16)
const nodeProcess = (i: number): ScaleNodeProcess => new ScaleNodeProcess(i, { execArgv: [`--max-semi-space-size=${SEMI_SPACE_MB}`] })
const procs = Array.from({ length: AGENTS + 1 }, (_, i) => nodeProcess(i))
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
  const auction = PATHS.has('auction') ? await runAuctionPath(mesh) : undefined
  progress(`auction path: ${auction != null ? `${auction.jobsPerSec} jobs/s` : 'skipped'}; lease path${PATHS.has('lease') ? '' : ' skipped'}`)
  const lease = PATHS.has('lease') ? await runLeasePath(mesh) : undefined
  await stopMesh(mesh)
  // The operate turns run in processes of their own (below): these would only idle beside them.
  await Promise.all(procs.map(async p => { await p.close() }))

  const turns: OperateTurn[] = []
  if (OPERATE) {
    const order = operateOrder(OPERATE_TURNS / 2, CONTROL_PAIRS)
    for (const [i, turn] of order.entries()) {
      // Fresh processes every turn: what an on turn's metrics leave running in a process (prom-client's GC
      // observer and event-loop monitor outlive the node) must not fall on the next off turn, nor its heap and JIT state.
      const turnProcs = Array.from({ length: AGENTS + 1 }, (_, k) => nodeProcess(k))
      procs.push(...turnProcs)
      await Promise.all(turnProcs.map(async p => { await p.whenReady() }))
      const m = await startMesh(turnProcs[0]!, turnProcs.slice(1), turn.operate)
      await burst(m, WARM_UP_JOBS, 4)
      const profile = (node: number): { profile?: string } => OPERATE_PROF != null ? { profile: join(OPERATE_PROF, `turn${String(i + 1).padStart(2, '0')}-${turn.operate ? 'on' : 'off'}-node${node}.cpuprofile`) } : {}
      await Promise.all([m.coordinator.send({ cmd: 'mark', ...profile(0) }), ...m.agents.map(async (a, k) => await a.send({ cmd: 'mark', ...profile(k + 1) }))])
      const b = await burst(m, OPERATE_JOBS, OPERATE_IN_FLIGHT)
      const [coordinatorCounters, ...agentCounters] = await Promise.all([m.coordinator, ...m.agents].map(async p => (await p.send({ cmd: 'counters' })).counters))
      await stopMesh(m)
      await Promise.all(turnProcs.map(async p => { await p.close() }))
      const succeeded = Math.max(1, b.jobs - b.failed)
      const agentCpuMs = agentCounters.reduce((x, c) => x + c.cpuMs, 0)
      const record: OperateTurn = {
        pair: turn.pair,
        operate: turn.operate,
        jobsPerSec: perSec(b),
        failed: b.failed,
        cpuMsPerJob: round((b.cpuMs + agentCpuMs) / succeeded, 3),
        coordinatorCpuMsPerJob: round(b.cpuMs / succeeded, 3),
        agentCpuMsPerJob: round(agentCpuMs / succeeded, 3),
        // Not in cpuMsPerJob (the coordinator's is its burst's); a check that the profile ran over the same window.
        coordinatorWindowCpuMs: round(coordinatorCounters!.cpuMs, 1)
      }
      turns.push(record)
      progress(`operate turn ${i + 1}/${order.length} (${turn.operate ? 'on' : 'off'}, ${turn.control ? 'A/A control pair' : 'on/off pair'} ${turn.pair + 1}): ${record.jobsPerSec} jobs/s, ${record.cpuMsPerJob} CPU ms per job in all processes`)
    }
  }
  const loadAtEnd = loadavg()[0]!

  const cpuNote = (c: CpuPerJob): string => `coordinator ${c.coordinator}, agents ${c.agents.join(' / ')}`
  const msgs = (m: Record<string, number>): string => `${round(Object.values(m).reduce((x, y) => x + y, 0), 1)}: ${Object.entries(m).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`).join(', ')}`
  const msgRows = (path: string, m: PathFigures['msgsPerJob']): Array<Record<string, string>> => [
    { measure: `${path} path: gossip messages received per job, coordinator`, value: msgs(m.coordinator), note: 'by topic kind, duplicates included' },
    { measure: `${path} path: gossip messages received per job, an agent`, value: msgs(m.agent), note: 'mean of the four agents' }
  ]
  const rows: Array<Record<string, string>> = []
  if (auction != null) {
    rows.push(
      { measure: `auction path: throughput, ${IN_FLIGHT} jobs in flight (${auction.jobs} jobs)`, value: `${auction.jobsPerSec} jobs/s`, note: `target ≥ ${TARGETS.auctionJobsPerSec}: ${auction.jobsPerSec >= TARGETS.auctionJobsPerSec ? 'met' : 'NOT met'}; ${auction.failed} failed` },
      { measure: 'auction path: job latency, one at a time (p50/p99)', value: `${auction.latencyMs.p50} / ${auction.latencyMs.p99} ms`, note: `${SEQUENTIAL_JOBS} jobs` },
      { measure: '  of which collecting bids (p50/p99)', value: `${auction.biddingMs.p50} / ${auction.biddingMs.p99} ms`, note: `window ${BID_WINDOW_MS} ms, closed early once all ${AGENTS} advertised agents bid` },
      { measure: 'auction path: overhead beyond bidding, one at a time (p50/p99)', value: `${auction.overheadMs.p50} / ${auction.overheadMs.p99} ms`, note: `${round(auction.overheadMs.p50 / rawRttMs.p50, 1)}× the raw round trip at p50` },
      { measure: `auction path: overhead beyond bidding, ${IN_FLIGHT} in flight (p50/p99)`, value: `${auction.loadedOverheadMs.p50} / ${auction.loadedOverheadMs.p99} ms`, note: 'queueing included' },
      { measure: 'auction path: coordinator CPU per job', value: `${auction.coordinatorCpuMsPerJob} ms`, note: `${round(auction.coordinatorCpuMsPerJob * auction.jobsPerSec / 10, 0)}% of one core at that rate` },
      { measure: 'auction path: CPU per job, all five processes', value: `${auction.cpuMsPerJob.total} ms`, note: cpuNote(auction.cpuMsPerJob) },
      ...msgRows('auction', auction.msgsPerJob)
    )
  }
  if (lease != null) {
    rows.push(
      { measure: `lease path: throughput, ${IN_FLIGHT} jobs in flight (${lease.jobs} jobs)`, value: `${lease.jobsPerSec} jobs/s`, note: `target ≥ ${TARGETS.leaseJobsPerSec}: ${lease.jobsPerSec >= TARGETS.leaseJobsPerSec ? 'met' : 'NOT met'}; ${lease.failed} failed; ${lease.leasedJobs} of ${lease.jobs + SEQUENTIAL_JOBS} jobs ran under ${lease.leases} lease(s) of ${lease.slots} slots` },
      { measure: 'lease path: overhead, one at a time (p50/p99)', value: `${lease.overheadMs.p50} / ${lease.overheadMs.p99} ms`, note: `${round(lease.overheadMs.p50 / rawRttMs.p50, 1)}× the raw round trip (target ≤ ${TARGETS.leaseOverheadRtts}×: ${lease.overheadMs.p50 <= TARGETS.leaseOverheadRtts * rawRttMs.p50 ? 'met' : 'NOT met'})` },
      { measure: `lease path: overhead, ${IN_FLIGHT} in flight (p50/p99)`, value: `${lease.loadedOverheadMs.p50} / ${lease.loadedOverheadMs.p99} ms`, note: 'queueing included' },
      { measure: 'lease path: coordinator CPU per job', value: `${lease.coordinatorCpuMsPerJob} ms`, note: `auction path ${auction?.coordinatorCpuMsPerJob ?? '(not run)'} ms` },
      { measure: 'lease path: CPU per job, all five processes', value: `${lease.cpuMsPerJob.total} ms`, note: `${cpuNote(lease.cpuMsPerJob)}; 2 cores at ${TARGETS.leaseJobsPerSec} jobs/s allow ${round(2000 / TARGETS.leaseJobsPerSec, 1)}` },
      ...msgRows('lease', lease.msgsPerJob)
    )
  }
  rows.push({ measure: 'raw libp2p request/response, fresh stream (p50/p99)', value: `${rawRttMs.p50} / ${rawRttMs.p99} ms`, note: `${RTT_SAMPLES} samples, coordinator's process to an agent's` })

  let operate: ReturnType<typeof operateFigures> | undefined
  if (OPERATE) {
    operate = operateFigures(turns)
    const { onOff, control } = operate
    const parts = [...OPERATE_PARTS].join(' and ')
    const middle = (on: boolean, of: (t: OperateTurn) => number): number => round(median(turns.filter(t => t.operate === on).map(of)), 2)
    rows.push(
      {
        measure: `${parts} on/off: throughput, ${OPERATE_TURNS} turns of ${OPERATE_JOBS} jobs, ${OPERATE_IN_FLIGHT} in flight`,
        value: `${onOff.ratio}`,
        note: `median of pairs ${onOff.pairRatios.join(', ')} (spread ${onOff.spread.join('–')}); target ≥ ${TARGETS.operateRatio}: ${operate.targetMet ? 'met' : 'NOT met'}; median turn off ${middle(false, t => t.jobsPerSec)}, on ${middle(true, t => t.jobsPerSec)} jobs/s`
      },
      {
        measure: `  A/A control (off/off), ${CONTROL_PAIRS * 2} turns: throughput`,
        value: `${control.ratio}`,
        note: `median of pairs ${control.pairRatios.join(', ')} (spread ${control.spread.join('–')}): the noise floor; 1 = none`
      },
      {
        measure: `${parts} on/off: CPU per job, all five processes`,
        value: `${onOff.cpuRatio}`,
        note: `median of pairs ${onOff.cpuPairRatios.join(', ')} (spread ${onOff.cpuSpread.join('–')}); target ≤ ${round(2 - TARGETS.operateRatio, 2)}: ${operate.cpuTargetMet ? 'met' : 'NOT met'}; median on turn ${middle(true, t => t.cpuMsPerJob)} ms (coordinator ${middle(true, t => t.coordinatorCpuMsPerJob)}), off ${middle(false, t => t.cpuMsPerJob)} ms (coordinator ${middle(false, t => t.coordinatorCpuMsPerJob)})`
      },
      {
        measure: '  A/A control (off/off): CPU per job',
        value: `${control.cpuRatio}`,
        note: `median of pairs ${control.cpuPairRatios.join(', ')} (spread ${control.cpuSpread.join('–')}): the noise floor`
      }
    )
  }
  rows.push({ measure: 'load average (1 min), start / end', value: `${round(loadAtStart, 1)} / ${round(loadAtEnd, 1)}`, note: 'above 2 (the cores): a busy machine, slower figures' })

  console.log(`specmesh bench:jobs — 1 coordinator, ${AGENTS} agents, each in its own process; trivial handler, bid window ${BID_WINDOW_MS} ms, bids by ${BIDS}\n`)
  console.log(table(rows))
  const line = {
    auction: auction != null ? { jobsPerSec: auction.jobsPerSec, overheadMs: auction.overheadMs } : null,
    lease: lease != null ? { jobsPerSec: lease.jobsPerSec, overheadMs: lease.overheadMs } : null,
    rawRttMs,
    coordinatorCpuMsPerJob: { auction: auction?.coordinatorCpuMsPerJob ?? null, lease: lease?.coordinatorCpuMsPerJob ?? null },
    cpuMsPerJob: { auction: auction?.cpuMsPerJob.total ?? null, lease: lease?.cpuMsPerJob.total ?? null },
    ...(operate != null ? { operate: { ratio: operate.onOff.ratio, spread: operate.onOff.spread, targetMet: operate.targetMet, cpuRatio: operate.onOff.cpuRatio, cpuSpread: operate.onOff.cpuSpread, cpuTargetMet: operate.cpuTargetMet, control: { ratio: operate.control.ratio, spread: operate.control.spread, cpuRatio: operate.control.cpuRatio, cpuSpread: operate.control.cpuSpread } } } : {}),
    loadAverage: [round(loadAtStart, 2), round(loadAtEnd, 2)]
  }
  const file = await saveResult('bench-jobs', { ...line, auctionDetail: auction, leaseDetail: lease, ...(operate != null ? { operate: { ...operate, parts: [...OPERATE_PARTS], jobs: OPERATE_JOBS, inFlight: OPERATE_IN_FLIGHT, turns } } : {}), inFlight: IN_FLIGHT, bidWindowMs: BID_WINDOW_MS, bids: BIDS, targets: TARGETS })
  console.log(`\nsaved ${file}`)
  console.log(JSON.stringify(line))
} finally {
  // Stop every node and let its process go.
  await Promise.all(procs.map(async p => { await p.close() }))
  killAll()
}
process.exit(0)
