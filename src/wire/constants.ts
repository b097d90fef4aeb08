/** Every limit the wire enforces, in one place (DESIGN.md: "Every limit is explicit"). */

/** Version of the envelope format and of every message family carried in it. */
export const PROTOCOL_VERSION = 1

/** Largest envelope accepted from gossip or a stream frame, in bytes. */
export const MAX_MESSAGE_BYTES = 128 * 1024

/** Largest spec file or spec body, in bytes of canonical JSON. */
export const MAX_SPEC_BYTES = 64 * 1024

/** Largest job input and output, in bytes of JSON. */
export const MAX_INPUT_BYTES = 1024 * 1024
export const MAX_OUTPUT_BYTES = 1024 * 1024

/**
 * A job's bid window: bids signed after createdAt + bidWindowMs do not count.
 * The API, the CLI, workflows, the SDK and the job validator all read these two,
 * so a node never signs a job its peers would Reject.
 */
export const MIN_BID_WINDOW_MS = 1
export const MAX_BID_WINDOW_MS = 60_000

/** Longest nonce a job may carry, in characters. */
export const MAX_NONCE_CHARS = 64

/**
 * Longest reason a claim or a receipt carries, in characters: an outcome's
 * short explanation, never a program's stderr (protocols/market.md "Reasons").
 */
export const MAX_REASON_CHARS = 2000

/** Longest message a handler may choose to publish with a failure (its JSON error object on stdout). */
export const MAX_HANDLER_MESSAGE_CHARS = 300

/**
 * Deepest nesting of arrays and objects accepted in any JSON this node reads
 * from outside (API bodies, handler output, message bodies).
 */
export const MAX_JSON_DEPTH = 64

/** How far a peer's clock may run ahead of ours before its timestamps count as impossible. */
export const MAX_CLOCK_SKEW_MS = 30_000

/** Gossip topic names. The version is in the name so incompatible nodes never share a mesh topic. */
export const TOPICS = {
  specs: '/specmesh/specs/1',
  jobs: '/specmesh/jobs/1',
  bids: '/specmesh/bids/1',
  awards: '/specmesh/awards/1',
  capacity: '/specmesh/capacity/1',
  receipts: '/specmesh/receipts/1',
  leases: '/specmesh/leases/1'
} as const

/**
 * Stream protocol ids. Execution 1.1.0 adds the cancel frame, the `cancelled`
 * claim outcome and the claim's `stopping`; an agent also answers 1.0.0, where
 * it sends none of them. Sync 1.1.0 adds the request's filters and the end
 * frame's cursor (protocols/sync.md); a node also answers 1.0.0. Bid 1.0.0
 * carries bids to the coordinator under `market.bids: 'stream'`.
 */
export const PROTOCOLS = {
  sync: '/specmesh/sync/1.1.0',
  syncV1: '/specmesh/sync/1.0.0',
  /**
   * 1.3.0 adds the receipt frame: the coordinator hands the agent the receipt of
   * its own work on the stream it ran on (protocols/market.md "Receipt frame").
   */
  executeReceipts: '/specmesh/execute/1.3.0',
  /** 1.2.0 adds the lease frames (lease, lease-award, lease-end; protocols/market.md "Leases"). */
  executeLease: '/specmesh/execute/1.2.0',
  execute: '/specmesh/execute/1.1.0',
  executeV1: '/specmesh/execute/1.0.0',
  specFetch: '/specmesh/spec-fetch/1.0.0',
  /** An agent's signed bid straight to the job's coordinator, answered accepted or refused (protocols/market.md "Bid stream"). */
  bid: '/specmesh/bid/1.0.0'
} as const
