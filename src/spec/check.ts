import type { ParseResult } from '@marcbachmann/cel-js'
import { MAX_INPUT_BYTES, MAX_OUTPUT_BYTES } from '../wire/constants.ts'
import type { Spec } from './schema.ts'
import { SpecValidationError, type Problem } from './errors.ts'
import { compileSchema, type CompiledSchema } from './json-schema.ts'
import { analyzeCriterion, evaluateCriteria, type CriterionFailure } from './criteria.ts'
import { specId } from './id.ts'
import { COMPILED_CACHE_SIZE, MAX_CRITERIA_COST, MAX_INSTANCE_DEPTH } from './constants.ts'
import { joinPath, describeType } from './suggest.ts'

/** A spec's schemas and criteria, compiled once and reused for every job. */
export interface CompiledSpec {
  id: string
  input: CompiledSchema
  output: CompiledSchema
  criteria: Array<{ source: string, program: ParseResult }>
}

export type OutputVerdict = { ok: true } | { ok: false, failures: CriterionFailure[] }
/** `value`: the input's private plain-JSON copy that was checked (see toInstance), for checkOutput's `checkedInput`. */
export type InputVerdict = { ok: true, value: unknown } | { ok: false, problems: Problem[] }

/** The `criterion` named in failures that come from the output schema rather than a CEL criterion. */
export const OUTPUT_SCHEMA_CRITERION = 'output schema'

const byObject = new WeakMap<Spec, CompiledSpec>()
const byId = new Map<string, CompiledSpec>()

/**
 * Compiles (or fetches from the cache, keyed by spec id) the spec's schemas and criteria.
 * Throws SpecValidationError if a criterion does not compile: pass validated specs.
 */
export function compileCriteria (spec: Spec): CompiledSpec {
  const cached = byObject.get(spec)
  if (cached != null) return cached
  const id = specId(spec)
  let compiled = byId.get(id)
  if (compiled != null) {
    byId.delete(id)
  } else {
    const problems: Problem[] = []
    const criteria: CompiledSpec['criteria'] = []
    spec.successCriteria.forEach((source, i) => {
      const analysis = analyzeCriterion(source)
      if (analysis.ok) criteria.push({ source, program: analysis.program })
      else problems.push({ path: joinPath('successCriteria', i), message: analysis.message })
    })
    if (problems.length > 0) throw new SpecValidationError(problems)
    compiled = { id, input: compileSchema(spec.input, 'input'), output: compileSchema(spec.output, 'output'), criteria }
  }
  byId.set(id, compiled) // re-inserted last: the Map's order is least recently used first
  if (byId.size > COMPILED_CACHE_SIZE) byId.delete(byId.keys().next().value!)
  byObject.set(spec, compiled)
  return compiled
}

/**
 * Judges an output: the output schema always, then every success criterion (all of them,
 * even after a failure, so the verdict lists every reason). Never throws. `checkedInput`:
 * `input` is the value checkInput returned (a private copy within the limits), so the
 * criteria read it as is, with no second copy, and as it was when the job was submitted.
 */
export function checkOutput (spec: Spec, input: unknown, output: unknown, options: { checkedInput?: boolean } = {}): OutputVerdict {
  let compiled: CompiledSpec
  try {
    compiled = compileCriteria(spec)
  } catch (err) {
    return { ok: false, failures: [{ criterion: 'spec', reason: `the spec cannot be used to judge outputs: ${(err as Error).message}` }] }
  }
  const outputValue = toInstance(output, 'output', MAX_OUTPUT_BYTES)
  if (!outputValue.ok) return { ok: false, failures: [{ criterion: 'output', reason: outputValue.reason }] }
  const inputValue: Instance = options.checkedInput === true ? { ok: true, value: input ?? null } : toInstance(input ?? null, 'input', MAX_INPUT_BYTES)
  if (!inputValue.ok) return { ok: false, failures: [{ criterion: 'input', reason: inputValue.reason }] }

  const failures: CriterionFailure[] = []
  try {
    for (const v of compiled.output.validate(outputValue.value)) {
      failures.push({ criterion: OUTPUT_SCHEMA_CRITERION, reason: `${v.path}: ${v.message}` })
    }
  } catch (err) {
    failures.push({ criterion: OUTPUT_SCHEMA_CRITERION, reason: `the schema check failed: ${(err as Error).message}` })
  }
  failures.push(...evaluateCriteria(compiled.criteria, inputValue.value, outputValue.value, MAX_CRITERIA_COST, outputValue.bytes))
  return failures.length === 0 ? { ok: true } : { ok: false, failures }
}

/** Checks a job input against the spec's input schema; problems name the offending part (`input.text`). */
export function checkInput (spec: Spec, input: unknown): InputVerdict {
  let compiled: CompiledSpec
  try {
    compiled = compileCriteria(spec)
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `the spec cannot be used to check inputs: ${(err as Error).message}` }] }
  }
  const value = toInstance(input, 'input', MAX_INPUT_BYTES)
  if (!value.ok) return { ok: false, problems: [{ path: value.path, message: `${value.what}; send plain JSON within the limits` }] }
  try {
    const violations = compiled.input.validate(value.value)
    if (violations.length === 0) return { ok: true, value: value.value }
    return { ok: false, problems: violations.map(v => ({ path: v.path, message: `${v.message}; send an input that matches the spec's input schema` })) }
  } catch (err) {
    return { ok: false, problems: [{ path: 'input', message: `the schema check failed: ${(err as Error).message}` }] }
  }
}

/** On failure: where (a path from the root) and what is wrong, apart, so callers can report `path: what` once. */
/** `bytes`: the copy's size as canonical JSON (what bounds the criteria's reads of it, see evaluateCriteria). */
type Instance = { ok: true, value: unknown, bytes?: number } | { ok: false, path: string, what: string, reason: string }

/**
 * A private plain-JSON copy of a job value, as JSON.stringify would see it (toJSON honoured,
 * undefined fields dropped), refusing what JSON cannot carry, nesting deeper than
 * MAX_INSTANCE_DEPTH and anything larger than `maxBytes` of JSON. Criteria and schemas then
 * run on data nobody else can change mid-check and whose size is known.
 */
const jsonBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s))

function toInstance (value: unknown, root: string, maxBytes: number): Instance {
  let bytes = 0
  // The keys from the root to the value being copied: a failure's path is written from them, only then.
  const keys: Array<string | number> = []
  const fail = (what: string, atRoot = false): never => {
    let path = root
    if (!atRoot) for (const key of keys) path = joinPath(path, key)
    throw new InstanceError(path, what)
  }
  const copy = (v: unknown, depth: number): unknown => {
    if (depth > MAX_INSTANCE_DEPTH) fail(`nests more than ${MAX_INSTANCE_DEPTH} levels deep`)
    if (bytes > maxBytes) fail(`is larger than ${maxBytes} bytes of JSON`, true)
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON()
    if (v === null) { bytes += 4; return null }
    switch (typeof v) {
      case 'boolean': bytes += 5; return v
      case 'number':
        if (!Number.isFinite(v)) fail(`${v} is not a JSON number`)
        bytes += String(v).length
        return v
      // Exact sizes of canonical JSON, so an output the agent measured as within the limit is within it here.
      case 'string': bytes += jsonBytes(v); return v
      case 'object': {
        if (Array.isArray(v)) {
          bytes += 2 + Math.max(0, v.length - 1)
          const out = new Array<unknown>(v.length)
          for (let i = 0; i < v.length; i++) {
            const item = v[i]
            if (item === undefined || typeof item === 'function' || typeof item === 'symbol') {
              out[i] = null
              continue
            }
            keys.push(i)
            out[i] = copy(item, depth + 1)
            keys.pop()
          }
          return out
        }
        if (v instanceof Uint8Array || v instanceof Map || v instanceof Set) fail(`${v.constructor.name} is not JSON; convert it to a list or mapping`)
        bytes += 2
        const out: Record<string, unknown> = {}
        let entries = 0
        for (const k of Object.keys(v as object)) {
          const item = (v as Record<string, unknown>)[k]
          if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue
          // "key": and, from the second entry on, a comma.
          bytes += jsonBytes(k) + 1 + (entries++ > 0 ? 1 : 0)
          keys.push(k)
          const copied = copy(item, depth + 1)
          keys.pop()
          // An own "__proto__" member stays a member (assignment would set the copy's prototype).
          if (k === '__proto__') Object.defineProperty(out, k, { value: copied, enumerable: true, writable: true, configurable: true })
          else out[k] = copied
        }
        return out
      }
      default:
        return fail(`${describeType(v)} is not a JSON value`)
    }
  }
  try {
    const out = copy(value, 0)
    if (bytes > maxBytes) fail(`is larger than ${maxBytes} bytes of JSON`, true)
    return { ok: true, value: out, bytes }
  } catch (err) {
    if (err instanceof InstanceError) return { ok: false, path: err.path, what: err.what, reason: err.message }
    const what = `cannot be read as JSON: ${(err as Error).message}`
    return { ok: false, path: root, what, reason: `${root} ${what}` }
  }
}

class InstanceError extends Error {
  readonly path: string
  readonly what: string
  constructor (path: string, what: string) {
    super(`${path}: ${what}`)
    this.path = path
    this.what = what
  }
}
