/**
 * npm run bench:scale — what a node receives and spends per job as the mesh
 * grows, by role, with every node in its own process; and the same run with
 * the global topics and with per-spec topics side by side (issue 9).
 *
 * For each N (default 10, 30, 100; a size listed twice runs twice, in the
 * order given, so --nodes 10,100,10,100 interleaves them and both sizes see the
 * same machine) and each topic mode (default global, then per-spec), a fresh mesh: N node processes (scripts/lib/scale-node.ts) on
 * 127.0.0.1 with the DHT on and mDNS off, each bootstrapping to up to
 * --bootstrap random earlier nodes (a random graph, degree ~2×that, plus what
 * the DHT dials). --specs specs, each with one coordinator and --agents agents
 * (a trivial handler through the SDK) at random places in the graph; every
 * other node a bystander. Every coordinator runs --warmup-jobs jobs; then only
 * spec A's coordinator runs jobs at --rate per second for --seconds, and what
 * every node received and spent in that window is divided by those jobs.
 * Before the jobs, --idle-seconds with none running measure what each node
 * process spends idle, and all of them together against the machine's cores.
 *
 *   npm run bench:scale -- [--nodes 10,30,100] [--modes global,per-spec]
 *     [--rate 5] [--seconds 40] [--specs 2] [--agents 3] [--bootstrap 3]
 *     [--warmup-jobs 4] [--bid-window-ms 1000] [--idle-seconds 10] [--seed 1]
 *     [--others-nice 19]
 *
 * --others-nice: every node that is not a party of the measured jobs runs at
 * this scheduling niceness (as root; 0 = all equal, and the only choice for
 * another user), standing in for the machines of their own each node has on a
 * real mesh (see OTHERS_NICE below).
 *
 * BENCH_SCALE_BIDS=gossip|stream|both (default stream, a node's default since
 * 3 December; gossip until then, docs/benchmarks.md "bench:scale" has both measured
 * interleaved): how agents send bids (market.bids); 'both' runs each topic
 * mode with bids by gossip and by stream, side by side on the same processes,
 * and prints stream/gossip ratios.
 *
 * BENCH_DEBUG=1: before the measured jobs, print for each spec's coordinator
 * and its first agent the gossipsub scores it gives its peers, and per topic of
 * the spec its mesh and the subscribers it knows (scale-node.ts 'diag'); after
 * them, the five slowest jobs (with their bid windows), and per role the bytes
 * per job by libp2p protocol, the connections, those opened (in/out) and those
 * the connection budget closed.
 *
 * BENCH_SCALE_LOG=DIR: the daemon log (JSON lines, debug level) of every
 * coordinator and agent, one file per run and node (DIR/N=…-<role>-node<i>.log):
 * when each job was submitted, bid on (agent.bid), awarded, and why one failed.
 *
 * BENCH_SCALE_PROFILE=DIR: CPU profiles (.cpuprofile) of spec A's coordinator,
 * the other spec's, an agent of A and a bystander, over the idle window and
 * over the measured jobs, one file each.
 *
 * Prints a table per N and mode with where its jobs' time went, phase by phase
 * (scripts/lib/job-phases.ts: p50, p99 and mean per phase, and the mean of the
 * slowest 2% of the jobs), every run's p50 and p99 per N (and the median
 * p99 of a size that ran more than once, which the p99 target compares), the
 * per-spec/global ratios, the targets (met / NOT met); saves bench-results/bench-scale-*.json; the last line is one
 * JSON object.
 */
import { parseArgs } from 'node:util'
import { availableParallelism, getPriority, setPriority } from 'node:os'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { round, saveResult, table } from './lib/bench.ts'
import { killAll, spawnNodes, type ScaleNodeProcess } from './lib/scale-pool.ts'
import type { BidMode, Counters, TopicMode } from './lib/scale-protocol.ts'
import { bidRatios, bidRatioTable, COUNTED, cpuPerSecond, latency, latencyByN, latencyTable, loopDelayByRole, phaseTable, ratios, ratioTable, ROLE_MEANING, roleFigures, runTable, tailTable, targets, targetTable, type Role, type RunResult } from './lib/scale-report.ts'
import { PHASE_MEANING, phaseBreakdown, TAIL_SHARE } from './lib/job-phases.ts'

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10,30,100' },
    modes: { type: 'string', default: 'global,per-spec' },
    // 200 measured jobs: with 30 the p99 was the single slowest job, and one slow job on a shared machine moved it 5×.
    rate: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '40' },
    specs: { type: 'string', default: '2' },
    agents: { type: 'string', default: '3' },
    bootstrap: { type: 'string', default: '3' },
    'warmup-jobs': { type: 'string', default: '4' },
    'bid-window-ms': { type: 'string', default: '1000' },
    'idle-seconds': { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    'others-nice': { type: 'string', default: '19' },
    help: { type: 'boolean', default: false }
  }
})

if (flags.help) {
  console.log('npm run bench:scale -- [--nodes 10,30,100] [--modes global,per-spec] [--rate 5] [--seconds 40] [--specs 2] [--agents 3] [--bootstrap 3] [--warmup-jobs 4] [--bid-window-ms 1000] [--idle-seconds 10] [--seed 1] [--others-nice 19]')
  console.log('  --others-nice N                      niceness (0-19) of every node but spec A\'s coordinator and agents (default 19, as root; 0: all at the same priority)')
  console.log('  BENCH_SCALE_BIDS=gossip|stream|both  how agents send bids (default stream)')
  console.log('  BENCH_SCALE_LOG=DIR                  the daemon log (debug) of every coordinator and agent, one file per run and node')
  console.log('  BENCH_DEBUG=1                        print each spec\'s coordinator\'s and an agent\'s peer scores, mesh and subscribers before the jobs; after them the slowest jobs, bytes per job by protocol and connections per role')
  console.log('  BENCH_SCALE_PROFILE=DIR              CPU profiles of both coordinators, an agent and a bystander, idle and during the jobs')
  process.exit(0)
}

function positive (name: string, text: string, integer = true): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`bench:scale: --${name} must be a positive ${integer ? 'integer' : 'number'}, got '${text}'`)
    process.exit(2)
  }
  return n
}

const SIZES = flags.nodes.split(',').map(s => positive('nodes', s.trim()))
const MODES = flags.modes.split(',').map(s => s.trim()) as TopicMode[]
for (const mode of MODES) {
  if (mode !== 'global' && mode !== 'per-spec') { console.error(`bench:scale: --modes takes global and/or per-spec, got '${mode}'`); process.exit(2) }
}
// Stream, as a node bids by default (protocols/market.md "How bids travel"): the bench measures what a mesh does.
const BIDS_ENV = process.env.BENCH_SCALE_BIDS ?? 'stream'
if (!['gossip', 'stream', 'both'].includes(BIDS_ENV)) { console.error(`bench:scale: BENCH_SCALE_BIDS takes gossip, stream or both, got '${BIDS_ENV}'`); process.exit(2) }
const BIDS: BidMode[] = BIDS_ENV === 'both' ? ['gossip', 'stream'] : [BIDS_ENV as BidMode]
const RATE = positive('rate', flags.rate, false)
const SECONDS = positive('seconds', flags.seconds, false)
const SPECS = positive('specs', flags.specs)
const AGENTS = positive('agents', flags.agents)
const BOOTSTRAP = positive('bootstrap', flags.bootstrap)
const WARMUP_JOBS = positive('warmup-jobs', flags['warmup-jobs'])
const BID_WINDOW_MS = positive('bid-window-ms', flags['bid-window-ms'])
const IDLE_SECONDS = positive('idle-seconds', flags['idle-seconds'], false)
const SEED = positive('seed', flags.seed)
/**
 * The scheduling niceness (0–19) of every node that is not a party of the measured jobs (spec A's
 * coordinator and agents): bystanders and the other specs' parties. On a real mesh each node has its
 * own machine, and a bystander's idle work never delays spec A's jobs; here 100 processes share two
 * cores, and a party waits in the run queue behind them. A positive value lets the parties run first,
 * so the p99 shows what the protocol does as N grows more than how two cores share 100 processes;
 * every node still does all its work (it runs whenever a party does not need the core). 0: all equal.
 */
const NICE_ASKED = Number(flags['others-nice'])
if (!Number.isInteger(NICE_ASKED) || NICE_ASKED < 0 || NICE_ASKED > 19) { console.error(`bench:scale: --others-nice takes an integer from 0 (every node equal) to 19 (the non-parties last), got '${flags['others-nice']}'`); process.exit(2) }
// Runs of different sizes share the processes and give them different roles: a node niced in one run
// may be a party in the next, and giving it its priority back needs root.
const IS_ROOT = process.getuid?.() === 0
if (NICE_ASKED > 0 && !IS_ROOT) console.error(`bench:scale: --others-nice ${NICE_ASKED} needs root (a niced node gets its priority back when a later run makes it a party); every node runs at the same priority (--others-nice 0)`)
const OTHERS_NICE = IS_ROOT ? NICE_ASKED : 0
if (SPECS < 2) { console.error(`bench:scale: --specs must be at least 2 (spec A gets the jobs; the agents of the others are the "otherAgent" role), got ${SPECS}`); process.exit(2) }
const PARTIES = SPECS * (1 + AGENTS)
for (const n of SIZES) {
  if (n < PARTIES + 1) { console.error(`bench:scale: --nodes ${n} is too few for ${SPECS} specs × (1 coordinator + ${AGENTS} agents) and a bystander (at least ${PARTIES + 1})`); process.exit(2) }
}
/** Node processes loading their modules at once: that is most of a process's start cost, and there are two cores. */
const SPAWN_CONCURRENCY = 4
/** Nodes started at once (each bootstraps only to nodes already up). */
const START_BATCH = 10
const MESH_DEADLINE_MS = 90_000
/** How long the coordinators get to hold the adverts of all their agents before the measured jobs (they go on without, and say how many they held). */
const ADVERTS_DEADLINE_MS = 60_000
const MAX_IN_FLIGHT = 64

if (process.env.BENCH_SCALE_PROFILE != null) mkdirSync(process.env.BENCH_SCALE_PROFILE, { recursive: true })
if (process.env.BENCH_SCALE_LOG != null) mkdirSync(process.env.BENCH_SCALE_LOG, { recursive: true })
const benchStarted = Date.now()
const progress = (text: string): void => { process.stderr.write(`bench:scale [${Math.round((Date.now() - benchStarted) / 1000)} s]: ${text}\n`) }

/** A small seeded generator (mulberry32), so the same seed gives the same graph and roles. */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T> (items: T[], rand: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Set each node process's niceness for this run: 0 for spec A's parties, OTHERS_NICE for the rest (see OTHERS_NICE). */
function prioritize (procs: ScaleNodeProcess[], isParty: (i: number) => boolean): void {
  if (OTHERS_NICE === 0) return
  for (const [i, p] of procs.entries()) {
    const pid = p.child.pid
    if (pid == null) continue
    try {
      setPriority(pid, isParty(i) ? 0 : OTHERS_NICE)
    } catch (err) {
      // Lowering a priority is always allowed; raising one back (a node niced in one run, a party in the next) needs root.
      throw new Error(`bench:scale: could not set node ${i}'s niceness to ${isParty(i) ? 0 : OTHERS_NICE} (${(err as Error).message}); pass --others-nice 0 to run every node at the same priority`)
    }
  }
}

/** Each role's niceness as the system has it now (the highest among the role's processes). */
function niceByRole (procs: ScaleNodeProcess[], roleAt: (i: number) => Role): Partial<Record<Role, number>> {
  const out: Partial<Record<Role, number>> = {}
  for (const [i, p] of procs.entries()) {
    if (p.child.pid == null) continue
    const role = roleAt(i)
    const nice = getPriority(p.child.pid)
    out[role] = Math.max(out[role] ?? nice, nice)
  }
  return out
}

async function waitUntil (what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench:scale: timed out after ${deadlineMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

interface Spec { index: number, coordinator: number, agents: number[], id?: string }

/** One mesh of `procs.length` nodes in `mode`, measured, then stopped (the processes stay, for the other mode). */
async function runOnce (procs: ScaleNodeProcess[], mode: TopicMode, bids: BidMode, seed: number, pass: number): Promise<RunResult> {
  const n = procs.length
  const setupStarted = Date.now()
  // The same seed for both modes of one N: the same graph and the same roles.
  const rand = random(seed)
  const label = `N=${n}${pass > 1 ? ` pass ${pass}` : ''} ${mode} bids ${bids}`
  const roleOf = new Map<number, Role>()
  const logOf = (i: number): { keepLog?: string } => LOG_DIR != null && roleOf.has(i) ? { keepLog: join(LOG_DIR, `${label.replaceAll(' ', '-')}-${roleOf.get(i)!}-node${i}.log`) } : {}
  try {
    // Roles at random places in the graph (the first nodes have more peers).
    const order = shuffle(Array.from({ length: n }, (_, i) => i), rand)
    const specs: Spec[] = Array.from({ length: SPECS }, (_, s) => ({ index: s, coordinator: order[s * (1 + AGENTS)]!, agents: order.slice(s * (1 + AGENTS) + 1, (s + 1) * (1 + AGENTS)) }))
    for (const spec of specs) {
      roleOf.set(spec.coordinator, spec.index === 0 ? 'coordinator' : 'otherCoordinator')
      for (const a of spec.agents) roleOf.set(a, spec.index === 0 ? 'agent' : 'otherAgent')
    }
    prioritize(procs, i => roleOf.get(i) === 'coordinator' || roleOf.get(i) === 'agent')

    // Start in order: each node bootstraps to up to BOOTSTRAP random nodes already up.
    const addrs: string[] = []
    // In batches no larger than the nodes already up, so that the early nodes are not all leaves of node 0.
    for (let i = 0; i < n;) {
      const up = addrs.length
      const batch = Array.from({ length: Math.min(Math.max(1, Math.min(START_BATCH, up)), n - i) }, (_, j) => i + j)
      i += batch.length
      const started = await Promise.all(batch.map(async k => {
        const bootstrap = shuffle(Array.from({ length: up }, (_, j) => j), rand).slice(0, BOOTSTRAP).map(j => addrs[j]!)
        const logged = LOG_DIR != null && roleOf.has(k) ? { log: true, logLevel: 'debug' as const } : {}
        return await procs[k]!.send({ cmd: 'start', bootstrap, topics: mode, bids, ...logged }, 60_000)
      }))
      for (const s of started) addrs.push(s.addr)
    }
    progress(`${label}: ${n} nodes started; waiting for the mesh`)
    const minPeers = Math.min(2, n - 1)
    let degrees: number[] = []
    await waitUntil(`every node to have ${minPeers} peers`, MESH_DEADLINE_MS, async () => {
      degrees = await Promise.all(procs.map(async p => (await p.send({ cmd: 'status', specIds: [] }, 60_000)).connections))
      return degrees.every(c => c >= minPeers)
    }).catch((err: Error) => { throw new Error(`${err.message} (peers per node: ${degrees.join(' ')})`) })

    for (const spec of specs) spec.id = (await procs[spec.coordinator]!.send({ cmd: 'publish', name: `scale-spec-${spec.index}` })).specId
    const specIds = specs.map(s => s.id!)
    await waitUntil('every spec on every node', MESH_DEADLINE_MS, async () =>
      (await Promise.all(procs.map(async p => (await p.send({ cmd: 'status', specIds }, 60_000)).specsHeld))).every(c => c === specIds.length))
    for (const spec of specs) {
      await Promise.all(spec.agents.map(async (a, j) => await procs[a]!.send({ cmd: 'serve', specId: spec.id!, priceUsd: 0.01 * (j + 1) })))
    }
    progress(`${label}: specs everywhere, agents serving; warm-up (${WARMUP_JOBS} jobs per spec)`)
    // Warm-up: every coordinator's first jobs (a per-spec coordinator joins its spec's topics and meets the agents here,
    // as a node's first job does: its provider lookup, the dials, the first adverts).
    const warmups = await Promise.all(specs.map(async spec => await procs[spec.coordinator]!.send({ cmd: 'jobs', specId: spec.id!, count: WARMUP_JOBS, ratePerSec: RATE, bidWindowMs: BID_WINDOW_MS, maxInFlight: MAX_IN_FLIGHT }, 120_000)))
    const warmFailed = warmups.reduce((sum, w) => sum + w.failed, 0)
    if (warmFailed > 0) progress(`${label}: ${warmFailed} warm-up jobs failed (${warmups.flatMap(w => w.reasons).slice(0, 2).join('; ')})`)
    // The gate of the measurement: with every advert in hand a coordinator expects every agent's bid and closes its
    // window once all have bid; without, its windows run out. The idle window and the jobs start only once each
    // coordinator holds every advert of its spec, or after ADVERTS_DEADLINE_MS, and the run says which (advertsComplete).
    let adverts: number[] = []
    const advertsStarted = Date.now()
    const advertsComplete = await waitUntil('every coordinator to hold every advert of its spec', ADVERTS_DEADLINE_MS, async () => {
      adverts = await Promise.all(specs.map(async s => (await procs[s.coordinator]!.send({ cmd: 'status', specIds: [], advertsOf: s.id! }, 60_000)).adverts))
      return adverts.every(c => c >= AGENTS)
    }).then(() => true, (err: Error) => {
      progress(`${label}: going on without: ${err.message} (adverts held per spec: ${adverts.join(' ')})`)
      return false
    })
    const advertsWaitMs = Date.now() - advertsStarted
    if (advertsComplete) progress(`${label}: every coordinator held every advert of its spec ${round(advertsWaitMs / 1000, 1)} s after the warm-up`)
    const setupMs = Date.now() - setupStarted
    if (process.env.BENCH_DEBUG === '1') {
      for (const spec of specs) {
        for (const [role, i] of [['coordinator', spec.coordinator], ['agent', spec.agents[0]!]] as const) {
          progress(`${label}: spec ${spec.index} ${role}: ${JSON.stringify((await procs[i]!.send({ cmd: 'diag', specId: spec.id! }, 60_000)).diag)}`)
        }
      }
    }
    const roleAt = (i: number): Role => roleOf.get(i) ?? 'bystander'

    // What the nodes spend with no job running: every one of them shares the same cores.
    progress(`${label}: ${IDLE_SECONDS} s idle`)
    const profiled = profiledNodes(specs, roleAt, n)
    await Promise.all(procs.map(async (p, i) => await p.send({ cmd: 'mark', ...profileOf(profiled, i, `${label.replaceAll(' ', '-')}-idle`) }, 60_000)))
    await new Promise(resolve => setTimeout(resolve, IDLE_SECONDS * 1000))
    const idle = cpuPerSecond(await Promise.all(procs.map(async p => (await p.send({ cmd: 'counters' }, 60_000)).counters)), roleAt)

    const count = Math.max(1, Math.round(RATE * SECONDS))
    progress(`${label}: measuring ${count} jobs at ${RATE}/s`)
    // How late the event loops of the measured spec's parties (and of one bystander, to compare) ran during the jobs.
    const firstBystander = Array.from({ length: n }, (_, i) => i).find(i => roleAt(i) === 'bystander')
    const timesLoop = (i: number): boolean => roleAt(i) === 'coordinator' || roleAt(i) === 'agent' || i === firstBystander
    await Promise.all(procs.map(async (p, i) => await p.send({ cmd: 'mark', ...profileOf(profiled, i, `${label.replaceAll(' ', '-')}-jobs`), loopDelay: timesLoop(i) }, 60_000)))
    const windowStarted = performance.now()
    const jobs = await procs[specs[0]!.coordinator]!.send({ cmd: 'jobs', specId: specs[0]!.id!, count, ratePerSec: RATE, bidWindowMs: BID_WINDOW_MS, maxInFlight: MAX_IN_FLIGHT }, (SECONDS + 120) * 1000)
    const windowMs = performance.now() - windowStarted
    const counters: Counters[] = await Promise.all(procs.map(async p => (await p.send({ cmd: 'counters' }, 60_000)).counters))
    if (jobs.failed > 0) progress(`${label}: ${jobs.failed} measured jobs failed (${jobs.reasons.join('; ')})`)
    const parts = latencyParts(jobs)
    if (process.env.BENCH_DEBUG === '1') {
      const slowest = jobs.latenciesMs.map((ms, k) => ({ ms: Math.round(ms), biddingMs: jobs.biddingMs[k]!, attemptMs: jobs.execMs[k]!, attempts: jobs.attempts[k]! })).sort((a, b) => b.ms - a.ms).slice(0, 5)
      progress(`${label}: slowest jobs ${JSON.stringify(slowest)}; bidding p50/p99 ${parts.biddingMs.p50}/${parts.biddingMs.p99} ms, after the bids p50/p99 ${parts.afterBidsMs.p50}/${parts.afterBidsMs.p99} ms, the agent's handler by its claim ${parts.attemptMs.p50}/${parts.attemptMs.p99} ms`)
      for (const role of ['coordinator', 'agent', 'otherCoordinator', 'otherAgent', 'bystander'] as const) {
        const mine = counters.filter((_, i) => roleAt(i) === role)
        if (mine.length === 0) continue
        progress(`${label}: ${role} bytes/job by protocol ${JSON.stringify(roleFigures(mine, count - jobs.skipped).bytesByProtocol)}; connections ${mine.map(c => c.connections).join(' ')}; opened in / out ${mine.map(c => `${c.opened.inbound}/${c.opened.outbound}`).join(' ')}; trimmed ${mine.map(c => c.trimmed).join(' ')}`)
      }
    }

    const ran = count - jobs.skipped
    const perJob: RunResult['perJob'] = {}
    for (const role of ['coordinator', 'agent', 'otherAgent', 'otherCoordinator', 'bystander'] as const) {
      const mine = counters.filter((_, i) => roleAt(i) === role)
      if (mine.length > 0) perJob[role] = roleFigures(mine, ran)
    }
    return {
      nodes: n,
      pass,
      topics: mode,
      bids,
      jobsPerSec: round(jobs.latenciesMs.length / (windowMs / 1000)),
      targetJobsPerSec: RATE,
      jobs: ran,
      failed: jobs.failed,
      skipped: jobs.skipped,
      windowMs: Math.round(windowMs),
      latencyMs: latency(jobs.latenciesMs),
      latencyParts: parts,
      phases: phaseBreakdown(jobs.timings),
      degree: round(counters.reduce((sum, c) => sum + c.connections, 0) / counters.length, 1),
      setupMs,
      perJob,
      advertsHeld: adverts,
      niceByRole: niceByRole(procs, roleAt),
      advertsWaitMs,
      advertsComplete,
      warmupFailed: warmFailed,
      loopDelayMs: loopDelayByRole(counters, roleAt),
      cpu: { cores: availableParallelism(), idleSeconds: IDLE_SECONDS, idleMsPerSec: idle.byRole, idleTotalMsPerSec: idle.total, windowTotalMsPerSec: cpuPerSecond(counters, roleAt).total }
    }
  } finally {
    progress(`${label}: stopping ${n} nodes`)
    await inBatches(procs, async (p, i) => { await p.send({ cmd: 'stop', ...logOf(i) }, 20_000) })
  }
}

/** BENCH_SCALE_LOG=DIR: the daemon log (debug level) of every coordinator and agent, one file per run and node. */
const LOG_DIR = process.env.BENCH_SCALE_LOG

/** BENCH_SCALE_PROFILE=DIR: a CPU profile of spec A's coordinator, the other spec's, an agent of A and a bystander, over the idle window and over the jobs. */
const PROFILE_DIR = process.env.BENCH_SCALE_PROFILE

/** The nodes BENCH_SCALE_PROFILE profiles: one of each role, by index. */
function profiledNodes (specs: Spec[], roleAt: (i: number) => Role, n: number): Map<number, Role> {
  const out = new Map<number, Role>()
  if (PROFILE_DIR == null) return out
  out.set(specs[0]!.coordinator, 'coordinator')
  out.set(specs[1]!.coordinator, 'otherCoordinator')
  out.set(specs[0]!.agents[0]!, 'agent')
  const bystander = Array.from({ length: n }, (_, i) => i).find(i => roleAt(i) === 'bystander')
  if (bystander != null) out.set(bystander, 'bystander')
  return out
}

function profileOf (profiled: Map<number, Role>, i: number, window: string): { profile?: string } {
  const role = profiled.get(i)
  return role != null && PROFILE_DIR != null ? { profile: join(PROFILE_DIR, `${window}-${role}-node${i}.cpuprofile`) } : {}
}

/** Each job's latency split at the end of its bid window: the bidding, and the award and execution after it. */
function latencyParts (jobs: { latenciesMs: number[], biddingMs: number[], execMs: number[] }): RunResult['latencyParts'] {
  return { biddingMs: latency(jobs.biddingMs), afterBidsMs: latency(jobs.latenciesMs.map((ms, k) => ms - jobs.biddingMs[k]!)), attemptMs: latency(jobs.execMs) }
}

/** In batches: a hundred nodes closing their connections at once only slow each other down. */
async function inBatches (procs: ScaleNodeProcess[], f: (p: ScaleNodeProcess, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < procs.length; i += 20) await Promise.all(procs.slice(i, i + 20).map(async (p, j) => { await f(p, i + j) }))
}

const started = Date.now()
const runs: RunResult[] = []
// One process per node, spawned once for the largest N and kept for every run: loading the modules is most of a
// process's start cost (a minute per 20 processes on a busy two-core machine), and a size listed twice would pay it
// twice. A run of N nodes uses the first N processes, with a fresh node in each; the others wait, with no node in them.
const largest = Math.max(...SIZES)
try {
  progress(`spawning ${largest} node processes`)
  const procs = await spawnNodes(largest, SPAWN_CONCURRENCY, done => { if (done % 20 === 0 || done === largest) progress(`${done}/${largest} processes up`) })
  for (const [i, n] of SIZES.entries()) {
    // A size listed again is its next pass; the same seed, so the same graph and roles, on fresh nodes.
    const pass = SIZES.slice(0, i + 1).filter(m => m === n).length
    // Alternate which mode goes first, so drift on a shared machine does not always fall on the same one.
    const combos = MODES.flatMap(topics => BIDS.map(bids => ({ topics, bids })))
    const modes = i % 2 === 0 ? combos : [...combos].reverse()
    for (const { topics, bids } of modes) {
      const run = await runOnce(procs.slice(0, n), topics, bids, SEED * 1000 + n, pass)
      runs.push(run)
      progress(`${run.nodes}${pass > 1 ? ` pass ${pass}` : ''} ${run.topics} bids ${run.bids} done: p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms`)
    }
  }
  await inBatches(procs, async p => { await p.close() })
} catch (err) {
  killAll()
  console.error((err as Error).stack ?? err)
  process.exit(1)
}

console.log(`specmesh bench:scale — one process per node; ${SPECS} specs × (1 coordinator + ${AGENTS} agents), the rest bystanders; measured jobs on spec A only, ${RATE}/s for ${SECONDS} s; bid window ${BID_WINDOW_MS} ms; ${OTHERS_NICE === 0 ? 'every node at the same priority' : `every node but spec A's parties at nice ${OTHERS_NICE}`}\n`)
console.log(table(Object.entries(ROLE_MEANING).map(([role, meaning]) => ({ role, meaning }))))
console.log(`\nCounted: ${COUNTED}\n`)
for (const run of runs) console.log(runTable(run) + '\n' + phaseTable(run.phases) + '\n')
const latencyList = latencyByN(runs)
console.log('latency per N, every run in the order it ran (ms):\n' + latencyTable(latencyList) + '\n')
console.log(`the slowest ${TAIL_SHARE * 100}% of each run's jobs, mean ms per phase:\n` + tailTable(runs) + '\n')
console.log('the phases:\n' + table(Object.entries(PHASE_MEANING).map(([phase, meaning]) => ({ phase, meaning }))) + '\n')
const ratioList = ratios(runs)
if (ratioList.length > 0) console.log('per-spec / global, same N, same run:\n' + ratioTable(ratioList) + '\n')
const bidRatioList = bidRatios(runs)
if (bidRatioList.length > 0) console.log('bids by stream / by gossip, same N and topics, same run:\n' + bidRatioTable(bidRatioList) + '\n')
const targetList = targets(runs)
console.log('targets:\n' + targetTable(targetList) + '\n')
const result = {
  runs,
  latencyByN: latencyList,
  ratios: ratioList,
  bidRatios: bidRatioList,
  targets: targetList,
  counted: COUNTED,
  phases: PHASE_MEANING,
  roles: ROLE_MEANING,
  workload: { othersNice: OTHERS_NICE, bids: BIDS, specs: SPECS, agentsPerSpec: AGENTS, bootstrapPerNode: BOOTSTRAP, rate: RATE, seconds: SECONDS, warmupJobs: WARMUP_JOBS, bidWindowMs: BID_WINDOW_MS, idleSeconds: IDLE_SECONDS, seed: SEED },
  totalSeconds: round((Date.now() - started) / 1000, 1)
}
const file = await saveResult('bench-scale', result)
console.log(`saved ${file} (${result.totalSeconds} s in all)`)
console.log(JSON.stringify(result))
process.exit(0)
