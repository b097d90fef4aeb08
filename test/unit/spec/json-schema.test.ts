import { describe, it, expect } from 'vitest'
import { checkJsonSchema, compileSchema } from '../../../src/spec/json-schema.ts'
import { regexProblem } from '../../../src/spec/regex-safety.ts'

const ok = (schema: unknown): void => {
  expect(checkJsonSchema(schema, 'output')).toEqual([])
}
const fails = (schema: unknown, path: string, message: RegExp): void => {
  const problems = checkJsonSchema(schema, 'output')
  expect(problems.map(p => p.path), JSON.stringify(problems)).toContain(path)
  expect(problems.find(p => p.path === path)!.message).toMatch(message)
}

describe('checkJsonSchema accepts', () => {
  it('booleans, ordinary schemas, annotations and x- extensions', () => {
    ok(true)
    ok(false)
    ok({})
    ok({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: 'Entities',
      type: ['object', 'null'],
      properties: { a: { type: 'string', format: 'date-time', examples: ['2026-01-01T00:00:00Z'] }, b: true },
      patternProperties: { '^x_': { type: 'number', exclusiveMinimum: 0 } },
      additionalProperties: false,
      dependentRequired: { a: ['b'] },
      'x-owner': { team: 'nlp' }
    })
    ok({ type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'number' }, contains: { const: 1 }, minContains: 1 })
  })

  it('local references to $defs, shared by several places', () => {
    ok({ $defs: { e: { type: 'string' } }, type: 'object', properties: { a: { $ref: '#/$defs/e' }, b: { $ref: '#/$defs/e' } } })
    ok({ $defs: { 'with space': { type: 'string' } }, $ref: '#/$defs/with%20space' })
  })
})

describe('checkJsonSchema rejects', () => {
  it('reference cycles (recursive schemas are not supported in v1)', () => {
    fails({ $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' }, 'output', /cycle/)
    fails({ $ref: '#' }, 'output', /cycle/)
  })

  it('a schema that explodes once references are inlined', () => {
    const $defs: Record<string, unknown> = { d0: { type: 'string' } }
    for (let i = 1; i <= 20; i++) $defs[`d${i}`] = { allOf: [{ $ref: `#/$defs/d${i - 1}` }, { $ref: `#/$defs/d${i - 1}` }] }
    fails({ $defs, $ref: '#/$defs/d20' }, 'output', /more than 5000 subschemas/)
  })

  it('pre-2020 and unsupported keywords, with the 2020-12 replacement', () => {
    fails({ type: 'array', items: [{ type: 'string' }] }, 'output.items', /prefixItems/)
    fails({ type: 'object', dependencies: { a: ['b'] } }, 'output.dependencies', /dependentRequired/)
    fails({ type: 'number', exclusiveMinimum: true, minimum: 0 }, 'output.exclusiveMinimum', /write the bound itself/)
    fails({ $dynamicRef: '#x' }, 'output.$dynamicRef', /not supported/)
    fails({ $schema: 'http://json-schema.org/draft-07/schema#' }, 'output.$schema', /2020-12/)
    fails({ properties: { a: { $id: 'x' } } }, 'output.properties.a.$id', /remove it/)
  })

  it('bad keyword values', () => {
    fails({ type: [] }, 'output.type', /empty type list/)
    fails({ type: ['string', 'string'] }, 'output.type', /twice/)
    fails({ enum: [] }, 'output.enum', /non-empty list/)
    fails({ minLength: -1 }, 'output.minLength', /whole number/)
    fails({ multipleOf: 0 }, 'output.multipleOf', /above 0/)
    fails({ anyOf: [] }, 'output.anyOf', /non-empty list/)
    fails({ required: ['a', 'a'] }, 'output.required', /twice/)
    fails({ patternProperties: { '(a*)*': true } }, 'output.patternProperties["(a*)*"]', /exponential/)
    fails({ type: 'object', properties: { a: 'number between 0 and 1' } }, 'output.properties.a', /perhaps \{ type: number \}/)
    fails(42, 'output', /not a JSON Schema/)
  })

  it('schemas nested too deep', () => {
    let schema: unknown = { type: 'string' }
    for (let i = 0; i < 40; i++) schema = { type: 'array', items: schema }
    expect(checkJsonSchema(schema, 'output').map(p => p.message).join()).toMatch(/nest more than 32 levels/)
  })
})

describe('compileSchema', () => {
  it('reports leaf violations with instance paths, not wrapper noise', () => {
    const schema = compileSchema({
      type: 'object',
      properties: {
        list: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer' } }, additionalProperties: false } },
        '0': { type: 'string' },
        choice: { anyOf: [{ type: 'string' }, { type: 'integer' }] }
      },
      required: ['list']
    }, 'output')
    // (JavaScript lists the integer-like key "0" first.)
    expect(schema.validate({ list: [{ n: 1.5, extra: true }], 0: 7, choice: 1.5 })).toEqual([
      { path: 'output["0"]', message: 'Instance type "number" is invalid. Expected "string"' },
      { path: 'output.list[0].n', message: 'Instance type "number" is invalid. Expected "integer"' },
      { path: 'output.list[0].extra', message: 'is not allowed by the schema' },
      { path: 'output.choice', message: 'Instance does not match any subschemas' }
    ])
    expect(schema.validate({ list: [] })).toEqual([])
  })

  it('caps the number of reported violations', () => {
    const schema = compileSchema({ type: 'array', items: { type: 'string' } }, 'output')
    const violations = schema.validate(Array.from({ length: 50 }, (_, i) => i))
    expect(violations).toHaveLength(11)
    expect(violations[10]).toEqual({ path: 'output', message: 'and 40 more schema violations' })
  })

  it('does not mutate the schema it is given', () => {
    const source = { $defs: { e: { type: 'string' } }, properties: { a: { $ref: '#/$defs/e' } } }
    const copy = structuredClone(source)
    compileSchema(source, 'output').validate({ a: 'x' })
    expect(source).toEqual(copy)
    expect(Object.getOwnPropertyNames(source.properties.a)).toEqual(['$ref'])
  })
})

describe('regexProblem', () => {
  it('accepts ordinary patterns', () => {
    for (const p of ['^[a-z0-9-]+$', '^\\d{4}-\\d{2}-\\d{2}$', '^[^@]+@[^@]+\\.[a-z]{2,}$', '(ab)+', '(?:foo|bar)?baz', '\\p{L}+', '^\\u{1F600}{1,3}$', '[(+*]']) {
      expect(regexProblem(p, 'u'), p).toBeUndefined()
    }
  })

  it('refuses nested repetition and backreferences', () => {
    for (const p of ['(a+)+', '(a*)*b', '^(\\w+\\s?)*$', '((ab)*c)+', '(a{2,}){2,}', '(?:x|y+)*']) {
      expect(regexProblem(p, 'u'), p).toMatch(/exponential/)
    }
    expect(regexProblem('(a)\\1', '')).toMatch(/backreference/)
    expect(regexProblem('(?<x>a)\\k<x>', '')).toMatch(/backreference/)
  })

  it('refuses invalid and overlong patterns', () => {
    expect(regexProblem('(', 'u')).toMatch(/not a valid regular expression/)
    expect(regexProblem('a'.repeat(300), 'u')).toMatch(/more than 256/)
  })
})
