import type { Spec } from './spec/index.ts'
import type { Handler } from './market/exec-handler.ts'
import type { ServeOptions } from './market/agent.ts'
import type { JobResult, SubmitOptions } from './market/coordinator.ts'
import type { JobRecord } from './store/job-store.ts'
import type { ReceiptQuery, StoredReceipt } from './store/receipt-store.ts'
import type { JobLedger, SpecLedger } from './store/ledger-store.ts'
import type { JobEventsOptions, MarketOptions } from './market/market.ts'
import type { JobEvent, JobEventType } from './store/job-event-store.ts'

export type { Handler, ServeOptions, JobResult, SubmitOptions, JobRecord, ReceiptQuery, StoredReceipt, JobLedger, SpecLedger, MarketOptions, JobEvent, JobEventType, JobEventsOptions }

/** A spec as a node holds it: the signed body plus who signed it and when we learned of it. */
export interface StoredSpec {
  id: string
  spec: Spec
  signer: string
  /** The envelope signature (base64url), kept so the spec can be re-served over sync. */
  sig: string
  receivedAt: number
}

export interface PeerInfo {
  peerId: string
  addrs: string[]
}

export interface NodeInit {
  /** Data folder (identity, LevelDB, API token). @default resolveHome() */
  home?: string
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Multiaddrs of peers to dial at start and whenever we have none. @default [] */
  bootstrap?: string[]
  /**
   * PeerIds whose verdicts this node trusts as its own when it derives
   * reputation, besides those in `<home>/config.json` "trustedPeers". @default []
   */
  trustedPeers?: string[]
  /** Market tuning: retry backoff base, fee per attempt, advert interval. */
  market?: MarketOptions
  /** Structured log sink. @default no logging */
  log?: (event: string, fields?: Record<string, unknown>) => void
}

export interface SpecmeshNode {
  readonly peerId: string
  readonly home: string
  multiaddrs (): string[]
  peers (): PeerInfo[]
  /** Validate (deadline must be in the future), sign, store and gossip a spec. Throws SpecValidationError. */
  publishSpec (raw: unknown): Promise<StoredSpec>
  listSpecs (): Promise<StoredSpec[]>
  getSpec (id: string): Promise<StoredSpec | null>
  /** Serve a spec this node holds with a handler; returns a function that stops serving. */
  serve (specId: string, handler: Handler, options?: ServeOptions): Promise<() => void>
  /** Submit a job and wait for its outcome: startJob then waitJob. Throws UnknownSpecError or InvalidJobError before anything is sent. */
  submitJob (specId: string, input: unknown, options?: SubmitOptions): Promise<JobResult>
  /**
   * Validate, sign and record a job and return its id at once; the job runs on.
   * Throws UnknownSpecError or InvalidJobError (as submitJob) before anything is recorded or sent.
   */
  startJob (specId: string, input: unknown, options?: SubmitOptions): Promise<{ jobId: string }>
  /** The outcome of a job this node submitted, once it has one. Throws UnknownJobError. */
  waitJob (jobId: string): Promise<JobResult>
  /**
   * Cancel a job this node submitted, and its running attempt; resolves with the
   * final record (as it was, when the job had already ended). Throws UnknownJobError.
   */
  cancelJob (jobId: string): Promise<JobRecord>
  /**
   * The job's events (submitted, waiting-capacity, bid, award, attempt-started,
   * attempt-ended, backoff, receipt, done), stored ones first, then live ones as
   * they happen, ending after 'done'. Resumable: `afterSeq` skips what was seen.
   * Iterating an unknown job throws UnknownJobError.
   */
  jobEvents (jobId: string, options?: JobEventsOptions): AsyncIterable<JobEvent>
  /** The job record with its input and (when it succeeded) its output. */
  getJob (jobId: string): Promise<(JobRecord & { input?: unknown, output?: unknown }) | null>
  listJobs (): Promise<JobRecord[]>
  listReceipts (query?: ReceiptQuery): Promise<StoredReceipt[]>
  getReceipt (id: string): Promise<StoredReceipt | null>
  /** Agents with a live capacity advert for the spec, with their advertised load. */
  capacityOf (specId: string): Array<{ agent: string, inFlight: number, limit: number, priceUsd: number }>
  /** Per job and per spec: reserved, spent and remaining money, each traceable to receipts. */
  ledger (specId?: string): Promise<{ jobs: JobLedger[], specs: SpecLedger[] }>
  servedSpecs (): Array<{ specId: string, name: string, priceUsd: number, inFlight: number, limit: number }>
  /**
   * Begin a graceful stop of the serving side: bid no more, refuse new awards
   * as stopping (coordinators then do not come back, and it costs no
   * reputation), and wait until the work already running has finished, at
   * most `timeoutMs` or until `signal` aborts. Resolves with how many
   * executions are still running (0: drained). stop() then aborts what is left.
   */
  drain (timeoutMs: number, signal?: AbortSignal): Promise<number>
  stop (): Promise<void>
}
