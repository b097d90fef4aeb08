import { ApiClient, ApiRequestError } from '../../api/client.ts'
import type { CliIO, Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { bidWindowProblem } from '../../market/messages.ts'
import { printJson, printLines } from '../output.ts'

interface Problem {
  path: string
  message: string
}

/** How long `workflow run` waits for the daemon's answer by default: the run is bounded by its jobs' deadlines. */
const DEFAULT_RUN_TIMEOUT = '1h'

/** A workflow file that failed to load or validate, carrying every problem found. */
class WorkflowProblemsError extends Error {
  override name = 'WorkflowProblemsError'
  readonly problems: Problem[]
  constructor (file: string, problems: Problem[]) {
    super(`${file} is not a valid workflow (${problems.length} problem${problems.length === 1 ? '' : 's'})`)
    this.problems = problems
  }
}

/** Load and validate a workflow file offline (loads the workflow module only when used). */
async function loadWorkflow (file: string): Promise<import('../../workflow/index.ts').Workflow> {
  const { loadWorkflowFile } = await import('../../workflow/index.ts')
  try {
    return await loadWorkflowFile(file)
  } catch (err) {
    const e = err as Error & { problems?: Problem[] }
    if (e.name === 'WorkflowValidationError' && Array.isArray(e.problems)) throw new WorkflowProblemsError(file, e.problems)
    if (e.name === 'WorkflowFileError') throw new WorkflowProblemsError(file, [{ path: '', message: e.message.replace(`cannot read workflow file ${file}: `, 'cannot read: ') }])
    throw err
  }
}

/** `FILE: path: message`, one line per problem, the way compilers report. */
function reportProblems (io: CliIO, json: boolean, file: string, err: { message: string, problems: Problem[] }): number {
  if (json) printJson(io, { error: { code: 'invalid_workflow', message: err.message, problems: err.problems } })
  else printLines(io, err.problems.map(p => p.path === '' ? `${file}: ${p.message}` : `${file}: ${p.path}: ${p.message}`))
  return 1
}

const validateCommand: Command = {
  name: 'validate',
  summary: 'check a workflow file offline (no daemon needed)',
  description: [
    'Parse and validate a workflow file without contacting any daemon: field shapes, references,',
    'unique ids, known dependencies, no cycles. Prints the jobs in an order they can run in;',
    'otherwise one line per problem, "FILE: path: message", and exit code 1. Whether the specs',
    'exist is checked by `workflow run`, on the node.'
  ].join('\n'),
  args: [{ name: 'FILE', description: 'workflow file, .yaml/.yml or .json' }],
  examples: ['specmesh workflow validate examples/workflows/article-pipeline.yaml'],
  run: async ({ args, json, io }) => {
    const file = args[0]!
    let workflow
    try {
      workflow = await loadWorkflow(file)
    } catch (err) {
      if (err instanceof WorkflowProblemsError) return reportProblems(io, json, file, err)
      throw err
    }
    const { workflowGraph, topologicalOrder } = await import('../../workflow/index.ts')
    const graph = workflowGraph(workflow)
    if (json) {
      printJson(io, { ok: true, file, workflow, dependencies: Object.fromEntries(graph) })
      return 0
    }
    printLines(io, [
      `ok ${workflow.name}: ${workflow.jobs.length} job${workflow.jobs.length === 1 ? '' : 's'}`,
      ...topologicalOrder(graph).map(id => {
        const deps = graph.get(id)!
        return `  ${id}  (${workflow.jobs.find(j => j.id === id)!.spec})${deps.length > 0 ? `  after ${deps.join(', ')}` : ''}`
      })
    ])
    return 0
  }
}

const runCommand: Command = {
  name: 'run',
  summary: 'run a workflow on the running node and report each job',
  description: [
    'Validate a workflow file locally, then hand it to the running daemon, which runs it as a',
    'DAG on its node: each job starts as soon as every job it needs has succeeded (independent',
    'branches run in parallel), through the market, within its spec\'s deadline and budget.',
    'When a job fails, every job downstream of it is cancelled without being submitted, so',
    'nothing is spent on it; independent branches carry on.',
    '',
    'Prints one row per job: status, agent, time against deadline, cost against budget, and',
    'why it failed or was cancelled; --json prints the whole report. The daemon also saves the',
    'report under <home>/workflow-runs/. Exit code 0 when every job succeeded, 1 otherwise.',
    '',
    'A job\'s input may use the output of an earlier job: a value that is exactly',
    '"${JOB.output.key}" becomes that value, with its type (see examples/workflows/).'
  ].join('\n'),
  args: [{ name: 'FILE', description: 'workflow file, .yaml/.yml or .json' }],
  options: {
    'bid-window': { type: 'string', value: 'MS', description: 'how long bids are collected for jobs that set no bidWindowMs (default: the market\'s, 100)' },
    timeout: { type: 'string', value: 'DURATION', description: `how long to wait for the daemon to finish the run (default ${DEFAULT_RUN_TIMEOUT})` }
  },
  examples: [
    'specmesh workflow run examples/workflows/article-pipeline.yaml',
    'specmesh workflow run pipeline.yaml --home ./node-a --json'
  ],
  run: async ({ args, home, json, io, options, path }) => {
    const file = args[0]!
    const { parseDuration } = await import('../../spec/time.ts')
    const timeout = parseDuration(options.timeout ?? DEFAULT_RUN_TIMEOUT)
    if (!timeout.ok) throw new UsageError(`--timeout: ${timeout.message}`, path)
    let query = ''
    if (options['bid-window'] != null) {
      const ms = Number(options['bid-window'])
      const problem = bidWindowProblem(/^\d+$/.test(String(options['bid-window'])) ? ms : NaN, String(options['bid-window']))
      if (problem != null) throw new UsageError(`--bid-window ${problem}`, path)
      query = `?bidWindowMs=${ms}`
    }
    let workflow
    try {
      workflow = await loadWorkflow(file)
    } catch (err) {
      if (err instanceof WorkflowProblemsError) return reportProblems(io, json, file, err)
      throw err
    }
    if (!json) io.stderr(`running workflow ${workflow.name} (${workflow.jobs.length} job${workflow.jobs.length === 1 ? '' : 's'}) on the daemon…\n`)
    const client = new ApiClient({ home, timeoutMs: Math.round(timeout.value * 1000) })
    let report: import('../../workflow/index.ts').WorkflowReport & { savedTo?: string }
    try {
      report = await client.request('POST', `/v1/workflows/run${query}`, workflow) as typeof report
    } catch (err) {
      if (err instanceof ApiRequestError && err.problems != null) return reportProblems(io, json, file, { message: err.message, problems: err.problems })
      throw err
    }
    if (json) {
      printJson(io, report)
    } else {
      const { formatReport, verdict } = await import('../../workflow/index.ts')
      printLines(io, [...formatReport(report), '', verdict(report), ...(report.savedTo != null ? ['', `report saved to ${report.savedTo}`] : [])])
    }
    return report.status === 'succeeded' ? 0 : 1
  }
}

export const workflowCommand: Command = {
  name: 'workflow',
  summary: 'run DAGs of jobs whose inputs come from earlier jobs\' outputs',
  description: [
    'A workflow file names jobs, the spec each runs, and which outputs feed which inputs.',
    '`validate` works offline; `run` hands the workflow to the running daemon and waits for',
    'the report. The format is documented in examples/workflows/article-pipeline.yaml.'
  ].join('\n'),
  subcommands: [validateCommand, runCommand],
  examples: [
    'specmesh workflow validate examples/workflows/article-pipeline.yaml',
    'specmesh workflow run examples/workflows/article-pipeline.yaml',
    'specmesh workflow run examples/workflows/article-pipeline.yaml --json'
  ]
}
