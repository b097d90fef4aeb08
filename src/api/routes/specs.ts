import { badRequest, notFound } from '../errors.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Publish, list and fetch specs. The body of a publish is the raw spec object, exactly as in a spec file. */
export function specRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/specs',
      handler: async ({ body }) => {
        if (body == null || typeof body !== 'object' || Array.isArray(body)) {
          throw badRequest('invalid_request', 'the request body must be a spec: a JSON object')
        }
        return { status: 201, body: await node.publishSpec(body) }
      }
    },
    {
      method: 'GET',
      path: '/v1/specs',
      handler: async () => ({ body: await node.listSpecs() })
    },
    {
      method: 'GET',
      path: '/v1/specs/:id',
      handler: async ({ params }) => {
        const stored = await node.getSpec(params.id!)
        if (stored == null) throw notFound(`no spec with id ${params.id}`)
        return { body: stored }
      }
    }
  ]
}
