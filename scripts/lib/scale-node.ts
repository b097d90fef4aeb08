/**
 * One node of bench:scale or bench:jobs, in its own process, driven by its
 * parent over IPC (scripts/bench-scale.ts, scripts/bench-jobs.ts; protocol in
 * scale-protocol.ts). A real specmesh node: LevelDB in a temporary home, TCP
 * on 127.0.0.1, the DHT (unless told otherwise), no mDNS, no relay; libp2p's
 * Prometheus metrics on unless told otherwise (bench:scale reads the bytes its
 * connections receive from them), and the daemon's JSON log written to a file
 * when asked (bench:jobs' operate turns), as the daemon writes its stderr to a
 * file: lines batched per event-loop turn, written synchronously. A process can run one node after
 * another (stop, then start).
 *
 * What it counts, between a `mark` and a `counters`:
 * - gossip: every RPC frame the gossipsub stream decodes (its bytes, and each
 *   message in it by topic kind, duplicates included, before validation);
 * - wire: libp2p_data_transfer_bytes_total, what every connection received
 *   (noise and yamux framing included) and what each protocol's streams did;
 * - bid frames read from bid streams (market.bids 'stream'), from the node's
 *   verdict counter, as msgs of kind 'bid-stream';
 * - CPU (process.cpuUsage, user + system) and RSS of this process; and, when
 *   the mark asks, a CPU profile of it (node:inspector) written at `counters`.
 *
 * The process exits when the parent goes away (IPC disconnect), so a parent
 * killed without cleanup leaves no node behind.
 */
import { closeSync, openSync } from 'node:fs'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay, performance, type ELDHistogram, type EventLoopUtilization } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type Node } from '../../src/node.ts'
import { createLogger } from '../../src/util/logger.ts'
import { batchedWriter, fdSink, type BatchedWriter } from '../../src/util/log-writer.ts'
import type { MarketOptions } from '../../src/market/market.ts'
import type { LeaseInfo } from '../../src/market/lease-coordinator.ts'
import { SPEC_TOPIC_KINDS } from '../../src/market/topics.ts'
import { KINDS_FOR } from '../../src/market/subscriptions.ts'
import type { ConnectionBudget } from '../../src/net/connection-budget.ts'
import type { JobEvent } from '../../src/market/job-events.ts'
import { jobTiming, type JobTiming } from './job-phases.ts'
import { measureRtt, serveEcho } from './raw-rtt.ts'
import { sampleSpec } from '../../test/helpers/specs.ts'
import { topicKind, type Counters, type GossipDiag, type FromScaleNode, type ToScaleNode } from './scale-protocol.ts'

const send = (message: FromScaleNode): void => { if (process.connected) process.send!(message) }

let node: Node | undefined
let home: string | undefined
/** The daemon's log, as `specmesh daemon 2> daemon.log` writes it: batched lines, written synchronously to the file. */
let logFile: { fd: number, writer: BatchedWriter } | undefined
let servingStops: Array<() => void> = []
let window = freshWindow()
/** How late this process's event loop ran since a `mark` that asked for it (a timer every 10 ms, so only on the few nodes asked). */
let loopDelay: ELDHistogram | undefined

/** The CPU profile running since a `mark` that asked for one, and where it goes. */
let profiling: { session: Session, file: string } | undefined

async function startProfile (file: string): Promise<void> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  profiling = { session, file }
}

async function stopProfile (): Promise<void> {
  const running = profiling
  profiling = undefined
  if (running == null) return
  const { profile } = await running.session.post('Profiler.stop')
  running.session.disconnect()
  await writeFile(running.file, JSON.stringify(profile))
}

function freshWindow (): { gossipBytes: number, rpcs: number, msgs: Record<string, number>, cpu: NodeJS.CpuUsage, elu: EventLoopUtilization, wire: Record<string, number>, bidFrames: number, at: number, opened: { inbound: number, outbound: number }, trimmedBefore: number } {
  return { gossipBytes: 0, rpcs: 0, msgs: {}, cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), wire: {}, bidFrames: 0, at: Date.now(), opened: { inbound: 0, outbound: 0 }, trimmedBefore: node != null ? budgetOf(node).closed : 0 }
}

/** The node's connection budget's report (src/net/connection-budget.ts). */
function budgetOf (n: Node): { closed: number, wanted: number } {
  return (n.libp2p.services.connectionBudget as ConnectionBudget).report()
}

/** Bytes received per libp2p protocol (and 'global': the connections themselves), from the node's metrics; none when they are off. */
async function wireReceived (n: Node): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  if (n.metricsText == null) return out
  const { text } = await n.metricsText()
  for (const match of text.matchAll(/^libp2p_data_transfer_bytes_total\{protocol="(.+) received"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) {
    out[match[1]!] = Number(match[2])
  }
  return out
}

/**
 * Count what gossipsub decodes. decodeRpc is called for every frame read from a
 * peer's gossip stream, before dedup and validation, so duplicates and control
 * frames are in the count.
 */
function instrumentGossip (n: Node): void {
  const gs = n.libp2p.services.pubsub as unknown as { decodeRpc: (bytes: Uint8Array) => { messages?: Array<{ topic?: string }> } }
  const decode = gs.decodeRpc.bind(gs)
  gs.decodeRpc = (bytes) => {
    const rpc = decode(bytes)
    window.gossipBytes += bytes.byteLength
    window.rpcs++
    for (const m of rpc.messages ?? []) {
      const kind = topicKind(m.topic ?? '')
      window.msgs[kind] = (window.msgs[kind] ?? 0) + 1
    }
    return rpc
  }
}

/**
 * Bid frames this node has read from bid streams: the bid stream's verdicts, every label summed.
 * They are counted only in the node's metrics, so a node started without metrics (bench:jobs'
 * operate-off turns) reports none.
 */
async function bidFramesRead (n: Node): Promise<number> {
  if (n.metricsText == null) return 0
  const { text } = await n.metricsText()
  let frames = 0
  for (const match of text.matchAll(/^specmesh_gossip_verdicts_total\{[^}]*topic="\/specmesh\/bid\/[^"]*"[^}]*\} (\d+)$/gm)) frames += Number(match[1])
  return frames
}

async function counters (n: Node): Promise<Counters> {
  const cpu = process.cpuUsage(window.cpu)
  const bidFrames = await bidFramesRead(n) - window.bidFrames
  if (bidFrames > 0) window.msgs['bid-stream'] = bidFrames
  const wireNow = await wireReceived(n)
  const wire: Record<string, number> = {}
  for (const [k, v] of Object.entries(wireNow)) wire[k] = v - (window.wire[k] ?? 0)
  const memory = process.memoryUsage()
  return {
    ms: Date.now() - window.at,
    gossipBytes: window.gossipBytes,
    rpcs: window.rpcs,
    msgs: { ...window.msgs },
    wire,
    cpuMs: (cpu.user + cpu.system) / 1000,
    eventLoopBusy: performance.eventLoopUtilization(window.elu).utilization,
    rssBytes: memory.rss,
    heapBytes: memory.heapUsed,
    connections: n.libp2p.getConnections().length,
    opened: { ...window.opened },
    trimmed: budgetOf(n).closed - window.trimmedBefore,
    ...(loopDelay != null ? { loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 } } : {})
  }
}

/** Jobs at a fixed rate (open loop: each starts on time whatever the earlier ones do), at most `maxInFlight` at once. */
async function runJobs (n: Node, specId: string, count: number, ratePerSec: number, bidWindowMs: number, maxInFlight: number): Promise<{ latenciesMs: number[], biddingMs: number[], attempts: number[], execMs: number[], timings: JobTiming[], failed: number, skipped: number, reasons: string[] }> {
  // Every job event recorded while the jobs run, by job: where each succeeded job's time went (job-phases.ts).
  const eventsOf = new Map<string, JobEvent[]>()
  const onEvent = (event: JobEvent): void => {
    let list = eventsOf.get(event.jobId)
    if (list == null) { list = []; eventsOf.set(event.jobId, list) }
    list.push(event)
  }
  n.events.on('job-event', onEvent)
  const timings: JobTiming[] = []
  const latenciesMs: number[] = []
  const biddingMs: number[] = []
  const attempts: number[] = []
  const execMs: number[] = []
  const reasons: string[] = []
  let failed = 0
  let skipped = 0
  let inFlight = 0
  const running: Array<Promise<void>> = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const due = started + i * 1000 / ratePerSec
    const wait = due - performance.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    if (inFlight >= maxInFlight) { skipped++; continue }
    inFlight++
    const t0 = performance.now()
    const calledAt = Date.now()
    running.push(n.submitJob(specId, { text: `scale job ${i}` }, { bidWindowMs }).then(result => {
      if (result.status === 'succeeded') {
        latenciesMs.push(performance.now() - t0)
        const timing = jobTiming({ events: eventsOf.get(result.jobId) ?? [], calledAt, resolvedAt: Date.now(), biddingMs: result.biddingMs, bidWindowMs, handler: result.attempts.at(-1) })
        if (timing != null) timings.push(timing)
        // Aligned with latenciesMs: how long of it the bid window took, and how many agents were tried.
        biddingMs.push(result.biddingMs ?? 0)
        attempts.push(result.attempts.length)
        // The successful attempt's start and end as the agent's signed claim states them: its handler's run, no network hop.
        const last = result.attempts.at(-1)
        execMs.push(last?.startedAt != null && last.endedAt != null ? last.endedAt - last.startedAt : 0)
      } else { failed++; if (reasons.length < 3) reasons.push(result.reason ?? result.status) }
    }, (err: Error) => { failed++; if (reasons.length < 3) reasons.push(err.message) }).finally(() => { inFlight-- }))
  }
  await Promise.all(running)
  n.events.off('job-event', onEvent)
  return { latenciesMs, biddingMs, attempts, execMs, timings, failed, skipped, reasons }
}

/** Closed loop: `inFlight` workers, each submitting its next job as soon as its last ended; CPU of this process over the whole burst. */
async function burst (n: Node, specId: string, count: number, inFlight: number, bidWindowMs: number): Promise<{ elapsedMs: number, latenciesMs: number[], biddingMs: number[], failed: number, reasons: string[], cpuMs: number }> {
  const latenciesMs: number[] = []
  const biddingMs: number[] = []
  const reasons: string[] = []
  let failed = 0
  let next = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const t0 = performance.now()
      const result = await n.submitJob(specId, { text: `bench job ${i}` }, { bidWindowMs }).catch((err: Error) => ({ status: 'error', reason: err.message, biddingMs: undefined }))
      if (result.status === 'succeeded') {
        latenciesMs.push(performance.now() - t0)
        // A job that found every advertised agent's bid sooner closed its window early; biddingMs says how long it waited.
        // A job sent under a lease collected no bids: it has no biddingMs.
        biddingMs.push(result.biddingMs ?? 0)
      } else {
        failed++
        if (reasons.length < 3) reasons.push(result.reason ?? result.status)
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const elapsedMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  return { elapsedMs, latenciesMs, biddingMs, failed, reasons, cpuMs: (used.user + used.system) / 1000 }
}

/** gossipsub's default thresholds (specmesh sets none): below these a peer gets no gossip, and its RPCs are ignored. */
const GOSSIP_THRESHOLD = -10
const GRAYLIST_THRESHOLD = -80

function gossipDiag (n: Node, specId: string): GossipDiag {
  const gs = n.libp2p.services.pubsub as unknown as { getScore: (id: string) => number, getMeshPeers: (topic: string) => string[], getSubscribers: (topic: string) => unknown[], score: { peerStats: Map<string, unknown> } }
  const scores = [...gs.score.peerStats.keys()].map(id => gs.getScore(id)).sort((a, b) => a - b)
  const topics: GossipDiag['topics'] = {}
  for (const kind of SPEC_TOPIC_KINDS) {
    const topic = n.subscriptions.topicOf(specId, kind)
    topics[kind] = { mesh: gs.getMeshPeers(topic).length, subscribers: gs.getSubscribers(topic).length }
  }
  return {
    connections: new Set(n.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
    scored: scores.length,
    score: {
      min: scores[0] ?? 0,
      median: scores[Math.floor(scores.length / 2)] ?? 0,
      max: scores.at(-1) ?? 0,
      belowGossip: scores.filter(s => s < GOSSIP_THRESHOLD).length,
      belowGraylist: scores.filter(s => s < GRAYLIST_THRESHOLD).length
    },
    topics
  }
}

const leaseFigures = (lease: LeaseInfo): { leaseId: string, agent: string, slots: number, jobs: number, ended?: string } =>
  ({ leaseId: lease.leaseId, agent: lease.agent, slots: lease.slots, jobs: lease.jobs, ...(lease.ended != null ? { ended: lease.ended } : {}) })

async function handle (message: ToScaleNode): Promise<FromScaleNode> {
  switch (message.cmd) {
    case 'start': {
      home = await mkdtemp(join(tmpdir(), 'specmesh-bench-scale-'))
      // The switch (ISSUE9-DESIGN.md): ignored by a market that has only the global topics.
      const market = { topics: message.topics, bids: message.bids } as MarketOptions
      if (message.log === true) {
        const fd = openSync(join(home, 'daemon.log'), 'a')
        logFile = { fd, writer: batchedWriter(fdSink(fd)) }
      }
      const log = logFile != null ? createLogger({ write: logFile.writer.write, flush: logFile.writer.flush, level: message.logLevel ?? 'info', format: 'json' }) : undefined
      node = await createNode({
        home,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: message.bootstrap,
        mdns: false,
        dht: message.dht ?? true,
        relayServer: false,
        relayClient: false,
        metrics: message.metrics ?? true,
        market,
        ...(log != null ? { log } : {})
      })
      instrumentGossip(node)
      node.libp2p.addEventListener('connection:open', event => { window.opened[event.detail.direction]++ })
      return { event: 'started', id: message.id, peerId: node.peerId, addr: `${node.multiaddrs()[0]!}` }
    }
    case 'publish': {
      const record = await need().publishSpec(sampleSpec(message.name, {
        successCriteria: ['size(output.entities) >= 1'],
        capacity: { maxConcurrentRequests: 64, maxRetries: 1 },
        budget: { maxUsd: 1 }
      }))
      return { event: 'published', id: message.id, specId: record.id }
    }
    case 'serve': {
      const output = { entities: [{ name: 'scale', confidence: 99 }] }
      servingStops.push(await need().serve(message.specId, async () => output, { priceUsd: message.priceUsd, estimatedMs: 1 }))
      return { event: 'served', id: message.id }
    }
    case 'status': {
      const n = need()
      const specsHeld = await Promise.all(message.specIds.map(async s => (await n.getSpec(s)) != null))
      return {
        event: 'status',
        id: message.id,
        connections: new Set(n.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
        specsHeld: specsHeld.filter(Boolean).length,
        adverts: message.advertsOf != null ? n.capacityOf(message.advertsOf).length : 0,
        topicPeers: message.topicsOf != null ? Math.min(...KINDS_FOR.serving.map(kind => n.subscriptions.topicPeers(message.topicsOf!, kind).length)) : 0
      }
    }
    case 'join':
      need().subscriptions.join(message.specId, 'coordinating')
      return { event: 'joined', id: message.id }
    case 'burst':
      return { event: 'burst', id: message.id, ...await burst(need(), message.specId, message.count, message.inFlight, message.bidWindowMs) }
    case 'lease': {
      // renew off: the bench measures one lease's term, not its re-auction.
      const leases = await need().requestLease(message.specId, { slots: message.slots, durationMs: message.durationMs, renew: false })
      return { event: 'leases', id: message.id, leases: leases.map(leaseFigures) }
    }
    case 'leases':
      return { event: 'leases', id: message.id, leases: need().leases(message.specId).map(leaseFigures) }
    case 'echo':
      await serveEcho(need().libp2p)
      return { event: 'echoing', id: message.id }
    case 'rtt':
      return { event: 'rtt', id: message.id, samplesMs: await measureRtt(need().libp2p, message.peerId, message.samples) }
    case 'jobs': {
      const result = await runJobs(need(), message.specId, message.count, message.ratePerSec, message.bidWindowMs, message.maxInFlight)
      return { event: 'jobs', id: message.id, ...result }
    }
    case 'diag':
      return { event: 'diag', id: message.id, diag: gossipDiag(need(), message.specId) }
    case 'mark':
      await stopProfile()
      if (message.profile != null) await startProfile(message.profile)
      loopDelay?.disable()
      loopDelay = undefined
      if (message.loopDelay === true) {
        loopDelay = monitorEventLoopDelay({ resolution: 10 })
        loopDelay.enable()
      }
      {
        // Scraped before the window opens, so that a node with metrics does not count this scrape's CPU.
        const wire = await wireReceived(need())
        const bidFrames = await bidFramesRead(need())
        window = freshWindow()
        window.wire = wire
        window.bidFrames = bidFrames
      }
      return { event: 'marked', id: message.id }
    case 'counters': {
      const figures = await counters(need())
      await stopProfile()
      return { event: 'counters', id: message.id, counters: figures }
    }
    case 'stop':
      await shutdown(message.keepLog)
      return { event: 'stopped', id: message.id }
  }
}

function need (): Node {
  if (node == null) throw new Error('the node is not started')
  return node
}

async function shutdown (keepLog?: string): Promise<void> {
  for (const stop of servingStops) stop()
  servingStops = []
  const n = node
  node = undefined
  if (n != null) await n.stop().catch(() => {})
  const log = logFile
  logFile = undefined
  if (log != null) { log.writer.flush(); closeSync(log.fd) }
  if (log != null && home != null && keepLog != null) await copyFile(join(home, 'daemon.log'), keepLog).catch(() => {})
  if (home != null) await rm(home, { recursive: true, force: true }).catch(() => {})
  home = undefined
  // The process runs the next mode's node: what this one left behind should not count in that one's RSS.
  globalThis.gc?.()
}

process.on('message', (message: ToScaleNode) => {
  handle(message).then(send, (err: Error) => { send({ event: 'error', id: message.id, message: err.stack ?? err.message }) })
})
// The parent went away (killed, crashed): stop and leave nothing behind.
process.on('disconnect', () => { void shutdown().finally(() => process.exit(0)) })

send({ event: 'ready', id: 0 })
