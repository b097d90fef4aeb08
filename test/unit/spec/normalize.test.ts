import { describe, it, expect } from 'vitest'
import { stringify as toYaml } from 'yaml'
import { parseSpecText, specId, validateSpec, normalizeSpec } from '../../../src/spec/index.ts'
import { contentId } from '../../../src/crypto/content-id.ts'
import { baseSpec, valid } from './helpers.ts'

/** The same object with its keys in reverse order, at every level. */
function reversed (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversed(v)]))
}

const camel = `
name: extract-entities
version: "1.0"
input: { type: object, properties: { text: { type: string } }, required: [text] }
output: { type: object, properties: { entities: { type: array } }, required: [entities] }
successCriteria:
  - output.entities.all(e, e.confidence >= 75)
costUsd: 0.05
deadline: 5m
softDeadline: 4m
executionWindow: 120
budget:
  maxUsd: 0.5
  currency: USD
  includesFees: true
  costBreakdown: { compute: 0.3, storage: 0.1, api_calls: 0.1 }
  overageBehavior: fail
capacity:
  maxConcurrentRequests: 5
  maxConcurrentRetries: 3
  backoffMultiplier: 1.5
  maxRetries: 3
  timeoutSeconds: 30
`

const snake = `
name: extract-entities
version: "1.0"
input: { type: object, properties: { text: { type: string } }, required: [text] }
output: { type: object, properties: { entities: { type: array } }, required: [entities] }
success_criteria:
  - "  output.entities.all(e, e.confidence >= 75)  "
cost_usd: 0.050
deadline: PT5M
soft_deadline: 240s
execution_window: 2m
budget:
  max_usd: 0.50
  currency: usd
  includes_fees: true
  cost_breakdown:
    - compute: 0.30
    - storage: 0.10
    - api_calls: 0.10
  overage_behavior: FAIL
capacity:
  max_concurrent_requests: 5
  max_concurrent_retries: 3
  backoff_multiplier: 1.5
  max_retries: 3
  timeout_seconds: 30
`

describe('normalization gives one spec one id', () => {
  it('snake_case aliases and camelCase give the same spec and id', () => {
    const a = parseSpecText(camel)
    const b = parseSpecText(snake)
    expect(b).toEqual(a)
    expect(specId(b)).toBe(specId(a))
  })

  it('YAML and JSON spellings give the same id', () => {
    const fromYaml = parseSpecText(camel)
    const json = JSON.stringify(fromYaml, null, 2)
    expect(specId(parseSpecText(json))).toBe(specId(fromYaml))
  })

  it('key order does not matter, at any depth', () => {
    const spec = baseSpec()
    expect(specId(valid(reversed(spec)))).toBe(specId(valid(spec)))
    expect(specId(parseSpecText(toYaml(reversed(spec))))).toBe(specId(valid(spec)))
  })

  it('costBreakdown as a map or as a list of one-key maps is the same', () => {
    const map = baseSpec()
    map.budget = { maxUsd: 0.5, costBreakdown: { compute: 0.3, storage: 0.1, api_calls: 0.1 } }
    const list = baseSpec()
    list.budget = { maxUsd: 0.5, costBreakdown: [{ compute: 0.3 }, { storage: 0.1 }, { api_calls: 0.1 }] }
    const a = valid(map)
    expect(a.budget?.costBreakdown).toEqual({ compute: 0.3, storage: 0.1, api_calls: 0.1 })
    expect(specId(valid(list))).toBe(specId(a))
  })

  it('specId is the content id of the normalized body', () => {
    const spec = valid(baseSpec())
    expect(specId(spec)).toBe(contentId(spec))
    expect(specId(spec)).toMatch(/^b[a-z2-7]+$/)
  })

  it('applies defaults the same way whether or not they are written', () => {
    const bare = baseSpec()
    bare.budget = { maxUsd: 0.5 }
    delete bare.successCriteria
    const explicit = baseSpec()
    explicit.budget = { maxUsd: 0.5, currency: 'USD', includesFees: false, overageBehavior: 'fail', costBreakdown: {} }
    explicit.successCriteria = []
    expect(valid(bare).budget).toEqual({ maxUsd: 0.5, currency: 'USD', includesFees: false, overageBehavior: 'fail' })
    expect(valid(bare).successCriteria).toEqual([])
    expect(specId(valid(explicit))).toBe(specId(valid(bare)))
    // budget: 0.5 is shorthand for { maxUsd: 0.5 }
    expect(specId(valid({ ...bare, budget: 0.5 }))).toBe(specId(valid(bare)))
  })

  it('an empty capacity is the same as none', () => {
    const none = baseSpec()
    delete none.capacity
    expect(specId(valid({ ...none, capacity: {} }))).toBe(specId(valid(none)))
  })

  it('normalizing is idempotent: a canonical spec validates to itself', () => {
    const spec = parseSpecText(snake)
    expect(valid(spec)).toEqual(spec)
    expect(validateSpec(spec, { requireCanonical: true }).ok).toBe(true)
    const raw = validateSpec(normalizeSpec(spec).spec)
    expect(raw.ok && specId(raw.spec)).toBe(specId(spec))
  })

  it('requireCanonical refuses a body that normalization would change', () => {
    const spec = baseSpec()
    spec.cost_usd = spec.costUsd
    delete spec.costUsd
    const result = validateSpec(spec, { requireCanonical: true })
    expect(result.ok).toBe(false)
    expect(!result.ok && result.problems[0]!.message).toMatch(/canonical/)
  })

  it('never rewrites keys inside input and output schemas', () => {
    const spec = baseSpec()
    spec.input = { type: 'object', properties: { max_usd: { type: 'number' }, cost_usd: { type: 'number' } }, required: ['max_usd'] }
    expect(valid(spec).input).toEqual(spec.input)
  })

  it('refuses a key named __proto__ anywhere in a spec, naming where (every node refuses messages holding it)', () => {
    const spec = baseSpec()
    spec.input = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}')
    const result = validateSpec(spec)
    expect(result.ok).toBe(false)
    expect(!result.ok && result.problems.map(p => [p.path, p.message])).toContainEqual(['input.properties.__proto__', expect.stringContaining('rename it')])
    // normalizeSpec alone (a YAML spec's path) says the same.
    expect(normalizeSpec(spec).problems.map(p => p.path)).toContain('input.properties.__proto__')
  })

  it('keeps the author’s spelling of a YAML numeric version', () => {
    const base = toYaml(baseSpec()).replace(/^version: .*$/m, '')
    expect(parseSpecText(base + 'version: 1.0\n').version).toBe('1.0')
    expect(parseSpecText(base + 'version: 1.10\n').version).toBe('1.10')
    expect(parseSpecText(base + 'version: 2\n').version).toBe('2')
    expect(valid({ ...baseSpec(), version: 3 }).version).toBe('3')
  })

  it('numbers normalize: 0.50, 0.5 and 5e-1 are one price', () => {
    const base = toYaml(baseSpec()).replace(/^costUsd: .*$/m, '')
    const ids = ['0.050', '0.05', '5e-2'].map(n => specId(parseSpecText(base + `costUsd: ${n}\n`)))
    expect(new Set(ids).size).toBe(1)
  })
})

describe('deadlines normalize to one canonical form', () => {
  const withDeadlines = (deadline: unknown, softDeadline?: unknown): Record<string, unknown> => {
    const spec = baseSpec()
    spec.deadline = deadline
    if (softDeadline !== undefined) spec.softDeadline = softDeadline
    return spec
  }

  it('relative durations in every spelling become seconds', () => {
    for (const spelling of [300, '300', '300s', '5m', '5 min', 'PT5M', 'pt300s', '4m60s']) {
      expect(valid(withDeadlines(spelling)).deadline, String(spelling)).toBe(300)
    }
    expect(valid(withDeadlines('1h30m')).deadline).toBe(5400)
    expect(valid(withDeadlines('P1DT2H')).deadline).toBe(93600)
    expect(valid(withDeadlines('1500ms')).deadline).toBe(1.5)
  })

  it('absolute instants become UTC ISO strings with Z', () => {
    expect(valid(withDeadlines('2099-03-01T18:00:00Z')).deadline).toBe('2099-03-01T18:00:00Z')
    expect(valid(withDeadlines('2099-03-01T19:00:00+01:00')).deadline).toBe('2099-03-01T18:00:00Z')
    expect(valid(withDeadlines('2099-03-01T18:00:00.000Z')).deadline).toBe('2099-03-01T18:00:00Z')
    expect(valid(withDeadlines('2099-03-01T18:00:00.250Z')).deadline).toBe('2099-03-01T18:00:00.250Z')
    const a = specId(valid(withDeadlines('2099-03-01T18:00:00Z')))
    expect(specId(valid(withDeadlines('2099-03-01T20:00:00+02:00')))).toBe(a)
  })

  it('executionWindow accepts the duration spellings too', () => {
    for (const w of [90, '90s', '1m30s', 'PT1M30S']) {
      expect(valid({ ...baseSpec(), executionWindow: w }).executionWindow).toBe(90)
    }
  })
})
