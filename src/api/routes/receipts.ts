import { validateSpec, type Spec } from '../../spec/index.ts'
import { verifyReceipt, type ReceiptCheck, type ReceiptVerification } from '../../market/receipt-verify.ts'
import type { StoredReceipt } from '../../node-types.ts'
import { FULL_ID, resolveRecord, resolveSpec } from '../../resolve-id.ts'
import type { ReceiptFetch } from '../../node-types.ts'
import { fetchedReport, nothingFound, type FetchedReport } from './reputation.ts'
import { badRequest, notFound } from '../errors.ts'
import { pageHeaders, pageNewestFirst, pageRequest, timeKey } from '../paging.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Most receipts one GET /v1/receipts returns. */
export const MAX_RECEIPTS_PER_QUERY = 10_000

/** A check that could not be made, and what would make it possible. */
export interface SkippedCheck {
  check: string
  detail: string
}

export interface ReceiptAudit extends ReceiptVerification {
  /** Checks not made for want of the spec, the input or the output. Empty when every check was made. */
  skipped: SkippedCheck[]
}

export interface AuditMaterial {
  spec?: Spec
  input?: unknown
  output?: unknown
  /** How to obtain what is missing, in the words of the caller's interface (a flag, a body field). */
  hints?: { spec?: string, input?: string, output?: string }
}

/**
 * verifyReceipt plus an account of what it could not check. A criterion that
 * reads `input` cannot be judged without the input (it would see null and fail
 * a sound receipt), so without the input such criteria are skipped rather than
 * failed; the output hash is still checked.
 */
export function auditReceipt (envelope: unknown, material: AuditMaterial): ReceiptAudit {
  const { spec, input, output } = material
  const hints = material.hints ?? {}
  const criteriaNeedInput = spec != null && input === undefined && spec.successCriteria.some(c => /\binput\b/.test(c))
  let result: ReceiptVerification
  if (criteriaNeedInput && output !== undefined) {
    const withoutCriteria = verifyReceipt(envelope, { spec })
    const outputOnly = verifyReceipt(envelope, { output })
    const checks: ReceiptCheck[] = [...withoutCriteria.checks, ...outputOnly.checks.filter(c => c.check === 'output-hash')]
    result = { ...withoutCriteria, ok: checks.every(c => c.ok), checks }
  } else {
    result = verifyReceipt(envelope, { ...(spec != null ? { spec } : {}), ...(input !== undefined ? { input } : {}), ...(output !== undefined ? { output } : {}) })
  }
  const skipped: SkippedCheck[] = []
  // A receipt whose signature fails is refuted; nothing else about it is worth checking.
  if (result.receiptId == null) return { ...result, skipped }

  const body = (envelope as { body: { specId: string, outcome: string } }).body
  const judged = body.outcome === 'success' || body.outcome === 'criteria-failed'
  const hint = (what: 'spec' | 'input' | 'output'): string => hints[what] != null ? `; ${hints[what]}` : ''
  if (spec == null) {
    skipped.push({ check: 'spec', detail: `spec ${body.specId} is not at hand, so neither the budget nor the criteria are checked${hint('spec')}` })
  }
  if (input === undefined) {
    skipped.push({ check: 'input-hash', detail: `the job's input is not at hand${hint('input')}` })
  }
  if (output === undefined && judged) {
    skipped.push({ check: 'output-hash', detail: `the output is not at hand, so neither its hash nor the criteria are checked${hint('output')}` })
  }
  if (criteriaNeedInput && output !== undefined && judged) {
    skipped.push({ check: 'criteria', detail: `the spec's criteria read the input, which is not at hand${hint('input')}` })
  }
  return { ...result, skipped }
}

/**
 * List, fetch and verify the receipts this node holds (its own as coordinator,
 * and every receipt it learned from the mesh).
 */
export function receiptRoutes ({ node }: RouteContext): Route[] {
  const knownReceipt = async (ref: string): Promise<StoredReceipt> => await resolveRecord(node, 'receipt', ref, async id => await node.getReceipt(id))
  /** A receipt held, or (a full id this node lacks) fetched from the connected peers first. */
  const heldOrFetched = async (ref: string): Promise<{ stored: StoredReceipt, fetch: ReceiptFetch | null }> => {
    try {
      return { stored: await knownReceipt(ref), fetch: null }
    } catch (err) {
      if ((err as Error).name !== 'UnknownIdError' || !FULL_ID.test(ref) || node.fetchReceipts == null) throw err
    }
    const fetch = await node.fetchReceipts({ ids: [ref] })
    const stored = await node.getReceipt(ref)
    if (stored == null) throw notFound(nothingFound(`receipt with id ${ref}`, fetch, 'GET /v1/receipts lists those held'))
    return { stored, fetch }
  }
  const verify = async (ref: string, body: unknown): Promise<ReceiptAudit & { sources: Record<string, string | null>, fetched?: FetchedReport }> => {
    const { stored, fetch } = await heldOrFetched(ref)
    const given = parseVerifyBody(body)
    const receipt = stored.envelope.body
    const sources: Record<string, string | null> = { spec: null, input: null, output: null }

    let spec = given.spec
    if (spec != null) sources.spec = 'request'
    else {
      spec = (await node.getSpec(receipt.specId))?.spec
      if (spec != null) sources.spec = 'store'
    }
    // The node keeps the input of the jobs it coordinated, and the output of the attempt that succeeded.
    const job = await node.getJob(receipt.jobId)
    let output = given.output
    let outputHint = 'send it as "output" in the body'
    if (given.hasOutput) sources.output = 'request'
    else if (job != null && job.receiptId === stored.id && 'output' in job) {
      output = job.output
      sources.output = 'job'
    } else if (job == null) {
      outputHint = `only the job's coordinator keeps it; ${outputHint}`
    }
    let input = given.input
    let hasInput = given.hasInput
    if (given.hasInput) sources.input = 'request'
    else if (job?.input !== undefined) {
      input = job.input
      hasInput = true
      sources.input = 'job'
    }
    const material: AuditMaterial = {
      hints: {
        spec: 'send it as "spec" in the body',
        input: job == null ? 'only the job\'s coordinator keeps it; send it as "input" in the body' : 'send it as "input" in the body',
        output: outputHint
      }
    }
    if (spec != null) material.spec = spec
    if (hasInput) material.input = input
    if (sources.output != null) material.output = output
    if (fetch != null) sources.receipt = `fetched from ${fetch.from} of ${fetch.asked} connected peer${fetch.asked === 1 ? '' : 's'}`
    return { ...auditReceipt(stored.envelope, material), sources, ...(fetch != null ? { fetched: fetchedReport(fetch) } : {}) }
  }

  return [
    {
      method: 'GET',
      path: '/v1/receipts',
      handler: async ({ query }) => {
        const filter: { agent?: string, specId?: string, jobId?: string, limit?: number } = {}
        const agent = query.get('agent')
        if (agent != null && agent !== '') filter.agent = agent
        const spec = query.get('spec')
        if (spec != null && spec !== '') filter.specId = (await resolveSpec(node, spec)).id
        const job = query.get('job')
        // A prefix is resolved among the jobs this node coordinated; other nodes' jobs are matched by their full id.
        if (job != null && job !== '') {
          filter.jobId = await resolveRecord(node, 'job', job, async id => await node.getJob(id)).then(j => j.jobId, (err: Error) => {
            if (err.name === 'UnknownIdError') return job
            throw err
          })
        }
        const req = pageRequest(query, { maxLimit: MAX_RECEIPTS_PER_QUERY })
        // Without a cursor the store reads only the newest limit + 1; a later page reads the range below it.
        if (req.after == null) filter.limit = req.limit + 1
        const receipts: StoredReceipt[] = (await node.listReceipts(filter)).sort((a, b) => receiptKey(a) < receiptKey(b) ? -1 : 1)
        const page = pageNewestFirst(receipts, receiptKey, req)
        return { body: page.items, headers: pageHeaders(page) }
      }
    },
    {
      method: 'GET',
      path: '/v1/receipts/:id',
      handler: async ({ params }) => {
        return { body: await knownReceipt(params.id!) }
      }
    },
    {
      method: 'GET',
      path: '/v1/receipts/:id/verify',
      handler: async ({ params }) => ({ body: await verify(params.id!, undefined) })
    },
    {
      method: 'POST',
      path: '/v1/receipts/:id/verify',
      handler: async ({ params, body }) => ({ body: await verify(params.id!, body) })
    }
  ]
}

/** Receipts page newest first by the end of their attempt, as the store orders them. */
const receiptKey = (r: StoredReceipt): string => timeKey(r.envelope.body.endedAt, r.id)

interface VerifyBody {
  spec?: Spec
  input?: unknown
  output?: unknown
  hasInput: boolean
  hasOutput: boolean
}

/** Optional `{spec?, input?, output?}`: what the caller has and the node may not. */
function parseVerifyBody (body: unknown): VerifyBody {
  if (body === undefined) return { hasInput: false, hasOutput: false }
  if (body == null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('invalid_request', 'the request body, when there is one, must be {"spec"?, "input"?, "output"?}')
  }
  const record = body as Record<string, unknown>
  const unknown = Object.keys(record).filter(k => k !== 'spec' && k !== 'input' && k !== 'output')
  if (unknown.length > 0) {
    throw badRequest('invalid_request', `unknown field${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; the body may carry "spec", "input" and "output"`, unknown.map(k => ({ path: k, message: 'unknown field' })))
  }
  const out: VerifyBody = { hasInput: 'input' in record, hasOutput: 'output' in record }
  if (out.hasInput) out.input = record.input
  if (out.hasOutput) out.output = record.output
  if (record.spec != null) {
    // A spec that judged a past receipt may itself be past its deadline.
    const checked = validateSpec(record.spec, { requireFutureDeadline: false })
    if (!checked.ok) {
      throw badRequest('invalid_spec', 'the "spec" sent for verification is not a valid spec', checked.problems.map(p => ({ path: p.path === '' ? 'spec' : `spec.${p.path}`, message: p.message })))
    }
    out.spec = checked.spec
  }
  return out
}
