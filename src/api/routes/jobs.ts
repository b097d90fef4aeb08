import { z } from 'zod'
import { badRequest, notFound, type Problem } from '../errors.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** The body of POST /v1/jobs. `input` is any JSON value, checked by the node against the spec's input schema. */
const SubmitBodySchema = z.object({
  specId: z.string().min(1),
  input: z.unknown(),
  maxUsd: z.number().nonnegative().optional(),
  deadline: z.union([z.string().min(1), z.number().int().positive()]).optional(),
  bidWindowMs: z.number().int().nonnegative().max(60_000).optional()
}).strict()

/**
 * Submit a job and wait for its outcome; list and read the jobs this node
 * submitted. POST /v1/jobs keeps the request open until the job ends (at the
 * latest at its deadline), so a client must allow for that.
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
          throw badRequest('invalid_request', 'the request body must be {"specId", "input", "maxUsd"?, "deadline"?, "bidWindowMs"?}', problems)
        }
        const { specId, input, maxUsd, deadline, bidWindowMs } = parsed.data
        const options: { maxUsd?: number, deadline?: string | number, bidWindowMs?: number } = {}
        if (maxUsd != null) options.maxUsd = maxUsd
        if (deadline != null) options.deadline = deadline
        if (bidWindowMs != null) options.bidWindowMs = bidWindowMs
        try {
          return { body: await node.submitJob(specId, input, options) }
        } catch (err) {
          throw jobError(err)
        }
      }
    },
    {
      method: 'GET',
      path: '/v1/jobs',
      handler: async () => ({ body: await node.listJobs() })
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id',
      handler: async ({ params }) => {
        const job = await node.getJob(params.id!)
        if (job == null) throw notFound(`this node has no record of job ${params.id}; GET /v1/jobs lists the jobs it submitted`)
        return { body: job }
      }
    }
  ]
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
