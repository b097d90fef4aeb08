import type { JobRecord, JobResult, SpecmeshNode, StoredSpec, SubmitOptions } from '../node-types.ts'
import { AmbiguousIdError, resolveSpec, UnknownIdError } from '../resolve-id.ts'
import { checkInput, type Spec } from '../spec/index.ts'
import { joinPath } from '../spec/suggest.ts'
import { WorkflowValidationError, type WorkflowProblem } from './errors.ts'
import { downstreamOf } from './graph.ts'
import { findReferences, resolveInput } from './references.ts'
import type { Workflow, WorkflowJob } from './schema.ts'
import { validateWorkflow, workflowGraph } from './validate.ts'

/** What the runner needs of a node: resolve specs, submit jobs, read their records. */
export type WorkflowNode = Pick<SpecmeshNode, 'getSpec' | 'listSpecs' | 'submitJob' | 'getJob' | 'matchIds'> & Partial<Pick<SpecmeshNode, 'fetchSpec'>>

export type JobStatus = 'succeeded' | 'failed' | 'cancelled'

/**
 * What ended a job. A market outcome of its last attempt (`success`, `timeout`,
 * `criteria-failed`, `error`, `refused`), or, when no attempt was made: `no-bids`,
 * `deadline` (it had passed before the job could start), `budget` (the spec's or the
 * workflow's ceiling left no room), `invalid-input` (the node refused the input),
 * `input-reference` (a reference named nothing in its dependency's output),
 * `dependency-failed` and `aborted` (cancelled: never submitted).
 */
export type JobOutcome = 'success' | 'timeout' | 'criteria-failed' | 'error' | 'refused' | 'no-bids' | 'deadline' | 'budget' | 'invalid-input' | 'input-reference' | 'dependency-failed' | 'aborted'

export interface AttemptSummary {
  attempt: number
  agent: string
  outcome?: string
  reason?: string
  priceUsd: number
  startedAt?: number
  endedAt?: number
}

/** One job of a run, as the report shows it. */
export interface JobReport {
  id: string
  spec: { id: string, name: string, version?: string, variant?: string }
  /** The jobs it waited for. */
  dependencies: string[]
  status: JobStatus
  outcome: JobOutcome
  /** Why it failed or was cancelled, in words (absent on success). */
  reason?: string
  /** For a cancelled job: the failed job that caused it, and the cancelled jobs in between. */
  cause?: { job: string, via: string[] }
  /** The market job id; absent when nothing was submitted. */
  jobId?: string
  /** The agent whose attempt ended the job (the one paid on success). */
  agent?: string
  attempts: AttemptSummary[]
  /** Submission and end (epoch ms); absent when the job never started. */
  startedAt?: number
  endedAt?: number
  durationMs?: number
  /** The time the job was allowed: its deadline, counted from submission. */
  deadlineMs?: number
  /** What was spent on it (charged attempts). */
  costUsd: number
  /** The spec's budget.maxUsd: the most the job could ever cost. */
  budgetUsd?: number
  /** The price ceiling of one attempt. */
  maxUsd?: number
  output?: unknown
}

export interface WorkflowReport {
  name: string
  status: 'succeeded' | 'failed'
  startedAt: number
  endedAt: number
  durationMs: number
  jobs: JobReport[]
  totals: {
    jobs: number
    succeeded: number
    failed: number
    cancelled: number
    /** Jobs submitted to the market (the others cost nothing and never reached an agent). */
    submitted: number
    costUsd: number
    /** Sum of the budgets of the jobs whose spec has one. */
    budgetUsd: number
    /** The workflow's own ceiling, when it sets one. */
    maxUsd?: number
    /** Jobs that cost more than their spec's budget (always empty unless overageBehavior is "warn"). */
    overBudget: string[]
  }
}

export type WorkflowEvent =
  | { type: 'job.started', job: string, at: number, specId: string }
  | { type: 'job.finished', job: string, at: number, report: JobReport }

export interface RunWorkflowOptions {
  /** Bid window for jobs that set none. @default the market's default */
  bidWindowMs?: number
  /** Progress: each job's start and end, as they happen. */
  onEvent?: (event: WorkflowEvent) => void
  /** Once aborted, no further job starts (running jobs finish); the rest are cancelled. */
  signal?: AbortSignal
  now?: () => number
}

/** A workflow whose spec references were found on the node: what runWorkflow executes. */
export interface ResolvedWorkflow {
  workflow: Workflow
  specs: Map<string, StoredSpec>
  graph: Map<string, string[]>
}


/**
 * Finds each job's spec on the node and checks what can be checked before anything is
 * spent: literal inputs against the spec's input schema, absolute deadlines not passed.
 * Throws WorkflowValidationError listing every problem.
 */
export async function resolveWorkflow (node: WorkflowNode, workflow: Workflow, options: { now?: number } = {}): Promise<ResolvedWorkflow> {
  const now = options.now ?? Date.now()
  const problems: WorkflowProblem[] = []
  const specs = new Map<string, StoredSpec>()
  for (const [index, job] of workflow.jobs.entries()) {
    const at = joinPath('jobs', index)
    let stored: StoredSpec
    try {
      stored = await resolveSpec(node, job.spec, { acceptingJobs: true, now })
    } catch (err) {
      if (!(err instanceof UnknownIdError) && !(err instanceof AmbiguousIdError)) throw err
      problems.push({ path: joinPath(at, 'spec'), message: err.message })
      continue
    }
    specs.set(job.id, stored)
    if (findReferences(job.input, 'input').refs.length === 0) {
      const verdict = checkInput(stored.spec, job.input)
      if (!verdict.ok) {
        for (const p of verdict.problems) {
          const inner = p.path.replace(/^input\.?/, '').replace(/^\//, '').replaceAll('/', '.')
          problems.push({ path: inner === '' ? joinPath(at, 'input') : `${joinPath(at, 'input')}.${inner}`, message: p.message })
        }
      }
    }
    if (typeof job.deadline === 'string' && Date.parse(job.deadline) <= now) {
      problems.push({ path: joinPath(at, 'deadline'), message: `${job.deadline} has already passed; set a later time, or a duration from the job's start such as "4m"` })
    }
  }
  if (problems.length > 0) throw new WorkflowValidationError(problems)
  return { workflow, specs, graph: workflowGraph(workflow) }
}

interface Slot {
  job: WorkflowJob
  stored: StoredSpec
  state: 'pending' | 'running' | JobStatus
  report?: JobReport
  /** What the workflow budget holds back for it while it runs. */
  reservedUsd: number
}

/**
 * Runs a workflow on a node as a DAG: every job starts as soon as all the jobs it needs
 * have succeeded, so independent branches run in parallel. Each job goes through the
 * node's market (`submitJob`), which holds it to its spec's deadline and budget. When a
 * job fails, everything downstream of it is cancelled without being submitted (nothing
 * is spent on it), and independent branches carry on. Resolves with the report once
 * every job has ended or been cancelled; throws WorkflowValidationError before starting
 * anything when the workflow is invalid or names specs the node does not hold.
 */
export async function runWorkflow (node: WorkflowNode, workflow: Workflow | unknown, options: RunWorkflowOptions = {}): Promise<WorkflowReport> {
  const now = options.now ?? Date.now
  const checked = validateWorkflow(workflow)
  if (!checked.ok) throw new WorkflowValidationError(checked.problems)
  const { specs, graph } = await resolveWorkflow(node, checked.workflow, { now: now() })
  const wf = checked.workflow
  const startedAt = now()
  const slots = new Map<string, Slot>(wf.jobs.map(job => [job.id, { job, stored: specs.get(job.id)!, state: 'pending', reservedUsd: 0 }]))
  const outputs = new Map<string, unknown>()
  let spentUsd = 0
  let reservedUsd = 0

  const base = (slot: Slot): Pick<JobReport, 'id' | 'spec' | 'dependencies' | 'costUsd' | 'attempts' | 'budgetUsd' | 'deadlineMs'> => {
    const s = slot.stored.spec
    const spec: JobReport['spec'] = { id: slot.stored.id, name: s.name }
    if (s.version != null) spec.version = s.version
    if (s.variant != null) spec.variant = s.variant
    const out: ReturnType<typeof base> = { id: slot.job.id, spec, dependencies: graph.get(slot.job.id) ?? [], costUsd: 0, attempts: [] }
    if (s.budget != null) out.budgetUsd = s.budget.maxUsd
    const allowed = allowedMs(s, slot.job)
    if (allowed != null) out.deadlineMs = allowed
    return out
  }

  return await new Promise<WorkflowReport>(resolve => {
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      options.signal?.removeEventListener('abort', onAbort)
      resolve(buildReport(wf, [...slots.values()].map(s => s.report!), startedAt, now()))
    }

    const end = (slot: Slot, report: JobReport): void => {
      slot.state = report.status
      slot.report = report
      reservedUsd -= slot.reservedUsd
      slot.reservedUsd = 0
      spentUsd += report.costUsd
      if (report.status === 'succeeded') outputs.set(slot.job.id, report.output)
      options.onEvent?.({ type: 'job.finished', job: slot.job.id, at: now(), report })
      if (report.status === 'failed') cancelDownstream(slot.job.id, report)
    }

    const cancelDownstream = (root: string, failure: JobReport): void => {
      const why = failureSummary(failure)
      for (const { id, via } of downstreamOf(graph, root)) {
        const slot = slots.get(id)!
        if (slot.state !== 'pending') continue
        end(slot, {
          ...base(slot),
          status: 'cancelled',
          outcome: 'dependency-failed',
          reason: `not started: dependency ${root} failed${via.length > 0 ? ` (via ${via.join(' → ')})` : ''}: ${why}`,
          cause: { job: root, via }
        })
      }
    }

    const onAbort = (): void => {
      for (const slot of slots.values()) {
        if (slot.state === 'pending') end(slot, { ...base(slot), status: 'cancelled', outcome: 'aborted', reason: 'not started: the workflow run was stopped' })
      }
      tick()
    }

    const tick = (): void => {
      for (const slot of slots.values()) {
        if (slot.state !== 'pending' || options.signal?.aborted === true) continue
        const deps = graph.get(slot.job.id) ?? []
        if (!deps.every(d => slots.get(d)!.state === 'succeeded')) continue
        start(slot)
      }
      if ([...slots.values()].every(s => s.state !== 'pending' && s.state !== 'running')) finish()
    }

    const start = (slot: Slot): void => {
      const spec = slot.stored.spec
      const resolved = resolveInput(slot.job.input, outputs)
      if (!resolved.ok) {
        end(slot, { ...base(slot), status: 'failed', outcome: 'input-reference', reason: `not started: ${resolved.path}: ${resolved.message}` })
        return
      }
      // The workflow's ceiling: hold back what the job could cost at most, so that
      // parallel branches can never spend more together than the workflow allows.
      const worst = worstCaseUsd(spec, slot.job)
      if (wf.maxUsd != null && spentUsd + reservedUsd + worst > wf.maxUsd + 1e-9) {
        const left = Math.max(0, wf.maxUsd - spentUsd - reservedUsd)
        end(slot, { ...base(slot), status: 'failed', outcome: 'budget', reason: `not started: it may cost up to ${usd(worst)} and the workflow has ${usd(left)} of its ${usd(wf.maxUsd)} left; raise the workflow's maxUsd or lower this job's` })
        return
      }
      slot.reservedUsd = worst
      reservedUsd += worst
      slot.state = 'running'
      const submitOptions: SubmitOptions = {}
      const at = now()
      if (slot.job.maxUsd != null) submitOptions.maxUsd = slot.job.maxUsd
      if (slot.job.deadline != null) submitOptions.deadline = typeof slot.job.deadline === 'number' ? at + Math.round(slot.job.deadline * 1000) : slot.job.deadline
      const bidWindowMs = slot.job.bidWindowMs ?? options.bidWindowMs
      if (bidWindowMs != null) submitOptions.bidWindowMs = bidWindowMs
      if (wf.award != null || slot.job.award != null) submitOptions.award = { ...wf.award, ...slot.job.award }
      options.onEvent?.({ type: 'job.started', job: slot.job.id, at, specId: slot.stored.id })
      runJob(node, slot.stored.id, resolved.value, submitOptions, now)
        .then(({ result, record, error, startedAt: s, endedAt: e }) => jobReport(base(slot), result, record, error, s, e))
        .catch((err: unknown): JobReport => ({ ...base(slot), status: 'failed', outcome: 'error', reason: `the node failed to run the job: ${(err as Error).message}` }))
        .then(report => {
          end(slot, report)
          tick()
        })
    }

    options.signal?.addEventListener('abort', onAbort)
    if (options.signal?.aborted === true) onAbort()
    else tick()
  })
}

async function runJob (node: WorkflowNode, specId: string, input: unknown, options: SubmitOptions, now: () => number): Promise<{ result?: JobResult, record?: JobRecord | null, error?: Error, startedAt: number, endedAt: number }> {
  const startedAt = now()
  try {
    const result = await node.submitJob(specId, input, options)
    const endedAt = now()
    const record = await node.getJob(result.jobId).catch(() => null)
    return { result, record, startedAt, endedAt }
  } catch (err) {
    return { error: err as Error, startedAt, endedAt: now() }
  }
}

function jobReport (base: Pick<JobReport, 'id' | 'spec' | 'dependencies' | 'costUsd' | 'attempts' | 'budgetUsd' | 'deadlineMs'>, result: JobResult | undefined, record: JobRecord | null | undefined, error: Error | undefined, startedAt: number, endedAt: number): JobReport {
  if (result == null) {
    // Refused by the node before anything was sent: an input the spec does not accept, or no such spec.
    const message = (error?.message ?? 'unknown error').replace(/\n/g, '; ')
    return { ...base, status: 'failed', outcome: 'invalid-input', reason: `not submitted: ${message}` }
  }
  const attempts: AttemptSummary[] = result.attempts.map(a => {
    const summary: AttemptSummary = { attempt: a.attempt, agent: a.agent, priceUsd: a.priceUsd }
    if (a.outcome != null) summary.outcome = a.outcome
    if (a.reason != null) summary.reason = a.reason
    if (a.startedAt != null) summary.startedAt = a.startedAt
    if (a.endedAt != null) summary.endedAt = a.endedAt
    return summary
  })
  const last = attempts.at(-1)
  const submittedAt = record?.submittedAt ?? startedAt
  const finishedAt = record?.finishedAt ?? endedAt
  const report: JobReport = {
    ...base,
    // A job its requester cancelled did not deliver: for the workflow it failed, and its dependents cannot run.
    status: result.status === 'succeeded' ? 'succeeded' : 'failed',
    outcome: result.status === 'succeeded' ? 'success' : last?.outcome != null ? last.outcome as JobOutcome : classify(result.reason ?? ''),
    jobId: result.jobId,
    attempts,
    startedAt: submittedAt,
    endedAt: finishedAt,
    durationMs: finishedAt - submittedAt,
    costUsd: result.costUsd
  }
  const agent = result.receipt?.body.agent ?? last?.agent
  if (agent != null) report.agent = agent
  if (record != null) {
    report.deadlineMs = record.deadline - record.submittedAt
    report.maxUsd = record.maxUsd
  }
  if (result.status === 'succeeded') report.output = result.output
  else report.reason = result.reason ?? 'failed'
  return report
}

/** The outcome of a job that failed before any attempt, from the market's reason. */
function classify (reason: string): JobOutcome {
  if (/no agent bid/i.test(reason)) return 'no-bids'
  if (/budget/i.test(reason)) return 'budget'
  if (/deadline/i.test(reason)) return 'deadline'
  return 'refused'
}

/** What one failed job says to the jobs it takes down with it. */
export function failureSummary (report: JobReport): string {
  const last = report.attempts.at(-1)
  if (last?.outcome != null && report.outcome === last.outcome) {
    return `${last.outcome}${last.reason != null && last.reason !== last.outcome ? ` (${last.reason})` : ''}`
  }
  const reason = (report.reason ?? '').replace(/^not (started|submitted): /, '')
  return reason === '' ? report.outcome : `${report.outcome} (${reason})`
}

/**
 * The time a job would be allowed from its submission, when that is known in advance
 * (relative deadlines); the report shows it for jobs that never started too.
 */
function allowedMs (spec: Spec, job: WorkflowJob): number | undefined {
  const limits = [spec.deadline, job.deadline].filter(d => typeof d === 'number').map(d => Math.round(d * 1000))
  return limits.length > 0 ? Math.min(...limits) : undefined
}

/** The most a job can cost: its spec's budget, else its price ceiling times its attempts. */
function worstCaseUsd (spec: Spec, job: WorkflowJob): number {
  if (spec.budget != null) return spec.budget.maxUsd
  const ceiling = job.maxUsd ?? spec.costUsd ?? 0
  return ceiling * (1 + (spec.capacity?.maxRetries ?? 0))
}

function buildReport (workflow: Workflow, jobs: JobReport[], startedAt: number, endedAt: number): WorkflowReport {
  const count = (status: JobStatus): number => jobs.filter(j => j.status === status).length
  const totals: WorkflowReport['totals'] = {
    jobs: jobs.length,
    succeeded: count('succeeded'),
    failed: count('failed'),
    cancelled: count('cancelled'),
    submitted: jobs.filter(j => j.jobId != null).length,
    costUsd: round(jobs.reduce((sum, j) => sum + j.costUsd, 0)),
    budgetUsd: round(jobs.reduce((sum, j) => sum + (j.budgetUsd ?? 0), 0)),
    overBudget: jobs.filter(j => j.budgetUsd != null && j.costUsd > j.budgetUsd + 1e-9).map(j => j.id)
  }
  if (workflow.maxUsd != null) totals.maxUsd = workflow.maxUsd
  return {
    name: workflow.name,
    status: totals.succeeded === totals.jobs ? 'succeeded' : 'failed',
    startedAt,
    endedAt,
    durationMs: endedAt - startedAt,
    jobs,
    totals
  }
}

function round (n: number): number {
  return Math.round(n * 1e9) / 1e9
}

function usd (n: number): string {
  return `$${n.toFixed(2)}`
}
