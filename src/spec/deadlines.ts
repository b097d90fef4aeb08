import type { Spec, Deadline } from './schema.ts'

/**
 * A spec's deadlines are either absolute instants (ISO strings: the spec itself stops at
 * that moment) or durations in seconds counted from each job's submission (numbers).
 * These helpers turn them into epoch milliseconds for one job.
 */

export function isAbsolute (deadline: Deadline): deadline is string {
  return typeof deadline === 'string'
}

/** Epoch ms of a deadline for a job submitted at `submittedAt` (epoch ms). */
export function deadlineAt (deadline: Deadline, submittedAt: number): number {
  return isAbsolute(deadline) ? Date.parse(deadline) : submittedAt + Math.round(deadline * 1000)
}

/** Absolute deadlines of one job (epoch ms); a field is absent when the spec sets none. */
export function jobDeadlines (spec: Spec, submittedAt: number): { softDeadline?: number, deadline?: number } {
  const out: { softDeadline?: number, deadline?: number } = {}
  if (spec.softDeadline !== undefined) out.softDeadline = deadlineAt(spec.softDeadline, submittedAt)
  if (spec.deadline !== undefined) out.deadline = deadlineAt(spec.deadline, submittedAt)
  return out
}

/**
 * Whether the spec is over: its absolute hard deadline has passed. A spec with a relative
 * deadline (or none) never expires; each of its jobs has its own deadline instead.
 */
export function isExpired (spec: Spec, now: number): boolean {
  return spec.deadline !== undefined && isAbsolute(spec.deadline) && Date.parse(spec.deadline) <= now
}

/**
 * Whether a new job may still be submitted: the spec has not expired and its absolute
 * soft deadline (after which nobody starts work on it) has not passed.
 */
export function acceptsNewJobs (spec: Spec, now: number): boolean {
  if (isExpired(spec, now)) return false
  return !(spec.softDeadline !== undefined && isAbsolute(spec.softDeadline) && Date.parse(spec.softDeadline) <= now)
}

/** The execution window in milliseconds, if the spec sets one. */
export function executionWindowMs (spec: Spec): number | undefined {
  return spec.executionWindow === undefined ? undefined : Math.round(spec.executionWindow * 1000)
}
