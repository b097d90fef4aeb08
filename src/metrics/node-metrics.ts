import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { JobEvent } from '../store/job-event-store.ts'

/** Seconds: a trivial job takes a bid window (tens of ms); real work takes seconds to minutes. */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/** What the metrics read at scrape time; each is cheap (in-memory counts). */
export interface MetricsSources {
  peers: () => number
  specsHeld: () => number
  /** Specs this node serves as an agent, with its executions in flight and its limit on each. */
  served: () => Array<{ name: string, inFlight: number, limit: number }>
  /** The coordinator's queues. */
  queues: () => { auctions: number, bidding: number, executing: number, retrying: number }
}

/**
 * The node's own Prometheus metrics, in a registry of its own (so several
 * nodes in one process never share counters); libp2p's metrics, from
 * @libp2p/prometheus-metrics, go into the same registry. Names follow
 * Prometheus conventions: `_total` counters, `_seconds` histograms, base units.
 */
export class NodeMetrics {
  readonly registry: Registry
  private readonly jobs: Counter<'outcome'>
  private readonly jobDuration: Histogram<'outcome'>
  private readonly attempts: Counter<'outcome'>
  private readonly attemptDuration: Histogram<'outcome'>
  private readonly bids: Counter
  /** Gossip verdicts since the last scrape by topic, verdict and reason code (one key string), read into the counter at scrape time. */
  private readonly verdictCounts = new Map<string, { labels: { topic: string, verdict: string, reason: string }, count: number }>()
  private readonly jobsInFlight: Gauge
  /** The accept verdicts (no reason) by topic: most of the verdicts, counted without building a key. */
  private readonly acceptCounts = new Map<string, { labels: { topic: string, verdict: string, reason: string }, count: number }>()
  /** Each outcome's counter and histogram children, looked up once (prom-client hashes a label object per call). */
  private readonly byOutcome = new Map<string, { job: Counter.Internal, jobDuration: Histogram.Internal<"outcome">, attempt: Counter.Internal, attemptDuration: Histogram.Internal<"outcome"> }>()
  /** When each job in flight was submitted, for its duration once done. */
  private readonly submittedAt = new Map<string, number>()

  constructor (sources: MetricsSources, registry = new Registry()) {
    this.registry = registry
    const registers = [registry]
    this.jobs = new Counter({ name: 'specmesh_jobs_total', help: 'Jobs this node submitted that ended, by outcome (succeeded, failed, cancelled)', labelNames: ['outcome'], registers })
    this.jobDuration = new Histogram({ name: 'specmesh_job_duration_seconds', help: 'Submission to outcome of the jobs this node submitted', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers })
    this.attempts = new Counter({ name: 'specmesh_attempts_total', help: 'Execution attempts of this node\'s jobs, by receipt outcome', labelNames: ['outcome'], registers })
    this.attemptDuration = new Histogram({ name: 'specmesh_attempt_duration_seconds', help: 'Duration of execution attempts of this node\'s jobs (receipt startedAt to endedAt), by outcome', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers })
    this.bids = new Counter({ name: 'specmesh_bids_received_total', help: 'Bids received for the jobs this node submitted', registers })
    const { verdictCounts, acceptCounts } = this
    new Counter({
      name: 'specmesh_gossip_verdicts_total',
      help: 'Gossip validation verdicts, by topic, verdict (accept, reject, ignore) and reason code',
      labelNames: ['topic', 'verdict', 'reason'],
      registers,
      collect () {
        for (const counts of [acceptCounts, verdictCounts]) {
          for (const entry of counts.values()) {
            if (entry.count > 0) this.inc(entry.labels, entry.count)
            entry.count = 0
          }
        }
      }
    })
    this.jobsInFlight = new Gauge({ name: 'specmesh_jobs_in_flight', help: 'Jobs this node submitted that have not ended', registers })
    new Gauge({
      name: 'specmesh_coordinator_queue_depth',
      help: 'Jobs of this node in each coordinator queue: auctions open, calling for bids, executing at an agent, holding a retry slot',
      labelNames: ['queue'],
      registers,
      collect () {
        for (const [queue, depth] of Object.entries(sources.queues())) this.set({ queue }, depth)
      }
    })
    new Gauge({
      name: 'specmesh_agent_executions_in_flight',
      help: 'Executions running at this node as an agent, per spec served',
      labelNames: ['spec'],
      registers,
      collect () {
        this.reset()
        for (const s of sources.served()) this.set({ spec: s.name }, s.inFlight)
      }
    })
    new Gauge({
      name: 'specmesh_agent_concurrency_limit',
      help: 'Executions this node as an agent admits at once, per spec served',
      labelNames: ['spec'],
      registers,
      collect () {
        this.reset()
        for (const s of sources.served()) this.set({ spec: s.name }, s.limit)
      }
    })
    new Gauge({ name: 'specmesh_peers', help: 'Peers with an open connection', registers, collect () { this.set(sources.peers()) } })
    new Gauge({ name: 'specmesh_specs_held', help: 'Specs this node holds', registers, collect () { this.set(sources.specsHeld()) } })
  }

  /**
   * Every event of every job this node coordinates (the node's 'job-event'):
   * the counts and histograms follow the same record `job watch` shows.
   */
  jobEvent (event: JobEvent): void {
    switch (event.type) {
      case 'submitted':
        this.submittedAt.set(event.jobId, event.at)
        this.jobsInFlight.inc()
        break
      case 'bid':
        this.bids.inc()
        break
      case 'attempt-ended': {
        const of = this.outcome(String(event.data.outcome ?? 'unknown'))
        of.attempt.inc()
        const ms = Number(event.data.durationMs)
        if (Number.isFinite(ms)) of.attemptDuration.observe(ms / 1000)
        break
      }
      case 'done': {
        const of = this.outcome(String(event.data.status ?? 'unknown'))
        of.job.inc()
        const since = this.submittedAt.get(event.jobId)
        if (since != null) {
          this.submittedAt.delete(event.jobId)
          this.jobsInFlight.dec()
          of.jobDuration.observe(Math.max(0, event.at - since) / 1000)
        }
        break
      }
    }
  }

  /**
   * `reason` is "code: message"; only the code becomes a label, so the label
   * set stays small. Called for every gossip message: it adds one to a count
   * the counter reads at scrape time, instead of prom-client hashing a label
   * object per message.
   */
  verdict (topic: string, verdict: string, reason?: string): void {
    if (verdict === 'accept' && reason == null) {
      const entry = this.acceptCounts.get(topic)
      if (entry != null) entry.count++
      else this.acceptCounts.set(topic, { labels: { topic, verdict, reason: '' }, count: 1 })
      return
    }
    const code = reason == null ? '' : reason.split(':', 1)[0]!.trim()
    const key = `${verdict}\0${code}\0${topic}`
    const entry = this.verdictCounts.get(key)
    if (entry != null) entry.count++
    else this.verdictCounts.set(key, { labels: { topic, verdict, reason: code }, count: 1 })
  }

  private outcome (outcome: string): { job: Counter.Internal, jobDuration: Histogram.Internal<"outcome">, attempt: Counter.Internal, attemptDuration: Histogram.Internal<"outcome"> } {
    let children = this.byOutcome.get(outcome)
    if (children == null) {
      children = {
        job: this.jobs.labels({ outcome }),
        jobDuration: this.jobDuration.labels({ outcome }),
        attempt: this.attempts.labels({ outcome }),
        attemptDuration: this.attemptDuration.labels({ outcome })
      }
      this.byOutcome.set(outcome, children)
    }
    return children
  }

  /** The Prometheus text exposition format. */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}
