import { ed25519, type Ed25519BackendName } from '../../crypto/ed25519.ts'
import type { JobRecord, SpecmeshNode } from '../../node-types.ts'
import { notFound } from '../errors.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Errors GET /v1/status lists, newest first. */
export const STATUS_ERRORS = 10

export interface StatusError {
  at: number
  /** `job`: a job this node submitted failed; `gossip`: a peer sent a message this node rejected. */
  kind: 'job' | 'gossip'
  message: string
  /** The job id, or the peer that sent the rejected message. */
  ref: string
}

export interface NodeStatus {
  peerId: string
  at: number
  peers: { count: number, peerIds: string[] }
  specs: {
    held: number
    served: Array<{ specId: string, name: string, priceUsd: number, inFlight: number, limit: number }>
  }
  jobs: {
    total: number
    /** Jobs not yet ended, by state (bidding, running, …). */
    inFlight: Record<string, number>
    byStatus: Record<string, number>
    /** Jobs that ended in the last 60 s (the dashboard's jobs per second). */
    finishedLastMinute: number
  }
  lastErrors: StatusError[]
  metrics: boolean
  /** Which Ed25519 implementation signs and verifies in this process, and why when it is the node:crypto fallback. */
  ed25519: { backend: Ed25519BackendName, reason?: string }
}

function ed25519Status (): NodeStatus['ed25519'] {
  const { name, reason } = ed25519()
  return reason == null ? { backend: name } : { backend: name, reason }
}

interface Verdicts { verdicts?: Array<{ at: number, topic: string, verdict: string, from: string, reason?: string }> }

const ENDED = new Set(['succeeded', 'failed', 'cancelled'])

export async function nodeStatus (node: SpecmeshNode): Promise<NodeStatus> {
  const peers = node.peers()
  const jobs: JobRecord[] = await node.listJobs()
  const byStatus: Record<string, number> = {}
  const inFlight: Record<string, number> = {}
  const now = Date.now()
  let finishedLastMinute = 0
  for (const job of jobs) {
    byStatus[job.status] = (byStatus[job.status] ?? 0) + 1
    if (!ENDED.has(job.status)) inFlight[job.status] = (inFlight[job.status] ?? 0) + 1
    if (job.finishedAt != null && now - job.finishedAt <= 60_000) finishedLastMinute++
  }
  const errors: StatusError[] = []
  for (const job of jobs) {
    if (job.status === 'failed') errors.push({ at: job.finishedAt ?? job.submittedAt, kind: 'job', message: job.reason ?? 'failed', ref: job.jobId })
  }
  // Only a Node (not every SpecmeshNode) keeps its recent gossip verdicts.
  for (const v of (node as SpecmeshNode & Verdicts).verdicts ?? []) {
    if (v.verdict === 'reject') errors.push({ at: v.at, kind: 'gossip', message: `rejected a message on ${v.topic}: ${v.reason ?? 'no reason'}`, ref: v.from })
  }
  errors.sort((a, b) => b.at - a.at)
  return {
    peerId: node.peerId,
    at: now,
    peers: { count: peers.length, peerIds: peers.map(p => p.peerId) },
    specs: { held: node.specCount?.() ?? (await node.listSpecs()).length, served: node.servedSpecs() },
    jobs: { total: jobs.length, inFlight, byStatus, finishedLastMinute },
    lastErrors: errors.slice(0, STATUS_ERRORS),
    metrics: node.metricsText != null,
    ed25519: ed25519Status()
  }
}

/**
 * What the node is doing, at a glance (GET /v1/status, `specmesh status`), and
 * its Prometheus metrics (GET /metrics). /metrics needs the bearer token like
 * every route: a scraper sends it (Prometheus: `authorization.credentials_file`).
 */
export function statusRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/status',
      handler: async () => ({ body: await nodeStatus(node) })
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async () => {
        if (node.metricsText == null) throw notFound('metrics are off on this node; the daemon collects them unless started with --no-metrics')
        const metrics = await node.metricsText()
        return { raw: metrics.text, contentType: metrics.contentType }
      }
    }
  ]
}
