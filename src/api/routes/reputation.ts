import { reputationOfNode } from '../../reputation/attach.ts'
import type { ReputationReport, TrustEntry } from '../../reputation/reputation.ts'
import { badRequest, notFound } from '../errors.ts'
import { isCanonicalPeerId } from '../../crypto/signatures.ts'
import type { ReceiptFetch } from '../../node-types.ts'
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

/** What an on-demand fetch brought, as the API and CLI report it. */
export interface FetchedReport {
  /** Receipts newly stored here. */
  receipts: number
  /** Peers whose answers held them. */
  peers: number
  /** Connected peers asked (those speaking sync 1.1.0). */
  asked: number
}

export const fetchedReport = (fetch: ReceiptFetch): FetchedReport => ({ receipts: fetch.fetched, peers: fetch.from, asked: fetch.asked })

/** Why nothing was found, and what would change that. */
export function nothingFound (what: string, fetch: ReceiptFetch | null, listHint: string): string {
  if (fetch == null) return `no ${what} on this node; ${listHint}`
  if (fetch.asked === 0) return `no ${what} on this node, and no connected peer to ask: start the daemon with --bootstrap ADDR (a peer's address) so it can fetch them`
  return `no ${what} on this node or on the ${fetch.asked} connected peer${fetch.asked === 1 ? '' : 's'} asked; check it, or connect to peers that hold it (--bootstrap ADDR); ${listHint}`
}

/**
 * This node's reputation of agents, computed locally from the receipts it
 * holds (protocols/reputation.md):
 *   GET /v1/reputation[?spec=NAME]  agents by score, with α, β, receipts and evidence
 *   GET /v1/reputation?agent=PEERID one agent; when this node holds no receipt naming it, they
 *                                   are fetched from the connected peers first ("fetched" says so)
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
        const agent = query.get('agent')
        if (agent != null && !isCanonicalPeerId(agent)) {
          throw badRequest('invalid_request', `agent must be an agent's full PeerId (12D3KooW…), not ${JSON.stringify(agent.slice(0, 80))}; \`specmesh reputation\` lists the agents this node rates`)
        }
        const req = pageRequest(query)
        let fetch: ReceiptFetch | null = null
        if (agent != null && node.fetchReceipts != null && (await node.listReceipts({ agent, limit: 1 })).length === 0) {
          fetch = await node.fetchReceipts({ agent })
        }
        const reputation = await reputationOfNode(node)
        const report: ReputationReport = reputation.report(spec != null ? { spec } : {})
        const agents = agent != null ? report.agents.filter(a => a.agent === agent) : report.agents
        if (agent != null && agents.length === 0) {
          throw notFound(nothingFound(`receipts naming agent ${agent}${spec != null ? ` on spec ${spec}` : ''}`, fetch, '`specmesh reputation` lists the agents this node rates'))
        }
        const page = byRank(agents, req.after, req.limit)
        return { body: { ...report, agents: page.items, ...(fetch != null ? { fetched: fetchedReport(fetch) } : {}) }, headers: pageHeaders(page) }
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
