import { resolveSpec } from '../../resolve-id.ts'
import { ApiError, badRequest } from '../errors.ts'
import { pageAscending, pageHeaders, pageRequest } from '../paging.ts'

/** A spec id: a CIDv1 in base32. */
const SPEC_ID = /^b[a-z2-7]{20,120}$/
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
      // In id order, one page at a time straight from the store: 30,000 specs are never read at once.
      handler: async ({ query }) => {
        const req = pageRequest(query)
        const slice = await node.listSpecs({ ...(req.after != null ? { after: req.after } : {}), limit: req.limit + 1 })
        const page = pageAscending(slice, s => s.id, req)
        return { body: page.items, headers: pageHeaders(page) }
      }
    },
    {
      // Who serves the spec, by a provider lookup in specmesh's DHT (the spec need not be held here).
      method: 'GET',
      path: '/v1/specs/:id/providers',
      handler: async ({ params }) => {
        if (!SPEC_ID.test(params.id!)) throw badRequest('invalid_request', `${params.id} is not a spec id (a CID such as bagaaiera…)`)
        try {
          return { body: { specId: params.id, providers: await node.findSpecProviders(params.id!) } }
        } catch (err) {
          if ((err as Error).name === 'DhtDisabledError') throw new ApiError(409, 'dht_disabled', (err as Error).message)
          throw err
        }
      }
    },
    {
      // What the node knows of the spec's agents now: a script polls this until `ready` before it submits.
      method: 'GET',
      path: '/v1/specs/:id/agents',
      handler: async ({ params }) => {
        const { id } = await resolveSpec(node, params.id!)
        if (node.specAgents == null) throw new ApiError(501, 'not_supported', 'this node does not report what it knows of a spec\'s agents')
        return { body: node.specAgents(id) }
      }
    },
    {
      method: 'GET',
      path: '/v1/specs/:id',
      handler: async ({ params }) => ({ body: await resolveSpec(node, params.id!) })
    }
  ]
}
