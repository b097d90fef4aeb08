import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bidWindowProblem } from '../../market/messages.ts'
import { badRequest } from '../errors.ts'
import { pageHeaders, pageNewestFirst, pageRequest } from '../paging.ts'
import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Where the daemon keeps the report of every workflow run, under its data folder. */
export const WORKFLOW_RUNS_DIR = 'workflow-runs'

/** One saved workflow run, as GET /v1/workflows lists it; the file holds the whole report. */
export interface WorkflowRunSummary {
  name: string
  status: string
  startedAt: number
  durationMs: number
  totals: unknown
  savedTo: string
}

/**
 * Run a workflow on the daemon's node. The body is the workflow object, exactly as in a
 * workflow file (the CLI sends it parsed); the answer, once every job has ended or been
 * cancelled, is the report — 200 whether the workflow succeeded or not (its `status`
 * says which), 400 with every problem when it is invalid or names specs the node does
 * not hold (then nothing has run). `?bidWindowMs=N` sets the bid window of jobs that set
 * none. The report is also saved as `<home>/workflow-runs/<time>-<name>.json`, named in
 * the answer's `savedTo`.
 */
export function workflowRoutes ({ node }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/workflows',
      // The saved reports, newest first by their file names (which start with the run's start time).
      handler: async ({ query }) => {
        const req = pageRequest(query)
        const dir = join(node.home, WORKFLOW_RUNS_DIR)
        const files = (await readdir(dir).catch(() => [] as string[])).filter(f => f.endsWith('.json')).sort()
        const page = pageNewestFirst(files, f => f, req)
        const runs: WorkflowRunSummary[] = []
        for (const file of page.items) {
          const report = JSON.parse(await readFile(join(dir, file), 'utf8').catch(() => 'null')) as Record<string, unknown> | null
          if (report == null) continue
          runs.push({ name: String(report.name), status: String(report.status), startedAt: Number(report.startedAt), durationMs: Number(report.durationMs), totals: report.totals, savedTo: join(dir, file) })
        }
        return { body: runs, headers: pageHeaders(page) }
      }
    },
    {
      method: 'POST',
      path: '/v1/workflows/run',
      handler: async ({ body, query }) => {
        if (body == null || typeof body !== 'object' || Array.isArray(body)) {
          throw badRequest('invalid_workflow', 'the request body must be a workflow: a JSON object with a name and a list of jobs')
        }
        const options: { bidWindowMs?: number } = {}
        const window = query.get('bidWindowMs')
        if (window != null) {
          const ms = Number(window)
          const problem = bidWindowProblem(/^\d+$/.test(window) ? ms : NaN, window)
          if (problem != null) throw badRequest('invalid_request', `bidWindowMs=${problem}`, [{ path: 'bidWindowMs', message: problem }])
          options.bidWindowMs = ms
        }
        const { runWorkflow } = await import('../../workflow/runner.ts')
        let report
        try {
          report = await runWorkflow(node, body, options)
        } catch (err) {
          const e = err as Error & { problems?: Array<{ path: string, message: string }> }
          if (e.name === 'WorkflowValidationError' && Array.isArray(e.problems)) throw badRequest('invalid_workflow', e.message, e.problems)
          throw err
        }
        const dir = join(node.home, WORKFLOW_RUNS_DIR)
        const file = join(dir, `${new Date(report.startedAt).toISOString().replace(/[:.]/g, '-')}-${report.name}.json`)
        let savedTo: string | undefined
        try {
          await mkdir(dir, { recursive: true })
          await writeFile(file, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 })
          savedTo = file
        } catch {
          // The run happened and the caller gets its report either way; a full disk must not hide it.
        }
        return { body: savedTo != null ? { ...report, savedTo } : report }
      }
    }
  ]
}
