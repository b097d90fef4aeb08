import { z } from 'zod'
import { SPEC_NAME_PATTERN, MAX_VERSION_CHARS, MAX_DESCRIPTION_CHARS, MAX_VARIANT_CHARS, MAX_CRITERIA, MAX_CRITERION_CHARS, MAX_DURATION_SECONDS, MAX_CONCURRENT_REQUESTS, MAX_RETRIES, MAX_BACKOFF_MULTIPLIER, MAX_COST_CATEGORY_CHARS } from './constants.ts'
import { wireString } from '../wire/text.ts'

/**
 * The canonical, normalized spec body (format v1). This is what is signed, gossiped,
 * stored and hashed into the spec id; `normalizeSpec` turns any accepted spelling of a
 * spec file into exactly this, so one meaning has one id.
 *
 * Canonical form:
 * - Field names are camelCase. snake_case aliases (`cost_usd`, `success_criteria`,
 *   `max_usd`, …) are accepted in files at the top level and inside `budget` and
 *   `capacity`, and never appear here. Keys inside `input`, `output` and
 *   `budget.costBreakdown` are the author's and are kept verbatim.
 * - Deadlines (`deadline`, `softDeadline`) are EITHER
 *     an absolute instant: an ISO 8601 string in UTC with `Z`, milliseconds only when not
 *       zero (`"2026-03-01T18:00:00Z"`): the spec stops accepting work at that moment; OR
 *     a relative duration: a JSON number of seconds (`300`), counted from each job's
 *       submission, since one spec serves many jobs.
 *   Files may write a relative deadline as seconds or as "300s", "5m", "1h30m", "PT5M";
 *   all become the number. Both deadlines of one spec use the same kind.
 * - `executionWindow` is a number of seconds (files may use the duration strings too).
 * - `successCriteria` is always present (possibly empty), each expression trimmed.
 * - `budget`, when present, always carries `currency` ("USD", the only one in v1),
 *   `includesFees` (default false) and `overageBehavior` (default "fail");
 *   `costBreakdown` is a map `{ category: dollars }` (files may also use the article's
 *   list of one-key maps) and is omitted when empty. A bare number `budget: 0.5` in a
 *   file means `{ maxUsd: 0.5 }`.
 * - `version` is a string. In YAML and JSON files an unquoted number keeps the spelling
 *   it was written with (`version: 1.0` is "1.0", not "1"); a number arriving in an
 *   already-parsed value is converted with String() (1 → "1").
 * - Absent optional fields are omitted, never null.
 */

/** Dollars: a finite number ≥ 0. */
export const MoneySchema = z.number().finite().nonnegative()

/** An absolute instant in canonical form (see above). */
export const InstantSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/)
/** A relative duration in seconds. */
export const DurationSchema = z.number().finite().positive().max(MAX_DURATION_SECONDS)
export const DeadlineSchema = z.union([InstantSchema, DurationSchema])

/** A JSON Schema (2020-12): an object or a boolean. Its content is checked by json-schema.ts. */
export const JsonSchemaSchema = z.union([z.boolean(), z.record(z.string(), z.unknown())])

export const OVERAGE_BEHAVIORS = ['fail', 'warn'] as const
export const CURRENCIES = ['USD'] as const

export const BudgetSchema = z.strictObject({
  maxUsd: MoneySchema,
  currency: z.enum(CURRENCIES),
  includesFees: z.boolean(),
  costBreakdown: z.record(wireString(MAX_COST_CATEGORY_CHARS, 1), MoneySchema).optional(),
  overageBehavior: z.enum(OVERAGE_BEHAVIORS)
})

export const CapacitySchema = z.strictObject({
  maxConcurrentRequests: z.int().min(1).max(MAX_CONCURRENT_REQUESTS).optional(),
  maxConcurrentRetries: z.int().min(0).max(MAX_CONCURRENT_REQUESTS).optional(),
  backoffMultiplier: z.number().min(1).max(MAX_BACKOFF_MULTIPLIER).optional(),
  maxRetries: z.int().min(0).max(MAX_RETRIES).optional(),
  timeoutSeconds: DurationSchema.optional()
})

/** CIDv1 base32 of a spec body, as `contentId` prints it. Checked fully by normalize.ts. */
export const SpecIdSchema = z.string().regex(/^b[a-z2-7]{20,}$/)

export const SpecSchema = z.strictObject({
  name: z.string().regex(SPEC_NAME_PATTERN),
  version: wireString(MAX_VERSION_CHARS, 1).optional(),
  description: wireString(MAX_DESCRIPTION_CHARS).optional(),
  input: JsonSchemaSchema,
  output: JsonSchemaSchema,
  successCriteria: z.array(wireString(MAX_CRITERION_CHARS, 1)).max(MAX_CRITERIA),
  costUsd: MoneySchema.optional(),
  deadline: DeadlineSchema.optional(),
  softDeadline: DeadlineSchema.optional(),
  executionWindow: DurationSchema.optional(),
  budget: BudgetSchema.optional(),
  capacity: CapacitySchema.optional(),
  parent: SpecIdSchema.optional(),
  variant: wireString(MAX_VARIANT_CHARS, 1).optional()
})

export type Spec = z.infer<typeof SpecSchema>
export type Budget = z.infer<typeof BudgetSchema>
export type Capacity = z.infer<typeof CapacitySchema>
export type Deadline = z.infer<typeof DeadlineSchema>
export type OverageBehavior = typeof OVERAGE_BEHAVIORS[number]

/** Canonical field names per level, in the order they are documented. */
export const SPEC_FIELDS = Object.keys(SpecSchema.shape) as Array<keyof Spec>
export const BUDGET_FIELDS = Object.keys(BudgetSchema.shape) as Array<keyof Budget>
export const CAPACITY_FIELDS = Object.keys(CapacitySchema.shape) as Array<keyof Capacity>
