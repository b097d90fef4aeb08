import { forkSpec, specLineage, type Assignment } from '../../spec/fork.ts'
import { specStats } from '../../spec/stats.ts'
import type { Spec } from '../../spec/index.ts'
import type { StoredSpec } from '../../node-types.ts'
import { resolveSpec } from '../../resolve-id.ts'
import { badRequest } from '../errors.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/**
 * Specs that improve from execution data: fork a stored spec with some fields
 * changed (the fork's `parent` is the old id), see a spec's lineage, and read
 * what the receipts held for it say about its deadline and budget.
 */
export function specImproveRoutes ({ node }: RouteContext): Route[] {
  const stored = async (ref: string): Promise<StoredSpec> => await resolveSpec(node, ref)
  return [
    {
      method: 'POST',
      path: '/v1/specs/:id/fork',
      handler: async ({ params, body }) => {
        const set = (body as { set?: unknown } | null)?.set
        const extra = body != null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter(k => k !== 'set') : []
        if (set == null || typeof set !== 'object' || Array.isArray(set) || extra.length > 0) {
          throw badRequest('invalid_request', 'the request body must be {"set": {"field.path": value, …}}, e.g. {"set": {"variant": "fast", "deadline": "1m"}}',
            extra.map(key => ({ path: key, message: 'unknown field' })))
        }
        const parent = await stored(params.id!)
        const assignments: Assignment[] = Object.entries(set).map(([path, value]) => ({ path, value }))
        const fork = forkSpec(parent.id, parent.spec, assignments)
        if (!fork.ok) {
          throw badRequest('invalid_spec', `the fork of ${parent.id} is not a valid spec (${fork.problems.length} problem${fork.problems.length === 1 ? '' : 's'})`, fork.problems)
        }
        const published = await node.publishSpec(fork.spec)
        return { status: 201, body: { ...published, changes: fork.changes } }
      }
    },
    {
      method: 'GET',
      path: '/v1/specs/:id/lineage',
      handler: async ({ params }) => {
        const { id } = await stored(params.id!)
        const specs = new Map<string, Spec>((await node.listSpecs()).map(s => [s.id, s.spec]))
        return { body: specLineage(id, specs) }
      }
    },
    {
      method: 'GET',
      path: '/v1/specs/:id/stats',
      handler: async ({ params }) => {
        const spec = await stored(params.id!)
        const receipts = await node.listReceipts({ specId: spec.id })
        return { body: specStats(spec.id, spec.spec, receipts.map(r => r.envelope.body)) }
      }
    }
  ]
}
