/**
 * What a bench's parent and its node processes (scale-node.ts) say to each
 * other over IPC: bench:scale and bench:jobs. Every command carries an id its
 * answer repeats.
 */
import type { JobTiming } from './job-phases.ts'

export type TopicMode = 'global' | 'per-spec'
/** How agents send bids (NodeInit.market.bids). */
export type BidMode = 'gossip' | 'stream'

export type ToScaleNode =
  /**
   * `metrics` (default true: bench:scale reads libp2p's byte counters from them) turns the
   * Prometheus metrics on; `log` writes the daemon's JSON log lines (level info) to a file in
   * the node's home; `dht` defaults to on, as for any node; `bids`: how its agent sends bids
   * (market.bids, default gossip).
   */
  | { cmd: 'start', id: number, bootstrap: string[], topics: TopicMode, metrics?: boolean, log?: boolean, logLevel?: 'debug' | 'info', dht?: boolean, bids?: BidMode }
  | { cmd: 'publish', id: number, name: string }
  | { cmd: 'serve', id: number, specId: string, priceUsd: number }
  /** `topicsOf`: also count, for that spec, the peers on the least-populated of the market topics every party is on (all but receipts, which only coordinators and followers join). */
  | { cmd: 'status', id: number, specIds: string[], advertsOf?: string, topicsOf?: string }
  /** Join a spec's market topics as its coordinator (as its first job would). */
  | { cmd: 'join', id: number, specId: string }
  | { cmd: 'jobs', id: number, specId: string, count: number, ratePerSec: number, bidWindowMs: number, maxInFlight: number }
  /** Closed loop: `count` jobs, `inFlight` at a time, each started as soon as one ends. */
  | { cmd: 'burst', id: number, specId: string, count: number, inFlight: number, bidWindowMs: number }
  | { cmd: 'lease', id: number, specId: string, slots: number, durationMs: number }
  | { cmd: 'leases', id: number, specId: string }
  /** Answer raw request/response streams (raw-rtt.ts). */
  | { cmd: 'echo', id: number }
  /** Time `samples` raw request/response round trips to `peerId`, which answers `echo`. */
  | { cmd: 'rtt', id: number, peerId: string, samples: number }
  /** What this node's gossipsub makes of its peers and of one spec's topics (bench:scale's BENCH_DEBUG). */
  | { cmd: 'diag', id: number, specId: string }
  /**
   * `profile`: a CPU profile of this process (node:inspector) from this mark to the next `counters`, written to that file;
   * `loopDelay`: how late its event loop ran (perf_hooks, 10 ms resolution), in the next `counters`.
   */
  | { cmd: 'mark', id: number, profile?: string, loopDelay?: boolean }
  | { cmd: 'counters', id: number }
  /** `keepLog`: copy the node's daemon log (started with `log`) to this path before its home is removed. */
  | { cmd: 'stop', id: number, keepLog?: string }

/** What one node received and spent since its last `mark`. */
export interface Counters {
  /** Length of the window, ms. */
  ms: number
  /** Bytes of every gossipsub RPC frame received: messages (duplicates too), control (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT), subscriptions. */
  gossipBytes: number
  rpcs: number
  /** Gossip messages received, by topic kind (jobs, bids, awards, capacity, receipts, specs), duplicates included, validated or not; and 'bid-stream': bid frames read from bid streams. */
  msgs: Record<string, number>
  /** Bytes received per libp2p protocol's streams; 'global' is every connection's bytes (noise and yamux framing included). */
  wire: Record<string, number>
  cpuMs: number
  rssBytes: number
  heapBytes: number
  connections: number
  /** Connections opened in the window, by direction, and closed by the connection budget. */
  opened: { inbound: number, outbound: number }
  trimmed: number
  /** The share of the window this process's event loop was running something (perf_hooks eventLoopUtilization): 1 = its main thread never waited. */
  eventLoopBusy: number
  /** How late the event loop ran in the window (ms), when the mark asked. */
  loopDelayMs?: { p50: number, p99: number, max: number }
}

export type FromScaleNode =
  | { event: 'ready', id: 0 }
  | { event: 'started', id: number, peerId: string, addr: string }
  | { event: 'published', id: number, specId: string }
  | { event: 'served', id: number }
  | { event: 'status', id: number, connections: number, specsHeld: number, adverts: number, topicPeers: number }
  | { event: 'joined', id: number }
  | { event: 'burst', id: number, elapsedMs: number, latenciesMs: number[], biddingMs: number[], failed: number, reasons: string[], cpuMs: number }
  | { event: 'leases', id: number, leases: Array<{ leaseId: string, agent: string, slots: number, jobs: number, ended?: string }> }
  | { event: 'echoing', id: number }
  | { event: 'rtt', id: number, samplesMs: number[] }
  /** biddingMs, attempts and execMs (the successful attempt's start to end in the agent's claim: its handler's run): per succeeded job, aligned with latenciesMs. */
  /** timings: where each succeeded job's time went, by phase (job-phases.ts), for those whose events were all seen. */
  | { event: 'jobs', id: number, latenciesMs: number[], biddingMs: number[], attempts: number[], execMs: number[], timings: JobTiming[], failed: number, skipped: number, reasons: string[] }
  | { event: 'diag', id: number, diag: GossipDiag }
  | { event: 'marked', id: number }
  | { event: 'counters', id: number, counters: Counters }
  | { event: 'stopped', id: number }
  | { event: 'error', id: number, message: string }

/** One node's gossipsub state: the scores it gives its peers, and per topic of one spec its mesh and the subscribers it knows. */
export interface GossipDiag {
  connections: number
  /** Peers gossipsub scores (every connected gossipsub peer and the recently gone it retains). */
  scored: number
  score: { min: number, median: number, max: number, belowGossip: number, belowGraylist: number }
  /** Per kind of the spec's topics: mesh peers, and peers known to subscribe. */
  topics: Record<string, { mesh: number, subscribers: number }>
}

export const TOPIC_KINDS = ['jobs', 'bids', 'awards', 'capacity', 'leases', 'receipts', 'specs'] as const

/**
 * The kind of a gossip topic, global (/specmesh/jobs/1) or per spec
 * (/specmesh/spec/2/<specId>/jobs): the segment that names it; 'other' otherwise.
 */
export function topicKind (topic: string): string {
  const parts = topic.split('/').filter(Boolean)
  if (parts[0] !== 'specmesh') return 'other'
  const kind = parts[1] === 'spec' ? parts.at(-1) : parts[1]
  return (TOPIC_KINDS as readonly string[]).includes(kind ?? '') ? kind! : 'other'
}
