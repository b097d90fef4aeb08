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

/** How many jobs a node remembers at once; the oldest go first beyond it. */
export const MAX_RECENT_JOBS = 20_000

/**
 * Jobs seen on gossip, kept in memory until their deadline: bids and awards are
 * validated against them, and nothing about a job matters after its deadline.
 */
export class RecentJobs {
  private readonly jobs = new Map<string, KnownJob>()
  private readonly limit: number

  constructor (limit = MAX_RECENT_JOBS) {
    this.limit = limit
  }

  add (job: KnownJob): void {
    if (this.jobs.size >= this.limit) this.prune(Date.now())
    if (this.jobs.size >= this.limit) {
      const oldest = this.jobs.keys().next().value
      if (oldest != null) this.jobs.delete(oldest)
    }
    this.jobs.set(job.jobId, job)
  }

  get (jobId: string): KnownJob | undefined {
    return this.jobs.get(jobId)
  }

  prune (now: number): void {
    for (const [id, job] of this.jobs) if (job.body.deadline < now) this.jobs.delete(id)
  }
}
