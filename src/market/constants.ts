/**
 * Timing the agent and the coordinator must agree on, so they live in one place.
 *
 * When a bid window closes with no bid, the coordinator waits up to this many
 * windows more for a first one (on a loaded mesh a bid can be late).
 */
export const NO_BID_GRACE_FACTOR = 4

/**
 * A bid holds its place at the agent through the window, the grace above, and
 * this margin for the award to travel: bidHoldsUntil() is the same sum on both sides.
 */
export const BID_HOLD_GRACE_MS = 250

/** How long after publishing a coordinator waits for a first bid: the bid window and NO_BID_GRACE_FACTOR windows more. */
export function firstBidWaitMs (bidWindowMs: number): number {
  return (1 + NO_BID_GRACE_FACTOR) * bidWindowMs
}

/** `job` as RecentJobs keeps it: counted from when the job was published (see KnownJob.publishedAt). */
export function bidHoldsUntil (job: { body: { bidWindowMs: number }, publishedAt: number }): number {
  return job.publishedAt + firstBidWaitMs(job.body.bidWindowMs) + BID_HOLD_GRACE_MS
}

/**
 * Until when the coordinator of `job` waits for a first bid: the bid window and
 * NO_BID_GRACE_FACTOR windows more, never past the job's deadline.
 */
export function firstBidUntil (job: { body: { bidWindowMs: number, deadline: number }, publishedAt: number }): number {
  return Math.min(job.body.deadline, job.publishedAt + firstBidWaitMs(job.body.bidWindowMs))
}
