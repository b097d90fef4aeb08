import { ucs2length } from '@cfworker/json-schema'

/**
 * A shortcut to @cfworker/json-schema's verdict for plain schemas: type,
 * properties, required, items, additionalProperties, primitive enum and
 * const, number bounds, string and list lengths, annotations. A spec's
 * output schema is applied to every job's output at its coordinator (and its
 * input schema at submission): the interpreter builds a JSON pointer string
 * for every member and item it walks, and for a two-member output that was
 * most of the output check (bench:jobs' lease path). compilePlainSchema
 * returns null for a schema using anything else ($ref, anyOf, pattern,
 * format, …: the interpreter alone judges those), else a check whose true
 * means the interpreter finds no violation; on false the caller asks the
 * interpreter, for its verdict and its words. test/unit/spec/plain-schema.test.ts
 * holds the two to the same verdicts.
 */
export type PlainCheck = (instance: unknown) => boolean

const ANNOTATIONS = new Set(['title', 'description', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly'])
const TYPES = new Set(['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'])

/** null when some keyword (or value of one) is outside the plain subset. */
export function compilePlainSchema (schema: unknown): PlainCheck | null {
  if (schema === true) return () => true
  if (schema === false) return () => false
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return null
  const node = schema as Record<string, unknown>
  const checks: PlainCheck[] = []
  for (const key of Object.keys(node)) {
    const value = node[key]
    if (ANNOTATIONS.has(key)) continue
    const check = keywordCheck(key, value, node)
    if (check === null) return null
    if (check !== undefined) checks.push(check)
  }
  if (checks.length === 0) return () => true
  if (checks.length === 1) return checks[0]!
  return instance => {
    for (const check of checks) if (!check(instance)) return false
    return true
  }
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isCount = (v: unknown): v is number => isNumber(v) && Number.isInteger(v) && v >= 0
const isPrimitive = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'boolean' || isNumber(v)
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** One keyword's check; undefined when it checks nothing on its own (additionalProperties, read with properties); null when not plain. */
function keywordCheck (key: string, value: unknown, node: Record<string, unknown>): PlainCheck | null | undefined {
  switch (key) {
    case 'type': {
      if (typeof value !== 'string' || !TYPES.has(value)) return null
      return typeCheck(value)
    }
    case 'enum': {
      if (!Array.isArray(value) || !value.every(isPrimitive)) return null
      const values = value as unknown[]
      return instance => isPrimitive(instance) && values.includes(instance)
    }
    case 'const': {
      if (!isPrimitive(value)) return null
      return instance => instance === value
    }
    case 'minimum': return isNumber(value) ? i => typeof i !== 'number' || i >= value : null
    case 'maximum': return isNumber(value) ? i => typeof i !== 'number' || i <= value : null
    case 'exclusiveMinimum': return isNumber(value) ? i => typeof i !== 'number' || i > value : null
    case 'exclusiveMaximum': return isNumber(value) ? i => typeof i !== 'number' || i < value : null
    case 'minLength': return isCount(value) ? i => typeof i !== 'string' || ucs2length(i) >= value : null
    case 'maxLength': return isCount(value) ? i => typeof i !== 'string' || ucs2length(i) <= value : null
    case 'minItems': return isCount(value) ? i => !Array.isArray(i) || i.length >= value : null
    case 'maxItems': return isCount(value) ? i => !Array.isArray(i) || i.length <= value : null
    case 'required': {
      if (!Array.isArray(value) || !value.every(k => typeof k === 'string')) return null
      const names = value as string[]
      return instance => {
        if (!isObject(instance)) return true
        for (const name of names) if (!Object.hasOwn(instance, name)) return false
        return true
      }
    }
    case 'items': {
      const item = compilePlainSchema(value)
      if (item === null) return null
      return instance => {
        if (!Array.isArray(instance)) return true
        for (let i = 0; i < instance.length; i++) if (!item(instance[i])) return false
        return true
      }
    }
    case 'properties': return propertiesCheck(value, node.additionalProperties)
    case 'additionalProperties':
      // Read with properties; alone, it applies to every member.
      if ('properties' in node) return undefined
      return propertiesCheck({}, value)
    default:
      return null
  }
}

function typeCheck (type: string): PlainCheck {
  switch (type) {
    case 'integer': return i => typeof i === 'number' && Number.isInteger(i)
    case 'null': return i => i === null
    case 'array': return i => Array.isArray(i)
    case 'object': return isObject
    default: return i => typeof i === type
  }
}

/** properties and additionalProperties together, as the interpreter reads them: members it names, then the rest (for…in, as it walks them). */
function propertiesCheck (properties: unknown, additional: unknown): PlainCheck | null {
  if (!isObject(properties)) return null
  const named = new Map<string, PlainCheck>()
  for (const name of Object.keys(properties)) {
    const check = compilePlainSchema(properties[name])
    if (check === null) return null
    named.set(name, check)
  }
  const rest = additional === undefined ? undefined : compilePlainSchema(additional)
  if (rest === null) return null
  return instance => {
    if (!isObject(instance)) return true
    for (const [name, check] of named) if (Object.hasOwn(instance, name) && !check(instance[name])) return false
    if (rest !== undefined) {
      for (const key in instance) if (!named.has(key) && !rest(instance[key])) return false
    }
    return true
  }
}
