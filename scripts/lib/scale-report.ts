/**
 * bench:scale's arithmetic: per-role figures per job from the nodes'
 * counters, the per-spec / global ratios, and the issue's targets.
 */
import { median, round, summarize, table } from './bench.ts'
import type { BidMode, Counters, TopicMode } from './scale-protocol.ts'
import { PHASES, TAIL_SHARE, type PhaseBreakdown } from './job-phases.ts'

export const ROLES = ['coordinator', 'agent', 'otherAgent', 'otherCoordinator', 'bystander'] as const
export type Role = typeof ROLES[number]

/** What each role means in a run (printed with the tables). */
export const ROLE_MEANING: Record<Role, string> = {
  coordinator: 'submits every measured job (spec A)',
  agent: 'serves spec A, the spec of the measured jobs',
  otherAgent: 'serves another spec (B…), which gets no jobs while A\'s are measured',
  otherCoordinator: 'submitted jobs to another spec during warm-up, none while A\'s are measured',
  bystander: 'serves nothing, submits nothing'
}

export const COUNTED = 'per job = received by one node during the measured window / measured jobs run (mean over the nodes of a role). ' +
  'bytes: everything the node\'s libp2p connections received (libp2p_data_transfer_bytes_total "global": gossip with duplicates and control, execution streams, DHT, identify, ping, sync; noise and yamux framing included). ' +
  'gossipBytes: the gossipsub RPC frames alone (messages with duplicates, IHAVE/IWANT/GRAFT/PRUNE/IDONTWANT, subscriptions). ' +
  'msgs: gossip messages received on every topic, duplicates included, before validation (byKind per topic kind), and bid frames read from bid streams (kind bid-stream, under bids stream). ' +
  'cpuMs: process.cpuUsage (user + system) of the node\'s process, its idle work in the window included. rssMB: its RSS at the end of the window.'

export interface RoleFigures {
  nodes: number
  msgs: number
  bytes: number
  gossipBytes: number
  cpuMs: number
  rssMB: number
  msgsByKind: Record<string, number>
  /** Bytes received per job by libp2p protocol (the streams' payload; 'global' is every connection's bytes with framing). */
  bytesByProtocol: Record<string, number>
}

export interface RunResult {
  nodes: number
  /** Which pass over the --nodes list this run belongs to (1, 2, …: a size listed twice runs twice, interleaved with the others). */
  pass: number
  topics: TopicMode
  /** How agents sent bids (market.bids). */
  bids: BidMode
  jobsPerSec: number
  targetJobsPerSec: number
  jobs: number
  failed: number
  skipped: number
  windowMs: number
  latencyMs: { p50: number, p99: number }
  /** Each job's latency split: its bid window (biddingMs), and the award, execution and receipt after it (afterBidsMs), and the agent's handler run by its signed claim (attemptMs). */
  latencyParts: { biddingMs: { p50: number, p99: number }, afterBidsMs: { p50: number, p99: number }, attemptMs: { p50: number, p99: number } }
  /** Where the jobs' time went, phase by phase, from the coordinator's job events: p50, p99 and mean per phase, and the slowest 2% of the jobs' mean per phase (job-phases.ts). */
  phases: PhaseBreakdown
  /** Mean connections per node at the end of the window. */
  degree: number
  setupMs: number
  perJob: Partial<Record<Role, RoleFigures>>
  /** Capacity adverts the coordinator of each spec held before the measured jobs (of `agentsPerSpec`). */
  advertsHeld: number[]
  /** How long after the warm-up the coordinators took to hold every advert of their spec (the gate of the measurement), ms. */
  advertsWaitMs: number
  /** Whether every coordinator held every advert of its spec as the measured jobs started (the bench waits up to 60 s for it). */
  advertsComplete: boolean
  /** Warm-up jobs that failed, of every coordinator. */
  warmupFailed: number
  /** The scheduling niceness each role's node processes ran at, read back from the system after bench:scale set it (--others-nice): the highest of the role. */
  niceByRole: Partial<Record<Role, number>>
  /** How late the event loop ran during the jobs, the worst node of each role timed (spec A's coordinator and agents, one bystander), ms. */
  loopDelayMs: Partial<Record<Role, { p99: number, max: number }>>
  /** CPU of the node processes (ms per second of wall time): idle (no job running) and during the measured jobs. */
  cpu: CpuFigures
}

/** How busy the node processes kept the machine's cores. */
export interface CpuFigures {
  cores: number
  idleSeconds: number
  /** Mean over the nodes of each role, ms of CPU per second, while no job ran. */
  idleMsPerSec: Partial<Record<Role, number>>
  /** All node processes together, ms of CPU per second: idle, and while the measured jobs ran (cores × 1000 is the machine). */
  idleTotalMsPerSec: number
  windowTotalMsPerSec: number
}

/** Per role, the mean CPU per second of wall time of its nodes; and all nodes together. */
export function cpuPerSecond (counters: Counters[], roleOf: (i: number) => Role): { byRole: Partial<Record<Role, number>>, total: number } {
  const perSec = counters.map(c => c.cpuMs / (c.ms / 1000))
  const byRole: Partial<Record<Role, number>> = {}
  for (const role of ROLES) {
    const mine = perSec.filter((_, i) => roleOf(i) === role)
    if (mine.length > 0) byRole[role] = round(mine.reduce((a, b) => a + b, 0) / mine.length, 1)
  }
  return { byRole, total: Math.round(perSec.reduce((a, b) => a + b, 0)) }
}

/** Per role, the latest event loop among its timed nodes: the highest p99 and the highest max. */
export function loopDelayByRole (counters: Counters[], roleOf: (i: number) => Role): Partial<Record<Role, { p99: number, max: number }>> {
  const out: Partial<Record<Role, { p99: number, max: number }>> = {}
  counters.forEach((c, i) => {
    if (c.loopDelayMs == null) return
    const role = roleOf(i)
    const was = out[role]
    out[role] = { p99: round(Math.max(was?.p99 ?? 0, c.loopDelayMs.p99), 1), max: round(Math.max(was?.max ?? 0, c.loopDelayMs.max), 1) }
  })
  return out
}

export function roleFigures (counters: Counters[], jobs: number): RoleFigures {
  const mean = (f: (c: Counters) => number): number => counters.reduce((sum, c) => sum + f(c), 0) / counters.length
  const byKind: Record<string, number> = {}
  for (const c of counters) for (const [k, v] of Object.entries(c.msgs)) byKind[k] = (byKind[k] ?? 0) + v
  const msgsByKind: Record<string, number> = {}
  for (const [k, v] of Object.entries(byKind).sort()) msgsByKind[k] = round(v / counters.length / jobs)
  const byProtocol: Record<string, number> = {}
  for (const c of counters) for (const [k, v] of Object.entries(c.wire)) byProtocol[k] = (byProtocol[k] ?? 0) + v
  const bytesByProtocol: Record<string, number> = {}
  for (const [k, v] of Object.entries(byProtocol).sort((a, b) => b[1] - a[1])) bytesByProtocol[k] = Math.round(v / counters.length / jobs)
  return {
    nodes: counters.length,
    msgs: round(mean(c => Object.values(c.msgs).reduce((a, b) => a + b, 0)) / jobs),
    bytes: Math.round(mean(c => c.wire.global ?? 0) / jobs),
    gossipBytes: Math.round(mean(c => c.gossipBytes) / jobs),
    cpuMs: round(mean(c => c.cpuMs) / jobs),
    rssMB: round(mean(c => c.rssBytes) / 1024 / 1024, 1),
    msgsByKind,
    bytesByProtocol
  }
}

export function latency (samples: number[]): { p50: number, p99: number } {
  return samples.length === 0 ? { p50: NaN, p99: NaN } : summarize(samples)
}

export function runTable (run: RunResult): string {
  const rows = ROLES.filter(r => run.perJob[r] != null).map(role => {
    const f = run.perJob[role]!
    return {
      role,
      nodes: f.nodes,
      'msgs/job': f.msgs,
      'KB/job': round(f.bytes / 1024),
      'gossip KB/job': round(f.gossipBytes / 1024),
      'CPU ms/job': f.cpuMs,
      'RSS MB': f.rssMB,
      nice: run.niceByRole[role] ?? '',
      'msgs/job by kind': Object.entries(f.msgsByKind).map(([k, v]) => `${k} ${v}`).join(', ')
    }
  })
  return `N = ${run.nodes}, topics ${run.topics}, bids ${run.bids}: ${run.jobs} jobs at ${run.jobsPerSec}/s (asked ${run.targetJobsPerSec}/s; ${run.failed} failed, ${run.skipped} skipped), ` +
    `latency p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; mean degree ${run.degree}; set-up ${round(run.setupMs / 1000, 1)} s; ` +
    `adverts held by each spec's coordinator ${run.advertsHeld.join(', ')}${run.advertsComplete ? '' : ' (NOT all: the jobs ran without)'} (waited ${round(run.advertsWaitMs / 1000, 1)} s for them after the warm-up); ${run.warmupFailed} warm-up jobs failed\n` +
    `CPU of all ${run.nodes} node processes: idle ${run.cpu.idleTotalMsPerSec} ms/s, during the jobs ${run.cpu.windowTotalMsPerSec} ms/s (the machine: ${run.cpu.cores * 1000} ms/s); ` +
    `idle per node (${run.cpu.idleSeconds} s, no job running): ${Object.entries(run.cpu.idleMsPerSec).map(([r, v]) => `${r} ${v}`).join(', ')} ms/s\n` +
    `event loop late during the jobs (worst timed node, p99 / max): ${Object.entries(run.loopDelayMs).map(([r, v]) => `${r} ${v.p99} / ${v.max} ms`).join(', ')}\n` + table(rows)
}

/** One run's phases: p50, p99 and mean of every job, and the mean of its slowest 2%. */
export function phaseTable (phases: PhaseBreakdown): string {
  return `where the ${phases.jobs} timed jobs' time went (ms; windows closed early: ${round(phases.closedEarlyShare * 100, 1)}% of all, ${phases.tail.closedEarly} of the slowest ${phases.tail.jobs}, which averaged ${phases.tail.meanTotalMs} ms with ${phases.tail.meanBidsAtClose} bids at the close):\n` +
    table(PHASES.map(p => ({ phase: p, p50: phases.p50[p], p99: phases.p99[p], mean: phases.mean[p], [`slowest ${TAIL_SHARE * 100}% mean`]: phases.tail.mean[p] })))
}

/** Per run, the mean of each phase over its slowest 2% of jobs: which phase the tail's time is in, across sizes. */
export function tailTable (runs: RunResult[]): string {
  return table(runs.map(r => ({
    N: r.nodes,
    pass: r.pass,
    topics: r.topics,
    bids: r.bids,
    p99: r.latencyMs.p99,
    'tail jobs': r.phases.tail.jobs,
    'tail mean': r.phases.tail.meanTotalMs,
    ...Object.fromEntries(PHASES.map(p => [p, r.phases.tail.mean[p]])),
    'closed early': `${r.phases.tail.closedEarly}/${r.phases.tail.jobs}`
  })))
}

export interface Ratio { nodes: number, role: Role, msgs: number, bytes: number, cpuMs: number }

/** Per role, each run `isA` picks divided by its partner run (the one `partnerOf` matches), with the two runs. */
function perRole (runs: RunResult[], isA: (r: RunResult) => boolean, partnerOf: (a: RunResult, r: RunResult) => boolean): Array<Ratio & { a: RunResult, b: RunResult }> {
  const out: Array<Ratio & { a: RunResult, b: RunResult }> = []
  for (const a of runs.filter(isA)) {
    const b = runs.find(r => !isA(r) && partnerOf(a, r))
    if (b == null) continue
    for (const role of ROLES) {
      const x = a.perJob[role]
      const y = b.perJob[role]
      if (x == null || y == null) continue
      out.push({ a, b, nodes: a.nodes, role, msgs: round(x.msgs / y.msgs), bytes: round(x.bytes / y.bytes), cpuMs: round(x.cpuMs / y.cpuMs) })
    }
  }
  return out
}

/** Per role, per-spec divided by global at the same N and bid mode (1 = no change, 0.1 = a tenth). */
export function ratios (runs: RunResult[]): Ratio[] {
  return perRole(runs, r => r.topics === 'per-spec', (a, r) => r.topics === 'global' && r.nodes === a.nodes && r.pass === a.pass && r.bids === a.bids)
    .map(({ a: _a, b: _b, ...ratio }) => ratio)
}

export interface BidRatio extends Ratio { topics: TopicMode, p50: number, p99: number }

/** Per role, bids by stream divided by bids by gossip at the same N and topic mode; latency too. */
export function bidRatios (runs: RunResult[]): BidRatio[] {
  return perRole(runs, r => r.bids === 'stream', (a, r) => r.bids === 'gossip' && r.nodes === a.nodes && r.pass === a.pass && r.topics === a.topics)
    .map(({ a, b, ...ratio }) => ({ ...ratio, topics: a.topics, p50: round(a.latencyMs.p50 / b.latencyMs.p50), p99: round(a.latencyMs.p99 / b.latencyMs.p99) }))
}

export function bidRatioTable (list: BidRatio[]): string {
  return table(list.map(r => ({ N: r.nodes, topics: r.topics, role: r.role, 'msgs stream/gossip': r.msgs, 'bytes stream/gossip': r.bytes, 'CPU stream/gossip': r.cpuMs, 'p50 stream/gossip': r.p50, 'p99 stream/gossip': r.p99 })))
}

export function ratioTable (list: Ratio[]): string {
  return table(list.map(r => ({ N: r.nodes, role: r.role, 'msgs per-spec/global': r.msgs, 'bytes per-spec/global': r.bytes, 'CPU per-spec/global': r.cpuMs })))
}

export interface Target { mode: TopicMode, bids: BidMode, target: string, value: string, met: boolean }

/** How far a figure may move between the smallest and the largest N and still count as "not growing" (the runs are noisy). */
export const GROWTH_ALLOWED = 1.5

/** One N of one topic and bid mode: its runs' latencies, and the median of their p99s (what the p99 target compares). */
export interface LatencyAtN { mode: TopicMode, bids: BidMode, nodes: number, p50s: number[], p99s: number[], medianP99: number }

/** Per topic mode, bid mode and N: every run's p50 and p99, in the order they ran, and the median p99. */
export function latencyByN (runs: RunResult[]): LatencyAtN[] {
  const out: LatencyAtN[] = []
  for (const run of runs) {
    let at = out.find(l => l.mode === run.topics && l.bids === run.bids && l.nodes === run.nodes)
    if (at == null) { at = { mode: run.topics, bids: run.bids, nodes: run.nodes, p50s: [], p99s: [], medianP99: NaN }; out.push(at) }
    at.p50s.push(run.latencyMs.p50)
    at.p99s.push(run.latencyMs.p99)
  }
  for (const at of out) at.medianP99 = round(median(at.p99s))
  return out.sort((a, b) => a.mode.localeCompare(b.mode) || a.bids.localeCompare(b.bids) || a.nodes - b.nodes)
}

export function latencyTable (list: LatencyAtN[]): string {
  return table(list.map(l => ({ topics: l.mode, bids: l.bids, N: l.nodes, runs: l.p99s.length, 'p50 per run': l.p50s.join(', '), 'p99 per run': l.p99s.join(', '), 'median p99': l.medianP99 })))
}

/**
 * The issue's targets, per topic mode, from the runs at the smallest and the largest N of that mode.
 * A size that ran more than once (--nodes 10,100,10,100) is compared by the median over its runs,
 * so one slow run on a shared machine moves the figure less.
 */
export function targets (runs: RunResult[]): Target[] {
  const out: Target[] = []
  for (const [mode, bids] of [['global', 'gossip'], ['per-spec', 'gossip'], ['global', 'stream'], ['per-spec', 'stream']] as const) {
    const mine = runs.filter(r => r.topics === mode && r.bids === bids).sort((a, b) => a.nodes - b.nodes || a.pass - b.pass)
    if (mine.length === 0) continue
    for (const run of mine) {
      const by = run.perJob.bystander
      const agent = run.perJob.agent
      if (by == null || agent == null) continue
      const at = `N=${run.nodes}${mine.some(r => r !== run && r.nodes === run.nodes) ? ` (pass ${run.pass})` : ''}`
      const share = by.bytes / agent.bytes
      out.push({ mode, bids, target: `${at}: bystander bytes/job <= 5% of an agent's`, value: `${round(share * 100, 1)}%`, met: share <= 0.05 })
      const jobTraffic = ['jobs', 'bids', 'awards', 'capacity'].reduce((sum, k) => sum + (by.msgsByKind[k] ?? 0), 0)
      out.push({ mode, bids, target: `${at}: bystander receives no job, bid, award or advert message`, value: `${round(jobTraffic)} per job`, met: jobTraffic === 0 })
    }
    const smallN = mine[0]!.nodes
    const largeN = mine.at(-1)!.nodes
    if (smallN === largeN) continue
    const small = mine.filter(r => r.nodes === smallN)
    const large = mine.filter(r => r.nodes === largeN)
    const span = `${smallN}→${largeN}`
    const growth = (f: (r: RunResult) => number | undefined): number => median(large.map(r => f(r) ?? NaN)) / median(small.map(r => f(r) ?? NaN))
    const by = growth(r => r.perJob.bystander?.bytes)
    out.push({ mode, bids, target: `bystander bytes/job not growing ${span} (≤ ${GROWTH_ALLOWED}×)`, value: `${round(by)}×`, met: by <= GROWTH_ALLOWED })
    const agent = growth(r => r.perJob.agent?.bytes)
    out.push({ mode, bids, target: `agent bytes/job not growing with N ${span} (same agents per spec; ≤ ${GROWTH_ALLOWED}×)`, value: `${round(agent)}×`, met: agent <= GROWTH_ALLOWED })
    const p99 = growth(r => r.latencyMs.p99)
    const p99s = (list: RunResult[]): string => list.map(r => r.latencyMs.p99).join(', ')
    const over = small.length > 1 || large.length > 1 ? `median of ${small.length} and ${large.length} runs: ` : ''
    out.push({ mode, bids, target: `latency p99 at ${largeN} within 1.5× of ${smallN}`, value: `${round(p99)}× (${over}${p99s(small)} → ${p99s(large)} ms)`, met: p99 <= 1.5 })
  }
  return out
}

export function targetTable (list: Target[]): string {
  return table(list.map(t => ({ topics: t.mode, bids: t.bids, target: t.target, value: t.value, '': t.met ? 'met' : 'NOT met' })))
}
