import { describe, expect, it } from 'vitest'
import { analyzeCriterion, evaluateCriteria, unmeteredBound } from '../../../src/spec/criteria.ts'
import { MAX_CRITERIA_COST } from '../../../src/spec/constants.ts'
import { canonicalize } from '../../../src/wire/canonical.ts'
import { checkOutput } from '../../../src/spec/check.ts'
import { baseSpec, valid } from './helpers.ts'

/**
 * Criteria without comprehensions that read only the output run unmetered
 * when the bound on what a metered run would charge is within the budget
 * (criteria.ts unmeteredBound). These hold that to the metered run: the same
 * failures, word for word, over many outputs, and a metered run given only
 * the bound as its budget is never stopped by it.
 */

const SOURCES = [
  'size(output.entities) >= 1', 'size(output.entities) == 0', 'output.n > 3.0', 'output.n >= 1', 'output.n == 1', 'output.s == "x"',
  'output.s.startsWith("a")', 'output.s.contains("b")', 'size(output.s) < 5', 'has(output.a) && output.a.b == 1.0',
  'has(output.m) ? size(output.m) > 1 : false', 'output.n in [1.0, 2.0]', '"a" in output.m', 'output.m == {"a": 1.0}', 'output.entities == []',
  'output.entities[0].confidence >= 75.0', 'output.entities[0].name.matches("^[a-z]+$")', 'output.n + 1.0 > 2.0', 'int(output.n) + 1 > 2',
  '!(output.b == true)', 'output.b', 'output.n', 'output', '-output.n < 0.0', 'output.a["b"] != null', 'size(output) > 2',
  'output.list.size() > 1', 'output.s + output.s == "aa"', 'output.entities[1] == output.entities[0]', 'output.m.a.b.c == 1.0 || output.n < 0.0',
  'output.list[0] in output.list', 'string(output.n) == "1"', 'output.n / 0.0 > 1.0'
]

const compiled = SOURCES.map(source => ({ source, analysis: analyzeCriterion(source) }))
  .flatMap(({ source, analysis }) => analysis.ok ? [{ source, program: analysis.program }] : [])

/** A small deterministic generator (mulberry32), so a failure names a reproducible case. */
function random (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KEYS = ['entities', 'n', 's', 'm', 'a', 'b', 'c', 'confidence', 'name', 'list']
function value (next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 6 : 8))
  switch (pick) {
    case 0: return null
    case 1: return next() < 0.5
    case 2: return [0, 1, 2, -1, 75, 80, 1.5, 1e21][Math.floor(next() * 8)]
    case 3: return ['', 'x', 'a', 'abc', 'bb', 'Zed', 'é😀', 'x'.repeat(40)][Math.floor(next() * 8)]
    case 4: return Math.floor(next() * 100) - 50
    case 5: return 'aa'
    case 6: return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1))
    default: {
      const out: Record<string, unknown> = {}
      for (let i = Math.floor(next() * 5); i > 0; i--) out[KEYS[Math.floor(next() * KEYS.length)]!] = value(next, depth + 1)
      return out
    }
  }
}

const bytesOf = (v: unknown): number => Buffer.byteLength(canonicalize(v))

describe('criteria run unmetered when they cannot come near the budget (criteria.ts)', () => {
  it('gives the metered run\'s results, word for word, over many outputs, one criterion and pairs of them', () => {
    expect(compiled.length).toBeGreaterThan(25)
    const next = random(7)
    const outputs: unknown[] = [{ entities: [{ name: 'scale', confidence: 99 }] }, {}, { entities: [] }, { entities: 'x' }, 'x', [], 1, null]
    for (let i = 0; i < 300; i++) {
      const o = value(next, 0)
      outputs.push(o !== null && typeof o === 'object' && !Array.isArray(o) ? { entities: [value(next, 1), value(next, 1)], ...o } : o)
    }
    let unmetered = 0
    let passed = 0
    let failed = 0
    for (const output of outputs) {
      const bytes = bytesOf(output)
      const sets = compiled.map((c, i) => i % 3 === 0 ? [c, compiled[(i * 7 + 3) % compiled.length]!] : [c])
      for (const criteria of sets) {
        const metered = evaluateCriteria(criteria, { text: 'in' }, output)
        const fast = evaluateCriteria(criteria, { text: 'in' }, output, MAX_CRITERIA_COST, bytes)
        expect(fast, `${criteria.map(c => c.source).join(' ; ')} on ${JSON.stringify(output)}`).toEqual(metered)
        const bound = unmeteredBound(criteria, { text: 'in' }, bytes)
        if (bound != null && bound <= MAX_CRITERIA_COST) {
          unmetered++
          // A metered run with only the bound as its budget is never stopped by it.
          expect(evaluateCriteria(criteria, { text: 'in' }, output, bound), `${criteria.map(c => c.source).join(' ; ')} on ${JSON.stringify(output)}`).toEqual(metered)
        }
        if (metered.length === 0) passed++
        else failed++
      }
    }
    expect(unmetered).toBeGreaterThan(5000)
    expect(passed).toBeGreaterThan(50)
    expect(failed).toBeGreaterThan(3000)
  })

  it('stays metered for comprehensions, reads of the input, large outputs and small budgets: the cost limit still stops what it stopped', () => {
    const program = (source: string): { source: string, program: import('@marcbachmann/cel-js').ParseResult } => {
      const a = analyzeCriterion(source)
      if (!a.ok) throw new Error(a.message)
      return { source, program: a.program }
    }
    expect(unmeteredBound([program('output.entities.all(e, e.confidence >= 75.0)')], null, 10)).toBeNull()
    expect(unmeteredBound([program('input.x == output.x')], null, 10)).toBeNull()
    const size = program('size(output.s) > 0')
    const big = { s: 'x'.repeat(1_000_000) }
    expect(unmeteredBound([size], null, bytesOf(big))!).toBeGreaterThan(MAX_CRITERIA_COST)
    // A budget below what the read costs: stopped, metered, as before.
    const stopped = evaluateCriteria([size], null, big, 1000, bytesOf(big))
    expect(stopped).toEqual(evaluateCriteria([size], null, big, 1000))
    expect(stopped[0]?.reason).toMatch(/^stopped: evaluating it would cost more than the limit of 1000 units/)
    // Through checkOutput, the way a coordinator judges an output: the same verdicts as before.
    const spec = valid({ ...baseSpec(), successCriteria: ['size(output.entities) >= 1', 'output.entities[0].confidence >= 75.0'] })
    const entity = { type: 'person', value: 'Ada', confidence: 90 }
    expect(checkOutput(spec, { text: 'x' }, { entities: [entity] })).toEqual({ ok: true })
    expect(checkOutput(spec, { text: 'x' }, { entities: [{ ...entity, confidence: 10 }] })).toEqual({ ok: false, failures: [{ criterion: 'output.entities[0].confidence >= 75.0', reason: 'evaluated to false' }] })
    const empty = checkOutput(spec, { text: 'x' }, { entities: [] })
    expect(empty).toEqual({ ok: false, failures: [{ criterion: 'size(output.entities) >= 1', reason: 'evaluated to false' }, { criterion: 'output.entities[0].confidence >= 75.0', reason: expect.stringMatching(/^evaluation failed: /) }] })
  })
})
