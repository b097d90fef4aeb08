import type { ValidationGuardInit } from './net/validation-guard.ts'
import type { ConnectionBudgetOptions } from './net/connection-budget.ts'
import type { LogFn } from './util/logger.ts'
import type { Spec } from './spec/index.ts'
import type { Handler } from './market/exec-handler.ts'
import type { ServeOptions } from './market/agent.ts'
import type { JobResult, SubmitOptions } from './market/coordinator.ts'
import type { JobRecord } from './store/job-store.ts'
import type { Sublevel } from './store/db.ts'
import type { ReceiptQuery, StoredReceipt } from './store/receipt-store.ts'
import type { JobLedger, SpecLedger } from './store/ledger-store.ts'
import type { JobEventsOptions, MarketOptions } from './market/market.ts'
import type { JobEvent, JobEventType } from './store/job-event-store.ts'
import type { NodeSettings, ResolvedSettings } from './config/settings.ts'
import type { SpecProvider } from './net/spec-discovery.ts'
import type { RelayServerLimits } from './net/reachability.ts'

export type { Handler, ServeOptions, JobResult, SubmitOptions, JobRecord, ReceiptQuery, StoredReceipt, JobLedger, SpecLedger, MarketOptions, JobEvent, JobEventType, JobEventsOptions, NodeSettings, ResolvedSettings, SpecProvider, RelayServerLimits }

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

/**
 * How a node is set up. The network settings (listen … relayServer) given here
 * win over the SPECMESH_* environment variables, which win over
 * `<home>/config.json` (see src/config/settings.ts).
 */
export interface NodeInit {
  /** Data folder (identity, LevelDB, API token, config.json). @default resolveHome() */
  home?: string
  /**
   * Multiaddrs to listen on. @default config.json "listen"; when that is
   * missing too, specmesh's port 4747 (or the next free one) on every
   * interface, written to config.json so the node keeps it
   */
  listen?: string[]
  /**
   * Addresses peers should dial besides the listen addresses, for a node behind
   * port forwarding or a public IP in front of it, without /p2p (e.g.
   * /ip4/203.0.113.5/tcp/4747). A node that announces is taken as reachable and
   * reserves no relay slot. @default []
   */
  announce?: string[]
  /** Multiaddrs of peers to keep connected, and to fall back to when the node has lost every peer. @default [] */
  bootstrap?: string[]
  /** Find and announce peers on the local network by mDNS. @default false for the SDK; the daemon and agent turn it on */
  mdns?: boolean
  /** Join specmesh's DHT: provide the specs served, find providers, fetch specs by id. @default true */
  dht?: boolean
  /**
   * Relay for nodes that cannot be reached directly (circuit relay v2): true for
   * the default limits (DEFAULT_RELAY_LIMITS in src/net/reachability.ts), or the
   * limits to use (which also turn it on). @default false
   */
  relayServer?: boolean | RelayServerLimits
  /**
   * Reserve a slot on a relay this node is connected to and announce the
   * /p2p-circuit address through it. @default true unless announce or relayServer is set
   */
  relayClient?: boolean
  /** Defaults of the caller, used where neither init, the environment nor config.json set a value. */
  defaults?: Partial<NodeSettings>
  /** Settings already resolved by the caller (the daemon resolves once, for its own flags too); the fields above are then ignored. */
  settings?: ResolvedSettings
  /**
   * PeerIds whose verdicts this node trusts as its own when it derives
   * reputation, besides those in `<home>/config.json` "trustedPeers". @default []
   */
  trustedPeers?: string[]
  /** Market tuning: retry backoff base, fee per attempt, advert interval, per-spec or global topics, bids by gossip or stream (`market.bids`). */
  market?: MarketOptions
  /**
   * Specs to follow without serving or submitting to them (an auditor, a
   * reputation service): ids, `name@version` or `name`, or 'all'. The node joins
   * their topics and so receives their jobs, bids, awards, adverts and receipts.
   * Over config.json "follow" and SPECMESH_FOLLOW. @default []
   */
  follow?: string[] | 'all'
  /** Structured log sink (createLogger's, or any function; its `enabled`, when present, skips debug lines it would drop). @default no logging */
  log?: LogFn
  /** Flood limits of the validation guard (src/net/validation-guard.ts); the defaults suit honest traffic. */
  guard?: Omit<ValidationGuardInit, 'onThrottle' | 'onGraylist' | 'now'>
  /**
   * The connection budget (src/net/connection-budget.ts): above `high` connections the node
   * closes those nobody uses (DHT query leftovers) down to `low`, never its bootstrap peers,
   * its specs' parties, its gossip mesh or DHT neighbours, nor a connection younger than
   * `graceMs` or carrying work. @default { high: 48, low: 32, graceMs: 30 s, intervalMs: 10 s }
   */
  connections?: ConnectionBudgetOptions
  /**
   * Collect Prometheus metrics (the node's and libp2p's) for `GET /metrics`.
   * The daemon turns them on. @default false
   */
  metrics?: boolean
}

/** What fetchReceipts asks the connected peers for; filters combine. */
export interface ReceiptFetchQuery {
  agent?: string
  specId?: string
  ids?: string[]
}

/** What a fetch found: peers asked (those speaking sync 1.1.0), how many answered, receipts newly stored and from how many peers, forged ones refused. */
export interface ReceiptFetch {
  asked: number
  answered: number
  fetched: number
  from: number
  rejected: number
}

/** What a node knows of a spec's agents now (`specmesh spec agents`, GET /v1/specs/:id/agents). */
export interface SpecAgents {
  specId: string
  /** Whether this node is on the spec's topics (it serves, coordinates or follows it): adverts reach only a node that is. */
  joined: boolean
  /**
   * The spec's agents as this node knows them: each peer on the spec's capacity
   * topic that is not on its receipts topic (where only coordinators and
   * followers are), and each agent whose live advert it holds, with that advert.
   */
  agents: Array<{ peerId: string, onTopic: boolean, advert: { inFlight: number, limit: number, priceUsd: number } | null }>
  /** Connected peers whose gossipsub subscriptions have not arrived yet: whether they serve the spec cannot be told. */
  pendingPeers: string[]
  /** No peer pending and at least one agent known: a job submitted now is offered to every agent this node can know of. */
  ready: boolean
}

export interface SpecmeshNode {
  readonly peerId: string
  readonly home: string
  multiaddrs (): string[]
  peers (): PeerInfo[]
  /** Validate (deadline must be in the future), sign, store and gossip a spec. Throws SpecValidationError. */
  publishSpec (raw: unknown): Promise<StoredSpec>
  /** Every stored spec in id order; with `page`, at most `limit` of those whose id is above `after`. */
  listSpecs (page?: { after?: string, limit?: number }): Promise<StoredSpec[]>
  getSpec (id: string): Promise<StoredSpec | null>
  /** The specs held under a name (every version and variant), in id order, without reading the others. Optional: without it, name lookups read the full list. */
  specsNamed? (name: string): Promise<StoredSpec[]>
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
  /**
   * Sync by query: ask every connected peer for the receipts `query` names,
   * validate and store them as any others, and take them into reputation
   * before resolving. For a node that never followed the spec or agent.
   */
  fetchReceipts? (query: ReceiptFetchQuery): Promise<ReceiptFetch>
  /** Agents with a live capacity advert for the spec, with their advertised load. */
  capacityOf (specId: string): Array<{ agent: string, inFlight: number, limit: number, priceUsd: number }>
  /** What this node knows of the spec's agents: who is on its topics, whose advert it holds, which peers it cannot tell yet. Optional. */
  specAgents? (specId: string): SpecAgents
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
  /** Peers that provide (serve) the spec, found through the DHT. Throws DhtDisabledError when the DHT is off. */
  findSpecProviders (specId: string): Promise<SpecProvider[]>
  /**
   * The spec, from the store or else fetched from a provider and validated as
   * gossip would validate it. Throws SpecFetchError when no provider has it.
   */
  fetchSpec (specId: string): Promise<StoredSpec>
  /** The settings the node runs with, and where each came from. */
  settings (): ResolvedSettings
  /**
   * A sublevel of the node's LevelDB for the records a door onto the node keeps
   * of its own (A2A tasks), so they live and die with the data folder. Optional.
   */
  surfaceRecords? (family: string): Sublevel
  /** The node's metrics in the Prometheus text format; absent when metrics are off. */
  metricsText? (): Promise<{ text: string, contentType: string }>
  /** How many specs the node holds, without reading them. Optional. */
  specCount? (): number
  /**
   * Ids of `kind` held here that start with `prefix`, at most `limit`, read in
   * key order from the store (so a prefix never loads every record). Optional:
   * without it, id prefixes are matched against the full lists.
   */
  matchIds? (kind: 'spec' | 'job' | 'receipt', prefix: string, limit: number): Promise<string[]>
  /**
   * The specs whose market topics this node is on (it serves, coordinates or
   * follows them), or 'all' under the global topics or `--follow all`. Optional.
   */
  joinedSpecs? (): string[] | 'all'
  stop (): Promise<void>
}
