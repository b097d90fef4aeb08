import { z } from 'zod'
import { BidWindowMsSchema } from '../../market/messages.ts'
import type { JobRecord } from '../../node-types.ts'
import { JOB_STATUSES } from '../../store/job-store.ts'
import { resolveRecord, resolveSpec, specsNamed } from '../../resolve-id.ts'
import { badRequest, notFound, type Problem } from '../errors.ts'
import { pageHeaders, pageNewestFirst, pageRequest, timeKey } from '../paging.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'
import type { AwardPolicyInput } from '../../market/award-policy.ts'

/** The body of POST /v1/jobs. `input` is any JSON value, checked by the node against the spec's input schema. */
const SubmitBodySchema = z.object({
  specId: z.string().min(1),
  input: z.unknown(),
  maxUsd: z.number().nonnegative().optional(),
  deadline: z.union([z.string().min(1), z.number().int().positive()]).optional(),
  bidWindowMs: BidWindowMsSchema.optional(),
  /** false: answer 202 with the job id at once instead of waiting for the outcome. @default true */
  wait: z.boolean().optional(),
  /** Checked by the node (src/market/award-policy.ts), which names each bad field. */
  award: z.unknown().optional()
}).strict()

/**
 * Submit a job (and wait for its outcome, unless `wait: false`); follow its
 * events, wait for it, cancel it; list and read the jobs this node submitted.
 * POST /v1/jobs without `wait: false` keeps the request open until the job
 * ends (at the latest at its deadline), so a client must allow for that.
 */
export function jobRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/jobs',
      handler: async ({ body }) => {
        if (body != null && typeof body === 'object' && !Array.isArray(body) && !('input' in body)) {
          throw badRequest('invalid_request', 'the request body has no "input": send the job\'s input as JSON', [{ path: 'input', message: 'required' }])
        }
        const parsed = SubmitBodySchema.safeParse(body)
        if (!parsed.success) {
          const problems: Problem[] = parsed.error.issues.flatMap(i => i.code === 'unrecognized_keys'
            ? i.keys.map(key => ({ path: key, message: 'unknown field' }))
            : [{ path: i.path.map(String).join('.'), message: i.message }])
          throw badRequest('invalid_request', 'the request body must be {"specId", "input", "maxUsd"?, "deadline"?, "bidWindowMs"?, "wait"?, "award"?}', problems)
        }
        const { specId, input, maxUsd, deadline, bidWindowMs, wait, award } = parsed.data
        const options: { maxUsd?: number, deadline?: string | number, bidWindowMs?: number, award?: AwardPolicyInput } = {}
        if (award !== undefined) options.award = award as AwardPolicyInput
        if (maxUsd != null) options.maxUsd = maxUsd
        if (deadline != null) options.deadline = deadline
        if (bidWindowMs != null) options.bidWindowMs = bidWindowMs
        // A name, name@version or id prefix names the one spec that takes jobs.
        const { id } = await resolveSpec(node, specId, { acceptingJobs: true })
        try {
          if (wait === false) return { status: 202, body: await node.startJob(id, input, options) }
          return { body: await node.submitJob(id, input, options) }
        } catch (err) {
          throw jobError(err)
        }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/events',
      handler: async ({ params, headers, query, signal }) => {
        const { jobId } = await knownJob(node, params.id!)
        const afterSeq = resumeAfter(headers['last-event-id'], query.get('after'))
        const events = node.jobEvents(jobId, { afterSeq, signal })
        return {
          events: (async function * () {
            for await (const event of events) yield { id: String(event.seq), event: event.type, data: event }
          })()
        }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/result',
      handler: async ({ params }) => {
        const { jobId } = await knownJob(node, params.id!)
        return { body: await node.waitJob(jobId) }
      }
    },
    {
      method: 'POST',
      path: '/v1/jobs/:id/cancel',
      handler: async ({ params }) => {
        const { jobId } = await knownJob(node, params.id!)
        return { body: await node.cancelJob(jobId) }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs',
      handler: async ({ query }) => {
        const req = pageRequest(query)
        const matches = await jobFilter(node, query)
        const page = pageNewestFirst((await node.listJobs()).filter(matches), jobKey, req)
        return { body: page.items, headers: pageHeaders(page) }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id',
      handler: async ({ params }) => ({ body: await knownJob(node, params.id!) })
    }
  ]
}

/** The job an id or a unique prefix of it names, or 404 (UnknownIdError). */
async function knownJob (node: RouteContext['node'], ref: string): Promise<JobRecord> {
  return await resolveRecord(node, 'job', ref, async id => await node.getJob(id))
}

/** Where a resumed event stream starts: the Last-Event-ID header (what EventSource sends), else `?after=`. */
function resumeAfter (header: string | string[] | undefined, after: string | null): number {
  const given = (Array.isArray(header) ? header[0] : header) ?? after ?? undefined
  if (given == null || given === '') return 0
  if (!/^\d+$/.test(given)) throw badRequest('invalid_request', `Last-Event-ID (or ?after=) ${given} is not an event seq; give the id of the last event received, a whole number`, [{ path: 'Last-Event-ID', message: 'not a whole number' }])
  return Number(given)
}

/** Jobs page newest first by submission time. */
const jobKey = (job: JobRecord): string => timeKey(job.submittedAt, job.jobId)

/**
 * `?status=&spec=&agent=`: by status (comma-separated for several), by spec
 * (id, prefix, name or name@version) and by agent (a peer id or its prefix, or
 * its last characters as lists show them) of any attempt.
 */
async function jobFilter (node: RouteContext['node'], query: URLSearchParams): Promise<(job: JobRecord) => boolean> {
  const statuses = statusFilter(query.get('status'))
  const specRef = query.get('spec')
  // A bare name covers every version and variant of it; anything else names one spec.
  const specIds = specRef == null || specRef === ''
    ? null
    : (await specsNamed(node, specRef)).length > 0 ? new Set([specRef]) : new Set([(await resolveSpec(node, specRef)).id])
  const agent = query.get('agent')
  const agentRef = agent != null && agent !== '' ? agent.replace(/^…/, '') : null
  return job => (statuses == null || statuses.has(job.status)) &&
    (specIds == null || specIds.has(job.specId) || specIds.has(job.specName)) &&
    (agentRef == null || job.attempts.some(a => a.agent.startsWith(agentRef) || a.agent.endsWith(agentRef)))
}

/**
 * `?status=` as a set, or null for no filter. A value that is no job status
 * would match nothing and look like an empty list: refused, naming the ones
 * there are.
 */
function statusFilter (status: string | null): Set<string> | null {
  if (status == null || status === '') return null
  const given = status.split(',').map(s => s.trim())
  const unknown = given.filter(s => !(JOB_STATUSES as readonly string[]).includes(s))
  if (unknown.length > 0) {
    const list = unknown.map(s => JSON.stringify(s)).join(', ')
    throw badRequest('invalid_request', `?status= ${list} is not a job status; use one or more of ${JOB_STATUSES.join(', ')} (comma-separated)`, [{ path: 'status', message: `${list} is not one of ${JOB_STATUSES.join(', ')}` }])
  }
  return new Set(given)
}

/** The market's submission errors, recognised by name (as errors.ts does) so this module needs none of the market's code. */
function jobError (err: unknown): unknown {
  if (!(err instanceof Error)) return err
  if (err.name === 'UnknownSpecError') return notFound(err.message)
  const problems = (err as Error & { problems?: unknown }).problems
  if (err.name === 'InvalidJobError' && Array.isArray(problems)) {
    return badRequest('invalid_job', `the job cannot be submitted (${problems.length} problem${problems.length === 1 ? '' : 's'})`, problems as Problem[])
  }
  return err
}
