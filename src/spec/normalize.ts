import { CID } from 'multiformats/cid'
import type { Problem } from './errors.ts'
import { SPEC_FIELDS, BUDGET_FIELDS, CAPACITY_FIELDS, OVERAGE_BEHAVIORS } from './schema.ts'
import { parseDuration, parseInstant, formatInstant } from './time.ts'
import { checkJsonSchema, isPlainObject } from './json-schema.ts'
import { RESERVED_MEMBER_NAME } from '../wire/strict-json.ts'
import { didYouMean, foldName, joinPath, snakeCase, show, describeType } from './suggest.ts'
import {
  SPEC_NAME_PATTERN, MAX_VERSION_CHARS, MAX_DESCRIPTION_CHARS, MAX_VARIANT_CHARS, MAX_CRITERIA,
  MAX_CRITERION_CHARS, MAX_SPEC_DEPTH, MAX_DURATION_SECONDS, MAX_CONCURRENT_REQUESTS, MAX_RETRIES,
  MAX_BACKOFF_MULTIPLIER, MAX_COST_CATEGORIES, MAX_COST_CATEGORY_CHARS
} from './constants.ts'

/**
 * Turns any accepted spelling of a spec (YAML or JSON, camelCase or snake_case, duration
 * strings, the article's list-form costBreakdown, …) into the one canonical form that
 * SpecSchema describes, collecting every problem on the way instead of stopping at the
 * first. Cross-field rules and success criteria are checked afterwards by validateSpec.
 */
export interface NormalizeResult {
  /** The canonical candidate; present whenever the input was a mapping, even with problems. */
  spec?: Record<string, unknown>
  problems: Problem[]
}

const JSON_CODEC = 0x0200
const SHA2_256 = 0x12

type Section = 'spec' | 'budget' | 'capacity'
const SECTION_FIELDS: Record<Section, readonly string[]> = {
  spec: SPEC_FIELDS,
  budget: BUDGET_FIELDS,
  capacity: CAPACITY_FIELDS
}

export function normalizeSpec (raw: unknown): NormalizeResult {
  const problems: Problem[] = []
  const value = toJson(raw, '', 0, problems)
  if (problems.length > 0) return { problems }
  if (!isPlainObject(value)) {
    problems.push({ path: '', message: `the spec is ${describeType(value)}; it must be a mapping of fields, e.g. name: …, input: {…}, output: {…}` })
    return { problems }
  }
  const fields = resolveKeys(value, 'spec', '', problems)
  const spec: Record<string, unknown> = {}
  const set = (key: string, v: unknown): void => { if (v !== undefined) spec[key] = v }

  const guessed = fields[GUESSED]!
  set('name', normalizeName(fields.get('name'), guessed.has('name'), problems))
  set('version', normalizeVersion(fields.get('version'), problems))
  set('description', optionalString(fields.get('description'), 'description', MAX_DESCRIPTION_CHARS, problems))
  set('input', normalizeJsonSchema(fields.get('input'), 'input', guessed.has('input'), problems))
  set('output', normalizeJsonSchema(fields.get('output'), 'output', guessed.has('output'), problems))
  set('successCriteria', normalizeCriteria(fields.get('successCriteria'), problems))
  set('costUsd', money(fields.get('costUsd'), 'costUsd', problems))
  set('deadline', normalizeDeadline(fields.get('deadline'), 'deadline', problems))
  set('softDeadline', normalizeDeadline(fields.get('softDeadline'), 'softDeadline', problems))
  set('executionWindow', duration(fields.get('executionWindow'), 'executionWindow', problems))
  set('budget', normalizeBudget(fields.get('budget'), problems))
  set('capacity', normalizeCapacity(fields.get('capacity'), problems))
  set('parent', normalizeParent(fields.get('parent'), problems))
  set('variant', optionalString(fields.get('variant'), 'variant', MAX_VARIANT_CHARS, problems, true))
  return { spec, problems }
}

/**
 * A deep copy holding only JSON: YAML can produce binary (!!binary) and non-finite
 * numbers (.inf, .nan), and a parsed value can share substructure (YAML aliases); the
 * copy has neither, so hashing and schema checks see a plain tree.
 */
function toJson (value: unknown, path: string, depth: number, problems: Problem[]): unknown {
  if (depth > MAX_SPEC_DEPTH) {
    problems.push({ path, message: `values nest more than ${MAX_SPEC_DEPTH} levels deep; flatten the structure` })
    return null
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) problems.push({ path, message: `${value} is not a finite number; JSON cannot carry it, write a real number` })
    return value === 0 ? 0 : value
  }
  if (Array.isArray(value)) return value.map((item, i) => toJson(item, joinPath(path, i), depth + 1, problems))
  if (isPlainObject(value) && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue
      if (k === RESERVED_MEMBER_NAME) {
        problems.push({ path: joinPath(path, k), message: `a key named "${RESERVED_MEMBER_NAME}" cannot appear in a spec: JavaScript reads it as an object's prototype, so every node refuses messages holding it (protocols/envelope.md, check 2c); rename it` })
        continue
      }
      // defineProperty: the copy stays a plain data object whatever the keys.
      Object.defineProperty(out, k, { value: toJson(v, joinPath(path, k), depth + 1, problems), enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  problems.push({ path, message: `${value instanceof Uint8Array ? 'binary data' : describeType(value)} cannot appear in a spec; use plain JSON values (strings, numbers, booleans, lists, mappings)` })
  return null
}

/**
 * Maps each canonical field of a section to its value, accepting the snake_case alias,
 * and reports both spellings given together and unknown keys (with a guess).
 */
/** Canonical names that a misspelt key probably meant: "missing" is not reported for them as well. */
const GUESSED = Symbol('guessed')
type Fields = Map<string, unknown> & { [GUESSED]?: Set<string> }

function resolveKeys (obj: Record<string, unknown>, section: Section, path: string, problems: Problem[]): Fields {
  const canonical = SECTION_FIELDS[section]
  const bySpelling = new Map<string, string>()
  for (const name of canonical) {
    bySpelling.set(name, name)
    bySpelling.set(snakeCase(name), name)
  }
  const out: Fields = new Map<string, unknown>()
  out[GUESSED] = new Set()
  const writtenAs = new Map<string, string>()
  for (const [key, value] of Object.entries(obj)) {
    const name = bySpelling.get(key)
    if (name == null) {
      const guess = didYouMean(key, [...bySpelling.keys()])
      if (guess != null) out[GUESSED].add(bySpelling.get(guess)!)
      problems.push({ path: joinPath(path, key), message: unknownFieldMessage(key, section, [...bySpelling.keys()]) })
      continue
    }
    const earlier = writtenAs.get(name)
    if (earlier != null) {
      problems.push({ path: joinPath(path, key), message: `given together with ${earlier}, which is the same field; keep only one of them` })
      continue
    }
    writtenAs.set(name, key)
    out.set(name, value)
  }
  return out
}

function unknownFieldMessage (key: string, section: Section, spellings: string[]): string {
  const guess = didYouMean(key, spellings)
  if (guess != null) return `unknown field; did you mean "${guess}"?`
  // A field written at the wrong level: `max_usd` at the top belongs under budget.
  for (const other of ['spec', 'budget', 'capacity'] as const) {
    if (other === section) continue
    const names = SECTION_FIELDS[other]
    const match = names.find(n => foldName(n) === foldName(key) || snakeCase(n) === key)
    if (match != null) {
      return other === 'spec'
        ? `unknown field here; ${match} belongs at the top level of the spec`
        : `unknown field here; it belongs under ${other}: write ${other}: { ${match}: … }`
    }
  }
  const known = SECTION_FIELDS[section].join(', ')
  return `unknown field; remove it (known fields${section === 'spec' ? '' : ` of ${section}`}: ${known})`
}

function normalizeName (value: unknown, misspelt: boolean, problems: Problem[]): string | undefined {
  if (value === undefined) {
    if (!misspelt) problems.push({ path: 'name', message: 'missing; add a short identifier for the task, e.g. name: extract-entities' })
    return undefined
  }
  if (typeof value !== 'string') {
    problems.push({ path: 'name', message: `${describeType(value)} is not a name; write a short identifier, e.g. name: extract-entities` })
    return undefined
  }
  if (!SPEC_NAME_PATTERN.test(value)) {
    const slug = value.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|-+$/g, '').slice(0, 64)
    problems.push({
      path: 'name',
      message: `${show(value)} is not a valid name; use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit${slug !== '' ? `, e.g. name: ${slug}` : ''}`
    })
    return undefined
  }
  return value
}

function normalizeVersion (value: unknown, problems: Problem[]): string | undefined {
  if (value === undefined) return undefined
  const text = typeof value === 'number' ? String(value) : value
  if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_VERSION_CHARS || /\s/.test(text.trim())) {
    problems.push({ path: 'version', message: `${show(value)} is not a version; write a short string without spaces, e.g. version: "1.0.0"` })
    return undefined
  }
  return text.trim()
}

function optionalString (value: unknown, path: string, max: number, problems: Problem[], label = false): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    problems.push({ path, message: `expected text, got ${describeType(value)}; write it as a string` })
    return undefined
  }
  const text = label ? value.trim() : value
  if (label && text === '') {
    problems.push({ path, message: 'is empty; write a short label such as "fast" or "cheap", or remove the field' })
    return undefined
  }
  if (text.length > max) {
    problems.push({ path, message: `is ${text.length} characters long, more than ${max}; shorten it` })
    return undefined
  }
  return text
}

function normalizeJsonSchema (value: unknown, path: 'input' | 'output', misspelt: boolean, problems: Problem[]): unknown {
  if (value === undefined) {
    if (!misspelt) problems.push({
      path,
      message: `missing; every spec needs an ${path} schema (JSON Schema), e.g. ${path}: { type: object, properties: { ${path === 'input' ? 'text' : 'result'}: { type: string } }, required: [${path === 'input' ? 'text' : 'result'}] }`
    })
    return undefined
  }
  const found = checkJsonSchema(value, path)
  problems.push(...found)
  return found.length === 0 ? value : undefined
}

function normalizeCriteria (value: unknown, problems: Problem[]): string[] | undefined {
  if (value === undefined || value === null) return []
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list)) {
    problems.push({ path: 'successCriteria', message: `expected a list of CEL expressions, got ${describeType(value)}; write e.g. successCriteria: ["output.entities.all(e, e.confidence >= 75.0)"]` })
    return undefined
  }
  if (list.length > MAX_CRITERIA) {
    problems.push({ path: 'successCriteria', message: `${list.length} criteria is more than ${MAX_CRITERIA}; combine some with && or move shape rules into the output schema` })
    return undefined
  }
  const out: string[] = []
  let ok = true
  list.forEach((item, i) => {
    const path = joinPath('successCriteria', i)
    if (typeof item !== 'string') {
      ok = false
      problems.push({ path, message: `${describeType(item)} is not a CEL expression; write each criterion as a string, e.g. "output.score >= 0.5"` })
      return
    }
    const text = item.trim()
    if (text === '') {
      ok = false
      problems.push({ path, message: 'is empty; write a CEL expression that returns true for a good output, or remove the entry' })
    } else if (text.length > MAX_CRITERION_CHARS) {
      ok = false
      problems.push({ path, message: `is ${text.length} characters long, more than ${MAX_CRITERION_CHARS}; split it into several criteria` })
    } else {
      out.push(text)
    }
  })
  return ok ? out : undefined
}

function money (value: unknown, path: string, problems: Problem[]): number | undefined {
  if (value === undefined) return undefined
  const field = path.split('.').pop()!
  if (typeof value !== 'number') {
    const looksNumeric = typeof value === 'string' && /^\s*\$?\s*-?\d+(\.\d+)?\s*(usd)?\s*$/i.test(value)
    problems.push({
      path,
      message: looksNumeric
        ? `${show(value)} is text, not a number; write the dollars as a plain number without quotes, "$" or "USD", e.g. ${field}: ${String(value).replace(/[^\d.-]/g, '')}`
        : `${show(value)} is not an amount of money; write dollars as a number ≥ 0, e.g. ${field}: 0.05`
    })
    return undefined
  }
  if (value < 0) {
    problems.push({ path, message: `${value} is negative; write dollars as a number ≥ 0, e.g. ${field}: 0.05` })
    return undefined
  }
  return value
}

function duration (value: unknown, path: string, problems: Problem[]): number | undefined {
  if (value === undefined) return undefined
  const parsed = parseDuration(value)
  if (!parsed.ok) {
    problems.push({ path, message: parsed.message })
    return undefined
  }
  if (parsed.value > MAX_DURATION_SECONDS) {
    problems.push({ path, message: `${parsed.value} s is longer than ${MAX_DURATION_SECONDS / 86400} days; use a shorter duration` })
    return undefined
  }
  return parsed.value
}

/** Canonical deadline: ISO string (absolute) or number of seconds (relative). See schema.ts. */
function normalizeDeadline (value: unknown, path: string, problems: Problem[]): string | number | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'number') return duration(value, path, problems)
  if (typeof value !== 'string') {
    problems.push({ path, message: `${describeType(value)} is not a deadline; write an ISO 8601 time such as "2026-03-01T18:00:00Z" (the spec expires then) or a duration such as "5m" (counted from each job's submission)` })
    return undefined
  }
  if (/^\s*\d{4}-\d{2}-\d{2}/.test(value)) {
    const instant = parseInstant(value)
    if (instant.ok) return formatInstant(instant.value)
    problems.push({ path, message: instant.message })
    return undefined
  }
  const relative = parseDuration(value)
  if (relative.ok) return duration(relative.value, path, problems)
  problems.push({ path, message: `${show(value)} is neither a timestamp nor a duration; write an ISO 8601 time such as "2026-03-01T18:00:00Z" (the spec expires then) or a duration such as "5m" or "PT5M" (counted from each job's submission)` })
  return undefined
}

function normalizeBudget (value: unknown, problems: Problem[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'number' || typeof value === 'string') {
    // `budget: 0.5` is shorthand for `budget: { maxUsd: 0.5 }`.
    const maxUsd = money(value, 'budget', problems)
    return maxUsd === undefined ? undefined : { maxUsd, currency: 'USD', includesFees: false, overageBehavior: 'fail' }
  }
  if (!isPlainObject(value)) {
    problems.push({ path: 'budget', message: `expected a mapping, got ${describeType(value)}; write e.g. budget: { maxUsd: 0.5, overageBehavior: fail }` })
    return undefined
  }
  const fields = resolveKeys(value, 'budget', 'budget', problems)
  const out: Record<string, unknown> = {}
  const maxUsd = money(fields.get('maxUsd'), 'budget.maxUsd', problems)
  if (!fields.has('maxUsd') && !fields[GUESSED]!.has('maxUsd')) problems.push({ path: 'budget.maxUsd', message: 'missing; a budget needs its ceiling in dollars, e.g. maxUsd: 0.5' })
  if (maxUsd !== undefined) out.maxUsd = maxUsd

  const currency = fields.get('currency') ?? 'USD'
  if (typeof currency !== 'string' || currency.trim().toUpperCase() !== 'USD') {
    problems.push({ path: 'budget.currency', message: `${show(currency)} is not supported; spec format v1 prices everything in US dollars, so write currency: USD or leave it out` })
  } else {
    out.currency = 'USD'
  }

  const includesFees = fields.get('includesFees') ?? false
  if (typeof includesFees !== 'boolean') {
    problems.push({ path: 'budget.includesFees', message: `${show(includesFees)} is not true or false; write includesFees: true if the ceiling covers platform fees, else false` })
  } else {
    out.includesFees = includesFees
  }

  const breakdown = normalizeCostBreakdown(fields.get('costBreakdown'), problems)
  if (breakdown !== undefined && Object.keys(breakdown).length > 0) out.costBreakdown = breakdown

  const overage = fields.get('overageBehavior') ?? 'fail'
  const overageText = typeof overage === 'string' ? overage.trim().toLowerCase() : undefined
  if (overageText == null || !(OVERAGE_BEHAVIORS as readonly string[]).includes(overageText)) {
    problems.push({ path: 'budget.overageBehavior', message: `${show(overage)} is not an overage behaviour; use "fail" or "warn"` })
  } else {
    out.overageBehavior = overageText
  }
  return out
}

/** `{ compute: 0.3 }`, or the article's `[{ compute: 0.3 }, { storage: 0.1 }]`, both become the map. */
function normalizeCostBreakdown (value: unknown, problems: Problem[]): Record<string, number> | undefined {
  if (value === undefined || value === null) return undefined
  const path = 'budget.costBreakdown'
  const entries: Array<[string, unknown, string]> = []
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (!isPlainObject(item) || Object.keys(item).length !== 1) {
        problems.push({ path: joinPath(path, i), message: `expected one "category: dollars" pair, got ${show(item)}; write e.g. - compute: 0.3` })
        return
      }
      const [k, v] = Object.entries(item)[0]!
      entries.push([k, v, joinPath(path, i)])
    })
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) entries.push([k, v, joinPath(path, k)])
  } else {
    problems.push({ path, message: `expected a mapping of categories to dollars, got ${describeType(value)}; write e.g. costBreakdown: { compute: 0.3, storage: 0.1 }` })
    return undefined
  }
  if (entries.length > MAX_COST_CATEGORIES) {
    problems.push({ path, message: `${entries.length} categories is more than ${MAX_COST_CATEGORIES}; group some together` })
    return undefined
  }
  const out: Record<string, number> = {}
  for (const [category, amount, where] of entries) {
    if (category.trim() === '' || category.length > MAX_COST_CATEGORY_CHARS) {
      problems.push({ path: where, message: `category names must be 1–${MAX_COST_CATEGORY_CHARS} characters; rename it` })
      continue
    }
    if (Object.hasOwn(out, category)) {
      problems.push({ path: where, message: `category "${category}" appears twice; list each category once` })
      continue
    }
    const dollars = money(amount, joinPath(path, category), problems)
    if (dollars !== undefined) Object.defineProperty(out, category, { value: dollars, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function normalizeCapacity (value: unknown, problems: Problem[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) {
    problems.push({ path: 'capacity', message: `expected a mapping, got ${describeType(value)}; write e.g. capacity: { maxConcurrentRequests: 5, maxRetries: 3 }` })
    return undefined
  }
  const fields = resolveKeys(value, 'capacity', 'capacity', problems)
  const out: Record<string, unknown> = {}
  const integer = (name: string, min: number, max: number, example: number): void => {
    const v = fields.get(name)
    if (v === undefined) return
    const path = `capacity.${name}`
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      problems.push({ path, message: `${show(v)} is not a whole number; write a number, e.g. ${name}: ${example}` })
    } else if (v < min || v > max) {
      problems.push({ path, message: `${v} is out of range; use a whole number from ${min} to ${max}, e.g. ${name}: ${example}` })
    } else {
      out[name] = v
    }
  }
  integer('maxConcurrentRequests', 1, MAX_CONCURRENT_REQUESTS, 5)
  integer('maxConcurrentRetries', 0, MAX_CONCURRENT_REQUESTS, 3)
  const backoff = fields.get('backoffMultiplier')
  if (backoff !== undefined) {
    if (typeof backoff !== 'number') {
      problems.push({ path: 'capacity.backoffMultiplier', message: `${show(backoff)} is not a number; write e.g. backoffMultiplier: 2` })
    } else if (backoff < 1 || backoff > MAX_BACKOFF_MULTIPLIER) {
      problems.push({ path: 'capacity.backoffMultiplier', message: `${backoff} is out of range; use a number from 1 (constant delay) to ${MAX_BACKOFF_MULTIPLIER}, e.g. backoffMultiplier: 2` })
    } else {
      out.backoffMultiplier = backoff
    }
  }
  integer('maxRetries', 0, MAX_RETRIES, 3)
  const timeout = fields.get('timeoutSeconds')
  if (timeout !== undefined) {
    if (typeof timeout !== 'number') {
      problems.push({ path: 'capacity.timeoutSeconds', message: `${show(timeout)} is not a number of seconds; write e.g. timeoutSeconds: 30` })
    } else {
      const seconds = duration(timeout, 'capacity.timeoutSeconds', problems)
      if (seconds !== undefined) out.timeoutSeconds = seconds
    }
  }
  return Object.keys(out).length > 0 ? out : undefined
}

function normalizeParent (value: unknown, problems: Problem[]): string | undefined {
  if (value === undefined) return undefined
  const fix = 'use the id of the spec this one forks, as `specmesh spec validate FILE` prints it (it starts with "b")'
  if (typeof value !== 'string') {
    problems.push({ path: 'parent', message: `${describeType(value)} is not a spec id; ${fix}` })
    return undefined
  }
  try {
    const cid = CID.parse(value.trim())
    if (cid.version !== 1 || cid.code !== JSON_CODEC || cid.multihash.code !== SHA2_256) throw new Error('not a spec id')
    return cid.toString()
  } catch {
    problems.push({ path: 'parent', message: `${show(value)} is not a spec id; ${fix}` })
    return undefined
  }
}
