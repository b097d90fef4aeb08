import { remainingOf, type JobLedger, type SpecLedger } from '../../store/ledger-store.ts'
import { resolveSpec } from '../../resolve-id.ts'
import { notFound } from '../errors.ts'
import { pageHeaders, pageNewestFirst, pageRequest, timeKey } from '../paging.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** A job's ledger with what it may still spend (null without a budget). */
export interface JobLedgerView extends JobLedger {
  remainingUsd: number | null
}

/** A spec's totals with its name when the node holds the spec. */
export interface SpecLedgerView extends SpecLedger {
  name: string | null
}

export interface LedgerView {
  specs: SpecLedgerView[]
  jobs: JobLedgerView[]
}

/**
 * GET /v1/ledger?spec=ID: what this node, as coordinator, reserved, spent and
 * may still spend, per spec and per job. Every settle and release entry names
 * the receipt that justifies it, so each figure traces to signed receipts.
 */
export function ledgerRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/ledger',
      handler: async ({ query }) => {
        const req = pageRequest(query)
        const ref = query.get('spec') ?? undefined
        // A spec the node no longer holds may still have ledger entries under its full id.
        const specId = ref == null || ref === '' ? ref : await resolveSpec(node, ref).then(s => s.id, err => { if ((err as Error).name === 'UnknownIdError') return ref; throw err })
        const { jobs, specs } = await node.ledger(specId === '' ? undefined : specId)
        const held = new Map<string, string | null>()
        const nameOf = async (id: string): Promise<string | null> => {
          if (!held.has(id)) held.set(id, (await node.getSpec(id))?.spec.name ?? null)
          return held.get(id)!
        }
        const specViews: SpecLedgerView[] = []
        for (const s of specs) specViews.push({ ...s, name: await nameOf(s.specId) })
        if (specId != null && specId !== '' && specViews.length === 0) {
          const spec = await node.getSpec(specId)
          if (spec == null) throw notFound(`no spec with id ${specId} on this node, and no ledger entries for it; GET /v1/specs lists the specs it holds`)
          specViews.push({ specId, jobs: 0, reservedUsd: 0, spentUsd: 0, remainingUsd: spec.spec.budget == null ? null : 0, name: spec.spec.name })
        }
        // The spec totals always cover every job; `jobs` comes a page at a time, newest first.
        const key = (j: JobLedger): string => timeKey(j.entries[0]?.at ?? 0, j.jobId)
        const page = pageNewestFirst([...jobs].sort((a, b) => key(a) < key(b) ? -1 : 1), key, req)
        const jobViews = page.items.map(j => ({ ...j, remainingUsd: remainingOf(j) }))
        const body: LedgerView = { specs: specViews, jobs: jobViews }
        return { body, headers: pageHeaders(page) }
      }
    }
  ]
}
