import { Validator, type Schema, type OutputUnit } from '@cfworker/json-schema'
import type { Problem } from './errors.ts'
import { MAX_SCHEMA_DEPTH, MAX_SCHEMA_EXPANDED_NODES, MAX_UNIQUE_ITEMS, MAX_REPORTED_SCHEMA_ERRORS } from './constants.ts'
import { regexProblem } from './regex-safety.ts'
import { compilePlainSchema } from './plain-schema.ts'
import { didYouMean, joinPath, show, describeType } from './suggest.ts'

/**
 * The input and output schemas of a spec are JSON Schema 2020-12, written by strangers and
 * applied to strangers' data. This module checks that a schema is well formed (so a typo
 * cannot silently make it accept everything), that it is cheap to apply (no $ref cycles,
 * bounded size once refs are inlined, no exponential regexes, no quadratic uniqueItems on
 * unbounded arrays), and applies it with @cfworker/json-schema, which interprets schemas
 * without generating code.
 */

const TYPES = ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'] as const
const TYPE_HINTS: Record<string, string> = {
  int: 'integer', long: 'integer', float: 'number', double: 'number', decimal: 'number',
  bool: 'boolean', str: 'string', text: 'string', list: 'array', dict: 'object', map: 'object', none: 'null'
}

const SINGLE_SCHEMA = ['not', 'if', 'then', 'else', 'items', 'contains', 'additionalProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties'] as const
const SCHEMA_LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const
const SCHEMA_MAP = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'] as const
/** Applicators whose subschema may fail while the whole still passes: their results are not conjunctive. */
const DISJUNCTIVE = new Set(['anyOf', 'oneOf', 'not', 'if', 'contains'])
const NON_NEGATIVE_INTEGER = ['maxLength', 'minLength', 'maxItems', 'minItems', 'maxContains', 'minContains', 'maxProperties', 'minProperties'] as const
const NUMBER = ['maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum'] as const
const STRING_ANNOTATION = ['title', 'description', '$comment', 'contentMediaType', 'contentEncoding', '$anchor'] as const
const BOOLEAN_ANNOTATION = ['deprecated', 'readOnly', 'writeOnly', 'uniqueItems'] as const
const ANY_VALUE = ['const', 'default', 'examples', 'contentSchema', '$ref', '$schema', '$id', 'enum', 'required', 'dependentRequired', 'multipleOf', 'type', 'format', 'pattern'] as const

const KEYWORDS = new Set<string>([...SINGLE_SCHEMA, ...SCHEMA_LIST, ...SCHEMA_MAP, ...NON_NEGATIVE_INTEGER, ...NUMBER, ...STRING_ANNOTATION, ...BOOLEAN_ANNOTATION, ...ANY_VALUE])
const UNSUPPORTED: Record<string, string> = {
  $dynamicRef: 'is not supported in spec schemas; use $ref to a $defs entry',
  $dynamicAnchor: 'is not supported in spec schemas; use $ref to a $defs entry',
  $recursiveRef: 'is a draft 2019-09 keyword; use $ref to a $defs entry',
  $recursiveAnchor: 'is a draft 2019-09 keyword; remove it',
  $vocabulary: 'only belongs in meta-schemas; remove it',
  dependencies: 'is a draft-07 keyword; use dependentRequired (for a list of names) or dependentSchemas (for a schema)',
  additionalItems: 'is a draft 2019-09 keyword; in 2020-12 use prefixItems for the leading items and items for the rest',
  id: 'is a draft-04 keyword; remove it'
}
/** Formats the validator would run with a regex that backtracks exponentially on crafted strings. */
const UNSAFE_FORMATS: Record<string, string> = {
  url: 'its check can take exponential time on crafted output; use format "uri"'
}
const DRAFT_2020_12 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/

interface Walk {
  root: unknown
  rootPath: string
  problems: Problem[]
  /** Every position that holds a schema, by its JSON pointer (as $ref would write it, without #). */
  positions: Map<string, unknown>
  refs: Array<{ node: Record<string, unknown>, ref: string, path: string }>
  uniqueItems: Array<{ node: Record<string, unknown>, path: string }>
}

/**
 * Every problem with one schema, paths rooted at `rootPath` (`input` or `output`).
 * Pass the normalized JSON value (no shared substructure).
 */
export function checkJsonSchema (schema: unknown, rootPath: string): Problem[] {
  const walk: Walk = { root: schema, rootPath, problems: [], positions: new Map(), refs: [], uniqueItems: [] }
  if (typeof schema !== 'boolean' && !isPlainObject(schema)) {
    walk.problems.push({
      path: rootPath,
      message: `${describeType(schema)} is not a JSON Schema; describe the ${rootPath} as a JSON Schema object, e.g. { type: object, properties: { text: { type: string } }, required: [text] }`
    })
    return walk.problems
  }
  visit(walk, schema, rootPath, '', 0, true)
  if (walk.problems.length === 0) checkReferences(walk)
  if (walk.problems.length === 0) {
    try {
      new Validator(structuredClone(schema) as Schema, '2020-12', false).validate(null)
    } catch (err) {
      walk.problems.push({ path: rootPath, message: `the schema validator rejects it (${(err as Error).message}); fix the schema` })
    }
  }
  return walk.problems
}

function visit (walk: Walk, node: unknown, path: string, pointer: string, depth: number, isRoot: boolean): void {
  walk.positions.set(pointer, node)
  if (typeof node === 'boolean') return
  if (!isPlainObject(node)) {
    walk.problems.push({
      path,
      message: typeof node === 'string'
        ? `${show(node)} is a description, not a schema; write a schema such as { type: string }${/^\s*(string|number|integer|boolean|array|object)\b/i.test(node) ? ` (here perhaps { type: ${node.trim().split(/\W/)[0]!.toLowerCase()} })` : ''}`
        : `${describeType(node)} is not a schema; write a schema object such as { type: string }, or true/false`
    })
    return
  }
  if (depth > MAX_SCHEMA_DEPTH) {
    walk.problems.push({ path, message: `schemas nest more than ${MAX_SCHEMA_DEPTH} levels deep here; flatten it, or move repeated parts to $defs and use $ref` })
    return
  }
  for (const [key, value] of Object.entries(node)) {
    const here = joinPath(path, key)
    const childPointer = `${pointer}/${escapePointer(key)}`
    if (key.startsWith('x-')) continue
    if (UNSUPPORTED[key] != null) {
      walk.problems.push({ path: here, message: `${key} ${UNSUPPORTED[key]}` })
      continue
    }
    if (!KEYWORDS.has(key)) {
      const guess = didYouMean(key, KEYWORDS)
      walk.problems.push({
        path: here,
        message: guess != null
          ? `"${key}" is not a JSON Schema keyword; did you mean "${guess}"?`
          : `"${key}" is not a JSON Schema keyword; to describe a property named ${key}, put it under properties, e.g. { type: object, properties: { ${key}: { type: ${guessType(value)} } } } (extension keywords must start with x-)`
      })
      continue
    }
    checkKeyword(walk, node, key, value, here, childPointer, depth, isRoot)
  }
}

/** The type a pseudo-schema value hints at: `[]` → array, "string, up to 10,000 chars" → string. */
function guessType (value: unknown): string {
  if (Array.isArray(value)) return 'array'
  if (isPlainObject(value)) return 'object'
  if (typeof value === 'number') return 'number'
  if (typeof value === 'boolean') return 'boolean'
  const word = typeof value === 'string' ? /^\s*(string|number|integer|boolean|array|object)\b/i.exec(value)?.[1] : undefined
  return word?.toLowerCase() ?? 'string'
}

function checkKeyword (walk: Walk, node: Record<string, unknown>, key: string, value: unknown, here: string, pointer: string, depth: number, isRoot: boolean): void {
  const problem = (message: string): void => { walk.problems.push({ path: here, message }) }
  if ((SINGLE_SCHEMA as readonly string[]).includes(key)) {
    if (key === 'items' && Array.isArray(value)) return problem('a list of schemas under items is the pre-2020 tuple form; use prefixItems for the list and items for the rest')
    return visit(walk, value, here, pointer, depth + 1, false)
  }
  if ((SCHEMA_LIST as readonly string[]).includes(key)) {
    if (!Array.isArray(value) || value.length === 0) return problem(`expected a non-empty list of schemas, got ${describeType(value)}; write e.g. ${key}: [{ type: string }, { type: number }]`)
    value.forEach((item, i) => visit(walk, item, joinPath(here, i), `${pointer}/${i}`, depth + 1, false))
    return
  }
  if ((SCHEMA_MAP as readonly string[]).includes(key)) {
    if (!isPlainObject(value)) return problem(`expected a mapping of names to schemas, got ${describeType(value)}; write e.g. ${key}: { text: { type: string } }`)
    for (const [name, sub] of Object.entries(value)) {
      if (key === 'patternProperties') {
        const bad = regexProblem(name, 'u')
        if (bad != null) walk.problems.push({ path: joinPath(here, name), message: bad })
      }
      visit(walk, sub, joinPath(here, name), `${pointer}/${escapePointer(name)}`, depth + 1, false)
    }
    return
  }
  if ((NON_NEGATIVE_INTEGER as readonly string[]).includes(key)) {
    if (!Number.isInteger(value) || (value as number) < 0) problem(`${show(value)} is not a whole number ≥ 0; write e.g. ${key}: 10`)
    return
  }
  if ((NUMBER as readonly string[]).includes(key)) {
    if (typeof value === 'boolean' && key.startsWith('exclusive')) return problem(`a boolean is the draft-04 form; in 2020-12 write the bound itself, e.g. ${key}: 0 (and drop ${key === 'exclusiveMinimum' ? 'minimum' : 'maximum'})`)
    if (typeof value !== 'number') problem(`${show(value)} is not a number; write e.g. ${key}: 100`)
    return
  }
  if ((STRING_ANNOTATION as readonly string[]).includes(key)) {
    if (typeof value !== 'string') problem(`expected a string, got ${describeType(value)}`)
    return
  }
  if ((BOOLEAN_ANNOTATION as readonly string[]).includes(key)) {
    if (typeof value !== 'boolean') return problem(`expected true or false, got ${show(value)}`)
    if (key === 'uniqueItems' && value) {
      const max = node.maxItems
      if (!Number.isInteger(max) || (max as number) > MAX_UNIQUE_ITEMS) {
        problem(`uniqueItems is checked pairwise, so it needs maxItems of at most ${MAX_UNIQUE_ITEMS} beside it; add maxItems: ${MAX_UNIQUE_ITEMS} (or less), or drop uniqueItems and state uniqueness as a success criterion`)
      } else {
        walk.uniqueItems.push({ node, path: here })
      }
    }
    return
  }
  switch (key) {
    case 'type': {
      const list = Array.isArray(value) ? value : [value]
      if (list.length === 0) return problem('an empty type list matches nothing; name at least one type, e.g. type: string')
      const seen = new Set<unknown>()
      for (const t of list) {
        if (typeof t !== 'string' || !(TYPES as readonly string[]).includes(t)) {
          const hint = typeof t === 'string' ? (TYPE_HINTS[t.toLowerCase()] ?? didYouMean(t, TYPES)) : undefined
          return problem(`${show(t)} is not a JSON Schema type; ${hint != null ? `did you mean "${hint}"? ` : ''}use one of ${TYPES.join(', ')}`)
        }
        if (seen.has(t)) return problem(`"${t}" is listed twice; list each type once`)
        seen.add(t)
      }
      return
    }
    case 'enum':
      if (!Array.isArray(value) || value.length === 0) problem(`expected a non-empty list of allowed values, got ${show(value)}; write e.g. enum: [person, place, org]`)
      return
    case 'required': {
      if (!Array.isArray(value) || value.some(v => typeof v !== 'string')) return problem(`expected a list of property names, got ${show(value)}; write e.g. required: [text]`)
      const dup = value.find((v, i) => value.indexOf(v) !== i)
      if (dup != null) problem(`"${dup}" is listed twice; list each required property once`)
      return
    }
    case 'dependentRequired':
      if (!isPlainObject(value) || Object.values(value).some(v => !Array.isArray(v) || v.some(n => typeof n !== 'string'))) {
        problem('expected a mapping of property names to lists of property names; write e.g. dependentRequired: { end: [start] }')
      }
      return
    case 'multipleOf':
      if (typeof value !== 'number' || !(value > 0)) problem(`${show(value)} is not a number above 0; write e.g. multipleOf: 0.01`)
      return
    case 'format':
      if (typeof value !== 'string') return problem(`expected a format name, got ${describeType(value)}; write e.g. format: date-time`)
      if (UNSAFE_FORMATS[value] != null) problem(`format "${value}" is refused: ${UNSAFE_FORMATS[value]}`)
      return
    case 'pattern': {
      if (typeof value !== 'string') return problem(`expected a regular expression string, got ${describeType(value)}`)
      const bad = regexProblem(value, 'u')
      if (bad != null) problem(bad)
      return
    }
    case '$ref':
      if (typeof value !== 'string') return problem(`expected a reference string such as "#/$defs/entity", got ${describeType(value)}`)
      walk.refs.push({ node, ref: value, path: here })
      return
    case '$schema':
      if (!isRoot) return problem('$schema belongs only at the top of the schema; remove it here')
      if (typeof value !== 'string' || !DRAFT_2020_12.test(value)) problem(`${show(value)} is not JSON Schema 2020-12; specs use 2020-12: write "https://json-schema.org/draft/2020-12/schema" or remove $schema`)
      return
    case '$id':
      if (!isRoot) return problem('$id inside a schema changes how references resolve; remove it (use $defs and "#/$defs/…" references)')
      if (typeof value !== 'string') problem(`expected a URI string, got ${describeType(value)}`)
      return
    case 'examples':
      if (!Array.isArray(value)) problem(`expected a list of example values, got ${describeType(value)}`)
      return
    default:
      // const, default, contentSchema: any JSON value.
  }
}

/**
 * References must point inside the same schema at a schema position, must not form a
 * cycle, and must not inline to more than MAX_SCHEMA_EXPANDED_NODES subschemas.
 * uniqueItems must not be reachable through a disjunctive applicator (see checkOutputSchema).
 */
function checkReferences (walk: Walk): void {
  const targets = new Map<Record<string, unknown>, unknown>()
  for (const { node, ref, path } of walk.refs) {
    if (ref !== '#' && !ref.startsWith('#/')) {
      walk.problems.push({ path, message: `${show(ref)} points outside this schema; references must be local, e.g. "#/$defs/entity" (define it under $defs)` })
      continue
    }
    let pointer: string
    try {
      pointer = decodeURIComponent(ref.slice(1))
    } catch {
      walk.problems.push({ path, message: `${show(ref)} is not a valid reference; write e.g. "#/$defs/entity"` })
      continue
    }
    if (!walk.positions.has(pointer)) {
      walk.problems.push({ path, message: `${show(ref)} does not point at a schema in this ${walk.rootPath} schema; define it (e.g. under $defs) or fix the reference` })
      continue
    }
    targets.set(node, walk.positions.get(pointer))
  }
  if (walk.problems.length > 0) return

  const sizes = new Map<unknown, number>()
  const active = new Set<unknown>()
  let cycle = false
  const size = (node: unknown): number => {
    if (!isPlainObject(node)) return 1
    const known = sizes.get(node)
    if (known != null) return known
    if (active.has(node)) { cycle = true; return MAX_SCHEMA_EXPANDED_NODES + 1 }
    active.add(node)
    let total = 1
    for (const child of appliedChildren(node)) total += size(child.schema)
    if (targets.has(node)) total += size(targets.get(node))
    active.delete(node)
    total = Math.min(total, MAX_SCHEMA_EXPANDED_NODES + 1)
    sizes.set(node, total)
    return total
  }
  const total = size(walk.root)
  if (cycle) {
    walk.problems.push({ path: walk.rootPath, message: 'the schema refers to itself through $ref (a cycle); recursive schemas are not supported in spec format v1, so unroll it to a fixed depth' })
    return
  }
  if (total > MAX_SCHEMA_EXPANDED_NODES) {
    walk.problems.push({ path: walk.rootPath, message: `with every $ref inlined the schema has more than ${MAX_SCHEMA_EXPANDED_NODES} subschemas; simplify it (fewer nested allOf/anyOf of the same definitions)` })
    return
  }

  if (walk.uniqueItems.length > 0) {
    // Everything applied under a disjunctive keyword, following refs.
    const underDisjunction = new Set<unknown>()
    const mark = (node: unknown, disjunctive: boolean): void => {
      if (!isPlainObject(node)) return
      if (disjunctive) {
        if (underDisjunction.has(node)) return
        underDisjunction.add(node)
      }
      for (const child of appliedChildren(node)) mark(child.schema, disjunctive || DISJUNCTIVE.has(child.keyword))
      if (targets.has(node)) mark(targets.get(node), disjunctive)
    }
    mark(walk.root, false)
    for (const { node, path } of walk.uniqueItems) {
      if (underDisjunction.has(node)) {
        walk.problems.push({ path, message: 'uniqueItems cannot be used inside anyOf, oneOf, not, if or contains (its pairwise check could not be bounded there); move it to a schema that always applies, or state uniqueness as a success criterion' })
      }
    }
  }
}

/** Subschemas applied to the instance (or its parts), i.e. not $defs. */
function appliedChildren (node: Record<string, unknown>): Array<{ keyword: string, schema: unknown }> {
  const out: Array<{ keyword: string, schema: unknown }> = []
  for (const key of SINGLE_SCHEMA) if (key in node) out.push({ keyword: key, schema: node[key] })
  for (const key of SCHEMA_LIST) if (Array.isArray(node[key])) for (const s of node[key] as unknown[]) out.push({ keyword: key, schema: s })
  for (const key of ['properties', 'patternProperties', 'dependentSchemas'] as const) {
    const map = node[key]
    if (isPlainObject(map)) for (const s of Object.values(map)) out.push({ keyword: key, schema: s })
  }
  return out
}

function escapePointer (key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date)
}

/** One way an instance fails its schema: where (as a path under `input`/`output`) and why. */
export interface SchemaViolation {
  path: string
  message: string
}

/** A schema ready to apply. Build once per spec (compileCriteria caches it). */
export interface CompiledSchema {
  /** Violations, at most MAX_REPORTED_SCHEMA_ERRORS plus a final "and N more"; empty when valid. */
  validate (instance: unknown): SchemaViolation[]
}

export function compileSchema (schema: unknown, rootPath: string): CompiledSchema {
  const full = new Validator(structuredClone(schema) as Schema, '2020-12', false)
  if (!containsUniqueItems(schema)) {
    // A plain schema's check says valid itself; anything else (and every failure, for its words) is the interpreter's.
    const plainly = compilePlainSchema(structuredClone(schema))
    if (plainly != null) return { validate: instance => plainly(instance) ? [] : violations(full.validate(instance).errors, instance, rootPath) }
    return { validate: instance => violations(full.validate(instance).errors, instance, rootPath) }
  }
  // uniqueItems is quadratic in the validator and runs even when maxItems already failed.
  // checkJsonSchema guarantees each uniqueItems sits beside a small maxItems on a path that
  // always applies, so once the schema without uniqueItems passes, every array it governs
  // is short, and the full check is bounded.
  const withoutUnique = new Validator(stripUniqueItems(structuredClone(schema)) as Schema, '2020-12', false)
  return {
    validate (instance) {
      const first = withoutUnique.validate(instance)
      if (!first.valid) return violations(first.errors, instance, rootPath)
      return violations(full.validate(instance).errors, instance, rootPath)
    }
  }
}

function containsUniqueItems (schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.some(containsUniqueItems)
  if (!isPlainObject(schema)) return false
  return schema.uniqueItems === true || Object.values(schema).some(containsUniqueItems)
}

function stripUniqueItems (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(stripUniqueItems)
  if (!isPlainObject(schema)) return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'uniqueItems') continue
    Object.defineProperty(out, k, { value: stripUniqueItems(v), enumerable: true, writable: true, configurable: true })
  }
  return out
}

const WRAPPER_KEYWORDS = new Set(['properties', 'items', 'prefixItems', 'patternProperties', 'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'allOf', '$ref', 'dependentSchemas', 'then', 'else', 'propertyNames'])
const BRANCH_DETAIL = /\/(anyOf|oneOf)\/\d+(\/|$)|\/(not|if|contains)(\/|$)/

/** Leaf errors only: wrappers ("Property x does not match schema") and branch details of anyOf/oneOf are dropped. */
function violations (errors: OutputUnit[], instance: unknown, rootPath: string): SchemaViolation[] {
  const out: SchemaViolation[] = []
  const seen = new Set<string>()
  for (const e of errors) {
    if (WRAPPER_KEYWORDS.has(e.keyword)) continue
    const wrapperAt = e.keywordLocation.search(BRANCH_DETAIL)
    const ownKeywordAt = e.keywordLocation.lastIndexOf('/' + e.keyword)
    if (wrapperAt >= 0 && wrapperAt < ownKeywordAt) continue
    const path = instancePath(e.instanceLocation, instance, rootPath)
    const message = e.error === 'False boolean schema.' ? 'is not allowed by the schema' : e.error.replace(/\.$/, '')
    const line = `${path}\u0000${message}`
    if (seen.has(line)) continue
    seen.add(line)
    out.push({ path, message })
  }
  if (out.length === 0 && errors.length > 0) {
    const e = errors[errors.length - 1]!
    out.push({ path: instancePath(e.instanceLocation, instance, rootPath), message: e.error.replace(/\.$/, '') })
  }
  if (out.length > MAX_REPORTED_SCHEMA_ERRORS) {
    const more = out.length - MAX_REPORTED_SCHEMA_ERRORS
    out.length = MAX_REPORTED_SCHEMA_ERRORS
    out.push({ path: rootPath, message: `and ${more} more schema violation${more === 1 ? '' : 's'}` })
  }
  return out
}

/** `#/entities/0/confidence` → `output.entities[0].confidence`, telling list indexes from keys by the instance. */
function instancePath (location: string, instance: unknown, rootPath: string): string {
  let path = rootPath
  let current: unknown = instance
  const parts = location.replace(/^#/, '').split('/').slice(1)
  for (const raw of parts) {
    const key = safeDecode(raw).replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(current) && /^\d+$/.test(key)) {
      path = joinPath(path, Number(key))
      current = current[Number(key)]
    } else {
      path = joinPath(path, key)
      current = isPlainObject(current) ? current[key] : undefined
    }
  }
  return path
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
