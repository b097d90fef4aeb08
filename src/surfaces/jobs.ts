import type { EventEmitter } from 'node:events'
import type { JobResult, SpecmeshNode, StoredSpec, SubmitOptions } from '../node-types.ts'
import { isExpired } from '../spec/index.ts'

/**
 * What the operating surfaces (MCP, A2A) need of a node. They are doors onto
 * the node's own job operations and keep no market logic of their own.
 *
 * The non-blocking job API (startJob, waitJob, cancelJob, jobEvents) is
 * optional: where a node offers it, a job reports its events as it runs and
 * can be cancelled; where it does not, the job runs through the blocking
 * submitJob and reports only its outcome.
 */
export interface SurfaceNode extends Pick<SpecmeshNode, 'peerId' | 'listSpecs' | 'getSpec' | 'submitJob' | 'servedSpecs'> {
  startJob?: (specId: string, input: unknown, options?: SubmitOptions) => Promise<{ jobId: string }>
  waitJob?: (jobId: string) => Promise<JobResult>
  cancelJob?: (jobId: string) => Promise<unknown>
  jobEvents?: (jobId: string, options?: { afterSeq?: number, signal?: AbortSignal }) => AsyncIterable<SurfaceJobEvent>
  /** Spec arrivals (the node's 'spec' event), for surfaces that list specs. */
  events?: Pick<EventEmitter<{ spec: [StoredSpec] }>, 'on' | 'off'>
}

/** One step of a job (the node's job events: submitted, bid, award, attempt-started, receipt, done, …). */
export interface SurfaceJobEvent {
  seq: number
  jobId: string
  type: string
  at: number
  data: Record<string, unknown>
}

export interface RunJobOptions extends SubmitOptions {
  /** Aborting cancels the job (where the node can cancel). */
  signal?: AbortSignal
  /** The job's id, as soon as it has one. */
  onStarted?: (jobId: string) => void
  /** Each of the job's events as it happens. */
  onEvent?: (event: SurfaceJobEvent) => void
}

/** Keys of the metadata (MCP `_meta`, A2A task and artifact metadata) that carry a job's record. */
export const JOB_META = {
  jobId: 'specmesh/jobId',
  receiptId: 'specmesh/receiptId',
  costUsd: 'specmesh/costUsd',
  agent: 'specmesh/agent',
  specId: 'specmesh/specId'
} as const

/** The specs a surface offers (as MCP tools, A2A skills): those held that have not expired. */
export async function liveSpecs (node: Pick<SurfaceNode, 'listSpecs'>, now = Date.now()): Promise<StoredSpec[]> {
  return (await node.listSpecs()).filter(record => !isExpired(record.spec, now))
}

/** A finished job's record as metadata: spec, job, cost, and receipt and agent where there is one. */
export function jobMeta (specId: string, result: JobResult): Record<string, unknown> {
  const meta: Record<string, unknown> = { [JOB_META.specId]: specId, [JOB_META.jobId]: result.jobId, [JOB_META.costUsd]: result.costUsd }
  if (result.receipt != null) {
    meta[JOB_META.receiptId] = result.receipt.id
    meta[JOB_META.agent] = result.receipt.body.agent
  }
  return meta
}

/** One sentence on a job's outcome, as a tool result's or a task's last message. */
export function outcomeText (result: JobResult): string {
  return result.status === 'succeeded'
    ? `job ${result.jobId} succeeded: receipt ${result.receipt?.id ?? '(none)'}, cost ${result.costUsd} USD`
    : `job ${result.jobId} failed: ${result.reason ?? 'no reason given'}`
}

/** Whether the node can report a job's events and cancel it (the non-blocking job API). */
export function canFollowJobs (node: SurfaceNode): boolean {
  return node.startJob != null && node.waitJob != null && node.jobEvents != null && node.cancelJob != null
}

/**
 * Run one job to its outcome: startJob, its events to onEvent, cancelJob on
 * abort, waitJob; or, on a node without that API, submitJob.
 */
export async function runJob (node: SurfaceNode, specId: string, input: unknown, options: RunJobOptions = {}): Promise<JobResult> {
  const { signal, onStarted, onEvent, ...submit } = options
  if (!canFollowJobs(node)) {
    // Without job events the job's only steps known here are its start and its outcome.
    onEvent?.({ seq: 1, jobId: '', type: 'submitted', at: Date.now(), data: { specId } })
    const result = await node.submitJob(specId, input, submit)
    onStarted?.(result.jobId)
    onEvent?.({ seq: 2, jobId: result.jobId, type: 'done', at: Date.now(), data: { status: result.status, ...(result.reason != null ? { reason: result.reason } : {}) } })
    return result
  }
  const { jobId } = await node.startJob!(specId, input, submit)
  onStarted?.(jobId)
  const stopFollowing = new AbortController()
  const onAbort = (): void => { node.cancelJob!(jobId).catch(() => {}) }
  if (signal?.aborted === true) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  const following = (async () => {
    if (onEvent == null) return
    for await (const event of node.jobEvents!(jobId, { signal: stopFollowing.signal })) onEvent(event)
  })().catch(() => {})
  try {
    const result = await node.waitJob!(jobId)
    // The events up to 'done' are delivered before the outcome is.
    await following
    return result
  } finally {
    stopFollowing.abort()
    signal?.removeEventListener('abort', onAbort)
  }
}

/** One line per job event, for an MCP progress notification's or an A2A status update's message. */
export function describeEvent (event: SurfaceJobEvent): string {
  const d = event.data
  const agent = typeof d.agent === 'string' ? ` ${d.agent}` : ''
  switch (event.type) {
    case 'bid': return `bid from${agent}${d.priceUsd != null ? ` at ${String(d.priceUsd)} USD` : ''}`
    case 'award': return `awarded to${agent}`
    case 'attempt-started': return `attempt ${String(d.attempt ?? '')} started at${agent}`.replace('  ', ' ')
    case 'attempt-ended': return `attempt ${String(d.attempt ?? '')} ended: ${String(d.outcome ?? '')}${d.reason != null ? ` (${String(d.reason)})` : ''}`
    case 'receipt': return `receipt ${String(d.receiptId ?? '')}: ${String(d.outcome ?? '')}, ${String(d.costUsd ?? 0)} USD`
    case 'backoff': return `retry ${String(d.retry ?? '')} in ${String(d.delayMs ?? '')} ms`
    case 'waiting-capacity': return 'waiting: every agent serving the spec is busy'
    case 'done': return `done: ${String(d.status ?? '')}${d.reason != null ? ` (${String(d.reason)})` : ''}`
    default: return event.type
  }
}
