import { describe, expect, it } from 'vitest'
import { specId, type Spec } from '../../../src/spec/index.ts'
import { canonicalPath, forkSpec, parseAssignment, parsePath, specChanges, specLineage, type Assignment, type ForkResult } from '../../../src/spec/fork.ts'
import { baseSpec, expectActionable, problemAt, valid } from './helpers.ts'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const parent = valid({ ...baseSpec(), deadline: '5m', softDeadline: '4m' })
const parentId = specId(parent)

/** Parse `path=value` arguments the way the CLI does. */
function sets (...args: string[]): Assignment[] {
  return args.map(arg => {
    const parsed = parseAssignment(arg)
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.assignment
  })
}

function forked (result: ForkResult): { spec: Spec, changes: Array<{ path: string, from?: unknown, to?: unknown }> } {
  if (!result.ok) throw new Error(`expected a valid fork, got:\n${result.problems.map(p => `${p.path}: ${p.message}`).join('\n')}`)
  return result
}

function problems (result: ForkResult): Array<{ path: string, message: string }> {
  if (result.ok) throw new Error('expected problems, but the fork is valid')
  return result.problems
}

describe('parseAssignment reads VALUE as YAML', () => {
  it('types numbers, booleans, null, lists and mappings; keeps durations and instants as text', () => {
    const value = (arg: string): unknown => (parseAssignment(arg) as { ok: true, assignment: Assignment }).assignment.value
    expect(value('budget.maxUsd=0.2')).toBe(0.2)
    expect(value('capacity.maxConcurrentRequests=5')).toBe(5)
    expect(value('budget.includesFees=true')).toBe(true)
    expect(value('deadline=2m')).toBe('2m')
    expect(value('deadline=2026-09-01T18:00:00Z')).toBe('2026-09-01T18:00:00Z')
    expect(value('softDeadline=null')).toBeNull()
    expect(value('softDeadline=')).toBeNull()
    expect(value('successCriteria=[output.ok == true]')).toEqual(['output.ok == true'])
    expect(value('budget.costBreakdown={compute: 0.3}')).toEqual({ compute: 0.3 })
    // yes/no are YAML 1.1 booleans; the core schema keeps them as text.
    expect(value('description=yes')).toBe('yes')
  })

  it('keeps text fields as written: version=2.0 is "2.0", variant=2 is "2"', () => {
    expect(parseAssignment('version=2.0')).toEqual({ ok: true, assignment: { path: 'version', value: '2.0' } })
    expect(parseAssignment('variant=2')).toEqual({ ok: true, assignment: { path: 'variant', value: '2' } })
    expect(parseAssignment('variant="fast lane"')).toEqual({ ok: true, assignment: { path: 'variant', value: 'fast lane' } })
  })

  it('splits at the first =, so values may contain one', () => {
    expect(parseAssignment('successCriteria[0]=output.a == 1')).toEqual({ ok: true, assignment: { path: 'successCriteria[0]', value: 'output.a == 1' } })
  })

  it('refuses what is not FIELD=VALUE, naming the argument', () => {
    for (const arg of ['deadline', '=5', 'a..b=1', 'deadline=[1']) {
      const parsed = parseAssignment(arg)
      expect(parsed.ok, arg).toBe(false)
      expect((parsed as { message: string }).message).toContain(arg)
    }
  })
})

describe('paths', () => {
  it('parse dots and indexes', () => {
    expect(parsePath('budget.maxUsd')).toEqual(['budget', 'maxUsd'])
    expect(parsePath('successCriteria[1]')).toEqual(['successCriteria', 1])
    expect(parsePath('successCriteria.1')).toEqual(['successCriteria', 1])
    expect(parsePath('input.properties.text.maxLength')).toEqual(['input', 'properties', 'text', 'maxLength'])
    expect(typeof parsePath('[0]')).toBe('string')
  })

  it('accept snake_case aliases where spec files do, and nowhere else', () => {
    expect(canonicalPath(['cost_usd'])).toEqual(['costUsd'])
    expect(canonicalPath(['budget', 'max_usd'])).toEqual(['budget', 'maxUsd'])
    expect(canonicalPath(['capacity', 'max_concurrent_requests'])).toEqual(['capacity', 'maxConcurrentRequests'])
    expect(canonicalPath(['soft_deadline'])).toEqual(['softDeadline'])
    // The author's keys inside schemas and cost breakdowns are kept verbatim.
    expect(canonicalPath(['input', 'properties', 'max_len'])).toEqual(['input', 'properties', 'max_len'])
    expect(canonicalPath(['budget', 'cost_breakdown', 'gpu_time'])).toEqual(['budget', 'costBreakdown', 'gpu_time'])
  })
})

describe('forkSpec', () => {
  it('makes the SLA variant of the issue: tighter deadline, higher price, parent = old id', () => {
    const fork = forked(forkSpec(parentId, parent, sets('variant=fast', 'deadline=1m', 'softDeadline=50s', 'costUsd=0.3', 'budget.maxUsd=0.5'), { now: NOW }))
    expect(fork.spec).toMatchObject({ parent: parentId, variant: 'fast', deadline: 60, softDeadline: 50, costUsd: 0.3, budget: { maxUsd: 0.5 } })
    expect(specId(fork.spec)).not.toBe(parentId)
    // Everything not set is the parent's.
    expect({ ...fork.spec, parent: undefined, variant: undefined, deadline: undefined, softDeadline: undefined, costUsd: undefined })
      .toEqual({ ...parent, variant: undefined, deadline: undefined, softDeadline: undefined, costUsd: undefined })
    expect(fork.changes).toEqual([
      { path: 'costUsd', from: 0.05, to: 0.3 },
      { path: 'deadline', from: 300, to: 60 },
      { path: 'softDeadline', from: 240, to: 50 },
      { path: 'variant', to: 'fast' }
    ])
  })

  it('sets nested fields through snake_case aliases and creates missing sections', () => {
    const bare = valid({ name: 'bare', input: true, output: true })
    const fork = forked(forkSpec(specId(bare), bare, sets('budget.max_usd=0.2', 'capacity.max_concurrent_requests=5', 'cost_usd=0.1'), { now: NOW }))
    expect(fork.spec.budget).toEqual({ maxUsd: 0.2, currency: 'USD', includesFees: false, overageBehavior: 'fail' })
    expect(fork.spec.capacity).toEqual({ maxConcurrentRequests: 5 })
    expect(fork.spec.costUsd).toBe(0.1)
    expect(fork.changes.map(c => c.path)).toEqual(['costUsd', 'budget', 'capacity'])
  })

  it('changes one entry of a list, appends, and removes a field with null', () => {
    const fork = forked(forkSpec(parentId, parent, sets('successCriteria[1]=size(output.entities) > 0', 'softDeadline=null', 'input.properties.text.maxLength=500'), { now: NOW }))
    expect(fork.spec.successCriteria).toEqual(['output.entities.all(e, e.confidence >= 75)', 'size(output.entities) > 0'])
    expect(fork.spec.softDeadline).toBeUndefined()
    expect((fork.spec.input as any).properties.text.maxLength).toBe(500)
    expect(fork.changes).toContainEqual({ path: 'softDeadline', from: 240 })
    expect(fork.changes).toContainEqual({ path: 'input.properties.text.maxLength', from: 10000, to: 500 })
  })

  it('takes typed values from the API as they are', () => {
    const fork = forked(forkSpec(parentId, parent, [{ path: 'deadline', value: 90 }, { path: 'softDeadline', value: '1m' }, { path: 'variant', value: 'slow' }], { now: NOW }))
    expect(fork.spec).toMatchObject({ deadline: 90, softDeadline: 60, variant: 'slow' })
  })

  it('validates the fork like any spec: every problem names the canonical field', () => {
    const bad = problems(forkSpec(parentId, parent, sets('costUsd=0.9', 'capacity.max_retries=-1', 'deadline=soon'), { now: NOW }))
    expectActionable(problemAt(bad, 'costUsd'))
    expect(problemAt(bad, 'costUsd').message).toMatch(/budget\.maxUsd/)
    expectActionable(problemAt(bad, 'capacity.maxRetries'))
    problemAt(bad, 'deadline')
  })

  it('refuses a fork whose deadline mixes kinds or comes before its soft deadline', () => {
    expect(problemAt(problems(forkSpec(parentId, parent, sets('deadline=2026-09-01T00:00:00Z'), { now: NOW })), 'softDeadline').message).toMatch(/absolute|duration/)
    expect(problemAt(problems(forkSpec(parentId, parent, sets('deadline=1m'), { now: NOW })), 'softDeadline').message).toMatch(/after the deadline/)
  })

  it('refuses an absolute deadline already in the past', () => {
    const absolute = valid({ ...baseSpec(), deadline: '2026-07-01T00:00:00Z' }, { now: NOW })
    const bad = problems(forkSpec(specId(absolute), absolute, sets('variant=fast'), { now: Date.parse('2026-08-01T00:00:00Z') }))
    expect(problemAt(bad, 'deadline').message).toMatch(/already passed/)
  })

  it('names unknown fields with a guess, and refuses to set parent', () => {
    expect(problemAt(problems(forkSpec(parentId, parent, sets('dedline=1m'), { now: NOW })), 'dedline').message).toMatch(/did you mean "deadline"/)
    expect(problemAt(problems(forkSpec(parentId, parent, sets('budget.maxUSD_=1'), { now: NOW })), 'budget.maxUSD_').message).toMatch(/unknown field/)
    expect(problemAt(problems(forkSpec(parentId, parent, sets(`parent=${parentId}`), { now: NOW })), 'parent').message).toMatch(/set by the fork/)
  })

  it('refuses paths through scalars and indexes past the end of a list', () => {
    expect(problemAt(problems(forkSpec(parentId, parent, sets('costUsd.x=1'), { now: NOW })), 'costUsd').message).toMatch(/a number/)
    expect(problemAt(problems(forkSpec(parentId, parent, sets('successCriteria[5]=true'), { now: NOW })), 'successCriteria[5]').message).toMatch(/past the end/)
  })

  it('refuses a fork that changes nothing, and one with nothing to set', () => {
    expect(problems(forkSpec(parentId, parent, sets('costUsd=0.05'), { now: NOW }))[0]!.message).toMatch(/identical to its parent/)
    expect(problems(forkSpec(parentId, parent, [], { now: NOW }))[0]!.message).toMatch(/nothing to change/)
  })

  it('a fork of a fork points at its own parent', () => {
    const fast = forked(forkSpec(parentId, parent, sets('variant=fast'), { now: NOW })).spec
    const faster = forked(forkSpec(specId(fast), fast, sets('variant=faster', 'deadline=2m', 'softDeadline=1m'), { now: NOW }))
    expect(faster.spec.parent).toBe(specId(fast))
    expect(faster.changes.map(c => c.path)).toEqual(['deadline', 'softDeadline', 'variant'])
  })
})

describe('specChanges', () => {
  it('lists leaf differences and ignores parent', () => {
    expect(specChanges({ a: 1, b: { c: 2, d: [1, 2] }, parent: 'x' }, { a: 1, b: { c: 3, d: [1, 2, 3] }, e: true, parent: 'y' })).toEqual([
      { path: 'b.c', from: 2, to: 3 },
      { path: 'b.d', from: [1, 2], to: [1, 2, 3] },
      { path: 'e', to: true }
    ])
  })
})

describe('specLineage', () => {
  const root = parent
  const fast = forked(forkSpec(parentId, root, sets('variant=fast'), { now: NOW })).spec
  const cheap = forked(forkSpec(parentId, root, sets('variant=cheap', 'costUsd=0.01'), { now: NOW })).spec
  const faster = forked(forkSpec(specId(fast), fast, sets('variant=faster'), { now: NOW })).spec
  const specs = new Map<string, Spec>([root, fast, cheap, faster].map(s => [specId(s), s]))

  it('walks the parent chain up to the root', () => {
    const lineage = specLineage(specId(faster), specs)
    expect(lineage.ancestors.map(a => [a.id, a.variant])).toEqual([[specId(fast), 'fast'], [parentId, undefined]])
    expect(lineage.descendants).toEqual([])
  })

  it('lists every known fork below, depth first', () => {
    const lineage = specLineage(parentId, specs)
    expect(lineage.ancestors).toEqual([])
    const byId = lineage.descendants.map(d => [d.id, d.depth, d.parent])
    expect(byId).toHaveLength(3)
    expect(byId).toContainEqual([specId(cheap), 1, parentId])
    const fastAt = byId.findIndex(d => d[0] === specId(fast))
    expect(byId[fastAt + 1]).toEqual([specId(faster), 2, specId(fast)])
  })

  it('stops at a parent the node does not hold, naming it', () => {
    const partial = new Map(specs)
    partial.delete(specId(fast))
    expect(specLineage(specId(faster), partial).ancestors).toEqual([{ id: specId(fast), held: false }])
  })
})
