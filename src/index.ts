/**
 * The specmesh TypeScript SDK. Everything a program needs to run a node,
 * publish specs, serve them and submit jobs and workflows, from one import:
 *
 *   import { createNode, loadSpecFile } from 'specmesh'
 *   const node = await createNode({ home: './data' })
 *   const { id } = await node.publishSpec(await loadSpecFile('spec.yaml'))
 *   await node.serve(id, async (input, { signal }) => ({ ... }))
 *   const result = await node.submitJob(id, { text: '…' })
 *
 * The free functions below are the same operations as the node's methods, for
 * code that prefers functions to methods.
 */
// First, so an old Node.js gets a clear message before any dependency loads.
import './node-version.ts'
import type { Node } from './node.ts'
import type { LeaseInfo, LeaseRequest } from './market/lease-coordinator.ts'
import type { Handler, JobEvent, JobEventsOptions, JobRecord, JobResult, ServeOptions, SpecProvider, StoredSpec, SubmitOptions } from './node-types.ts'

export { createNode, type Node, type NodeEvents, type GossipVerdict } from './node.ts'
export type {
  NodeInit, SpecmeshNode, StoredSpec, PeerInfo, Handler, ServeOptions, JobResult, SubmitOptions, JobRecord,
  ReceiptQuery, StoredReceipt, JobLedger, SpecLedger, MarketOptions, JobEvent, JobEventType, JobEventsOptions
} from './node-types.ts'
export { JOB_EVENT_TYPES } from './store/job-event-store.ts'

// Specs: parse, validate, id, output checks.
export {
  parseSpecText, loadSpecFile, validateSpec, normalizeSpec, specId, checkOutput, checkInput, jobDeadlines,
  SpecValidationError, SpecFileError, type Spec, type Problem
} from './spec/index.ts'

// Serving with a program in any language, and the handler errors receipts report.
export { execHandler, type ExecHandlerOptions, type HandlerContext } from './market/exec-handler.ts'
export { HandlerContainment, type HandlerContainmentInit, type ContainmentMode } from './market/handler-containment.ts'
export { HandlerError, DeadlineExceededError } from './market/errors.ts'
export { UnknownSpecError, InvalidJobError, UnknownJobError, JobCancelledError } from './market/job-errors.ts'
export { NO_BID_CAUSES, type NoBidCause, type NoBidDiagnosis } from './market/no-bid.ts'
export { InvalidLeaseError } from './market/lease-errors.ts'
export type { LeaseInfo, LeaseRequest } from './market/lease-coordinator.ts'

// Settings and discovery.
export { resolveSettings, type NodeSettings, type ResolvedSettings, type SettingSource } from './config/settings.ts'
export { ConfigError, ListenAddressInUseError } from './config/errors.ts'
export { DEFAULT_LISTEN_PORT } from './config/constants.ts'
export { DhtDisabledError, SpecFetchError } from './net/errors.ts'
export type { SpecProvider } from './net/spec-discovery.ts'

// Auditing.
export { verifyReceipt, type ReceiptVerification, type ReceiptCheck } from './market/receipt-verify.ts'
export { rankBids, scoreBid, REPUTATION_WEIGHT, PRICE_WEIGHT, NEUTRAL_REPUTATION } from './market/scoring.ts'
export { specPolicy, naivePolicy, type RequesterPolicy } from './market/policy.ts'

// Workflows.
export { runWorkflow, loadWorkflowFile, parseWorkflowText, validateWorkflow, formatReport, type Workflow, type WorkflowReport } from './workflow/index.ts'

// Wire: envelopes, canonical JSON, content ids.
export { seal, openEnvelope, verifyEnvelope, type Envelope, type MessageType } from './wire/envelope.ts'
export { canonicalize, canonicalBytes } from './wire/canonical.ts'
export { contentId } from './crypto/content-id.ts'
export { MessageValidationError } from './wire/errors.ts'

/** Same as `node.findSpecProviders(specId)`: the peers that serve the spec, from specmesh's DHT. */
export async function findSpecProviders (node: Node, specId: string): Promise<SpecProvider[]> {
  return await node.findSpecProviders(specId)
}

/** Same as `node.fetchSpec(specId)`: the spec, fetched from a provider when this node does not hold it. */
export async function fetchSpec (node: Node, specId: string): Promise<StoredSpec> {
  return await node.fetchSpec(specId)
}

/** Same as `node.publishSpec(raw)`. */
export async function publishSpec (node: Node, raw: unknown): Promise<StoredSpec> {
  return await node.publishSpec(raw)
}

/** Same as `node.serve(specId, handler, options)`. */
export async function serve (node: Node, specId: string, handler: Handler, options?: ServeOptions): Promise<() => void> {
  return await node.serve(specId, handler, options)
}

/** Same as `node.requestLease(specId, request)`: lease agents' slots for the spec's later jobs. */
export async function requestLease (node: Node, specId: string, request?: LeaseRequest): Promise<LeaseInfo[]> {
  return await node.requestLease(specId, request)
}

/** Same as `node.startJob(specId, input, options)`. */
export async function startJob (node: Node, specId: string, input: unknown, options?: SubmitOptions): Promise<{ jobId: string }> {
  return await node.startJob(specId, input, options)
}

/** Same as `node.waitJob(jobId)`. */
export async function waitJob (node: Node, jobId: string): Promise<JobResult> {
  return await node.waitJob(jobId)
}

/** Same as `node.cancelJob(jobId)`. */
export async function cancelJob (node: Node, jobId: string): Promise<JobRecord> {
  return await node.cancelJob(jobId)
}

/** Same as `node.jobEvents(jobId, options)`. */
export function jobEvents (node: Node, jobId: string, options?: JobEventsOptions): AsyncIterable<JobEvent> {
  return node.jobEvents(jobId, options)
}

/** Same as `node.submitJob(specId, input, options)`. */
export async function submitJob (node: Node, specId: string, input: unknown, options?: SubmitOptions): Promise<JobResult> {
  return await node.submitJob(specId, input, options)
}
