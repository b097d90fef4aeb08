import { ExpiringMemory } from './expiring-memory.ts'
import type { JobBody } from './messages.ts'

export interface KnownJob {
  jobId: string
  coordinator: string
  body: JobBody
  /**
   * When this node saw the job published: its createdAt, or later for a job
   * that waited for capacity before it was published. Bid windows and bid
   * holds count from here.
   */
  publishedAt: number
}

/** How many jobs a node remembers at once; past-deadline ones go first beyond it, then the oldest. */
export const MAX_RECENT_JOBS = 20_000
/** Bids and awards that may wait at once for a job not seen yet (RecentJobs.awaitJob); past it they are Ignored at once. */
export const MAX_AWAITING = 256
/** How long a bid or award waits for a job not seen yet: reordering on a loaded node, not a late job. */
export const JOB_AWAIT_MS = 500

/**
 * Jobs seen on gossip, kept in memory until their deadline: bids and awards are
 * validated against them, and nothing about a job matters after its deadline.
 */
export class RecentJobs extends ExpiringMemory<KnownJob> {
  constructor (limit = MAX_RECENT_JOBS) {
    super(limit, job => job.body.deadline)
  }

  /** Jobs whose validation has begun and is waiting (for the spec's lookup): settled when it ends, either way. */
  private readonly inArrival = new Map<string, Promise<void>>()
  /** Bids and awards waiting for a job not seen yet (awaitJob), by job id. */
  private readonly awaited = new Map<string, Set<() => void>>()
  private awaiting = 0

  add (job: KnownJob): void {
    this.remember(job.jobId, job, Date.now())
    this.wake(job.jobId)
  }

  /**
   * Wait up to `ms` for a job this node has not seen to be added or to start arriving;
   * resolves whether it has. At most `MAX_AWAITING` wait at once: past that, and for a job
   * already known or arriving, it resolves at once. A bid is sent after its job, but on
   * another path (from the bidder, or relayed by another peer), and on a loaded node it can
   * arrive first: Ignored, gossip never delivers it again (a follower auditing awards lost
   * bids this way, 1 run in 10 under load after the arrival wait below).
   */
  async awaitJob (jobId: string, ms: number): Promise<boolean> {
    if (this.get(jobId) != null || this.inArrival.has(jobId)) return true
    if (this.awaiting >= MAX_AWAITING || ms <= 0) return false
    this.awaiting++
    try {
      await new Promise<void>(resolve => {
        const waiters = this.awaited.get(jobId) ?? new Set()
        this.awaited.set(jobId, waiters)
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(done)
          if (waiters.size === 0 && this.awaited.get(jobId) === waiters) this.awaited.delete(jobId)
          resolve()
        }
        const timer = setTimeout(done, ms)
        waiters.add(done)
      })
    } finally {
      this.awaiting--
    }
    return this.get(jobId) != null || this.inArrival.has(jobId)
  }

  private wake (jobId: string): void {
    for (const done of [...this.awaited.get(jobId) ?? []]) done()
  }

  /**
   * A job's validation has begun: a bid or award for it that arrives meanwhile waits
   * for the verdict (settled) instead of finding the job unknown. gossipsub validates
   * messages as they come, each on its own, so a bid sent after the job it answers
   * (another peer relayed it, or the bidder is a direct peer) can be checked while the
   * job's own validation awaits the spec: Ignored unknown-job, and gossip never
   * delivers it again (a follower lost bids this way, spec-topics test, 6 runs in 10
   * under load). Returns the function that ends the arrival.
   */
  arriving (jobId: string): () => void {
    let done!: () => void
    const settled = new Promise<void>(resolve => { done = resolve })
    this.inArrival.set(jobId, settled)
    this.wake(jobId)
    return () => {
      if (this.inArrival.get(jobId) === settled) this.inArrival.delete(jobId)
      done()
    }
  }

  /** Resolves once the job's validation in progress (if any) has ended. */
  async settled (jobId: string): Promise<void> {
    await this.inArrival.get(jobId)
  }
}
