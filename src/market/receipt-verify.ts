import { hashHex } from '../crypto/content-id.ts'
import { sameKey } from '../crypto/signatures.ts'
import { canonicalBytes } from '../wire/canonical.ts'
import { verifyEnvelope } from '../wire/envelope.ts'
import { MessageValidationError } from '../wire/errors.ts'
import { checkOutput, specId as idOfSpec, type Spec } from '../spec/index.ts'
import { ReceiptBodySchema, type ReceiptBody } from './messages.ts'
import { verifyClaim } from './validators.ts'

export interface ReceiptCheck {
  check: string
  ok: boolean
  detail: string
}

export interface ReceiptVerification {
  ok: boolean
  receiptId?: string
  checks: ReceiptCheck[]
}

export interface VerifyReceiptOptions {
  /** The spec the receipt names; without it only the signatures can be checked. */
  spec?: Spec
  /** The job's input and output, when known: their hashes and the criteria are then checked too. */
  input?: unknown
  output?: unknown
}

/**
 * Check one receipt on its own, as an auditor would: both signatures, the claim
 * against the receipt, the hashes against the payloads, timing against the
 * deadline, cost against the budget, and the outcome against the criteria.
 * Every check is reported, passed or failed, so the report is the audit trail.
 */
export function verifyReceipt (raw: unknown, options: VerifyReceiptOptions = {}): ReceiptVerification {
  const checks: ReceiptCheck[] = []
  const add = (check: string, ok: boolean, detail: string): void => { checks.push({ check, ok, detail }) }

  let body: ReceiptBody
  let receiptId: string
  try {
    const envelope = verifyEnvelope(raw, { expectType: 'receipt' })
    const parsed = ReceiptBodySchema.safeParse(envelope.body)
    if (!parsed.success) throw new MessageValidationError('reject', 'bad-body', `receipt field ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`)
    body = parsed.data
    receiptId = envelope.id
    add('coordinator-signature', true, `signed by coordinator ${envelope.signer}`)
    if (sameKey(envelope.signer, body.agent)) add('distinct-parties', false, 'the coordinator and the agent are the same key')
  } catch (err) {
    add('coordinator-signature', false, (err as Error).message)
    return { ok: false, checks }
  }

  if (body.claim == null) {
    const needed = body.outcome === 'success' || body.outcome === 'criteria-failed'
    add('agent-signature', !needed, needed ? `a ${body.outcome} receipt must embed the agent's signed claim` : `no claim: the agent never answered (${body.outcome})`)
  } else {
    try {
      const claim = verifyClaim(body.claim)
      const matches = sameKey(claim.signer, body.agent) && claim.body.jobId === body.jobId && claim.body.awardId === body.awardId
      add('agent-signature', matches, matches ? `claim signed by agent ${claim.signer}` : 'the claim is signed by another key or is for another job or award')
      if (body.outputHash != null) {
        add('claim-output-hash', claim.body.outputHash === body.outputHash, claim.body.outputHash === body.outputHash ? 'the agent signed the same output hash' : 'the agent signed a different output hash')
      }
      add('claim-cost', body.costUsd <= claim.body.costUsd + 1e-12 || body.costUsd === 0, `receipt charges ${body.costUsd} USD; the agent claimed ${claim.body.costUsd} USD`)
    } catch (err) {
      add('agent-signature', false, (err as Error).message)
    }
  }

  add('timing', body.startedAt <= body.endedAt, `ran ${body.endedAt - body.startedAt} ms`)
  const inTime = body.endedAt <= body.deadline
  if (body.outcome === 'success') add('deadline', inTime, inTime ? `ended ${body.deadline - body.endedAt} ms before the deadline` : `ended ${body.endedAt - body.deadline} ms after the deadline yet claims success`)
  else if (body.outcome === 'timeout') add('deadline', true, `timed out; the deadline was ${new Date(body.deadline).toISOString()}`)

  const spec = options.spec
  if (spec != null) {
    add('spec', idOfSpec(spec) === body.specId, idOfSpec(spec) === body.specId ? `spec ${body.specId}` : 'the spec given is not the one the receipt names')
    const ceiling = spec.budget?.maxUsd
    if (ceiling != null) add('budget', body.costUsd <= ceiling + 1e-12, `charged ${body.costUsd} USD against budget.maxUsd ${ceiling}`)
  }

  if (options.input !== undefined) {
    const ok = hashHex(canonicalBytes(options.input)) === body.inputHash
    add('input-hash', ok, ok ? 'input matches inputHash' : 'input does not match inputHash')
  }
  if (options.output !== undefined) {
    const ok = body.outputHash != null && hashHex(canonicalBytes(options.output)) === body.outputHash
    add('output-hash', ok, ok ? 'output matches outputHash' : 'output does not match outputHash')
    if (spec != null && ok && (body.outcome === 'success' || body.outcome === 'criteria-failed')) {
      const verdict = checkOutput(spec, options.input, options.output)
      const agrees = verdict.ok === (body.outcome === 'success')
      const failures = verdict.ok ? '' : verdict.failures.map(f => `${f.criterion}: ${f.reason}`).join('; ')
      add('criteria', agrees, agrees
        ? (verdict.ok ? 'output meets the output schema and every success criterion' : `output fails as recorded: ${failures}`)
        : (verdict.ok ? 'output meets every criterion, yet the receipt says criteria-failed' : `receipt says success, but: ${failures}`))
    }
  }
  return { ok: checks.every(c => c.ok), receiptId, checks }
}
