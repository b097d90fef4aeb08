import { z } from 'zod'
import { SPEC_NAME_PATTERN } from '../spec/constants.ts'
import { show, describeType } from '../spec/suggest.ts'
import { JOB_ID_PATTERN } from './references.ts'
import type { AwardPolicy } from '../market/scoring.ts'
import { MAX_BID_WINDOW_MS, MIN_BID_WINDOW_MS, MAX_WORKFLOW_DESCRIPTION_CHARS, MAX_WORKFLOW_JOBS, MAX_WORKFLOW_NAME_CHARS } from './constants.ts'

/**
 * The workflow format (v1), as written in a file and as sent to `POST /v1/workflows/run`:
 *
 *   name: article-pipeline               # required: letters, digits, . _ -
 *   description: …                       # optional
 *   maxUsd: 0.50                         # optional: ceiling for the whole run
 *   jobs:                                # required: a list, run as a DAG
 *     - id: audio                        # required, unique: letters, digits, _ -
 *       spec: audio-transcribe           # required: a spec id (b…), name, or name@version
 *       input: { video: "https://…" }    # optional (default {}); may hold ${JOB.output…} references
 *       needs: [other]                   # optional: extra dependencies besides references
 *       maxUsd: 0.10                     # optional: tightens the spec's price ceiling
 *       deadline: 4m                     # optional: tightens the spec's deadline; a duration
 *                                        #   from the job's start, or an ISO instant
 *       bidWindowMs: 100                 # optional: how long bids are collected
 *       award:                           # optional: the requester's say in the award
 *         explore: off                   #   off: by reputation mean only (default on)
 *         minReputation: 0.8             #   only agents rated at least this
 *         preferredAgents: [12D3KooW…]   #   tried before all others
 *   award: { explore: off }              # optional: the default of every job's award;
 *                                        #   a job's own award overrides it field by field
 *
 * A job depends on every job its input references and every job in its `needs`; it
 * starts as soon as all of them have succeeded. This module checks shapes; validate.ts
 * adds the cross-job rules (unique ids, known references, no cycles) and normalizes.
 */

type Issue = { input?: unknown }

/** An error message for a zod check: what was found, then the fix. */
function expected (fix: string, what = 'is'): (issue: Issue) => string {
  return issue => issue.input === undefined
    ? `is missing; ${fix}`
    : `${show(issue.input)} ${what} ${describeType(issue.input)}; ${fix}`
}

const money = z.number({ error: expected('write an amount in USD, a number ≥ 0 such as 0.25') })
  .finite({ error: 'is not finite; write an amount in USD such as 0.25' })
  .nonnegative({ error: issue => `${show(issue.input)} is negative; write an amount in USD ≥ 0 such as 0.25` })

const jobId = z.string({ error: expected('give the job an id such as "audio"') })
  .regex(JOB_ID_PATTERN, { error: issue => `${show(issue.input)} is not a job id; use a letter followed by up to 63 letters, digits, _ or - (e.g. "audio", "nlp-topics")` })

export const SpecRefSchema = z.string({ error: expected('name the spec by its id (b…), its name, or name@version') })
  .min(1, { error: 'is empty; name the spec by its id (b…), its name, or name@version' })
  .refine(s => /^b[a-z2-7]{20,}$/.test(s) || SPEC_NAME_PATTERN.test(s.split('@')[0]!), { error: issue => `${show(issue.input)} is neither a spec id nor a spec name; write the id printed by \`specmesh spec publish\`, or the spec's name (optionally name@version)` })

/** As written: the deadline is checked and normalized by validate.ts. */
const rawDeadline = z.union([z.number(), z.string()], { error: expected('write a duration such as "4m" or 240 (seconds from the job\'s start), or an ISO time such as "2026-03-01T18:00:00Z"') })

export const RawJobSchema = z.strictObject({
  id: jobId,
  spec: SpecRefSchema,
  description: z.string({ error: expected('write a line of text') }).max(MAX_WORKFLOW_DESCRIPTION_CHARS, { error: `is too long; keep it under ${MAX_WORKFLOW_DESCRIPTION_CHARS} characters` }).optional(),
  input: z.unknown().optional(),
  needs: z.union([jobId, z.array(jobId, { error: expected('list the ids of the jobs this one waits for, e.g. [audio, nlp]') })]).optional(),
  maxUsd: money.optional(),
  deadline: rawDeadline.optional(),
  bidWindowMs: z.int({ error: expected(`write a whole number of milliseconds between ${MIN_BID_WINDOW_MS} and ${MAX_BID_WINDOW_MS}`) })
    .min(MIN_BID_WINDOW_MS, { error: `must be at least ${MIN_BID_WINDOW_MS} ms; the market's default is 100` })
    .max(MAX_BID_WINDOW_MS, { error: issue => `${show(issue.input)} ms is too long; at most ${MAX_BID_WINDOW_MS}` })
    .optional(),
  /** Checked by validate.ts with the market's own checks (src/market/award-policy.ts). */
  award: z.unknown().optional()
})

export const RawWorkflowSchema = z.strictObject({
  name: z.string({ error: expected('name the workflow, e.g. "article-pipeline"') })
    .regex(SPEC_NAME_PATTERN, { error: issue => `${show(issue.input)} is not a workflow name; use up to ${MAX_WORKFLOW_NAME_CHARS} letters, digits, ., _ or -, starting with a letter or digit` }),
  description: z.string({ error: expected('write a line of text') }).max(MAX_WORKFLOW_DESCRIPTION_CHARS, { error: `is too long; keep it under ${MAX_WORKFLOW_DESCRIPTION_CHARS} characters` }).optional(),
  maxUsd: money.optional(),
  award: z.unknown().optional(),
  jobs: z.array(z.unknown(), { error: expected('list the jobs, each with an id and a spec') })
    .min(1, { error: 'is empty; list at least one job, each with an id and a spec' })
    .max(MAX_WORKFLOW_JOBS, { error: `has too many jobs; at most ${MAX_WORKFLOW_JOBS}` })
})

/** One job of a validated, normalized workflow. */
export interface WorkflowJob {
  id: string
  /** A spec id, name or name@version; the runner resolves it on the node. */
  spec: string
  description?: string
  /** Literal JSON with `${JOB.output…}` references; `{}` when the file gives none. */
  input: unknown
  /** Explicit dependencies, as written (deduplicated). References add more: see `workflowGraph`. */
  needs: string[]
  maxUsd?: number
  /** Seconds counted from the job's start, or an ISO instant (canonical, `Z`). */
  deadline?: number | string
  bidWindowMs?: number
  award?: AwardPolicy
}

/**
 * A validated, normalized workflow: what the runner takes. It is its own valid file form:
 * validating it again gives the same value, so a client can send it as is.
 */
export interface Workflow {
  name: string
  description?: string
  maxUsd?: number
  /** Every job's award policy, unless the job's own sets a field. */
  award?: AwardPolicy
  jobs: WorkflowJob[]
}

/** The keys each level accepts, for "did you mean" suggestions. */
export const WORKFLOW_FIELDS = Object.keys(RawWorkflowSchema.shape)
export const JOB_FIELDS = Object.keys(RawJobSchema.shape)
