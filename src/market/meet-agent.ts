/**
 * How long a job that knows no agent of its spec waits to meet one before it
 * is published (Coordinator.awaitAgent). Published to a topic no agent is on,
 * a job could get no bid however long it waited (bench:scale at 100 nodes:
 * every warm-up job failed so).
 */
import { PROVIDER_SEEK_FIRST_MS } from '../net/constants.ts'
import { firstBidUntil, firstBidWaitMs } from './constants.ts'

/**
 * The provider seeker looks a spec's providers up PROVIDER_SEEK_FIRST_MS after
 * it began, and again twice that later: this spans the lookup that finds an
 * agent which began providing a moment after the first lookup (the job's own).
 */
export const MEET_AGENT_WAIT_MS = 4 * PROVIDER_SEEK_FIRST_MS

/**
 * Until when a job (body as published, at `now`) waits to meet an agent: as
 * long as it would wait for a first bid once published (firstBidUntil); and
 * while the node has been seeking the spec's providers (since `soughtSince`)
 * for less than MEET_AGENT_WAIT_MS, at least until then. That longer wait
 * never runs past the soft deadline, nor so late that the auction's own
 * first-bid wait no longer fits before the deadline. A node that has sought
 * long and found nobody (or does not seek: `soughtSince` undefined) fails a
 * job to an unserved spec within its first-bid wait.
 */
export function meetAgentUntil (body: { bidWindowMs: number, deadline: number, softDeadline?: number }, now: number, soughtSince: number | undefined): number {
  const firstBid = firstBidUntil({ body, publishedAt: now })
  if (soughtSince == null) return firstBid
  const latest = Math.min(body.softDeadline ?? body.deadline, body.deadline - firstBidWaitMs(body.bidWindowMs))
  return Math.max(firstBid, Math.min(soughtSince + MEET_AGENT_WAIT_MS, latest))
}
