import type { Spec } from '../spec/index.ts'
import { backoffDelayMs } from './backoff.ts'

/**
 * How a requester reads (or ignores) a spec's limits. The coordinator asks its
 * policy at every decision the Self-regulation table of DESIGN.md governs, so
 * all of those rules live here and nowhere else.
 *
 * `specPolicy` is what specmesh does. `naivePolicy` reproduces common client
 * code that ignores the spec (a fixed timeout, immediate retries, no cap); it
 * exists so the cascading-retry benchmark can put the two side by side on the
 * same nodes, and is not meant for production.
 */
export interface RequesterPolicy {
  readonly name: string
  /** Attempts allowed for one job, the first included. */
  maxAttempts: (spec: Spec) => number
  /** Wait before retry number `retry` (1 = first retry), given an agent's retry-after hint. */
  retryDelayMs: (spec: Spec, retry: number, retryAfterMs: number) => number
  /** When a running attempt is given up (epoch ms). */
  attemptStopAt: (spec: Spec, startedAt: number, deadline: number) => number
  /** Wait instead of sending when agents are at capacity.maxConcurrentRequests. */
  respectsCapacity: boolean
  /** Submit nothing after softDeadline; stop retrying when the deadline would pass. */
  respectsDeadlines: boolean
  /** Refuse an attempt that would cross budget.maxUsd (with overageBehavior fail). */
  enforcesBudget: boolean
  /** Hold retries to capacity.maxConcurrentRetries per node. */
  usesRetryBudget: boolean
}

export function specPolicy (retryBaseMs: number): RequesterPolicy {
  return {
    name: 'spec',
    maxAttempts: spec => 1 + (spec.capacity?.maxRetries ?? 0),
    retryDelayMs: (spec, retry, retryAfterMs) => Math.max(retryAfterMs, backoffDelayMs(retry, retryBaseMs, spec.capacity?.backoffMultiplier ?? 2)),
    attemptStopAt: (spec, startedAt, deadline) => {
      const window = spec.executionWindow
      const timeout = spec.capacity?.timeoutSeconds
      return Math.min(deadline, window != null ? startedAt + window * 1000 : Infinity, timeout != null ? startedAt + timeout * 1000 : Infinity)
    },
    respectsCapacity: true,
    respectsDeadlines: true,
    enforcesBudget: true,
    usesRetryBudget: true
  }
}

export function naivePolicy (options: { timeoutMs?: number, retries?: number } = {}): RequesterPolicy {
  const timeoutMs = options.timeoutMs ?? 1000
  const retries = options.retries ?? 5
  return {
    name: 'naive',
    maxAttempts: () => 1 + retries,
    retryDelayMs: () => 0,
    attemptStopAt: (_spec, startedAt) => startedAt + timeoutMs,
    respectsCapacity: false,
    respectsDeadlines: false,
    enforcesBudget: false,
    usesRetryBudget: false
  }
}
