import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'
import { jobRoutes } from './jobs.ts'
import { ledgerRoutes } from './ledger.ts'
import { nodeRoutes } from './node.ts'
import { receiptRoutes } from './receipts.ts'
import { reputationRoutes } from './reputation.ts'
import { specImproveRoutes } from './spec-improve.ts'
import { specRoutes } from './specs.ts'
import { statusRoutes } from './status.ts'
import { dashboardRoutes } from '../../dashboard/routes.ts'
import { workflowRoutes } from './workflows.ts'

export type { RouteContext } from './context.ts'

/**
 * Every route family the API serves. A new family (jobs, receipts, ledger,
 * reputation, …) is a module in this folder returning Route[], added here.
 */
export const routeFamilies: Array<(ctx: RouteContext) => Route[]> = [
  nodeRoutes,
  specRoutes,
  specImproveRoutes,
  jobRoutes,
  receiptRoutes,
  ledgerRoutes,
  reputationRoutes,
  workflowRoutes,
  statusRoutes,
  dashboardRoutes
]

export function allRoutes (ctx: RouteContext): Route[] {
  return routeFamilies.flatMap(family => family(ctx))
}
