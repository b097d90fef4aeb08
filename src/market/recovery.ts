import type { JobStore } from '../store/job-store.ts'
import type { JobEventLog } from './job-events.ts'
import { applyEntry, type LedgerStore } from '../store/ledger-store.ts'

/**
 * A node that stopped (or crashed) in the middle of a job leaves its record
 * 'bidding' or 'running' and perhaps money reserved for an attempt that never
 * got a receipt. At the next start every such job is closed as failed, with a
 * reason that says what happened, and its reservations are released, in one
 * batch per job: the record is kept and explained, never silently dropped.
 */
export async function closeInterruptedJobs (jobs: JobStore, ledger: LedgerStore, events?: JobEventLog, now: number = Date.now()): Promise<number> {
  let closed = 0
  for (const record of await jobs.list()) {
    if (record.status !== 'bidding' && record.status !== 'running') continue
    const was = record.status
    record.status = 'failed'
    record.reason = `interrupted: the node stopped while the job was ${was}; no result was recorded`
    record.finishedAt = now
    for (const attempt of record.attempts) {
      if (attempt.outcome == null) {
        attempt.outcome = 'error'
        attempt.reason = 'interrupted by a node stop'
      }
    }
    let jobLedger = await ledger.get(record.jobId)
    if (jobLedger != null) {
      for (const entry of jobLedger.entries) {
        const settled = jobLedger.entries.some(e => e.awardId === entry.awardId && e.kind !== 'reserve')
        if (entry.kind !== 'reserve' || settled) continue
        // No receipt exists for this attempt (a receipt and its ledger entry are written in
        // one batch), so the release names what justifies it: the stop, and when.
        const justification = `interrupted: the node stopped while attempt ${entry.attempt} (award ${entry.awardId}) was in flight; no receipt was signed for it; released at restart ${new Date(now).toISOString()}`
        jobLedger = applyEntry(jobLedger, { ...entry, at: now, kind: 'release', justification })
      }
    }
    await jobs.save(record, { with: jobLedger != null ? [ledger.operation(jobLedger)] : [] })
    // Its event stream ends too, so a follower resuming after the restart learns the outcome.
    if (events != null) {
      await events.reopen(record.jobId)
      events.record(record.jobId, 'done', { status: 'failed', reason: record.reason, costUsd: record.costUsd, attempts: record.attempts.length }, now)
    }
    closed++
  }
  return closed
}
