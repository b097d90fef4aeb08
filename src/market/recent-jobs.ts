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

  add (job: KnownJob): void {
    this.remember(job.jobId, job, Date.now())
  }
}
