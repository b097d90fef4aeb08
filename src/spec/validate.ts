import { MAX_SPEC_BYTES } from '../wire/constants.ts'
import { describeValueProblem, valueProblem } from '../wire/json-input.ts'
import { canonicalize, canonicalBytes } from '../wire/canonical.ts'
import { SpecSchema, type Spec } from './schema.ts'
import type { Problem } from './errors.ts'
import { normalizeSpec } from './normalize.ts'
import { analyzeCriterion } from './criteria.ts'
import { isAbsolute } from './deadlines.ts'
import { formatInstant } from './time.ts'
import { joinPath } from './suggest.ts'
import { MONEY_EPSILON } from './constants.ts'

export interface ValidateOptions {
  /** Clock for the deadline checks, epoch ms. @default Date.now() */
  now?: number
  /**
   * Refuse an absolute deadline (or soft deadline) that has already passed. True when
   * publishing; false for specs arriving from the network, whose expiry the network
   * layer handles (Ignore, not Reject). @default true
   */
  requireFutureDeadline?: boolean
  /**
   * Refuse a body that is not already in canonical form (aliases, duration strings, list
   * costBreakdown…). Signed network bodies should be canonical so their id is what was
   * signed. @default false
   */
  requireCanonical?: boolean
}

export type ValidationResult = { ok: true, spec: Spec } | { ok: false, problems: Problem[] }

/**
 * Normalizes and validates a spec, collecting every problem rather than stopping at the
 * first: field shapes, JSON Schemas, success criteria, cross-field rules, size.
 */
export function validateSpec (raw: unknown, options: ValidateOptions = {}): ValidationResult {
  const now = options.now ?? Date.now()
  const requireFuture = options.requireFutureDeadline ?? true
  // Checked first and without recursion: every later step walks the value recursively,
  // and canonical JSON (the spec's id) cannot carry a lone surrogate.
  const malformed = valueProblem(raw)
  if (malformed != null) {
    return { ok: false, problems: [{ path: malformed.path, message: describeValueProblem(malformed) }] }
  }
  const { spec: candidate, problems } = normalizeSpec(raw)
  if (candidate == null) return { ok: false, problems }

  const criteria = candidate.successCriteria
  if (Array.isArray(criteria)) {
    criteria.forEach((source, i) => {
      const analysis = analyzeCriterion(source as string)
      if (!analysis.ok) problems.push({ path: joinPath('successCriteria', i), message: analysis.message })
    })
  }
  crossFieldProblems(candidate as Partial<Spec>, now, requireFuture, problems)

  if (problems.length > 0) return { ok: false, problems }
  const parsed = SpecSchema.safeParse(candidate)
  if (!parsed.success) {
    // normalizeSpec checks every field first, so this is a backstop with plainer messages.
    for (const issue of parsed.error.issues) {
      problems.push({ path: issue.path.map(String).reduce<string>((p, k) => joinPath(p, /^\d+$/.test(k) ? Number(k) : k), ''), message: `${issue.message}; see the spec format in src/spec/schema.ts` })
    }
    return { ok: false, problems }
  }
  const spec = parsed.data
  const size = canonicalBytes(spec).length
  if (size > MAX_SPEC_BYTES) {
    problems.push({ path: '', message: `the spec is ${size} bytes as canonical JSON, more than the limit of ${MAX_SPEC_BYTES}; shrink the schemas or descriptions` })
  }
  if (options.requireCanonical === true && canonicalize(raw) !== canonicalize(spec)) {
    problems.push({ path: '', message: 'the body is not in canonical form (aliases, duration strings or defaults differ from what normalization produces); publish the normalized spec instead' })
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec }
}

function crossFieldProblems (spec: Partial<Spec>, now: number, requireFuture: boolean, problems: Problem[]): void {
  const { costUsd, budget, deadline, softDeadline, executionWindow } = spec
  if (costUsd !== undefined && budget?.maxUsd !== undefined && costUsd > budget.maxUsd + MONEY_EPSILON) {
    problems.push({ path: 'costUsd', message: `${costUsd} is more than budget.maxUsd (${budget.maxUsd}), so no job could be paid; lower costUsd or raise budget.maxUsd` })
  }
  if (budget?.costBreakdown !== undefined && budget.maxUsd !== undefined) {
    const total = Object.values(budget.costBreakdown).reduce((a, b) => a + b, 0)
    if (total > budget.maxUsd + MONEY_EPSILON) {
      problems.push({ path: 'budget.costBreakdown', message: `adds up to ${round(total)}, more than budget.maxUsd (${budget.maxUsd}); lower the parts or raise maxUsd` })
    }
  }
  if (deadline !== undefined && softDeadline !== undefined) {
    if (isAbsolute(deadline) !== isAbsolute(softDeadline)) {
      problems.push({
        path: 'softDeadline',
        message: `is ${isAbsolute(softDeadline) ? 'an absolute time' : 'a duration'} but deadline is ${isAbsolute(deadline) ? 'an absolute time' : 'a duration'}; write both as timestamps (e.g. "2026-03-01T17:55:00Z") or both as durations (e.g. "4m" and "5m")`
      })
    } else if (isAbsolute(deadline) ? Date.parse(softDeadline as string) > Date.parse(deadline) : (softDeadline as number) > deadline) {
      problems.push({ path: 'softDeadline', message: `${show(softDeadline)} is after the deadline ${show(deadline)}; the soft deadline (last moment to start) must come no later than the hard deadline` })
    }
  }
  if (requireFuture) {
    if (deadline !== undefined && isAbsolute(deadline) && Date.parse(deadline) <= now) {
      problems.push({ path: 'deadline', message: `${deadline} has already passed (it is now ${formatInstant(now)}); set a later time, or a relative deadline such as "5m" that counts from each job's submission` })
    }
    if (softDeadline !== undefined && isAbsolute(softDeadline) && Date.parse(softDeadline) <= now) {
      problems.push({ path: 'softDeadline', message: `${softDeadline} has already passed (it is now ${formatInstant(now)}), so no job could start; set a later time or remove it` })
    }
  }
  if (executionWindow !== undefined && deadline !== undefined && !isAbsolute(deadline) && executionWindow > deadline) {
    problems.push({ path: 'executionWindow', message: `${executionWindow} s is longer than the ${deadline} s deadline, so the work could never finish within its window; shorten executionWindow or lengthen deadline` })
  }
}

function show (deadline: string | number): string {
  return typeof deadline === 'string' ? deadline : `${deadline} s`
}

function round (n: number): number {
  return Math.round(n * 1e9) / 1e9
}
