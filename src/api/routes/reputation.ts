import { reputationOfNode } from '../../reputation/attach.ts'
import type { ReputationReport, TrustEntry } from '../../reputation/reputation.ts'
import { badRequest } from '../errors.ts'
import { encodeCursor, pageHeaders, pageRequest, type Page } from '../paging.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Longest spec name accepted in ?spec=. */
const MAX_SPEC_NAME = 256

/**
 * Agents are ranked by score, which moves as receipts arrive, so a page's
 * cursor is a rank: the next page starts at that rank of the ranking as it is then.
 */
function byRank<T> (items: T[], after: string | null, limit: number): Page<T> {
  const start = after != null && /^\d+$/.test(after) ? Number(after) : 0
  const end = start + limit
  return { items: items.slice(start, end), next: end < items.length ? encodeCursor(String(end)) : null }
}

export interface TrustReport {
  at: number
  /** This node and the operator's trusted peers (config.json trustedPeers). */
  trustedPeers: string[]
  peers: TrustEntry[]
}

/**
 * This node's reputation of agents, computed locally from the receipts it
 * holds (protocols/reputation.md):
 *   GET /v1/reputation[?spec=NAME]  agents by score, with α, β, receipts and evidence
 *   GET /v1/reputation/trust        how far this node trusts each peer's verdicts
 */
export function reputationRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/reputation',
      handler: async ({ query }) => {
        const spec = query.get('spec')
        if (spec != null && (spec === '' || spec.length > MAX_SPEC_NAME)) {
          throw badRequest('invalid_request', `spec must be a spec name of 1 to ${MAX_SPEC_NAME} characters`)
        }
        const req = pageRequest(query)
        const reputation = await reputationOfNode(node)
        const report: ReputationReport = reputation.report(spec != null ? { spec } : {})
        const page = byRank(report.agents, req.after, req.limit)
        return { body: { ...report, agents: page.items }, headers: pageHeaders(page) }
      }
    },
    {
      method: 'GET',
      path: '/v1/reputation/trust',
      handler: async () => {
        const reputation = await reputationOfNode(node)
        const peers = reputation.trustReport()
        const body: TrustReport = { at: Date.now(), trustedPeers: peers.filter(p => p.preTrusted).map(p => p.peer), peers }
        return { body }
      }
    }
  ]
}
