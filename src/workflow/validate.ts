import type { ZodError } from 'zod'
import { parseDuration, parseInstant, formatInstant } from '../spec/time.ts'
import { didYouMean, joinPath, describeType } from '../spec/suggest.ts'
import type { WorkflowProblem } from './errors.ts'
import { findCycles, type Graph } from './graph.ts'
import { awardPolicyProblems, normalizeAwardPolicy } from '../market/award-policy.ts'
import { findReferences, type FoundReference } from './references.ts'
import { JOB_FIELDS, RawJobSchema, RawWorkflowSchema, WORKFLOW_FIELDS, type Workflow, type WorkflowJob } from './schema.ts'

export type WorkflowValidation = { ok: true, workflow: Workflow } | { ok: false, problems: WorkflowProblem[] }

/**
 * Checks a workflow (as parsed from YAML/JSON, or as an API body) and normalizes it,
 * collecting every problem rather than stopping at the first: field shapes, deadlines,
 * references, unique ids, known dependencies, no cycles.
 */
export function validateWorkflow (raw: unknown): WorkflowValidation {
  const problems: WorkflowProblem[] = []
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, problems: [{ path: '', message: `is ${describeType(raw)}; a workflow is a mapping with a name and a list of jobs` }] }
  }
  const top = RawWorkflowSchema.safeParse(raw)
  if (!top.success) problems.push(...zodProblems(top.error, '', WORKFLOW_FIELDS))
  const topAward = (raw as Record<string, unknown>).award
  problems.push(...awardPolicyProblems(topAward, 'award'))

  const rawJobs = (raw as Record<string, unknown>).jobs
  const checked: CheckedJob[] = []
  if (Array.isArray(rawJobs)) rawJobs.forEach((item, index) => { checked.push(checkJob(item, index, problems)) })
  crossJobProblems(checked, problems)

  const jobs = checked.map(c => c.job).filter(j => j != null)
  if (problems.length > 0 || !top.success || jobs.length !== checked.length) return { ok: false, problems: inFileOrder(problems) }
  const workflow: Workflow = { name: top.data.name } as Workflow
  if (top.data.description !== undefined) workflow.description = top.data.description
  if (top.data.maxUsd !== undefined) workflow.maxUsd = top.data.maxUsd
  const award = normalizeAwardPolicy(topAward)
  if (award !== undefined) workflow.award = award
  workflow.jobs = jobs
  return { ok: true, workflow }
}

/**
 * job id → the jobs it waits for: its `needs` and every job its input references, in
 * the order they are written, each once.
 */
export function workflowGraph (workflow: Workflow): Map<string, string[]> {
  return new Map(workflow.jobs.map(job => [job.id, dependenciesOf(job, findReferences(job.input, 'input').refs)]))
}

function dependenciesOf (job: WorkflowJob, refs: FoundReference[]): string[] {
  return [...new Set([...job.needs, ...refs.map(r => r.ref.job)])]
}

/**
 * One job as far as it could be checked: `job` when it is entirely valid; `id`, `needs`
 * and `refs` whenever they are, so cross-job rules still run on a job with other mistakes.
 */
interface CheckedJob {
  index: number
  job: WorkflowJob | null
  id?: string
  needs: string[]
  /** `needs: audio` was written as one id rather than a list (problem paths differ). */
  needsIsString?: boolean
  refs: FoundReference[]
}

function checkJob (item: unknown, index: number, problems: WorkflowProblem[]): CheckedJob {
  const at = joinPath('jobs', index)
  if (item == null || typeof item !== 'object' || Array.isArray(item)) {
    problems.push({ path: at, message: `is ${describeType(item)}; write each job as a mapping with at least an id and a spec` })
    return { index, job: null, needs: [], refs: [] }
  }
  const before = problems.length
  const parsed = RawJobSchema.safeParse(item)
  if (!parsed.success) problems.push(...zodProblems(parsed.error, at, JOB_FIELDS))

  const input = (item as Record<string, unknown>).input ?? {}
  const { refs, problems: refProblems } = findReferences(input, joinPath(at, 'input'))
  problems.push(...refProblems)

  let deadline: number | string | undefined
  const rawDeadline = (item as Record<string, unknown>).deadline
  if (rawDeadline !== undefined && (typeof rawDeadline === 'number' || typeof rawDeadline === 'string')) {
    const checked = normalizeDeadline(rawDeadline)
    if (checked.ok) deadline = checked.value
    else problems.push({ path: joinPath(at, 'deadline'), message: checked.message })
  }
  const fields = item as Record<string, unknown>
  problems.push(...awardPolicyProblems(fields.award, joinPath(at, 'award')))
  const id = RawJobSchema.shape.id.safeParse(fields.id)
  const needs = RawJobSchema.shape.needs.safeParse(fields.needs)
  const partial: CheckedJob = { index, job: null, needs: needs.success ? toList(needs.data) : [], refs }
  if (typeof fields.needs === 'string') partial.needsIsString = true
  if (id.success) partial.id = id.data
  if (!parsed.success || problems.length > before) return partial

  const data = parsed.data
  const job: WorkflowJob = {
    id: data.id,
    spec: data.spec,
    input,
    needs: toList(data.needs)
  }
  if (data.description !== undefined) job.description = data.description
  if (data.maxUsd !== undefined) job.maxUsd = data.maxUsd
  if (deadline !== undefined) job.deadline = deadline
  if (data.bidWindowMs !== undefined) job.bidWindowMs = data.bidWindowMs
  const award = normalizeAwardPolicy(fields.award)
  if (award !== undefined) job.award = award
  return { ...partial, job }
}

function toList (needs: string | string[] | undefined): string[] {
  return [...new Set(typeof needs === 'string' ? [needs] : needs ?? [])]
}

/** A job deadline: a duration (seconds from the job's start) or an absolute instant. */
export function normalizeDeadline (value: number | string): { ok: true, value: number | string } | { ok: false, message: string } {
  if (typeof value === 'string' && /^\s*\d{4}-\d{2}-\d{2}/.test(value)) {
    const instant = parseInstant(value)
    return instant.ok ? { ok: true, value: formatInstant(instant.value) } : { ok: false, message: `${instant.message}; or write a duration from the job's start, such as "4m"` }
  }
  const duration = parseDuration(value)
  return duration.ok ? { ok: true, value: duration.value } : { ok: false, message: `${duration.message}, counted from the job's start; or an ISO time such as "2026-03-01T18:00:00Z"` }
}

function crossJobProblems (checked: CheckedJob[], problems: WorkflowProblem[]): void {
  const firstIndex = new Map<string, number>()
  for (const { id, index } of checked) {
    if (id == null) continue
    const earlier = firstIndex.get(id)
    if (earlier != null) {
      problems.push({ path: joinPath(joinPath('jobs', index), 'id'), message: `"${id}" is already the id of jobs[${earlier}]; give each job its own id` })
    } else {
      firstIndex.set(id, index)
    }
  }
  const ids = [...firstIndex.keys()]
  const unknown = (name: string): string => {
    const hint = didYouMean(name, ids)
    return hint != null ? `did you mean "${hint}"?` : `the jobs are ${ids.map(id => `"${id}"`).join(', ')}`
  }

  /** Why each edge exists, for the cycle message: `needs` or where the reference is. */
  const edgeWhy = new Map<string, string>()
  const graph = new Map<string, string[]>()
  for (const { id, needs, needsIsString, index, refs } of checked) {
    const at = joinPath('jobs', index)
    needs.forEach((dep, i) => {
      const where = needsIsString === true ? joinPath(at, 'needs') : joinPath(joinPath(at, 'needs'), i)
      if (dep === id) problems.push({ path: where, message: `job "${id}" cannot wait for itself; remove "${dep}" from needs` })
      else if (!firstIndex.has(dep)) problems.push({ path: where, message: `names no job "${dep}"; ${unknown(dep)}` })
      else if (id != null && !edgeWhy.has(`${id}\0${dep}`)) edgeWhy.set(`${id}\0${dep}`, 'needs')
    })
    for (const { ref, at: where } of refs) {
      if (ref.job === id) problems.push({ path: where, message: `${ref.source} reads job "${id}"'s own output, which does not exist before it runs; reference an earlier job` })
      else if (!firstIndex.has(ref.job)) problems.push({ path: where, message: `${ref.source} names no job "${ref.job}"; ${unknown(ref.job)}` })
      else if (id != null && !edgeWhy.has(`${id}\0${ref.job}`)) edgeWhy.set(`${id}\0${ref.job}`, where.slice(at.length + 1))
    }
    if (id != null && firstIndex.get(id) === index) {
      graph.set(id, [...new Set([...needs, ...refs.map(r => r.ref.job)])].filter(d => d !== id && firstIndex.has(d)))
    }
  }

  for (const cycle of findCycles(graph as Graph)) {
    const edges = cycle.slice(0, -1).map((id, i) => `${id} needs ${cycle[i + 1]} (${edgeWhy.get(`${id}\0${cycle[i + 1]}`) ?? 'needs'})`)
    problems.push({
      path: joinPath('jobs', firstIndex.get(cycle[0]!)!),
      message: `jobs ${cycle.join(' → ')} form a cycle, so none of them could ever start; remove one of these dependencies: ${edges.join(', ')}`
    })
  }
}

/** Workflow-level problems first, then each job's, in the order the jobs are written (stable within one job). */
function inFileOrder (problems: WorkflowProblem[]): WorkflowProblem[] {
  const rank = (p: WorkflowProblem): number => {
    const m = /^jobs\[(\d+)\]/.exec(p.path)
    return m == null ? -1 : Number(m[1])
  }
  return problems.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map(x => x.p)
}

function zodProblems (error: ZodError, base: string, fields: string[]): WorkflowProblem[] {
  const out: WorkflowProblem[] = []
  for (const issue of error.issues) {
    const path = issue.path.reduce<string>((p, k) => joinPath(p, typeof k === 'number' ? k : String(k)), base)
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = didYouMean(key, fields)
        out.push({ path: joinPath(path, key), message: `is not a ${base === '' ? 'workflow' : 'job'} field; ${hint != null ? `did you mean "${hint}"?` : `the fields are ${fields.join(', ')}`}` })
      }
      continue
    }
    // `jobs` items are checked one by one by checkJob, with their own paths.
    if (base === '' && issue.path[0] === 'jobs' && issue.path.length > 1) continue
    if (issue.code === 'invalid_union' && base !== '' && issue.path.at(-1) === 'needs') {
      out.push({ path, message: 'must be a list of job ids, e.g. [audio, nlp]; each id is a letter followed by letters, digits, _ or -' })
      continue
    }
    out.push({ path, message: issue.message })
  }
  return out
}
