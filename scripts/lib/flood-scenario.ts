/**
 * The flood scenario shared by the test (short floods, test/integration/flood.test.ts)
 * and the benchmark (20 s floods, npm run bench:flood): four honest nodes on
 * 127.0.0.1 — a coordinator, two agents and a spec publisher — run jobs and
 * publish specs, undisturbed (a baseline), then while a hostile peer in a
 * separate process (scripts/lib/flood-attacker.ts) floods them with garbage,
 * undisturbed again, with signed-but-useless job calls, and undisturbed again. Every figure is measured in the
 * same run, so each target is a ratio against this run's own baseline: the
 * baselines just before and just after that flood, pooled.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { setPriority, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createNode, type Node } from '../../src/node.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { SPEC_TOPIC_KINDS, specTopic } from '../../src/market/topics.ts'
import { sampleSpec } from '../../test/helpers/specs.ts'
import { percentile, round } from './bench.ts'
import { DEFAULT_WASTE_BURST, DEFAULT_WASTE_PER_SECOND } from '../../src/net/validation-guard.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const NODE = join(ROOT, 'node_modules/.bin/node')
const ATTACKER = join(ROOT, 'scripts/lib/flood-attacker.ts')

export type FloodMode = 'garbage' | 'signed-useless'

export interface PhaseFigures {
  phase: 'baseline' | FloodMode
  jobs: number
  jobsFailed: number
  jobP50Ms: number
  jobP90Ms: number
  jobP99Ms: number
  specs: number
  specP50Ms: number
  specP90Ms: number
  specP99Ms: number
  /** The longest the victims' event loop was blocked during the phase. */
  loopMaxMs: number
  /** The first few failed jobs' reasons (none expected). */
  failures?: string[]
  /**
   * Flood phases only: the p99s of the baselines on either side of this flood, their
   * samples pooled (see runFloodScenario), and this phase's ratio to them.
   */
  baselineJobP50Ms?: number
  baselineJobP90Ms?: number
  baselineJobP99Ms?: number
  baselineSpecP90Ms?: number
  baselineSpecP99Ms?: number
  /** p99 against the baselines' p99: the benchmark's figure (docs/benchmarks.md "The flood test and bench:flood"). */
  jobRatio?: number
  specRatio?: number
  /** p50 and p90 against the baselines' (the test's figures: a scheduler hiccup moves a p99 of a few hundred samples, not these). */
  jobP50Ratio?: number
  jobP90Ratio?: number
  specP90Ratio?: number
  /**
   * Attacker only: messages it sent (that reached a victim), its rate while it had a victim
   * to send to (sent / time connected) and its best window (50–250 ms of sending), and how fast each victim
   * cut it down.
   */
  attackerSent?: number
  attackerPerSecond?: number
  attackerPeakPerSecond?: number
  /**
   * Attacker only: flood start → the first report (every 250 ms) by which it had sent more
   * than the guard allows (DEFAULT_WASTE_BURST plus DEFAULT_WASTE_PER_SECOND a second since
   * the start), from its own send timeline: the latest a victim that keeps the rule can
   * throttle it. Its average rate would not do: an attacker slow to start (its process
   * shares the machine) drains the bucket later than the average says.
   */
  attackerDrainedAfterMs?: number
  /** Worst over the victims: flood start → throttled, → graylisted. */
  throttledAfterMs?: number
  graylistedAfterMs?: number
  victimsGraylisted?: number
  /** Heap of the victims' process after GC, once the flood is over (MiB). */
  heapAfterMiB?: number
  /**
   * What the heap would be without the flood: the heap before the phase plus what
   * one phase of honest work adds (measured over the baseline phase).
   */
  heapBaselineMiB?: number
}

export interface FloodResult {
  phases: PhaseFigures[]
  /** Heap after GC before and after the baseline phase: what honest work alone adds. */
  heapBeforeBaselineMiB: number
  heapAfterBaselineMiB: number
  /** The attacker's nice value (0: the victims' priority). */
  attackerNice: number
}

/**
 * When an attacker's sends first outran the guard's bucket (DEFAULT_WASTE_BURST refilled at
 * DEFAULT_WASTE_PER_SECOND), ms after `start`, from its timeline; undefined if they never did.
 */
function drainedAfterMs (timeline: ReadonlyArray<{ at: number, sent: number }>, start: number): number | undefined {
  for (const { at, sent } of timeline) {
    const ms = Math.max(0, at - start)
    if (sent > DEFAULT_WASTE_BURST + DEFAULT_WASTE_PER_SECOND * ms / 1000) return ms
  }
  return undefined
}

/** Forced GC, for heap figures that mean something. */
function gc (): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

function heapMiB (): number {
  gc()
  gc()
  return round(process.memoryUsage().heapUsed / 1024 / 1024, 1)
}

async function waitFor (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(r => setTimeout(r, 10))
  }
}

interface Attacker {
  child: ChildProcess
  peerId: string
  readyAt: number
  sent: () => number
  /** Its rate while it had a victim to send to (sent / time connected), and its best window (50–250 ms of sending). */
  perSecond: () => number
  peak: () => number
  /** Messages it had made (and signed) before connecting, and how long that took. */
  pool: () => { size: number, ms: number }
  /** Its reports: how many it had sent by each time (epoch ms). */
  timeline: () => ReadonlyArray<{ at: number, sent: number }>
  stop: () => Promise<void>
}

/**
 * The attacker runs at nice 10 unless FLOOD_ATTACKER_NICE says otherwise: on a real
 * network it floods from its own machine and its CPU is not its victims', while here
 * it shares two cores with the victims' process. After the victims cut it off it keeps
 * redialling (each refused after a Noise handshake on its side too); at nice 0 that
 * CPU, not anything the victims do per message, pushed honest job p99 to ×1.3–2.03 of
 * the baselines in the signed-useless phase (×0.9–1.4 garbage). Niced, on a quiet
 * machine it still reached 1,360–2,160 msgs/s and the victims cut it off after the same
 * few hundred messages.
 */
function lowerPriority (child: ChildProcess, nice: number): void {
  if (nice === 0 || child.pid == null) return
  try { setPriority(child.pid, nice) } catch {}
}

async function startAttacker (mode: FloodMode, victims: Node[], attackerNice: number, specId: string): Promise<Attacker> {
  const addrs = victims.map(v => v.multiaddrs()[0]!).join(',')
  const child = spawn(NODE, [ATTACKER, mode, addrs, '20000', specId], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  lowerPriority(child, attackerNice)
  let sent = 0
  const timeline: Array<{ at: number, sent: number }> = []
  let done: { perSecond: number, peakPerSecond: number } | undefined
  let ready: { peerId: string, pool: number, poolMs: number } | undefined
  let stderr = ''
  let exited = false
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  child.once('exit', () => { exited = true })
  let buffer = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk
    let nl
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try {
        const event = JSON.parse(line) as { event: string, peerId?: string, sent?: number, at?: number, pool?: number, poolMs?: number, perSecond?: number, peakPerSecond?: number }
        if (event.event === 'ready') ready = { peerId: event.peerId!, pool: event.pool ?? 0, poolMs: event.poolMs ?? 0 }
        if (event.event === 'rate' || event.event === 'done') sent = event.sent ?? sent
        if (event.event === 'rate' && event.at != null) timeline.push({ at: event.at, sent })
        if (event.event === 'done') done = { perSecond: event.perSecond ?? 0, peakPerSecond: event.peakPerSecond ?? 0 }
      } catch {}
    }
  })
  await waitFor(() => { if (exited) throw new Error(`the attacker exited early: ${stderr}`); return ready != null }, 'the attacker to connect', 20_000)
  return {
    child,
    peerId: ready!.peerId,
    readyAt: Date.now(),
    sent: () => sent,
    perSecond: () => done?.perSecond ?? 0,
    peak: () => done?.peakPerSecond ?? 0,
    pool: () => ({ size: ready!.pool, ms: ready!.poolMs }),
    timeline: () => timeline,
    stop: async () => {
      if (exited) return
      const exit = new Promise(r => child.once('exit', r))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exit
      clearTimeout(timer)
    }
  }
}

interface Workload {
  jobLatencies: number[]
  jobsFailed: number
  failures: string[]
  /** The event loop of the victims' process: how long it was blocked at worst (ms). */
  loopMaxMs: number
  specLatencies: number[]
}

/** Jobs in `concurrency` loops and a spec every `specEveryMs`, for `durationMs`. */
async function runWorkload (nodes: Node[], specId: string, durationMs: number, concurrency: number, specEveryMs: number, tag: string): Promise<Workload> {
  const [coordinator, , , publisher] = nodes as [Node, Node, Node, Node]
  const until = Date.now() + durationMs
  const out: Workload = { jobLatencies: [], jobsFailed: 0, failures: [], loopMaxMs: 0, specLatencies: [] }
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const jobLoop = async (): Promise<void> => {
    while (Date.now() < until) {
      const started = performance.now()
      // A long window costs nothing here (the coordinator closes it once both agents have bid)
      // and leaves a job 5 s of grace for a late bid on a starved machine.
      const result = await coordinator.submitJob(specId, { text: 'Ada Lovelace' }, { bidWindowMs: 1000 })
      out.jobLatencies.push(performance.now() - started)
      if (result.status !== 'succeeded') {
        out.jobsFailed++
        if (out.failures.length < 3) out.failures.push(`${Math.round(performance.now() - started)} ms: ${result.reason ?? result.status}`)
      }
    }
  }
  const specLoop = async (): Promise<void> => {
    let n = 0
    const pending: Array<Promise<void>> = []
    while (Date.now() < until) {
      const started = performance.now()
      const others = nodes.filter(n => n !== publisher)
      const { id } = await publisher.publishSpec(sampleSpec(`flood-${tag}-${n++}`))
      pending.push(waitFor(() => others.every(o => o.libp2p != null && hasSpec(o, id)), `spec ${id} on every node`, 30_000)
        .then(() => { out.specLatencies.push(performance.now() - started) }))
      await new Promise(r => setTimeout(r, specEveryMs))
    }
    await Promise.all(pending)
  }
  await Promise.all([...Array.from({ length: concurrency }, jobLoop), specLoop()])
  loop.disable()
  out.loopMaxMs = round(loop.max / 1e6, 1)
  return out
}

const held = new Map<Node, Set<string>>()
function hasSpec (node: Node, id: string): boolean {
  return held.get(node)?.has(id) ?? false
}

const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b)

function figures (phase: PhaseFigures['phase'], w: Workload): PhaseFigures {
  const jobs = sorted(w.jobLatencies)
  const specs = sorted(w.specLatencies)
  return {
    phase,
    jobs: jobs.length,
    jobsFailed: w.jobsFailed,
    jobP50Ms: round(percentile(jobs, 50), 1),
    jobP90Ms: round(percentile(jobs, 90), 1),
    jobP99Ms: round(percentile(jobs, 99), 1),
    specs: specs.length,
    specP50Ms: round(percentile(specs, 50), 1),
    specP90Ms: round(percentile(specs, 90), 1),
    specP99Ms: round(percentile(specs, 99), 1),
    loopMaxMs: w.loopMaxMs,
    ...(w.failures.length > 0 ? { failures: w.failures } : {})
  }
}

export interface FloodOptions {
  /** Length of the baseline and of each flood. */
  phaseMs: number
  /** Job loops running at once. @default 2 */
  concurrency?: number
  /** @default 100 */
  specEveryMs?: number
  /**
   * The attacker's nice value (see lowerPriority); 0 runs it at the victims' priority.
   * @default FLOOD_ATTACKER_NICE or 10
   */
  attackerNice?: number
  log?: (line: string) => void
}

export async function runFloodScenario (options: FloodOptions): Promise<FloodResult> {
  const log = options.log ?? (() => {})
  const concurrency = options.concurrency ?? 2
  const specEveryMs = options.specEveryMs ?? 100
  const attackerNice = options.attackerNice ?? Number(process.env.FLOOD_ATTACKER_NICE ?? 10)
  const homes: string[] = []
  const nodes: Node[] = []
  try {
    for (let i = 0; i < 4; i++) {
      const home = await mkdtemp(join(tmpdir(), 'specmesh-flood-'))
      homes.push(home)
      const bootstrap = nodes.map(n => n.multiaddrs()[0]!)
      const node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
      const ids = new Set<string>()
      held.set(node, ids)
      node.events.on('spec', record => ids.add(record.id))
      nodes.push(node)
    }
    const [coordinator, agentA, agentB] = nodes as [Node, Node, Node, Node]
    await waitFor(() => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= 2), `the mesh on ${TOPICS.specs}`)
    const { id: specId } = await coordinator.publishSpec(sampleSpec('flood-work'))
    await waitFor(() => nodes.slice(1).every(n => hasSpec(n, specId)), 'the work spec everywhere')
    for (const agent of [agentA, agentB]) await agent.serve(specId, async () => ({ entities: [{ name: 'Ada', confidence: 90 }] }), { priceUsd: 0.01, estimatedMs: 5 })
    // Every node is on the work spec's topics (the fourth follows it), and the attacker floods its job topic.
    coordinator.subscriptions.join(specId, 'coordinating')
    nodes[3]!.subscriptions.join(specId, 'following')
    for (const kind of SPEC_TOPIC_KINDS) {
      // The agents are on every topic but receipts, which is the coordinator's and the follower's.
      const topic = specTopic(specId, kind)
      const on = nodes.filter(n => n.subscriptions.isOn(specId, kind))
      await waitFor(() => on.every(n => n.libp2p.services.pubsub.getSubscribers(topic).length >= Math.min(2, on.length - 1)), `the mesh on ${topic}`)
    }
    await waitFor(() => coordinator.capacityOf(specId).length >= 2, 'both agents\' adverts')
    // Warm up (JIT, first streams), then the baseline.
    await runWorkload(nodes, specId, 1500, concurrency, specEveryMs, 'warmup')
    const runBaseline = async (tag: string): Promise<Workload> => {
      const workload = await runWorkload(nodes, specId, options.phaseMs, concurrency, specEveryMs, tag)
      const phase = figures('baseline', workload)
      phases.push(phase)
      log(`baseline: ${JSON.stringify(phase)}`)
      return workload
    }
    const phases: PhaseFigures[] = []
    const heapBeforeBaselineMiB = heapMiB()
    let before = await runBaseline('baseline-0')
    const heapAfterBaselineMiB = heapMiB()
    const honestGrowth = Math.max(0, heapAfterBaselineMiB - heapBeforeBaselineMiB)

    // Each flood is bracketed by baselines, and compared with their samples pooled: the
    // victims' process slows as its stores and heap grow over a few minutes of work, and
    // a baseline taken only at the start would charge that drift to the later flood.
    for (const [i, mode] of (['garbage', 'signed-useless'] as const).entries()) {
      const heapBefore = heapMiB()
      const attacker = await startAttacker(mode, nodes, attackerNice, specId)
      const workload = await runWorkload(nodes, specId, options.phaseMs, concurrency, specEveryMs, mode)
      await attacker.stop()
      const stats = nodes.map(n => n.guard.stats(attacker.peerId))
      const after = (at: number | undefined): number => at == null ? Infinity : Math.max(0, at - attacker.readyAt)
      const phase: PhaseFigures = {
        ...figures(mode, workload),
        attackerSent: attacker.sent(),
        attackerPerSecond: attacker.perSecond(),
        attackerPeakPerSecond: attacker.peak(),
        attackerDrainedAfterMs: drainedAfterMs(attacker.timeline(), attacker.readyAt),
        throttledAfterMs: Math.max(...stats.map(s => after(s.firstThrottledAt))),
        graylistedAfterMs: Math.max(...stats.map(s => after(s.firstGraylistedAt))),
        victimsGraylisted: stats.filter(s => s.firstGraylistedAt != null).length
      }
      // Memory: what the flood left behind, against what the same honest work leaves without
      // one; given a few seconds for what was in flight to be let go.
      const expected = round(heapBefore + honestGrowth, 1)
      const heapDeadline = Date.now() + 10_000
      let heap = heapMiB()
      while (heap > expected * 1.1 && Date.now() < heapDeadline) {
        await new Promise(r => setTimeout(r, 500))
        heap = heapMiB()
      }
      phase.heapAfterMiB = heap
      phase.heapBaselineMiB = expected
      phases.push(phase)
      log(`${mode}: ${JSON.stringify(phase)}`)
      const next = await runBaseline(`baseline-${i + 1}`)
      const baselineJobs = sorted([...before.jobLatencies, ...next.jobLatencies])
      const baselineSpecs = sorted([...before.specLatencies, ...next.specLatencies])
      phase.baselineJobP50Ms = round(percentile(baselineJobs, 50), 1)
      phase.baselineJobP90Ms = round(percentile(baselineJobs, 90), 1)
      phase.baselineJobP99Ms = round(percentile(baselineJobs, 99), 1)
      phase.baselineSpecP90Ms = round(percentile(baselineSpecs, 90), 1)
      phase.baselineSpecP99Ms = round(percentile(baselineSpecs, 99), 1)
      phase.jobRatio = round(phase.jobP99Ms / phase.baselineJobP99Ms, 2)
      phase.specRatio = round(phase.specP99Ms / phase.baselineSpecP99Ms, 2)
      phase.jobP50Ratio = round(phase.jobP50Ms / phase.baselineJobP50Ms, 2)
      phase.jobP90Ratio = round(phase.jobP90Ms / phase.baselineJobP90Ms, 2)
      phase.specP90Ratio = round(phase.specP90Ms / phase.baselineSpecP90Ms, 2)
      before = next
    }
    return { phases, heapBeforeBaselineMiB, heapAfterBaselineMiB, attackerNice }
  } finally {
    await Promise.allSettled(nodes.map(async n => await n.stop()))
    await Promise.allSettled(homes.map(async h => await rm(h, { recursive: true, force: true })))
  }
}
