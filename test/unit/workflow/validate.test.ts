import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadWorkflowFile, parseWorkflowText, validateWorkflow, workflowGraph, WorkflowValidationError, WorkflowFileError, type WorkflowProblem } from '../../../src/workflow/index.ts'

const ROOT = join(import.meta.dirname, '../../..')

function problems (text: string): WorkflowProblem[] {
  try {
    parseWorkflowText(text)
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowValidationError)
    return (err as WorkflowValidationError).problems
  }
  throw new Error('expected the workflow to be refused')
}

const lines = (text: string): string[] => problems(text).map(p => `${p.path}: ${p.message}`)

describe('the workflow file format', () => {
  it('reads the documented examples', async () => {
    const article = await loadWorkflowFile(join(ROOT, 'examples/workflows/article-pipeline.yaml'))
    expect(article.name).toBe('article-pipeline')
    expect(article.maxUsd).toBe(0.3)
    expect([...workflowGraph(article)]).toEqual([['audio', []], ['nlp', ['audio']], ['summ', ['nlp']]])
    const diamond = await loadWorkflowFile(join(ROOT, 'examples/workflows/diamond.yaml'))
    expect([...workflowGraph(diamond)]).toEqual([['fetch', []], ['entities', ['fetch']], ['summary', ['fetch']], ['brief', ['entities', 'summary']]])
    expect(diamond.jobs[0]!.deadline).toBe(30)
    expect(diamond.jobs[3]!.bidWindowMs).toBe(200)
  })

  it('checks award policies with the market\'s own checks, naming each field', () => {
    expect(lines(`
name: n
award: { explore: maybe }
jobs:
  - { id: a, spec: s1, award: { minReputation: 1.5, preferredAgents: [nobody], budget: 3 } }
  - { id: b, spec: s2, award: off }
`)).toEqual([
      'award.explore: "maybe" is not on or off; write off (or false) to award by reputation mean only, on (or true) to explore',
      'jobs[0].award.budget: unknown field; the award policy takes explore, minReputation and preferredAgents',
      'jobs[0].award.minReputation: 1.5 is not a success rate; write a number from 0 to 1 such as 0.8',
      'jobs[0].award.preferredAgents[0]: "nobody" is not a peer id; copy it from `specmesh reputation` or `specmesh peers` (12D3KooW…)',
      'jobs[1].award: must be an object such as {"explore": false, "minReputation": 0.8, "preferredAgents": ["12D3KooW…"]}'
    ])
    const wf = parseWorkflowText('name: n\naward: { explore: off }\njobs:\n  - { id: a, spec: s1, award: { explore: on, minReputation: 0.8 } }\n')
    expect(wf.award).toEqual({ explore: false })
    expect(wf.jobs[0]!.award).toEqual({ explore: true, minReputation: 0.8 })
    // The normalized form is its own valid file form.
    expect(validateWorkflow(JSON.parse(JSON.stringify(wf)))).toEqual({ ok: true, workflow: wf })
  })

  it('normalizes: input defaults to {}, needs to a list, deadlines to seconds or a canonical instant', () => {
    const wf = parseWorkflowText(`
name: n
jobs:
  - { id: a, spec: s1 }
  - { id: b, spec: s2, needs: a, deadline: 1m30s }
  - { id: c, spec: s3, needs: [a, b, a], deadline: "2099-01-01T10:00:00+02:00" }
  - { id: d, spec: s4, deadline: 0.5, maxUsd: 0 }
`)
    expect(wf.jobs.map(j => [j.id, j.input, j.needs, j.deadline])).toEqual([
      ['a', {}, [], undefined],
      ['b', {}, ['a'], 90],
      ['c', {}, ['a', 'b'], '2099-01-01T08:00:00Z'],
      ['d', {}, [], 0.5]
    ])
    expect(wf.jobs[3]!.maxUsd).toBe(0)
  })

  it('is idempotent: a validated workflow validates to itself (what the CLI sends the daemon)', async () => {
    const wf = await loadWorkflowFile(join(ROOT, 'examples/workflows/diamond.yaml'))
    const again = validateWorkflow(JSON.parse(JSON.stringify(wf)))
    expect(again).toEqual({ ok: true, workflow: wf })
  })

  it('derives dependencies from references and needs, each once', () => {
    const wf = parseWorkflowText(`
name: n
jobs:
  - { id: a, spec: s }
  - { id: b, spec: s }
  - id: c
    spec: s
    needs: [b]
    input: { x: "\${a.output.x}", y: ["\${b.output}", "\${a.output.z}"] }
`)
    expect(workflowGraph(wf).get('c')).toEqual(['b', 'a'])
  })

  it('refuses duplicate ids, naming the first', () => {
    expect(lines('name: n\njobs:\n  - { id: a, spec: s }\n  - { id: a, spec: t }\n')).toEqual(['jobs[1].id: "a" is already the id of jobs[0]; give each job its own id'])
  })

  it('refuses references to unknown jobs, suggesting the likely one', () => {
    expect(lines('name: n\njobs:\n  - { id: audio, spec: s }\n  - { id: nlp, spec: s, input: { t: "${aduio.output.text}" } }\n'))
      .toEqual(['jobs[1].input.t: ${aduio.output.text} names no job "aduio"; did you mean "audio"?'])
    expect(lines('name: n\njobs:\n  - { id: audio, spec: s }\n  - { id: nlp, spec: s, needs: [video] }\n'))
      .toEqual(['jobs[1].needs[0]: names no job "video"; the jobs are "audio", "nlp"'])
  })

  it('refuses a job that needs or reads itself', () => {
    expect(lines('name: n\njobs:\n  - { id: a, spec: s, needs: a }\n')).toEqual(['jobs[0].needs: job "a" cannot wait for itself; remove "a" from needs'])
    expect(lines('name: n\njobs:\n  - { id: a, spec: s, input: { x: "${a.output}" } }\n')[0]).toMatch(/^jobs\[0\]\.input\.x: \$\{a\.output\} reads job "a"'s own output/)
  })

  it('refuses cycles, naming every job on them and each dependency to break', () => {
    const text = `
name: n
jobs:
  - { id: a, spec: s, input: { x: "\${c.output}" } }
  - { id: b, spec: s, needs: [a] }
  - { id: c, spec: s, input: { y: "\${b.output.y}" } }
  - { id: d, spec: s }
  - { id: e, spec: s, needs: [f] }
  - { id: f, spec: s, needs: [e, d] }
`
    expect(lines(text)).toEqual([
      'jobs[0]: jobs a → c → b → a form a cycle, so none of them could ever start; remove one of these dependencies: a needs c (input.x), c needs b (input.y), b needs a (needs)',
      'jobs[4]: jobs e → f → e form a cycle, so none of them could ever start; remove one of these dependencies: e needs f (needs), f needs e (needs)'
    ])
  })

  it('names unknown fields with a suggestion, and every shape mistake with its fix', () => {
    const found = lines(`
name: "bad name!"
maxUSD: 1
jobs:
  - { id: 1a, spec: s, maxUsd: -1 }
  - "audio"
  - { spec: s, bidWindowMs: 0, needs: [1] }
  - { id: ok, spec: s, deadline: soon, imput: {} }
`)
    expect(found).toEqual([
      'name: "bad name!" is not a workflow name; use up to 64 letters, digits, ., _ or -, starting with a letter or digit',
      'maxUSD: is not a workflow field; did you mean "maxUsd"?',
      'jobs[0].id: "1a" is not a job id; use a letter followed by up to 63 letters, digits, _ or - (e.g. "audio", "nlp-topics")',
      'jobs[0].maxUsd: -1 is negative; write an amount in USD ≥ 0 such as 0.25',
      'jobs[1]: is a string; write each job as a mapping with at least an id and a spec',
      'jobs[2].id: is missing; give the job an id such as "audio"',
      'jobs[2].needs: must be a list of job ids, e.g. [audio, nlp]; each id is a letter followed by letters, digits, _ or -',
      'jobs[2].bidWindowMs: must be at least 1 ms; the market\'s default is 100',
      'jobs[3].imput: is not a job field; did you mean "input"?',
      'jobs[3].deadline: "soon" is not a duration; write a number of seconds (300) or a duration such as "300s", "5m", "1h30m" or "PT5M", counted from the job\'s start; or an ISO time such as "2026-03-01T18:00:00Z"'
    ])
  })

  it('refuses a workflow without jobs, and files that are not workflows', () => {
    expect(lines('name: n\njobs: []\n')).toEqual(['jobs: is empty; list at least one job, each with an id and a spec'])
    expect(lines('name: n\njobs: { a: { spec: s } }\n')[0]).toMatch(/^jobs: \{"a":\{"spec":"s"\}\} is a mapping; list the jobs/)
    expect(lines('jobs:\n  - { id: a, spec: s }\n')).toEqual(['name: is missing; name the workflow, e.g. "article-pipeline"'])
    expect(lines('')).toEqual([': the file holds no workflow; write a mapping with a name and a list of jobs'])
    expect(lines('- a\n- b\n')[0]).toMatch(/is a list; a workflow is a mapping with a name and a list of jobs/)
  })

  it('explains YAML syntax errors with the line, and the usual cause with references', () => {
    const [problem] = problems('name: n\njobs:\n  - { id: b, spec: s, input: { t: ${a.output.t} } }\n')
    expect(problem!.message).toMatch(/^line 3, column \d+: .*; fix the YAML syntax \(inside \{ \} and \[ \], quote a reference: "\$\{audio\.output\.text\}"\)$/)
  })

  it('reports an unreadable file by path', async () => {
    await expect(loadWorkflowFile('/nonexistent/wf.yaml')).rejects.toThrow(WorkflowFileError)
    await expect(loadWorkflowFile('/nonexistent/wf.yaml')).rejects.toThrow(/cannot read workflow file \/nonexistent\/wf\.yaml: no such file; check the path/)
  })
})
