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

/** How far a peer's clock may run ahead of ours before its timestamps count as impossible. */
export const MAX_CLOCK_SKEW_MS = 30_000

/** Gossip topic names. The version is in the name so incompatible nodes never share a mesh topic. */
export const TOPICS = {
  specs: '/specmesh/specs/1',
  jobs: '/specmesh/jobs/1',
  bids: '/specmesh/bids/1',
  awards: '/specmesh/awards/1',
  capacity: '/specmesh/capacity/1',
  receipts: '/specmesh/receipts/1'
} as const

/** Stream protocol ids. */
export const PROTOCOLS = {
  sync: '/specmesh/sync/1.0.0',
  execute: '/specmesh/execute/1.0.0'
} as const
