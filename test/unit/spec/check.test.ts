import { describe, it, expect } from 'vitest'
import { checkOutput, checkInput, compileCriteria, OUTPUT_SCHEMA_CRITERION, type Spec } from '../../../src/spec/index.ts'
import { evaluateCriteria } from '../../../src/spec/criteria.ts'
import { baseSpec, valid } from './helpers.ts'

const ARTICLE = 'output.entities.all(e, e.confidence >= 75)'

function specWith (criteria: string[], output?: unknown): Spec {
  const spec = baseSpec()
  spec.successCriteria = criteria
  if (output !== undefined) spec.output = output
  return valid(spec)
}

const entity = (value: string, confidence: number, type = 'person'): Record<string, unknown> => ({ type, value, confidence })

describe('checkOutput', () => {
  it('passes the article’s entity-confidence example on a good output', () => {
    const spec = specWith([ARTICLE])
    expect(checkOutput(spec, { text: 'Ada met Alan in London' }, { entities: [entity('Ada', 90), entity('London', 75, 'place')] })).toEqual({ ok: true })
  })

  it('fails it when one entity is below 75, naming the criterion', () => {
    const spec = specWith([ARTICLE])
    const verdict = checkOutput(spec, { text: 'x' }, { entities: [entity('Ada', 90), entity('Alan', 74.9)] })
    expect(verdict).toEqual({ ok: false, failures: [{ criterion: ARTICLE, reason: 'evaluated to false' }] })
  })

  it('uses input and output together', () => {
    const spec = specWith(['output.entities.all(e, input.text.contains(e.value))'])
    expect(checkOutput(spec, { text: 'Ada met Alan' }, { entities: [entity('Ada', 90)] }).ok).toBe(true)
    expect(checkOutput(spec, { text: 'Ada met Alan' }, { entities: [entity('Grace', 90)] }).ok).toBe(false)
  })

  it('supports the usual CEL: exists, filter, map, size, has, matches, ternaries', () => {
    const spec = specWith([
      'output.entities.exists(e, e.type == "place")',
      'output.entities.filter(e, e.type == "person").size() == 1',
      'output.entities.map(e, e.confidence).all(c, c <= 100)',
      'size(output.entities) >= 2 && !has(output.extra)',
      'output.entities.all(e, e.value.matches("^[A-Z][a-z]+$"))',
      'output.entities.exists_one(e, e.confidence == 80.0) ? true : false'
    ])
    expect(checkOutput(spec, null, { entities: [entity('Ada', 90), entity('Paris', 80, 'place')] })).toEqual({ ok: true })
  })

  it('reports an output schema violation even when every criterion passes', () => {
    const spec = specWith([ARTICLE])
    const verdict = checkOutput(spec, { text: 'x' }, { entities: [{ type: 'robot', value: 'R2', confidence: 99 }] })
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.failures).toEqual([
      { criterion: OUTPUT_SCHEMA_CRITERION, reason: expect.stringMatching(/^output\.entities\[0\]\.type: .*"person","place","org"/) }
    ])
  })

  it('reports schema violations and failed criteria together', () => {
    const spec = specWith([ARTICLE, 'size(output.entities) > 0'])
    const verdict = checkOutput(spec, {}, { entities: [entity('Ada', 120)] })
    expect(!verdict.ok && verdict.failures.map(f => f.criterion)).toEqual([OUTPUT_SCHEMA_CRITERION])
    const both = checkOutput(spec, {}, { entities: [entity('Ada', -1)] })
    expect(!both.ok && both.failures).toEqual([
      { criterion: OUTPUT_SCHEMA_CRITERION, reason: 'output.entities[0].confidence: -1 is less than 0' },
      { criterion: ARTICLE, reason: 'evaluated to false' }
    ])
  })

  it('a criterion that throws at run time (a missing field) is a failure with a reason, not a crash', () => {
    const spec = specWith(['output.summary.size() > 10'], { type: 'object' })
    const verdict = checkOutput(spec, {}, { entities: [] })
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.failures[0]).toEqual({
      criterion: 'output.summary.size() > 10',
      reason: expect.stringMatching(/^evaluation failed: No such key: summary .*has\(output\.field\)/)
    })
  })

  it('mixing JSON numbers (doubles) with int arithmetic fails with a hint', () => {
    const spec = specWith(['output.count + 1 == 3'], { type: 'object' })
    const verdict = checkOutput(spec, {}, { count: 2 })
    expect(!verdict.ok && verdict.failures[0]!.reason).toMatch(/JSON numbers are doubles in CEL: write 1\.0/)
    expect(checkOutput(specWith(['output.count + 1.0 == 3.0'], { type: 'object' }), {}, { count: 2 }).ok).toBe(true)
  })

  it('a criterion that returns a non-boolean at run time is a failure', () => {
    const spec = specWith(['output.flag'], { type: 'object' })
    const verdict = checkOutput(spec, {}, { flag: 'yes' })
    expect(!verdict.ok && verdict.failures[0]!.reason).toMatch(/^returned a string "yes", not true or false/)
    expect(checkOutput(spec, {}, { flag: true }).ok).toBe(true)
  })

  it('every criterion is evaluated, even after one fails', () => {
    const spec = specWith(['output.a > 1.0', 'output.b > 1.0', 'output.c > 1.0'], { type: 'object' })
    const verdict = checkOutput(spec, {}, { a: 0, b: 5, c: 0 })
    expect(!verdict.ok && verdict.failures.map(f => f.criterion)).toEqual(['output.a > 1.0', 'output.c > 1.0'])
  })

  it('an output that is not JSON, or nested absurdly deep, fails without running anything', () => {
    const spec = specWith([ARTICLE])
    expect(checkOutput(spec, {}, { entities: [entity('Ada', Number.NaN)] })).toEqual({ ok: false, failures: [{ criterion: 'output', reason: expect.stringMatching(/NaN is not a JSON number/) }] })
    let deep: unknown = []
    for (let i = 0; i < 10_000; i++) deep = [deep]
    expect(checkOutput(spec, {}, { entities: deep })).toEqual({ ok: false, failures: [{ criterion: 'output', reason: expect.stringMatching(/nests more than \d+ levels/) }] })
  })

  it('an output over the size limit fails', () => {
    const spec = specWith([ARTICLE])
    const verdict = checkOutput(spec, {}, { entities: [entity('x'.repeat(1024 * 1024), 90)] })
    expect(!verdict.ok && verdict.failures[0]!.reason).toMatch(/larger than 1048576 bytes/)
  })

  it('judges the JSON a caller would send: toJSON is used, undefined fields dropped', () => {
    const spec = specWith(['output.when == "2026-01-01T00:00:00.000Z" && !has(output.gone)'], { type: 'object' })
    expect(checkOutput(spec, {}, { when: new Date('2026-01-01T00:00:00Z'), gone: undefined }).ok).toBe(true)
  })

  it('works on frozen outputs', () => {
    const spec = specWith([ARTICLE])
    const output = Object.freeze({ entities: Object.freeze([Object.freeze(entity('Ada', 90))]) })
    expect(checkOutput(spec, {}, output)).toEqual({ ok: true })
  })
})

describe('evaluation cost is bounded', () => {
  it('a quadratic criterion over a large output stops at the cost limit with a reason', () => {
    const spec = specWith(['output.xs.all(a, output.xs.exists(b, b == a))'], { type: 'object' })
    const xs = Array.from({ length: 20_000 }, (_, i) => i)
    const started = performance.now()
    const verdict = checkOutput(spec, {}, { xs })
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(!verdict.ok && verdict.failures[0]!.reason).toMatch(/cost more than the limit/)
  })

  it('rescanning a large string for every element is charged by its length', () => {
    const compiled = compileCriteria(specWith(['output.xs.all(a, output.text.contains("needle") == false)'], { type: 'object' }))
    const output = { xs: Array.from({ length: 1000 }, () => 0), text: 'hay'.repeat(100_000) }
    const failures = evaluateCriteria(compiled.criteria, {}, output, 1_000_000)
    expect(failures[0]!.reason).toMatch(/cost more than the limit of 1000000 units/)
    // The same criterion is fine on a small output.
    expect(evaluateCriteria(compiled.criteria, {}, { xs: [1, 2], text: 'hay' }, 1_000_000)).toEqual([])
  })

  it('the limit also holds when CEL swallows errors (exists/|| absorb them)', () => {
    // Without the meter's own flag, exists() would absorb the cost error and `|| true` pass.
    const compiled = compileCriteria(specWith(['output.xs.exists(a, a == -1.0) || true', 'size(output.xs) > 0'], { type: 'object' }))
    const failures = evaluateCriteria(compiled.criteria, {}, { xs: Array.from({ length: 5000 }, () => 0) }, 1000)
    expect(failures.map(f => f.reason)).toEqual([expect.stringMatching(/cost more than the limit/), expect.stringMatching(/used up/)])
  })

  it('a linear criterion over a large output fits in the budget', () => {
    const spec = specWith([ARTICLE])
    const entities = Array.from({ length: 15_000 }, (_, i) => entity(`Name${i}`, 80 + (i % 20)))
    expect(checkOutput(spec, {}, { entities })).toEqual({ ok: true })
  })
})

describe('uniqueItems', () => {
  const spec = (): Spec => specWith([], { type: 'object', properties: { tags: { type: 'array', maxItems: 5, uniqueItems: true } } })

  it('is enforced on short arrays', () => {
    expect(checkOutput(spec(), {}, { tags: ['a', 'b'] }).ok).toBe(true)
    const verdict = checkOutput(spec(), {}, { tags: ['a', 'a'] })
    expect(!verdict.ok && verdict.failures[0]!.reason).toMatch(/^output\.tags: Duplicate items/)
  })

  it('never runs pairwise on a long array: maxItems fails first', () => {
    const tags = Array.from({ length: 100_000 }, (_, i) => i)
    const started = performance.now()
    const verdict = checkOutput(spec(), {}, { tags })
    expect(performance.now() - started).toBeLessThan(2000)
    expect(!verdict.ok && verdict.failures.map(f => f.reason)).toEqual([expect.stringMatching(/^output\.tags: .*100000.*5/)])
  })
})

describe('checkInput', () => {
  it('accepts a matching input, giving back the private copy it checked', () => {
    const input = { text: 'hello' }
    const verdict = checkInput(valid(baseSpec()), input)
    expect(verdict).toEqual({ ok: true, value: { text: 'hello' } })
    // A copy: the caller changing its object later does not change what was checked.
    input.text = 'changed'
    expect(verdict.ok && verdict.value).toEqual({ text: 'hello' })
  })

  it('names the offending part of the input and the fix', () => {
    const verdict = checkInput(valid(baseSpec()), { text: 42 })
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.problems).toEqual([{ path: 'input.text', message: expect.stringMatching(/Expected "string".*; send an input that matches the spec's input schema$/) }])
    const missing = checkInput(valid(baseSpec()), {})
    expect(!missing.ok && missing.problems[0]).toEqual({ path: 'input', message: expect.stringMatching(/required property "text"/) })
  })
})

describe('compileCriteria', () => {
  it('compiles once per spec id', () => {
    const a = valid(baseSpec())
    const b = valid(baseSpec())
    expect(a).not.toBe(b)
    expect(compileCriteria(a)).toBe(compileCriteria(b))
  })

  it('throws for a spec whose criteria do not compile, and checkOutput reports it instead of throwing', () => {
    const spec = { ...valid(baseSpec()), successCriteria: ['output.entities.size(('] } as Spec
    expect(() => compileCriteria(spec)).toThrow(/not valid CEL/)
    const verdict = checkOutput(spec, {}, { entities: [] })
    expect(!verdict.ok && verdict.failures[0]!.criterion).toBe('spec')
  })
})
