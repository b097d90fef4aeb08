import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import { runCli } from '../../src/cli/main.ts'
import { parseWorkflowText, runWorkflow, type JobReport } from '../../src/workflow/index.ts'
import { startMesh, stopAll, waitForAdverts, type TestNode } from '../helpers/mesh.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
let server: ApiServer | undefined
let tmp: string | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  await stopAll(nodes)
  nodes = []
  if (tmp != null) await rm(tmp, { recursive: true, force: true })
  tmp = undefined
})

/** A stage spec: `{ text }` in, `{ text }` out, one paid attempt within its budget. */
function stageSpec (name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    version: '1.0',
    input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    output: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    successCriteria: ['size(output.text) > 0'],
    costUsd: 0.1,
    deadline: 10,
    budget: { maxUsd: 0.1 },
    capacity: { maxConcurrentRequests: 4, maxRetries: 0 },
    ...overrides
  }
}

/** A coordinator and `agents` agent nodes, every spec on every node (each spec's topics are joined as agents serve it and the coordinator submits to it). */
async function market (agentCount: number, specs: Record<string, Record<string, unknown>>) {
  nodes = await startMesh(agentCount + 1)
  const [coordinator, ...agents] = nodes as [TestNode, ...TestNode[]]
  const ids: Record<string, string> = {}
  for (const [name, spec] of Object.entries(specs)) ids[name] = (await coordinator.publishSpec(spec)).id
  await waitFor(async () => (await Promise.all(nodes.flatMap(n => Object.values(ids).map(id => n.getSpec(id))))).every(Boolean), { what: 'every spec on every node' })
  return { coordinator, agents, ids }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms)
  signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
})

/** A handler that takes `ms`, then appends its tag to the text; counts its calls. */
function stage (tag: string, ms: number, calls: string[] = []) {
  return async (input: unknown, { signal }: { signal: AbortSignal }) => {
    calls.push(tag)
    await sleep(ms, signal)
    return { text: `${(input as { text: string }).text}>${tag}` }
  }
}

/**
 * Wait until the coordinator holds an agent's capacity advert for each spec:
 * with short bid windows and deadlines, a stage whose agent is not yet heard
 * of would fail "no agent bid" instead of the way the test means it to.
 */
async function advertised (coordinator: TestNode, ids: Record<string, string>): Promise<void> {
  for (const id of Object.values(ids)) await waitForAdverts(coordinator, id, 1)
}

const byId = (jobs: JobReport[]): Record<string, JobReport> => Object.fromEntries(jobs.map(j => [j.id, j]))

describe('workflows on real nodes', () => {
  it('a three-stage workflow cancels its dependents when a stage times out, spends nothing on them, and lets an independent branch finish', async () => {
    const { coordinator, agents, ids } = await market(3, {
      transcribe: stageSpec('transcribe', { deadline: 2 }),
      topics: stageSpec('topics', { costUsd: 0.05, budget: { maxUsd: 0.05 } }),
      summary: stageSpec('summary', { costUsd: 0.15, budget: { maxUsd: 0.15 } }),
      thumbnail: stageSpec('thumbnail')
    })
    const calls: string[] = []
    let abortedAt: number | undefined
    // The first stage never ends of itself; its deadline is 2 s from submission. (At 0.6 s a loaded machine
    // sometimes had not started the handler yet when the deadline passed: no handler, nothing to abort.)
    await agents[0]!.serve(ids.transcribe!, async (_input, { signal }) => {
      calls.push('transcribe')
      signal.addEventListener('abort', () => { abortedAt = Date.now() }, { once: true })
      await sleep(600_000, signal)
      return { text: 'too late' }
    }, { priceUsd: 0.1, estimatedMs: 100 })
    await agents[1]!.serve(ids.topics!, stage('topics', 10, calls), { priceUsd: 0.05, estimatedMs: 50 })
    await agents[2]!.serve(ids.summary!, stage('summary', 10, calls), { priceUsd: 0.15, estimatedMs: 50 })
    // Outlasts the first stage's deadline: the independent branch is still running when the failure cancels the others.
    await agents[2]!.serve(ids.thumbnail!, stage('thumbnail', 2600, calls), { priceUsd: 0.1, estimatedMs: 100 })
    await advertised(coordinator, ids)

    const workflow = parseWorkflowText(`
name: three-stage
jobs:
  - { id: audio, spec: transcribe, input: { text: video } }
  - { id: nlp, spec: topics, input: { text: "\${audio.output.text}" } }
  - { id: summ, spec: summary, input: { text: "\${nlp.output.text}" } }
  - { id: thumb, spec: thumbnail, input: { text: video } }
`)
    const report = await runWorkflow(coordinator, workflow, { bidWindowMs: 150 })
    const jobs = byId(report.jobs)

    expect(report.status).toBe('failed')
    expect(jobs.audio).toMatchObject({ status: 'failed', outcome: 'timeout', agent: agents[0]!.peerId, costUsd: 0, budgetUsd: 0.1, deadlineMs: 2000 })
    // At the deadline, not whenever the handler would have ended (never).
    expect(jobs.audio!.durationMs!).toBeGreaterThanOrEqual(2000)
    expect(jobs.audio!.durationMs!).toBeLessThan(2000 + 1000)
    await waitFor(() => abortedAt != null, { what: `the first stage's handler to be aborted (handlers called: ${calls.join(', ')})` })

    expect(jobs.nlp).toMatchObject({ status: 'cancelled', outcome: 'dependency-failed', cause: { job: 'audio', via: [] }, costUsd: 0 })
    expect(jobs.nlp!.reason).toMatch(/^not started: dependency audio failed: timeout/)
    expect(jobs.summ).toMatchObject({ status: 'cancelled', cause: { job: 'audio', via: ['nlp'] }, costUsd: 0 })
    expect(jobs.summ!.reason).toMatch(/^not started: dependency audio failed \(via nlp\): timeout/)
    expect(jobs.nlp!.jobId).toBeUndefined()
    expect(jobs.summ!.jobId).toBeUndefined()

    // The independent branch ran to the end, past the failure.
    expect(jobs.thumb).toMatchObject({ status: 'succeeded', costUsd: 0.1, output: { text: 'video>thumbnail' } })
    expect(jobs.thumb!.endedAt!).toBeGreaterThan(jobs.audio!.endedAt!)

    // Nothing was submitted for the cancelled stages, so nothing could be spent on them.
    const submitted = await coordinator.listJobs()
    expect(submitted.map(j => j.specId).sort()).toEqual([ids.transcribe, ids.thumbnail].sort())
    expect(submitted.find(j => j.specId === ids.transcribe)!.costUsd).toBe(0)
    const receipts = await coordinator.listReceipts()
    expect(receipts.filter(r => r.envelope.body.specId === ids.topics || r.envelope.body.specId === ids.summary)).toEqual([])
    expect(calls.sort()).toEqual(['thumbnail', 'transcribe'])
    expect(report.totals).toMatchObject({ jobs: 4, succeeded: 1, failed: 1, cancelled: 2, submitted: 2, costUsd: 0.1, budgetUsd: 0.4, overBudget: [] })
  })

  it('a middle stage that fails its criteria is charged for what it delivered, and only what follows it is cancelled', async () => {
    const { coordinator, agents, ids } = await market(3, {
      first: stageSpec('first'),
      second: stageSpec('second', { successCriteria: ['output.text.startsWith("ok")'], costUsd: 0.05, budget: { maxUsd: 0.05 } }),
      third: stageSpec('third')
    })
    const calls: string[] = []
    await agents[0]!.serve(ids.first!, stage('first', 10, calls), { priceUsd: 0.1, estimatedMs: 50 })
    await agents[1]!.serve(ids.second!, stage('second', 10, calls), { priceUsd: 0.05, estimatedMs: 50 })
    await agents[2]!.serve(ids.third!, stage('third', 10, calls), { priceUsd: 0.1, estimatedMs: 50 })
    await advertised(coordinator, ids)
    const report = await runWorkflow(coordinator, parseWorkflowText(`
name: criteria
jobs:
  - { id: a, spec: first, input: { text: x } }
  - { id: b, spec: second, input: { text: "\${a.output.text}" } }
  - { id: c, spec: third, input: { text: "\${b.output.text}" } }
`), { bidWindowMs: 150 })
    const jobs = byId(report.jobs)
    expect(jobs.a).toMatchObject({ status: 'succeeded', costUsd: 0.1 })
    expect(jobs.b).toMatchObject({ status: 'failed', outcome: 'criteria-failed', costUsd: 0.05 })
    expect(jobs.c).toMatchObject({ status: 'cancelled', costUsd: 0, cause: { job: 'b', via: [] } })
    expect(jobs.c!.reason).toMatch(/^not started: dependency b failed: criteria-failed \(.*startsWith/)
    expect(calls).toEqual(['first', 'second'])
    expect((await coordinator.listJobs()).map(j => j.specId).sort()).toEqual([ids.first, ids.second].sort())
    expect(report.totals.costUsd).toBeCloseTo(0.15)
  })

  it('a diamond runs its two middle branches in parallel, and the join after both', async () => {
    const { coordinator, agents, ids } = await market(3, {
      top: stageSpec('top'),
      left: stageSpec('left'),
      right: stageSpec('right'),
      join: stageSpec('join', {
        input: { type: 'object', properties: { text: { type: 'string' }, parts: { type: 'array', items: { type: 'string' }, minItems: 2 } }, required: ['text', 'parts'] }
      })
    })
    await agents[0]!.serve(ids.top!, stage('top', 200), { priceUsd: 0.1, estimatedMs: 250 })
    await agents[1]!.serve(ids.left!, stage('left', 200), { priceUsd: 0.1, estimatedMs: 250 })
    await agents[2]!.serve(ids.right!, stage('right', 200), { priceUsd: 0.1, estimatedMs: 250 })
    await agents[0]!.serve(ids.join!, async input => {
      const { parts } = input as { parts: string[] }
      await new Promise(resolve => setTimeout(resolve, 200))
      return { text: parts.join('+') }
    }, { priceUsd: 0.1, estimatedMs: 250 })
    await advertised(coordinator, ids)

    const report = await runWorkflow(coordinator, parseWorkflowText(`
name: diamond
jobs:
  - { id: A, spec: top, input: { text: a } }
  - { id: B, spec: left, input: { text: "\${A.output.text}" } }
  - { id: C, spec: right, input: { text: "\${A.output.text}" } }
  - id: D
    spec: join
    input:
      text: both
      parts: ["\${B.output.text}", "\${C.output.text}"]
`), { bidWindowMs: 100 })

    expect(report.status).toBe('succeeded')
    const jobs = byId(report.jobs)
    expect(jobs.D!.output).toEqual({ text: 'a>top>left+a>top>right' })
    expect(jobs.D!.dependencies).toEqual(['B', 'C'])
    const run = (id: string): { startedAt: number, endedAt: number } => {
      const attempt = jobs[id]!.attempts.at(-1)!
      return { startedAt: attempt.startedAt!, endedAt: attempt.endedAt! }
    }
    const [A, B, C, D] = ['A', 'B', 'C', 'D'].map(run) as [ReturnType<typeof run>, ReturnType<typeof run>, ReturnType<typeof run>, ReturnType<typeof run>]
    for (const x of [A, B, C, D]) expect(x.endedAt - x.startedAt).toBeGreaterThanOrEqual(195)
    // B and C execute at the same time: each starts before the other ends.
    expect(B.startedAt).toBeLessThan(C.endedAt)
    expect(C.startedAt).toBeLessThan(B.endedAt)
    // Both started only after A ended, and D only after both ended.
    expect(Math.min(B.startedAt, C.startedAt)).toBeGreaterThanOrEqual(A.endedAt)
    expect(D.startedAt).toBeGreaterThanOrEqual(Math.max(B.endedAt, C.endedAt))
    // So the workflow took three stages' time, not four: B and C overlap (above). A bound on the
    // wall-clock total (it was 1,300 ms) said no more and failed under load at 1,310 ms.
    expect(report.totals).toMatchObject({ succeeded: 4, costUsd: 0.4 })
  })

  it('runs through the daemon API: `specmesh workflow run FILE --json` returns the report and exits 0; a wrong spec name exits 1 having run nothing', async () => {
    const { coordinator, agents, ids } = await market(1, { first: stageSpec('first'), second: stageSpec('second') })
    await agents[0]!.serve(ids.first!, stage('first', 10), { priceUsd: 0.1, estimatedMs: 50 })
    await agents[0]!.serve(ids.second!, stage('second', 10), { priceUsd: 0.1, estimatedMs: 50 })
    server = await startApiServer({ node: coordinator, home: coordinator.home })
    tmp = await mkdtemp(join(tmpdir(), 'specmesh-wf-'))
    const file = join(tmp, 'pipeline.yaml')
    await writeFile(file, `name: pipeline\njobs:\n  - { id: a, spec: first, input: { text: x } }\n  - { id: b, spec: second, input: { text: "\${a.output.text}" } }\n`)

    const cli = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => {
      let stdout = ''
      let stderr = ''
      const code = await runCli(args, { stdout: t => { stdout += t }, stderr: t => { stderr += t }, env: {} })
      return { code, stdout, stderr }
    }
    const json = await cli(['workflow', 'run', file, '--home', coordinator.home, '--json', '--bid-window', '150'])
    expect(json.stderr).toBe('')
    expect(json.code).toBe(0)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({ name: 'pipeline', status: 'succeeded', totals: { succeeded: 2, costUsd: 0.2 } })
    expect(report.jobs[1].output).toEqual({ text: 'x>first>second' })
    expect(JSON.parse(await readFile(report.savedTo, 'utf8')).name).toBe('pipeline')

    const human = await cli(['workflow', 'run', file, '--home', coordinator.home, '--bid-window', '150'])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^workflow pipeline: SUCCEEDED \(2 succeeded\)/)
    expect(human.stdout).toMatch(/^b\s+second\s+succeeded\s+…\S{8}\s+\d+ ms \/ 10 s\s+\$0\.10 \/ \$0\.10/m)
    expect(human.stdout).toMatch(/All 2 jobs succeeded, each within its deadline/)

    const before = (await coordinator.listJobs()).length
    await writeFile(file, 'name: pipeline\njobs:\n  - { id: a, spec: frist, input: { text: x } }\n')
    const wrong = await cli(['workflow', 'run', file, '--home', coordinator.home])
    expect(wrong.code).toBe(1)
    expect(wrong.stdout).toBe(`${file}: jobs[0].spec: this node holds no spec named "frist" (it holds "first", "second"); publish it first (specmesh spec publish FILE), or write its id\n`)
    expect((await coordinator.listJobs()).length).toBe(before)
  })
})
