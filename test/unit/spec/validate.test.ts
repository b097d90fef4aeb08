import { describe, it, expect } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify as toYaml } from 'yaml'
import { parseSpecText, loadSpecFile, validateSpec, specId, SpecValidationError, SpecFileError, formatProblem } from '../../../src/spec/index.ts'
import { MAX_SPEC_BYTES } from '../../../src/wire/constants.ts'
import { baseSpec, valid, problemsOf, problemAt, expectActionable } from './helpers.ts'

const NOW = Date.parse('2026-06-01T12:00:00Z')

describe('validateSpec accepts', () => {
  it('the base spec', () => {
    expect(valid(baseSpec()).name).toBe('extract-entities')
  })

  it('a spec with only name, input and output', () => {
    const spec = valid({ name: 'x', input: true, output: { type: 'string' } })
    expect(spec).toEqual({ name: 'x', input: true, output: { type: 'string' }, successCriteria: [] })
  })

  it('a fork with parent and variant', () => {
    const parent = specId(valid(baseSpec()))
    const fork = valid({ ...baseSpec(), parent, variant: 'fast', costUsd: 0.1 })
    expect(fork.parent).toBe(parent)
    expect(fork.variant).toBe('fast')
  })
})

describe('validateSpec rejects, naming the field and the fix', () => {
  const cases: Array<[string, (s: Record<string, unknown>) => void, string, RegExp]> = [
    ['missing input', s => { delete s.input }, 'input', /missing.*input schema/],
    ['missing output', s => { delete s.output }, 'output', /missing.*output schema/],
    ['a string as output schema', s => { s.output = 'entities with confidence' }, 'output', /not a JSON Schema/],
    ['the article’s pseudo-schema', s => { s.input = { text: 'string, up to 10,000 chars' } }, 'input.text', /put it under properties/],
    ['a malformed type', s => { s.output = { type: 'text' } }, 'output.type', /"text" is not a JSON Schema type.*string/],
    ['int for integer', s => { s.output = { type: 'int' } }, 'output.type', /did you mean "integer"/],
    ['properties as a list', s => { s.output = { type: 'object', properties: ['a'] } }, 'output.properties', /mapping of names to schemas/],
    ['required not a list of names', s => { s.output = { type: 'object', required: 'a' } }, 'output.required', /list of property names/],
    ['a property that is not a schema', s => { s.output = { type: 'object', properties: { a: 'string' } } }, 'output.properties.a', /description, not a schema.*type: string/],
    ['a misspelt schema keyword', s => { s.output = { type: 'string', maxLenght: 3 } }, 'output.maxLenght', /did you mean "maxLength"/],
    ['a remote $ref', s => { s.output = { $ref: 'https://example.com/s.json' } }, 'output.$ref', /must be local/],
    ['a dangling $ref', s => { s.output = { $ref: '#/$defs/nope' } }, 'output.$ref', /does not point at a schema/],
    ['an exponential pattern', s => { s.output = { type: 'string', pattern: '^(a+)+$' } }, 'output.pattern', /exponential/],
    ['an invalid pattern', s => { s.output = { type: 'string', pattern: '([a-z' } }, 'output.pattern', /not a valid regular expression/],
    ['format url', s => { s.output = { type: 'string', format: 'url' } }, 'output.format', /use format "uri"/],
    ['uniqueItems without a small maxItems', s => { s.output = { type: 'array', uniqueItems: true } }, 'output.uniqueItems', /maxItems/],
    ['uniqueItems under anyOf', s => { s.output = { anyOf: [{ type: 'array', maxItems: 5, uniqueItems: true }, { type: 'string' }] } }, 'output.anyOf[0].uniqueItems', /inside anyOf/],
    ['a negative price', s => { s.costUsd = -1 }, 'costUsd', /negative/],
    ['a price as text', s => { s.costUsd = '$0.05' }, 'costUsd', /plain number/],
    ['a non-numeric ceiling', s => { s.budget = { maxUsd: 'lots' } }, 'budget.maxUsd', /not an amount of money/],
    ['a budget without maxUsd', s => { s.budget = { overageBehavior: 'fail' } }, 'budget.maxUsd', /missing/],
    ['costUsd above budget.maxUsd', s => { s.costUsd = 0.75 }, 'costUsd', /more than budget\.maxUsd \(0\.5\)/],
    ['a cost breakdown above the ceiling', s => { s.budget = { maxUsd: 0.5, costBreakdown: [{ compute: 0.4 }, { storage: 0.2 }] } }, 'budget.costBreakdown', /adds up to 0\.6/],
    ['a duplicate cost category', s => { s.budget = { maxUsd: 0.5, costBreakdown: [{ compute: 0.1 }, { compute: 0.2 }] } }, 'budget.costBreakdown[1]', /appears twice/],
    ['an unknown overage behaviour', s => { s.budget = { maxUsd: 0.5, overageBehavior: 'explode' } }, 'budget.overageBehavior', /^"explode" is not an overage behaviour; use "fail" or "warn"$/],
    ['another currency', s => { s.budget = { maxUsd: 0.5, currency: 'EUR' } }, 'budget.currency', /US dollars/],
    ['includesFees as text', s => { s.budget = { maxUsd: 0.5, includesFees: 'yes' } }, 'budget.includesFees', /true or false/],
    ['zero concurrent requests', s => { s.capacity = { maxConcurrentRequests: 0 } }, 'capacity.maxConcurrentRequests', /from 1 to/],
    ['fractional retries', s => { s.capacity = { maxRetries: 2.5 } }, 'capacity.maxRetries', /whole number/],
    ['retries as a word', s => { s.capacity = { maxRetries: 'three' } }, 'capacity.maxRetries', /"three" is not a whole number/],
    ['a backoff below 1', s => { s.capacity = { backoffMultiplier: 0.5 } }, 'capacity.backoffMultiplier', /from 1/],
    ['a zero timeout', s => { s.capacity = { timeoutSeconds: 0 } }, 'capacity.timeoutSeconds', /positive/],
    ['softDeadline after deadline', s => { s.deadline = '5m'; s.softDeadline = '10m' }, 'softDeadline', /after the deadline/],
    ['absolute softDeadline after deadline', s => { s.deadline = '2099-01-01T00:00:00Z'; s.softDeadline = '2099-01-01T00:00:01Z' }, 'softDeadline', /after the deadline/],
    ['absolute and relative deadlines mixed', s => { s.deadline = '2099-01-01T00:00:00Z'; s.softDeadline = '5m' }, 'softDeadline', /both as timestamps .* or both as durations/],
    ['a deadline already past', s => { s.deadline = '2026-03-01T18:00:00Z' }, 'deadline', /already passed/],
    ['a timestamp without a zone', s => { s.deadline = '2099-03-01T18:00:00' }, 'deadline', /no time zone; add Z/],
    ['an impossible date', s => { s.deadline = '2099-02-30T18:00:00Z' }, 'deadline', /not a real date/],
    ['a deadline in words', s => { s.deadline = 'tomorrow' }, 'deadline', /neither a timestamp nor a duration/],
    ['a negative relative deadline', s => { s.deadline = -5 }, 'deadline', /positive/],
    ['an executionWindow longer than a relative deadline', s => { s.deadline = '2m'; s.executionWindow = 300 }, 'executionWindow', /could never finish/],
    ['a name with spaces', s => { s.name = 'Extract Entities!' }, 'name', /e\.g\. name: extract-entities/],
    ['a missing name', s => { delete s.name }, 'name', /missing/],
    ['a parent that is not a spec id', s => { s.parent = 'spec-v1' }, 'parent', /not a spec id/],
    ['a criterion that does not compile', s => { s.successCriteria = ['output.entities.all(e, e.confidence >= )'] }, 'successCriteria[0]', /not valid CEL/],
    ['a criterion over an unknown variable', s => { s.successCriteria = ['entities.size() > 0'] }, 'successCriteria[0]', /"entities", which is not defined; criteria can only use input and output/],
    ['a criterion that is not boolean', s => { s.successCriteria = ['size(output.entities)'] }, 'successCriteria[0]', /returns int, not true or false/],
    ['a prose criterion', s => { s.successCriteria = ['output matches JSON schema X'] }, 'successCriteria[0]', /prose.*CEL expression.*e\.g\. output\.entities\.all.*schema is always checked/],
    ['a percentage criterion', s => { s.successCriteria = ['confidence > 95%'] }, 'successCriteria[0]', /prose.*plain numbers/],
    ['comprehensions nested three deep', s => { s.successCriteria = ['output.a.all(x, x.all(y, y.exists(z, z > 0)))'] }, 'successCriteria[0]', /3 deep; at most 2/],
    ['cel.bind', s => { s.successCriteria = ['cel.bind(n, size(output.entities), n > 0)'] }, 'successCriteria[0]', /cel\.bind/],
    ['matches with a pattern from the data', s => { s.successCriteria = ['output.entities.all(e, e.value.matches(input.text))'] }, 'successCriteria[0]', /pattern from the data.*literal/],
    ['matches with an exponential pattern', s => { s.successCriteria = ['output.entities.all(e, e.value.matches("^(a|b+)*$"))'] }, 'successCriteria[0]', /exponential/],
    ['a criterion that is not a string', s => { s.successCriteria = [42] }, 'successCriteria[0]', /not a CEL expression/]
  ]
  for (const [what, change, path, message] of cases) {
    it(what, () => {
      const spec = baseSpec()
      change(spec)
      const problem = problemAt(problemsOf(spec, { now: NOW }), path)
      expect(problem.message).toMatch(message)
      expectActionable(problem)
    })
  }

  it('both spellings of one field, naming both', () => {
    const spec = { ...baseSpec(), cost_usd: 0.05 }
    const problem = problemAt(problemsOf(spec), 'cost_usd')
    expect(problem.message).toMatch(/costUsd/)
    const nested = baseSpec()
    nested.budget = { maxUsd: 0.5, max_usd: 0.5 }
    expect(problemAt(problemsOf(nested), 'budget.max_usd').message).toMatch(/given together with maxUsd/)
  })

  it('unknown fields, with "did you mean"', () => {
    const spec = baseSpec()
    spec.deadlin = '5m'
    spec.succesCriteria = []
    spec.budget = { maxUSD: 0.5 }
    spec.capacity = { max_concurrent_request: 2, timeout: 3 }
    spec.foo = 1
    const problems = problemsOf(spec)
    expect(problemAt(problems, 'deadlin').message).toBe('unknown field; did you mean "deadline"?')
    expect(problemAt(problems, 'succesCriteria').message).toMatch(/did you mean "successCriteria"\?/)
    expect(problemAt(problems, 'budget.maxUSD').message).toMatch(/did you mean "maxUsd"\?/)
    expect(problemAt(problems, 'capacity.max_concurrent_request').message).toMatch(/did you mean "max_concurrent_requests"\?/)
    expect(problemAt(problems, 'foo').message).toMatch(/^unknown field; remove it \(known fields: name, version/)
    // The misspelt maxUSD is not also reported as a missing maxUsd.
    expect(problems.filter(p => p.path === 'budget.maxUsd')).toEqual([])
    for (const p of problems) expectActionable(p)
  })

  it('a field at the wrong level, saying where it belongs', () => {
    const spec = { ...baseSpec(), max_concurrent_requests: 3, maxUsd: 1 }
    const problems = problemsOf(spec)
    expect(problemAt(problems, 'max_concurrent_requests').message).toMatch(/belongs under capacity/)
    expect(problemAt(problems, 'maxUsd').message).toMatch(/belongs under budget/)
  })

  it('collects every problem, not just the first', () => {
    const spec = baseSpec()
    delete spec.output
    spec.costUsd = -1
    spec.budget = { maxUsd: 0.5, overageBehavior: 'explode' }
    spec.capacity = { maxRetries: 'three' }
    spec.successCriteria = ['confidence > 95%', 'output.ok']
    spec.deadlin = 5
    const paths = problemsOf(spec).map(p => p.path)
    expect(paths).toEqual(expect.arrayContaining(['output', 'costUsd', 'budget.overageBehavior', 'capacity.maxRetries', 'successCriteria[0]', 'deadlin']))
    expect(paths).not.toContain('successCriteria[1]')
  })

  it('a past deadline only when requireFutureDeadline (specs from the network skip it)', () => {
    const spec = { ...baseSpec(), deadline: '2026-03-01T18:00:00Z' }
    expect(validateSpec(spec, { now: NOW }).ok).toBe(false)
    expect(validateSpec(spec, { now: NOW, requireFutureDeadline: false }).ok).toBe(true)
    expect(validateSpec(spec, { now: Date.parse('2026-01-01T00:00:00Z') }).ok).toBe(true)
  })

  it('non-JSON values that YAML can produce', () => {
    const base = toYaml(baseSpec()).replace(/^costUsd: .*$/m, '')
    const err = catchSpecError(() => parseSpecText(base + 'costUsd: .inf\n'))
    expect(problemAt(err.problems, 'costUsd').message).toMatch(/not a finite number/)
    const bin = catchSpecError(() => parseSpecText(base + 'description: !!binary aGVsbG8=\n'))
    expect(problemAt(bin.problems, 'description').message).toMatch(/binary data cannot appear/)
  })

  it('a spec that is not a mapping', () => {
    expect(problemAt(problemsOf([1, 2]), '').message).toMatch(/must be a mapping/)
    expect(problemAt(problemsOf('name: x'), '').message).toMatch(/must be a mapping/)
  })

  it('a body over the size limit', () => {
    const spec = baseSpec()
    spec.description = 'x'.repeat(4000)
    spec.input = { type: 'object', properties: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`field_${i}`, { type: 'string', description: 'y'.repeat(150) }])) }
    expect(problemAt(problemsOf(spec), '').message).toMatch(/bytes as canonical JSON, more than the limit/)
  })
})

function catchSpecError (fn: () => unknown): SpecValidationError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SpecValidationError)
    return err as SpecValidationError
  }
  throw new Error('expected a SpecValidationError')
}

describe('parseSpecText', () => {
  it('checks the size limit before parsing', () => {
    const text = 'name: x\n# ' + 'a'.repeat(MAX_SPEC_BYTES) + '\n'
    const err = catchSpecError(() => parseSpecText(text, { filename: 'big.yaml' }))
    expect(err.problems).toHaveLength(1)
    expect(err.problems[0]!.message).toMatch(/more than the limit of 65536/)
    expect(err.message).toMatch(/^big\.yaml is not a valid spec/)
  })

  it('reports YAML and JSON syntax errors with line and column', () => {
    const yamlErr = catchSpecError(() => parseSpecText('name: [unclosed\ninput: {}\n'))
    expect(yamlErr.problems[0]!.message).toMatch(/^line \d+, column \d+: .*; fix the YAML syntax$/)
    const jsonErr = catchSpecError(() => parseSpecText('{"name": "x",, }'))
    expect(jsonErr.problems[0]!.message).toMatch(/fix the JSON syntax/)
  })

  it('refuses duplicate keys', () => {
    const err = catchSpecError(() => parseSpecText('{"name": "a", "name": "b"}'))
    expect(err.problems[0]!.message).toMatch(/unique/)
  })

  it('an empty file', () => {
    expect(catchSpecError(() => parseSpecText('# nothing\n')).problems[0]!.message).toMatch(/holds no spec/)
  })

  it('formats one line per problem: path: what is wrong; what to do', () => {
    const spec = baseSpec()
    spec.budget = { maxUsd: 0.5, overageBehavior: 'explode' }
    const err = catchSpecError(() => parseSpecText(JSON.stringify(spec), { filename: 'spec.json' }))
    expect(err.message.split('\n')).toEqual([
      'spec.json is not a valid spec (1 problem):',
      'budget.overageBehavior: "explode" is not an overage behaviour; use "fail" or "warn"'
    ])
    expect(formatProblem(err.problems[0]!)).toBe('budget.overageBehavior: "explode" is not an overage behaviour; use "fail" or "warn"')
  })
})

describe('loadSpecFile', () => {
  it('names a missing path', async () => {
    const path = join(tmpdir(), 'no-such-spec-file.yaml')
    await expect(loadSpecFile(path)).rejects.toThrow(SpecFileError)
    await expect(loadSpecFile(path)).rejects.toThrow(`cannot read spec file ${path}: no such file`)
    await expect(loadSpecFile(path)).rejects.toMatchObject({ code: 'ENOENT', path })
  })

  it('reads and validates a file, naming it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specmesh-spec-'))
    const good = join(dir, 'good.yaml')
    await writeFile(good, toYaml(baseSpec()))
    expect((await loadSpecFile(good)).name).toBe('extract-entities')
    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, toYaml({ ...baseSpec(), costUsd: -1 }))
    await expect(loadSpecFile(bad)).rejects.toThrow(/^.*bad\.yaml is not a valid spec \(1 problem\):\n.*bad\.yaml.*|costUsd: -1 is negative/)
    await expect(loadSpecFile(bad)).rejects.toMatchObject({ filename: bad, problems: [{ path: 'costUsd' }] })
  })
})

describe('the example specs', () => {
  const root = join(import.meta.dirname, '../../../examples')

  it('entity-extraction.yaml (snake_case, the article’s task) validates', async () => {
    const spec = await loadSpecFile(join(root, 'entity-extraction.yaml'))
    expect(spec.successCriteria).toContain('output.entities.all(e, e.confidence >= 75)')
    expect(spec.budget).toMatchObject({ maxUsd: 0.5, includesFees: true, costBreakdown: { compute: 0.3, storage: 0.1, api_calls: 0.1 }, overageBehavior: 'fail' })
    expect(spec.capacity).toEqual({ maxConcurrentRequests: 5, maxConcurrentRetries: 3, backoffMultiplier: 1.5, maxRetries: 3, timeoutSeconds: 30 })
    expect(spec.deadline).toBe(300)
  })

  it('summarize.json validates', async () => {
    const spec = await loadSpecFile(join(root, 'summarize.json'))
    expect(spec).toMatchObject({ name: 'summarize-transcript', deadline: 120, softDeadline: 90, executionWindow: 60 })
  })

  it('summarize-fast.yaml is a fork whose parent is summarize.json', async () => {
    const parent = await loadSpecFile(join(root, 'summarize.json'))
    const fork = await loadSpecFile(join(root, 'summarize-fast.yaml'))
    expect(fork.variant).toBe('fast')
    expect(fork.parent).toBe(specId(parent))
  })
})
