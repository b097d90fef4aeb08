/**
 * bench:cascade's scenario, shared by the bench (the requesters) and its agent's
 * process (cascade-agent.ts), and what the two say to each other over IPC.
 */
import { sampleSpec } from '../../test/helpers/specs.ts'
import type { MachineFigures } from './shared-machine.ts'

export const REQUESTERS = 5
export const CORES = 3
export const SERVICE_MS = Number(process.env.BENCH_SERVICE_MS ?? 200)
export const CAPACITY_PER_SEC = CORES * 1000 / SERVICE_MS
export const PRICE = 0.1

export const cascadeSpec = sampleSpec('cascade', {
  successCriteria: [],
  costUsd: PRICE,
  deadline: 4,
  softDeadline: 3,
  executionWindow: 2,
  budget: { maxUsd: 0.3, overageBehavior: 'fail' },
  capacity: { maxConcurrentRequests: CORES, maxConcurrentRetries: 2, maxRetries: 3, backoffMultiplier: 2, timeoutSeconds: 2 }
})

export type Mode = 'naive' | 'spec'

export type ToAgent =
  | { cmd: 'start' }
  | { cmd: 'serve', mode: Mode }
  /** Forget what the machine did so far (the warm-up); later events are the measured run's. */
  | { cmd: 'mark' }
  | { cmd: 'figures' }
  | { cmd: 'stop' }

export type FromAgent =
  | { event: 'ready' }
  | { event: 'started', addr: string }
  | { event: 'serving', specId: string }
  | { event: 'marked' }
  /** `cpuMs`: this process's CPU since the mark. */
  | { event: 'figures', machine: MachineFigures, cpuMs: number }
  | { event: 'stopped' }
  | { event: 'error', message: string }
  /** Sent as they happen: the agent's steps for the slot timeline (scripts/lib/slot-timeline.ts). */
  | { event: 'step', jobId: string, step: 'bid' | 'awardArrived', at: number }
  | { event: 'exec', jobId: string, phase: 'started' | 'ended', at: number }
