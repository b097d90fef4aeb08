import { describe, expect, it } from 'vitest'
import type { JobRecord, JobResult, StoredSpec, SubmitOptions } from '../../../src/node-types.ts'
import { specId, validateSpec } from '../../../src/spec/index.ts'
import { formatReport, parseWorkflowText, runWorkflow, verdict, WorkflowValidationError, type WorkflowEvent, type WorkflowNode } from '../../../src/workflow/index.ts'

/**
 * The runner against a FAKE node: specs in a list, and per spec name a script saying how
 * a job of it ends. The real market is exercised in test/integration/workflow.test.ts;
 * here the point is the scheduling, cancellation and reporting logic, deterministically.
 */

function spec (name: string, overrides: Record<string, unknown> = {}): StoredSpec {
  const checked = validateSpec({
    name,
    input: { type: 'object' },
    output: { type: 'object' },
    costUsd: 0.1,
    deadline: 60,
    budget: { maxUsd: 0.1 },
    ...overrides
  })
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems))
  return { id: specId(checked.spec), spec: checked.spec, signer: 'me', sig: 'x', receivedAt: 0 }
}

type Script = (input: any) => Promise<{ ok: true, output: unknown, costUsd?: number } | { ok: false, outcome: string, reason: string, costUsd?: number }>

interface Submission { specName: string, input: unknown, options: SubmitOptions, at: number, endedAt?: number }

function fakeNode (specs: StoredSpec[], scripts: Record<string, Script>): WorkflowNode & { submissions: Submission[] } {
  const records = new Map<string, JobRecord>()
  const submissions: Submission[] = []
  let n = 0
  return {
    submissions,
    getSpec: async (id: string) => specs.find(s => s.id === id) ?? null,
    listSpecs: async () => specs,
    getJob: async (jobId: string) => records.get(jobId) ?? null,
    submitJob: async (id: string, input: unknown, options: SubmitOptions = {}): Promise<JobResult> => {
      const stored = specs.find(s => s.id === id)!
      const submission: Submission = { specName: stored.spec.name, input, options, at: Date.now() }
      submissions.push(submission)
      const jobId = `job-${++n}`
      const submittedAt = Date.now()
      const result = await scripts[stored.spec.name]!(input)
      submission.endedAt = Date.now()
      const attempts = [{ attempt: 1, agent: `agent-of-${stored.spec.name}`, bidId: 'b', awardId: 'a', priceUsd: 0.1, outcome: (result.ok ? 'success' : result.outcome) as never, reason: result.ok ? undefined : result.reason, startedAt: submittedAt, endedAt: Date.now() }]
      const record: JobRecord = { jobId, specId: id, specName: stored.spec.name, status: result.ok ? 'succeeded' : 'failed', submittedAt, finishedAt: Date.now(), deadline: submittedAt + 60_000, maxUsd: 0.1, inputHash: 'h', costUsd: result.costUsd ?? (result.ok ? 0.1 : 0), attempts }
      records.set(jobId, record)
      return result.ok
        ? { jobId, status: 'succeeded', output: result.output, costUsd: record.costUsd, attempts }
        : { jobId, status: 'failed', reason: `attempt 1 by agent-of-${stored.spec.name}: ${result.outcome} (${result.reason})`, costUsd: record.costUsd, attempts }
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const ok = (output: unknown, ms = 0): Script => async () => { await sleep(ms); return { ok: true, output } }
const fail = (outcome: string, reason: string, ms = 0): Script => async () => { await sleep(ms); return { ok: false, outcome, reason } }

describe('runWorkflow', () => {
  it('starts independent jobs together and each dependent once its dependencies succeeded, with outputs as inputs', async () => {
    const node = fakeNode([spec('a'), spec('b'), spec('c'), spec('d')], {
      a: ok({ text: 'hi', n: 3 }, 30),
      b: ok({ list: [1, 2] }, 50),
      c: async input => ({ ok: true, output: { got: input } }),
      d: ok({}, 0)
    })
    const wf = parseWorkflowText(`
name: fan-in
jobs:
  - { id: a, spec: a }
  - { id: b, spec: b }
  - { id: c, spec: c, input: { t: "\${a.output.text}", n: "\${a.output.n}", l: "\${b.output.list}" } }
  - { id: d, spec: d, needs: [c] }
`)
    const events: WorkflowEvent[] = []
    const report = await runWorkflow(node, wf, { onEvent: e => events.push(e) })
    expect(report.status).toBe('succeeded')
    expect(node.submissions.map(s => s.specName)).toEqual(['a', 'b', 'c', 'd'])
    const [a, b, c] = node.submissions
    expect(b!.at - a!.at).toBeLessThan(20)
    expect(c!.at).toBeGreaterThanOrEqual(b!.endedAt!)
    expect(c!.input).toEqual({ t: 'hi', n: 3, l: [1, 2] })
    expect(report.jobs.find(j => j.id === 'c')!.output).toEqual({ got: { t: 'hi', n: 3, l: [1, 2] } })
    expect(report.totals).toMatchObject({ jobs: 4, succeeded: 4, failed: 0, cancelled: 0, submitted: 4, costUsd: 0.4, budgetUsd: 0.4, overBudget: [] })
    expect(events.filter(e => e.type === 'job.started').map(e => e.job)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('cancels everything downstream of a failure without submitting it, and lets independent branches finish', async () => {
    const node = fakeNode([spec('audio'), spec('nlp'), spec('summ'), spec('side')], {
      audio: fail('timeout', 'no result by the deadline', 10),
      nlp: ok({}),
      summ: ok({}),
      side: ok({ done: true }, 40)
    })
    const wf = parseWorkflowText(`
name: article
jobs:
  - { id: audio, spec: audio }
  - { id: nlp, spec: nlp, input: { t: "\${audio.output.text}" } }
  - { id: summ, spec: summ, input: { t: "\${nlp.output.topics}" } }
  - { id: side, spec: side }
`)
    const report = await runWorkflow(node, wf)
    expect(report.status).toBe('failed')
    expect(node.submissions.map(s => s.specName).sort()).toEqual(['audio', 'side'])
    const byId = Object.fromEntries(report.jobs.map(j => [j.id, j]))
    expect(byId.audio).toMatchObject({ status: 'failed', outcome: 'timeout', agent: 'agent-of-audio', costUsd: 0 })
    expect(byId.nlp).toMatchObject({ status: 'cancelled', outcome: 'dependency-failed', cause: { job: 'audio', via: [] }, costUsd: 0, reason: 'not started: dependency audio failed: timeout (no result by the deadline)' })
    expect(byId.nlp!.jobId).toBeUndefined()
    expect(byId.summ).toMatchObject({ status: 'cancelled', cause: { job: 'audio', via: ['nlp'] }, reason: 'not started: dependency audio failed (via nlp): timeout (no result by the deadline)' })
    expect(byId.side).toMatchObject({ status: 'succeeded', output: { done: true } })
    expect(report.totals).toMatchObject({ succeeded: 1, failed: 1, cancelled: 2, submitted: 2 })

    const table = formatReport(report).join('\n')
    expect(table).toMatch(/^audio\s+audio\s+failed\s+agent-of-audio\s+\d+ ms \/ 60 s\s+\$0\.00 \/ \$0\.10\s+timeout: no result by the deadline$/m)
    expect(table).toMatch(/^nlp\s+nlp\s+cancelled\s+-\s+- \/ 60 s\s+\$0\.00 \/ \$0\.10\s+not started: dependency audio failed: timeout/m)
    expect(table).toMatch(/^total\s+1\/4 ok/m)
    expect(verdict(report)).toMatch(/^audio failed \(timeout: aborted at \d+ ms of its 60 s deadline\); the 2 jobs downstream of it \(nlp, summ\) were cancelled and never submitted, so nothing was spent on them\. side was not affected and succeeded\. Spent \$0\.10 of the \$0\.40 budgeted; no job cost more than its spec's budget\.$/)
  })

  it('fails a job whose reference names nothing in its dependency\'s output, before submitting it', async () => {
    const node = fakeNode([spec('a'), spec('b'), spec('c')], { a: ok({ text: 'x' }), b: ok({}), c: ok({}) })
    const wf = parseWorkflowText('name: n\njobs:\n  - { id: a, spec: a }\n  - { id: b, spec: b, input: { t: "${a.output.txt}" } }\n  - { id: c, spec: c, needs: b }\n')
    const report = await runWorkflow(node, wf)
    expect(node.submissions.map(s => s.specName)).toEqual(['a'])
    expect(report.jobs[1]).toMatchObject({ status: 'failed', outcome: 'input-reference', reason: 'not started: input.t: ${a.output.txt}: a.output has no key "txt" (it has "text"); fix the reference' })
    expect(report.jobs[2]).toMatchObject({ status: 'cancelled', reason: 'not started: dependency b failed: input-reference (input.t: ${a.output.txt}: a.output has no key "txt" (it has "text"); fix the reference)' })
  })

  it('fails a job the node refuses to submit (an input its spec does not accept)', async () => {
    const node = fakeNode([spec('a'), spec('b')], { a: ok({ n: 1 }), b: ok({}) })
    node.submitJob = (orig => async (id: string, input: unknown, options?: SubmitOptions) => {
      if ((await node.getSpec(id))!.spec.name === 'b') throw Object.assign(new Error('input.n: must be string'), { name: 'InvalidJobError' })
      return await orig(id, input, options)
    })(node.submitJob)
    const report = await runWorkflow(node, parseWorkflowText('name: n\njobs:\n  - { id: a, spec: a }\n  - { id: b, spec: b, input: { n: "${a.output.n}" } }\n'))
    expect(report.jobs[1]).toMatchObject({ status: 'failed', outcome: 'invalid-input', reason: 'not submitted: input.n: must be string', costUsd: 0 })
  })

  it('passes each job\'s overrides to the market: price ceiling, deadline from its start, bid window', async () => {
    const node = fakeNode([spec('a'), spec('b')], { a: ok({}), b: ok({}) })
    const wf = parseWorkflowText('name: n\njobs:\n  - { id: a, spec: a, maxUsd: 0.05, deadline: 2s, bidWindowMs: 250 }\n  - { id: b, spec: b, deadline: "2099-01-01T00:00:00Z" }\n')
    const before = Date.now()
    await runWorkflow(node, wf, { bidWindowMs: 120 })
    const [a, b] = node.submissions
    expect(a!.options.maxUsd).toBe(0.05)
    expect(a!.options.bidWindowMs).toBe(250)
    expect(a!.options.deadline as number).toBeGreaterThanOrEqual(before + 2000)
    expect(a!.options.deadline as number).toBeLessThanOrEqual(Date.now() + 2000)
    expect(b!.options).toEqual({ deadline: '2099-01-01T00:00:00Z', bidWindowMs: 120 })
  })

  it('passes the award policy: the workflow\'s as every job\'s default, a job\'s own field by field over it', async () => {
    const node = fakeNode([spec('a'), spec('b')], { a: ok({}), b: ok({}) })
    const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    const wf = parseWorkflowText(`name: n\naward: { explore: off, minReputation: 0.5 }\njobs:\n  - { id: a, spec: a }\n  - { id: b, spec: b, award: { minReputation: 0.9, preferredAgents: [${peer}] } }\n`)
    await runWorkflow(node, wf)
    const [a, b] = node.submissions
    expect(a!.options.award).toEqual({ explore: false, minReputation: 0.5 })
    expect(b!.options.award).toEqual({ explore: false, minReputation: 0.9, preferredAgents: [peer] })
  })

  it('never lets parallel branches together spend more than the workflow\'s maxUsd', async () => {
    const node = fakeNode([spec('x'), spec('y'), spec('z', { budget: { maxUsd: 0.2 }, costUsd: 0.2 })], { x: ok({}, 20), y: ok({}, 20), z: ok({}) })
    const wf = parseWorkflowText('name: n\nmaxUsd: 0.25\njobs:\n  - { id: x, spec: x }\n  - { id: y, spec: y }\n  - { id: z, spec: z, needs: [x] }\n')
    const report = await runWorkflow(node, wf)
    expect(node.submissions.map(s => s.specName)).toEqual(['x', 'y'])
    expect(report.jobs[2]).toMatchObject({ status: 'failed', outcome: 'budget', reason: 'not started: it may cost up to $0.20 and the workflow has $0.05 of its $0.25 left; raise the workflow\'s maxUsd or lower this job\'s' })
    expect(report.totals.costUsd).toBeCloseTo(0.2)
    expect(report.totals.maxUsd).toBe(0.25)
  })

  it('resolves specs by id, name and name@version, and refuses unknown or ambiguous ones before running anything', async () => {
    const v1 = spec('sum', { version: '1.0' })
    const v2 = spec('sum', { version: '2.0' })
    const other = spec('other', { input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } })
    const node = fakeNode([v1, v2, other], { sum: ok({}), other: ok({}) })
    const report = await runWorkflow(node, parseWorkflowText(`name: n\njobs:\n  - { id: a, spec: "sum@2.0" }\n  - { id: b, spec: ${v1.id} }\n  - { id: c, spec: other, input: { text: hi } }\n`))
    expect(report.jobs.map(j => j.spec.id)).toEqual([v2.id, v1.id, other.id])

    const wrong = parseWorkflowText(`name: n\njobs:\n  - { id: a, spec: sum }\n  - { id: b, spec: nope }\n  - { id: c, spec: other, input: { text: 3 } }\n  - { id: d, spec: bagaaieraxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx }\n  - { id: e, spec: other, deadline: "2001-01-01T00:00:00Z", input: { text: x } }\n`)
    const err = await runWorkflow(node, wrong).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WorkflowValidationError)
    const found = (err as WorkflowValidationError).problems.map(p => `${p.path}: ${p.message}`)
    expect(found[0]).toBe(`jobs[0].spec: "sum" matches 2 specs on this node: ${v1.id} (1.0), ${v2.id} (2.0); write the id, or name@version`)
    expect(found[1]).toBe('jobs[1].spec: this node holds no spec named "nope" (it holds "sum", "other"); publish it first (specmesh spec publish FILE), or write its id')
    expect(found[2]).toMatch(/^jobs\[2\]\.input\.text: .*must be string|^jobs\[2\]\.input\.text: .*type/)
    expect(found[3]).toMatch(/^jobs\[3\]\.spec: this node holds no spec with id bagaaiera/)
    expect(found[4]).toMatch(/^jobs\[4\]\.deadline: 2001-01-01T00:00:00Z has already passed/)
    expect(node.submissions.length).toBe(3)
  })

  it('refuses an invalid workflow given as a raw object (as the API receives it)', async () => {
    const node = fakeNode([], {})
    await expect(runWorkflow(node, { name: 'n', jobs: [{ id: 'a', spec: 's', needs: ['b'] }] })).rejects.toThrow(/jobs\[0\]\.needs\[0\]: names no job "b"/)
  })

  it('cancels what has not started when the run is stopped', async () => {
    const node = fakeNode([spec('a'), spec('b')], { a: ok({}, 50), b: ok({}) })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 10)
    const report = await runWorkflow(node, parseWorkflowText('name: n\njobs:\n  - { id: a, spec: a }\n  - { id: b, spec: b, needs: a }\n'), { signal: controller.signal })
    expect(report.jobs.map(j => [j.id, j.status, j.outcome])).toEqual([['a', 'succeeded', 'success'], ['b', 'cancelled', 'aborted']])
    expect(node.submissions.map(s => s.specName)).toEqual(['a'])
    expect(verdict(report)).toMatch(/b was cancelled because the run was stopped/)
  })
})
