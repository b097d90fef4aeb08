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

  add (job: KnownJob): void {
    this.remember(job.jobId, job, Date.now())
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
    return () => {
      if (this.inArrival.get(jobId) === settled) this.inArrival.delete(jobId)
      done()
    }
  }

  isArriving (jobId: string): boolean {
    return this.inArrival.has(jobId)
  }

  /** Resolves once the job's validation in progress (if any) has ended. */
  async settled (jobId: string): Promise<void> {
    await this.inArrival.get(jobId)
  }
}
