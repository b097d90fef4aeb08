import { describe, expect, it } from 'vitest'
import { Validator, type Schema } from '@cfworker/json-schema'
import { compilePlainSchema } from '../../../src/spec/plain-schema.ts'
import { compileSchema } from '../../../src/spec/json-schema.ts'
import { checkOutput } from '../../../src/spec/check.ts'
import { normalizedSample } from '../../helpers/specs.ts'
import { seededRandom } from '../../helpers/fuzz.ts'

const TYPES = ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']
const NAMES = ['a', 'b', 'name', 'confidence', '__proto__', 'toString', 'x y']
const PRIMITIVES: unknown[] = [null, true, false, 0, -0, 1, 1.5, -3, 2 ** 53, '', 'a', 'é', '😀😀', 'name', 'toString']

function schemaOf (next: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!
  if (next() < 0.08) return next() < 0.8
  const node: Record<string, unknown> = {}
  const keywords = Math.floor(next() * 4)
  for (let k = 0; k < keywords; k++) {
    switch (pick(['type', 'type', 'enum', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'required', 'items', 'properties', 'additionalProperties', 'description'])) {
      case 'type': node.type = pick(TYPES); break
      case 'enum': node.enum = PRIMITIVES.filter(() => next() < 0.3); break
      case 'const': node.const = pick(PRIMITIVES); break
      case 'minimum': node.minimum = pick([-1, 0, 1, 1.5]); break
      case 'maximum': node.maximum = pick([-1, 0, 1, 1.5]); break
      case 'exclusiveMinimum': node.exclusiveMinimum = pick([-1, 0, 1]); break
      case 'exclusiveMaximum': node.exclusiveMaximum = pick([-1, 0, 1]); break
      case 'minLength': node.minLength = pick([0, 1, 2]); break
      case 'maxLength': node.maxLength = pick([0, 1, 2]); break
      case 'minItems': node.minItems = pick([0, 1, 2]); break
      case 'maxItems': node.maxItems = pick([0, 1, 2]); break
      case 'required': node.required = NAMES.filter(() => next() < 0.3); break
      case 'description': node.description = 'words'; break
      case 'items': if (depth < 3) node.items = schemaOf(next, depth + 1); break
      case 'additionalProperties': if (depth < 3) node.additionalProperties = schemaOf(next, depth + 1); break
      case 'properties':
        if (depth < 3) {
          const properties: Record<string, unknown> = {}
          for (const name of NAMES) if (next() < 0.35) Object.defineProperty(properties, name, { value: schemaOf(next, depth + 1), enumerable: true, writable: true, configurable: true })
          node.properties = properties
        }
        break
    }
  }
  return node
}

function instanceOf (next: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!
  const r = next()
  if (depth >= 3 || r < 0.5) return pick(PRIMITIVES)
  if (r < 0.75) return Array.from({ length: Math.floor(next() * 3) }, () => instanceOf(next, depth + 1))
  const out: Record<string, unknown> = {}
  for (const name of NAMES) if (next() < 0.4) Object.defineProperty(out, name, { value: instanceOf(next, depth + 1), enumerable: true, writable: true, configurable: true })
  return out
}

describe('plain schemas checked without the interpreter (plain-schema.ts)', () => {
  it('gives @cfworker/json-schema\'s verdict on generated schemas and instances', () => {
    const next = seededRandom(13)
    let plain = 0
    let valid = 0
    for (let s = 0; s < 1500; s++) {
      const schema = schemaOf(next, 0)
      const check = compilePlainSchema(schema)
      expect(check, JSON.stringify(schema)).not.toBeNull()
      plain++
      const full = new Validator(structuredClone(schema) as Schema, '2020-12', false)
      for (let i = 0; i < 20; i++) {
        const instance = instanceOf(next, 0)
        const expected = full.validate(instance).valid
        if (expected) valid++
        expect(check!(instance), `schema ${JSON.stringify(schema)} instance ${JSON.stringify(instance)}`).toBe(expected)
      }
    }
    expect(plain).toBe(1500)
    // Both verdicts are exercised.
    expect(valid).toBeGreaterThan(3000)
    expect(valid).toBeLessThan(27000)
  })

  it('leaves every other keyword, and a non-plain value of a plain one, to the interpreter', () => {
    for (const schema of [
      { $ref: '#/$defs/a', $defs: { a: { type: 'string' } } },
      { anyOf: [{ type: 'string' }] },
      { type: 'string', pattern: '^a' },
      { type: 'string', format: 'email' },
      { type: ['string', 'null'] },
      { enum: [{ a: 1 }] },
      { const: [1] },
      { items: [{ type: 'string' }] },
      { properties: { a: { oneOf: [{ type: 'string' }] } } },
      { additionalProperties: { not: {} } },
      { uniqueItems: true, maxItems: 3 },
      { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' },
      { patternProperties: { '^a': { type: 'string' } } },
      { minimum: '1' }
    ]) {
      expect(compilePlainSchema(schema), JSON.stringify(schema)).toBeNull()
    }
  })

  it('keeps the interpreter\'s words for a plain schema\'s violations', () => {
    const schema = normalizedSample('plain').output
    const compiled = compileSchema(schema, 'output')
    expect(compilePlainSchema(schema)).not.toBeNull()
    expect(compiled.validate({ entities: [{ name: 'a', confidence: 1 }] })).toEqual([])
    expect(compiled.validate({ entities: [{ name: 'a', confidence: 'high' }] })).toEqual([{ path: 'output.entities[0].confidence', message: 'Instance type "string" is invalid. Expected "number"' }])
    expect(compiled.validate({})).toEqual([{ path: 'output', message: 'Instance does not have required property "entities"' }])
  })

  it('leaves an output check\'s verdicts and paths as they were', () => {
    const spec = normalizedSample('plain-check', { successCriteria: ['size(output.entities) >= 1'] })
    expect(checkOutput(spec, { text: 'x' }, { entities: [{ name: 'a', confidence: 99 }] })).toEqual({ ok: true })
    expect(checkOutput(spec, { text: 'x' }, { entities: [{ name: 'a', confidence: Infinity }] })).toEqual({ ok: false, failures: [{ criterion: 'output', reason: 'output.entities[0].confidence: Infinity is not a JSON number' }] })
    expect(checkOutput(spec, { text: 'x' }, { entities: [{ 'odd key': new Map() }] })).toEqual({ ok: false, failures: [{ criterion: 'output', reason: 'output.entities[0]["odd key"]: Map is not JSON; convert it to a list or mapping' }] })
    const own = JSON.parse('{"entities":[],"__proto__":{"x":1}}') as object
    const verdict = checkOutput(spec, { text: 'x' }, own)
    expect(verdict.ok).toBe(false)
  })
})
