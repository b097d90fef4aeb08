/**
 * Every limit the spec format enforces, in one place. Specs arrive from strangers over
 * gossip, and outputs from strangers over streams, so each of these bounds what one
 * message can make a node do. MAX_SPEC_BYTES itself lives in src/wire/constants.ts.
 */

/** Spec names: short, identifier-like, safe in file names and log lines. */
export const SPEC_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const MAX_VERSION_CHARS = 32
export const MAX_DESCRIPTION_CHARS = 4096
export const MAX_VARIANT_CHARS = 64
export const MAX_COST_CATEGORY_CHARS = 64
export const MAX_COST_CATEGORIES = 32

/** Nesting depth of any JSON value inside a spec (schemas included). */
export const MAX_SPEC_DEPTH = 48

/** JSON Schemas (input/output): nesting of subschemas, and size once every $ref is inlined. */
export const MAX_SCHEMA_DEPTH = 32
export const MAX_SCHEMA_EXPANDED_NODES = 5_000
/**
 * `uniqueItems` is checked pairwise by the schema validator (quadratic), so it is only
 * accepted next to a `maxItems` no larger than this.
 */
export const MAX_UNIQUE_ITEMS = 256
/** Regular expressions (schema `pattern`, CEL `matches`) longer than this are refused. */
export const MAX_REGEX_CHARS = 256

/** Success criteria: how many, how long, and the CEL parser's structural limits. */
export const MAX_CRITERIA = 32
export const MAX_CRITERION_CHARS = 2_048
export const CEL_LIMITS = {
  maxAstNodes: 512,
  maxDepth: 32,
  maxListElements: 128,
  maxMapEntries: 64,
  maxCallArguments: 8
} as const
/** At most this many comprehension macros (all, exists, exists_one, map, filter) nested in one another. */
export const MAX_COMPREHENSION_NESTING = 2

/**
 * Evaluation cost budget for one output check (all criteria together). A unit is one
 * value read out of `input` or `output` (a field, a list element, a map key), plus one
 * per 16 characters of every string read. Every comprehension step, comparison or string
 * operation has to read the data it works on, so this bounds the work. Measured on the
 * 2-core machines: a quadratic criterion burns the whole budget in about 1 s (≈250 ns a
 * unit, CEL's own work included), while a linear criterion over a 1 MiB output of small
 * objects needs about 100,000 units, so honest specs stay far below the limit.
 */
export const MAX_CRITERIA_COST = 4_000_000
export const COST_CHARS_PER_UNIT = 16

/** Nesting depth accepted for job inputs and outputs before they are checked at all: the wire's one JSON depth limit. */
export { MAX_JSON_DEPTH as MAX_INSTANCE_DEPTH } from '../wire/constants.ts'

/** How many schema errors one check reports (the rest are counted, not listed). */
export const MAX_REPORTED_SCHEMA_ERRORS = 10

/** Relative deadlines and execution windows: at most 30 days. */
export const MAX_DURATION_SECONDS = 30 * 24 * 3600

/** Capacity sanity ceilings: beyond these a value is a typo, not a policy. */
export const MAX_CONCURRENT_REQUESTS = 10_000
export const MAX_RETRIES = 100
export const MAX_BACKOFF_MULTIPLIER = 10

/** Compiled criteria kept per spec id. */
export const COMPILED_CACHE_SIZE = 256

/** Tolerance when comparing sums of dollar amounts (0.3 + 0.1 + 0.1 is not exactly 0.5). */
export const MONEY_EPSILON = 1e-9
