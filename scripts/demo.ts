/**
 * `npm run demo`: the article's scenario on a local mesh. One coordinator and three agent
 * nodes (Audio, NLP, Summ) run examples/workflows/article-pipeline.yaml twice:
 *
 *   Run 1: every agent is healthy, and all three jobs succeed.
 *   Run 2: the Audio agent's server is slow (8 minutes for a 5-minute deadline): it is
 *          aborted at its 5-minute mark, NLP and Summ are never started, and no agent
 *          exceeds its budget.
 *
 * Time is scaled down (MINUTE_MS of real time per article minute). The demo checks
 * itself and exits 1 when either run does not behave as stated.
 */
import { join, relative } from 'node:path'
import { loadSpecFile, type Spec } from '../src/spec/index.ts'
import type { Node } from '../src/node.ts'
import { loadWorkflowFile, runWorkflow, formatReport, verdict, money, duration, type WorkflowReport, type WorkflowEvent, type FormatOptions, type Workflow } from '../src/workflow/index.ts'
import { audioHandler, nlpHandler, summHandler, type AgentBehaviour } from './demo/handlers.ts'
import { startDemoMesh, until } from './demo/mesh.ts'

/** Real milliseconds per article minute. */
const MINUTE_MS = 200
/** How long the coordinator collects bids for each job: part of each job's deadline. */
const BID_WINDOW_MS = 250
/** How far from its 5-minute mark the Audio agent's abort may land and still count as "at" it. */
const ABORT_TOLERANCE_MS = MINUTE_MS / 2

const ROOT = join(import.meta.dirname, '..')
const WORKFLOW_FILE = join(ROOT, 'examples/workflows/article-pipeline.yaml')
const SPEC_DIR = join(ROOT, 'scripts/demo/specs')

const minutes = (n: number): number => n * MINUTE_MS
const time: FormatOptions['timeUnit'] = { ms: MINUTE_MS, name: 'min' }

interface Stage {
  /** The job id in the workflow file. */
  job: 'audio' | 'nlp' | 'summ'
  agentName: string
  specFile: string
  /** How long the work takes when the agent is healthy, in article minutes. */
  healthyMinutes: number
  behaviour: AgentBehaviour
  node?: Node
  specId?: string
  spec?: Spec
}

const stages: Stage[] = [
  { job: 'audio', agentName: 'audio-agent', specFile: 'transcribe-video.yaml', healthyMinutes: 2, behaviour: { workMs: minutes(2), calls: [] } },
  { job: 'nlp', agentName: 'nlp-agent', specFile: 'extract-topics.yaml', healthyMinutes: 1, behaviour: { workMs: minutes(1), calls: [] } },
  { job: 'summ', agentName: 'summ-agent', specFile: 'write-summary.yaml', healthyMinutes: 0.5, behaviour: { workMs: minutes(0.5), calls: [] } }
]
const handlers = { audio: audioHandler, nlp: nlpHandler, summ: summHandler }

interface Check {
  ok: boolean
  text: string
}
const allChecks: Check[] = []

function check (checks: Check[], ok: boolean, text: string): void {
  checks.push({ ok, text })
  allChecks.push({ ok, text })
}

const out = (line = ''): void => { process.stdout.write(`${line}\n`) }

/** The spec in article units, with every duration compressed to demo time. */
function scaled (spec: Spec): Spec {
  const factor = MINUTE_MS / 60_000
  const s = (seconds: number): number => Math.round(seconds * factor * 1000) / 1000
  const copy = structuredClone(spec)
  if (typeof copy.deadline === 'number') copy.deadline = s(copy.deadline)
  if (typeof copy.softDeadline === 'number') copy.softDeadline = s(copy.softDeadline)
  if (copy.executionWindow != null) copy.executionWindow = s(copy.executionWindow)
  if (copy.capacity?.timeoutSeconds != null) copy.capacity.timeoutSeconds = s(copy.capacity.timeoutSeconds)
  return copy
}

function article (spec: Spec): string {
  const parts = [`${money(spec.costUsd ?? 0)}`, `deadline ${typeof spec.deadline === 'number' ? `${spec.deadline / 60} min` : String(spec.deadline)}`]
  if (spec.budget != null) parts.push(`budget ${money(spec.budget.maxUsd)}`)
  if (spec.capacity?.maxConcurrentRequests != null) parts.push(`max ${spec.capacity.maxConcurrentRequests} concurrent`)
  return parts.join(', ')
}

async function main (): Promise<number> {
  out('specmesh demo: the article\'s Audio → NLP → Summ pipeline, on a local mesh')
  out(`time is scaled down: 1 article minute = ${MINUTE_MS} ms of real time (a 5-minute deadline is ${minutes(5) / 1000} s); every time below is in article minutes`)
  out()

  const mesh = await startDemoMesh(4)
  try {
    const [coordinator, ...agents] = mesh.nodes as [Node, Node, Node, Node]
    const agentNames = new Map<string, string>()
    stages.forEach((stage, i) => {
      stage.node = agents[i]
      agentNames.set(agents[i]!.peerId, stage.agentName)
    })
    out(`mesh: 1 coordinator + 3 agents on 127.0.0.1 (coordinator ${coordinator.peerId.slice(-8)}, ${stages.map(s => `${s.agentName} ${s.node!.peerId.slice(-8)}`).join(', ')})`)

    out('specs (article units; published with durations scaled):')
    for (const stage of stages) {
      const file = join(SPEC_DIR, stage.specFile)
      const spec = await loadSpecFile(file)
      const stored = await coordinator.publishSpec(scaled(spec))
      stage.specId = stored.id
      stage.spec = stored.spec
      out(`  ${spec.name.padEnd(17)} ${article(spec).padEnd(54)} ${relative(ROOT, file)}`)
    }
    await until(async () => (await Promise.all(mesh.nodes.flatMap(n => stages.map(s => n.getSpec(s.specId!))))).every(Boolean), 'every spec on every node')
    for (const stage of stages) {
      await stage.node!.serve(stage.specId!, handlers[stage.job](stage.behaviour), {
        priceUsd: stage.spec!.costUsd,
        estimatedMs: minutes(stage.healthyMinutes),
        concurrency: stage.spec!.capacity?.maxConcurrentRequests
      })
    }
    out(`agents: ${stages.map(s => `${s.agentName} serves ${s.spec!.name} at ${money(s.spec!.costUsd ?? 0)}`).join('; ')}`)
    const workflow = await loadWorkflowFile(WORKFLOW_FILE)
    out(`workflow: ${relative(ROOT, WORKFLOW_FILE)} (${workflow.jobs.map(j => j.id).join(' → ')}); bids are collected for ${BID_WINDOW_MS / MINUTE_MS} min of each job's deadline`)

    const format: FormatOptions = { timeUnit: time, agentName: id => agentNames.get(id) ?? id.slice(-8), noteWidth: 110 }

    // Run 1: all healthy.
    out()
    out(`== Run 1: every agent is healthy (Audio takes ${stages[0]!.healthyMinutes} min, NLP ${stages[1]!.healthyMinutes} min, Summ ${stages[2]!.healthyMinutes} min) ==`)
    const run1 = await run(coordinator, workflow, format)
    checkRun1(run1.report, run1.checks, agentNames)
    printChecks(run1.checks)

    // Run 2: the Audio agent's server is slow.
    out()
    out('== Run 2: the Audio agent\'s server is slow: transcribing takes 8 min against a 5-minute deadline ==')
    stages[0]!.behaviour.workMs = minutes(8)
    const before = { jobs: (await coordinator.listJobs()).length, calls: stages.map(s => s.behaviour.calls.length) }
    const run2 = await run(coordinator, workflow, format)
    await checkRun2(run2.report, run2.checks, coordinator, before)
    await checkBudgets(run2.checks, coordinator)
    printChecks(run2.checks)

    out()
    const failed = allChecks.filter(c => !c.ok)
    if (failed.length === 0) {
      out(`demo: OK, both runs behaved as the article says (${allChecks.length}/${allChecks.length} checks passed)`)
      return 0
    }
    out(`demo: FAILED, ${failed.length} of ${allChecks.length} checks did not hold:`)
    for (const c of failed) out(`  - ${c.text}`)
    return 1
  } finally {
    await mesh.stop()
  }
}

async function run (coordinator: Node, workflow: Workflow, format: FormatOptions): Promise<{ report: WorkflowReport, checks: Check[] }> {
  const t0 = Date.now()
  const at = (ms: number): string => `[${duration(ms - t0, format, false).padStart(7)}]`
  const onEvent = (e: WorkflowEvent): void => {
    if (e.type === 'job.started') {
      out(`  ${at(e.at)} ${e.job}: submitted to the market`)
      return
    }
    const r = e.report
    const who = r.agent != null ? ` by ${format.agentName!(r.agent)}` : ''
    const what = r.status === 'succeeded'
      ? `succeeded${who}, ${money(r.costUsd)}`
      : r.status === 'failed'
        ? `FAILED (${r.outcome})${who}, ${money(r.costUsd)} charged`
        : `cancelled: ${r.reason}`
    out(`  ${at(r.endedAt ?? e.at)} ${e.job}: ${what}`)
  }
  const report = await runWorkflow(coordinator, workflow, { bidWindowMs: BID_WINDOW_MS, onEvent })
  out()
  for (const line of formatReport(report, format)) out(line === '' ? '' : `  ${line}`)
  out()
  const summary = report.jobs.find(j => j.id === 'summ')?.output as { summary?: string } | undefined
  if (summary?.summary != null) out(`  summ's output: ${JSON.stringify(summary.summary)}`)
  out(wrap(`verdict: ${verdict(report, format)}`, 96, '  '))
  return { report, checks: [] }
}

function checkRun1 (report: WorkflowReport, checks: Check[], agentNames: Map<string, string>): void {
  check(checks, report.status === 'succeeded' && report.totals.succeeded === 3, `run 1: all three jobs succeeded (${report.totals.succeeded}/3)`)
  for (const job of report.jobs) {
    const stage = stages.find(s => s.job === job.id)!
    check(checks, job.agent != null && agentNames.get(job.agent) === stage.agentName, `run 1: ${job.id} was done by ${stage.agentName}`)
    check(checks, job.durationMs != null && job.deadlineMs != null && job.durationMs <= job.deadlineMs,
      `run 1: ${job.id} finished within its deadline (${job.durationMs != null ? duration(job.durationMs, { timeUnit: time }, false) : '?'} of ${job.deadlineMs != null ? duration(job.deadlineMs, { timeUnit: time }) : '?'})`)
  }
  check(checks, Math.abs(report.totals.costUsd - 0.30) < 1e-9, `run 1: cost $0.10 + $0.05 + $0.15 = $0.30 (${money(report.totals.costUsd)})`)
}

async function checkRun2 (report: WorkflowReport, checks: Check[], coordinator: Node, before: { jobs: number, calls: number[] }): Promise<void> {
  const [audio, nlp, summ] = ['audio', 'nlp', 'summ'].map(id => report.jobs.find(j => j.id === id)!) as [typeof report.jobs[0], typeof report.jobs[0], typeof report.jobs[0]]
  check(checks, report.status === 'failed', 'run 2: the workflow is reported as failed')
  check(checks, audio.status === 'failed' && audio.outcome === 'timeout', `run 2: audio failed with a timeout (${audio.status}, ${audio.outcome})`)

  const call = stages[0]!.behaviour.calls.at(-1)
  const mark = audio.startedAt != null && audio.deadlineMs != null ? audio.startedAt + audio.deadlineMs : NaN
  const abortedAt = call?.abortedAt
  const early = abortedAt != null ? abortedAt - mark : NaN
  check(checks, call != null && stages[0]!.behaviour.calls.length === before.calls[0]! + 1 && abortedAt != null && early >= -10 && early <= ABORT_TOLERANCE_MS,
    `run 2: the Audio agent was aborted at its 5-minute mark (at ${abortedAt != null && audio.startedAt != null ? duration(abortedAt - audio.startedAt, { timeUnit: time }, false) : 'never'}, by the node: ${call?.abortReason ?? 'no abort'})`)
  check(checks, call?.endedAt != null && call.endedAt - call.startedAt < minutes(8) - minutes(1),
    'run 2: the Audio agent did not go on to spend its 8 minutes')
  check(checks, audio.durationMs != null && audio.deadlineMs != null && audio.durationMs <= audio.deadlineMs + ABORT_TOLERANCE_MS,
    `run 2: the coordinator recorded the failure at the deadline (${audio.durationMs != null ? duration(audio.durationMs, { timeUnit: time }, false) : '?'} of 5 min)`)

  for (const job of [nlp, summ]) {
    check(checks, job.status === 'cancelled' && job.cause?.job === 'audio' && job.jobId == null && job.costUsd === 0,
      `run 2: ${job.id} was cancelled, never submitted, $0 spent (${job.reason ?? job.status})`)
  }
  const newJobs = (await coordinator.listJobs()).slice().sort((a, b) => a.submittedAt - b.submittedAt).slice(before.jobs)
  const specOf = (job: string): string => stages.find(s => s.job === job)!.specId!
  check(checks, newJobs.length === 1 && newJobs[0]!.specId === specOf('audio'),
    `run 2: the coordinator submitted exactly one job, for audio (${newJobs.map(j => j.specName).join(', ') || 'none'})`)
  check(checks, stages[1]!.behaviour.calls.length === before.calls[1] && stages[2]!.behaviour.calls.length === before.calls[2],
    'run 2: the NLP and Summ agents were never called')
  check(checks, report.totals.costUsd === 0, `run 2: nothing was charged: a timeout delivers nothing (${money(report.totals.costUsd)})`)
}

/** Across both runs: every job and every receipt within its spec's budget. */
async function checkBudgets (checks: Check[], coordinator: Node): Promise<void> {
  const budgets = new Map(stages.map(s => [s.specId!, s.spec!.budget?.maxUsd ?? Infinity]))
  const jobs = await coordinator.listJobs()
  const over = jobs.filter(j => j.costUsd > (budgets.get(j.specId) ?? Infinity) + 1e-9)
  const receipts = await coordinator.listReceipts()
  const overReceipts = receipts.filter(r => r.envelope.body.costUsd > (budgets.get(r.envelope.body.specId) ?? Infinity) + 1e-9)
  check(checks, over.length === 0 && overReceipts.length === 0,
    `both runs: no agent exceeded its budget (${jobs.length} jobs, ${receipts.length} receipts, each within its spec's budget.maxUsd)`)
}

function printChecks (checks: Check[]): void {
  out()
  out('  checks:')
  for (const c of checks) out(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.text}`)
}

function wrap (text: string, width: number, indent: string): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(indent + line)
  return lines.join('\n')
}

main().then(code => {
  process.exitCode = code
}, err => {
  process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}).finally(() => {
  // libp2p can leave a timer or two behind after stop; the demo is over either way.
  setTimeout(() => process.exit(), 200).unref()
})
