import { Environment, ParseError, type ASTNode, type ParseResult } from '@marcbachmann/cel-js'
import { CEL_LIMITS, MAX_COMPREHENSION_NESTING, MAX_CRITERIA_COST, COST_CHARS_PER_UNIT } from './constants.ts'
import { regexProblem } from './regex-safety.ts'
import { show } from './suggest.ts'

/**
 * Success criteria are CEL expressions over two variables, `input` and `output` (the job's
 * JSON values). JSON numbers are CEL doubles, as in cel-go's JSON mapping: comparisons
 * with integer literals work (`e.confidence >= 75`), arithmetic mixes need a double
 * literal (`output.n + 1.0`) or a conversion (`int(output.n) + 1`).
 *
 * Bounds, because specs and outputs both come from strangers:
 * - parse time: CEL_LIMITS (AST nodes, nesting depth, literal sizes), expression length;
 * - shape: at most MAX_COMPREHENSION_NESTING comprehension macros nested in one another,
 *   no `cel.bind` (it would let an expression re-scan a large intermediate value
 *   without reading, hence paying for, the data again), and `matches` only with a literal
 *   pattern that passes the regex screen;
 * - run time: every read of `input`/`output` is metered (see MAX_CRITERIA_COST), so a
 *   criterion that would do quadratic work over a 1 MiB output stops with a failure.
 */

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])
const EXAMPLE = 'output.entities.all(e, e.confidence >= 75.0)'

let environment: Environment | undefined
function env (): Environment {
  environment ??= new Environment({ limits: { ...CEL_LIMITS } })
    .registerVariable('input', 'dyn')
    .registerVariable('output', 'dyn')
  return environment
}

export type CriterionAnalysis = { ok: true, program: ParseResult } | { ok: false, message: string }

/** Parses and checks one criterion; on failure says what is wrong and how to write it. */
export function analyzeCriterion (source: string): CriterionAnalysis {
  let program: ParseResult
  try {
    program = env().parse(source)
  } catch (err) {
    return { ok: false, message: notCel(source, err) }
  }
  const shape = shapeProblem(program.ast)
  if (shape != null) return { ok: false, message: shape }
  const checked = program.check()
  if (!checked.valid) {
    const error = checked.error as { message?: string, summary?: string } | undefined
    const text = error?.summary ?? error?.message?.split('\n')[0] ?? 'type error'
    const unknown = /Unknown variable: ([\w.]+)/.exec(text)
    if (unknown != null) {
      return { ok: false, message: `refers to "${unknown[1]}", which is not defined; criteria can only use input and output, e.g. output.${unknown[1]}` }
    }
    return { ok: false, message: `does not type-check (${text}); fix the expression, e.g. ${EXAMPLE}` }
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    return { ok: false, message: `returns ${checked.type}, not true or false; compare it to something, e.g. size(output.entities) > 0` }
  }
  return { ok: true, program }
}

function notCel (source: string, err: unknown): string {
  if (looksLikeProse(source)) {
    let message = `${show(source)} reads as prose, but a criterion must be a CEL expression over input and output that is true for an acceptable output; write e.g. ${EXAMPLE}`
    if (/%/.test(source)) message += ' (write percentages as plain numbers: output.confidence > 95.0)'
    if (/schema/i.test(source)) message += ' (the output schema is always checked, so a criterion that restates it can be removed)'
    return message
  }
  const e = err as { summary?: string, message?: string, range?: { start: number } }
  const summary = err instanceof ParseError ? e.summary : (e.message ?? String(err)).split('\n')[0]
  if (/Exceeded max/i.test(summary ?? '')) return `is too large or too deeply nested for a criterion (${summary}); split it into several criteria`
  const column = e.range != null ? ` at column ${e.range.start + 1}` : ''
  return `${show(source)} is not valid CEL (${summary}${column}); fix the syntax, e.g. ${EXAMPLE}`
}

/** Words next to words (other than `in`), a percent sign or typographic symbols: English, not CEL. */
function looksLikeProse (source: string): boolean {
  const code = source.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
  return /[%≥≤≠…’]/.test(code) || /\b(?!in\b)[A-Za-z_]\w*\s+(?!in\b)[A-Za-z_]\w*/.test(code)
}

function shapeProblem (root: ASTNode): string | undefined {
  let deepest = 0
  let problem: string | undefined
  const visit = (node: unknown, nesting: number): void => {
    if (problem != null || !isNode(node)) return
    if (node.op === 'rcall') {
      const [name, receiver, args] = node.args as [string, ASTNode, ASTNode[]]
      if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel') {
        problem = 'uses cel.bind, which is not allowed (a bound value could be re-scanned without limit); repeat the sub-expression instead'
        return
      }
      if (name === 'matches') problem = patternProblem(args[0])
      if (MACROS.has(name) && args.length >= 2) {
        deepest = Math.max(deepest, nesting + 1)
        visit(receiver, nesting)
        for (const arg of args.slice(1)) visit(arg, nesting + 1)
        return
      }
      visit(receiver, nesting)
      for (const arg of args) visit(arg, nesting)
      return
    }
    if (node.op === 'call') {
      const [name, args] = node.args as [string, ASTNode[]]
      if (name === 'matches') problem = patternProblem(args[1])
      for (const arg of args) visit(arg, nesting)
      return
    }
    const args: unknown = node.args
    if (Array.isArray(args)) {
      for (const a of args) {
        if (Array.isArray(a)) for (const b of a) visit(b, nesting)
        else visit(a, nesting)
      }
    } else {
      visit(args, nesting)
    }
  }
  visit(root, 0)
  if (problem != null) return problem
  if (deepest > MAX_COMPREHENSION_NESTING) {
    return `nests comprehensions (all, exists, exists_one, map, filter) ${deepest} deep; at most ${MAX_COMPREHENSION_NESTING} may be nested so evaluation cost stays bounded on large outputs, so split it into separate criteria`
  }
  return undefined
}

function patternProblem (pattern: ASTNode | undefined): string | undefined {
  if (pattern == null || pattern.op !== 'value' || typeof pattern.args !== 'string') {
    return 'matches() takes its pattern from the data, where it could be crafted to run for minutes; write the pattern as a literal, e.g. e.value.matches("^[A-Z][a-z]+$")'
  }
  const bad = regexProblem(pattern.args, '')
  return bad == null ? undefined : `matches(): ${bad}`
}

function isNode (value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value
}

/** Why one criterion did not pass on one output. */
export interface CriterionFailure {
  criterion: string
  reason: string
}

class CostExceeded extends Error {
  override name = 'CostExceeded'
}

/**
 * Meters reads of JSON data by handing CEL proxies instead of the values themselves.
 * Proxies wrap a private copy (see checkOutput), so no invariant of a frozen object can
 * get in the way, and the same object always yields the same proxy.
 */
class Meter {
  used = 0
  exhausted = false
  readonly limit: number
  private readonly proxies = new WeakMap<object, object>()

  constructor (limit: number) {
    this.limit = limit
  }

  charge (units: number): void {
    if (this.exhausted) throw new CostExceeded()
    this.used += units
    if (this.used > this.limit) {
      this.exhausted = true
      throw new CostExceeded()
    }
  }

  wrap (value: unknown): unknown {
    if (typeof value === 'string') {
      this.charge(1 + Math.floor(value.length / COST_CHARS_PER_UNIT))
      return value
    }
    if (value === null || typeof value !== 'object') return value
    const known = this.proxies.get(value)
    if (known != null) return known
    const meter = this
    const proxy = new Proxy(value, {
      get (target, key, receiver) {
        const v = Reflect.get(target, key, receiver)
        if (typeof key !== 'string') return v
        meter.charge(1)
        return Object.hasOwn(target, key) ? meter.wrap(v) : v
      },
      has (target, key) {
        meter.charge(1)
        return Reflect.has(target, key)
      },
      ownKeys (target) {
        const keys = Reflect.ownKeys(target)
        meter.charge(keys.length + 1)
        return keys
      }
    })
    this.proxies.set(value, proxy)
    return proxy
  }
}

/**
 * Runs each compiled criterion against plain-JSON `input` and `output` under one shared
 * cost budget. Never throws: every way a criterion can go wrong is a failure with a reason.
 * `outputBytes`: the output's size as canonical JSON, when known (checkOutput's copy
 * measures it); with it, criteria that cannot come near the budget on an output that
 * size run on the values themselves, unmetered (see unmeteredBound), with the same results.
 */
export function evaluateCriteria (criteria: ReadonlyArray<{ source: string, program: ParseResult }>, input: unknown, output: unknown, limit = MAX_CRITERIA_COST, outputBytes?: number): CriterionFailure[] {
  if (outputBytes != null) {
    const bound = unmeteredBound(criteria, input, outputBytes)
    if (bound != null && bound <= limit) {
      const context = { input: input ?? null, output }
      return judge(criteria, program => program(context), () => false, limit)
    }
  }
  const meter = new Meter(limit)
  let context: { input: unknown, output: unknown } | undefined
  return judge(criteria, program => {
    context ??= { input: meter.wrap(input ?? null), output: meter.wrap(output) }
    return program(context)
  }, () => meter.exhausted, limit)
}

/** Each criterion run and its result judged; `exhausted`: the budget is used up (metered runs only). */
function judge (criteria: ReadonlyArray<{ source: string, program: ParseResult }>, run: (program: ParseResult) => unknown, exhausted: () => boolean, limit: number): CriterionFailure[] {
  const failures: CriterionFailure[] = []
  for (const { source, program } of criteria) {
    if (exhausted()) {
      failures.push({ criterion: source, reason: 'not evaluated: the evaluation cost limit was used up by earlier criteria' })
      continue
    }
    let result: unknown
    let error: unknown
    try {
      result = run(program)
    } catch (err) {
      error = err
    }
    if (exhausted()) {
      failures.push({ criterion: source, reason: costReason(limit) })
    } else if (error !== undefined) {
      failures.push({ criterion: source, reason: evaluationReason(error) })
    } else if (result === true) {
      // passed
    } else if (result === false) {
      failures.push({ criterion: source, reason: 'evaluated to false' })
    } else if (result instanceof Promise) {
      result.catch(() => {})
      failures.push({ criterion: source, reason: 'returned a promise; criteria must evaluate synchronously to true or false' })
    } else {
      failures.push({ criterion: source, reason: `returned ${celType(result)}${typeof result === 'object' ? '' : ` ${show(typeof result === 'bigint' ? String(result) : result)}`}, not true or false; a criterion must be a boolean expression` })
    }
  }
  return failures
}

/**
 * Reads one node of a criterion may make of the data, counted in whole walks
 * of the output, with a margin: an operator or call reads its operands (at
 * most two), an equality or `in` compares them deeply (a walk each), and the
 * library looks at the first element of each for its runtime type. 4 is what
 * those add to; test/unit/spec/criteria-unmetered.test.ts measures the metered
 * runs against the bound.
 */
const WALKS_PER_NODE = 4
const MARGIN = 4

/**
 * An upper bound on the units a metered run of `criteria` would charge over an
 * output of `outputBytes` of canonical JSON, or null when none is known (a
 * comprehension, whose body runs once per element, or a read of `input`, whose
 * size is not known here). Without comprehensions (and with cel.bind refused)
 * every node of a criterion runs at most once. A whole walk of the output
 * charges at most 2 × its bytes (an object of k members: k + 1 for its keys
 * and k reads, against at least 3k + 2 bytes; an array's elements likewise; a
 * string 1 + length / 16 against its length + 2 bytes). A string input is
 * charged once, when it is wrapped. Under the limit, no run could be stopped
 * by the meter, which is the one way metering changes a result.
 */
export function unmeteredBound (criteria: ReadonlyArray<{ program: ParseResult }>, input: unknown, outputBytes: number): number | null {
  let nodes = 0
  for (const { program } of criteria) {
    const n = singlePassNodes(program)
    if (n == null) return null
    nodes += n
  }
  const inputCharge = typeof input === 'string' ? 1 + Math.floor(input.length / COST_CHARS_PER_UNIT) : 0
  return MARGIN * WALKS_PER_NODE * nodes * (2 * outputBytes + 8) + inputCharge
}

const singlePass = new WeakMap<ParseResult, number | null>()

/** The criterion's node count when it reads only `output` and has no comprehension (every node runs at most once), else null. */
function singlePassNodes (program: ParseResult): number | null {
  let known = singlePass.get(program)
  if (known === undefined) {
    known = countSinglePass(program.ast)
    singlePass.set(program, known)
  }
  return known
}

/** Operators whose every operand is a node run once (no macro, no variable bound per element). */
const SINGLE_PASS_OPS = new Set(['value', 'id', '.', '[]', '!_', '-_', '&&', '||', '?:', '==', '!=', '<', '<=', '>', '>=', 'in', '+', '-', '*', '/', '%', 'list', 'map', 'call', 'rcall'])

const rcallName = (node: ASTNode): string => (node.args as unknown as [string])[0]

function countSinglePass (root: ASTNode): number | null {
  let count = 0
  let ok = true
  const visit = (node: unknown): void => {
    if (!ok) return
    if (Array.isArray(node)) {
      for (const item of node) visit(item)
      return
    }
    if (!isNode(node)) return
    count++
    if (!SINGLE_PASS_OPS.has(node.op)) ok = false
    else if (node.op === 'id' && node.args !== 'output') ok = false
    else if (node.op === 'rcall' && (MACROS.has(rcallName(node)) || rcallName(node) === 'bind')) ok = false
    else if (node.op !== 'value' && node.op !== 'id') visit(node.args)
  }
  visit(root)
  return ok ? count : null
}

function costReason (limit: number): string {
  return `stopped: evaluating it would cost more than the limit of ${limit} units (reads of input/output data); the output is too large for this criterion, or the criterion rescans the data for every element`
}

function evaluationReason (err: unknown): string {
  if (err instanceof CostExceeded) return costReason(MAX_CRITERIA_COST)
  const e = err as { summary?: string, message?: string, code?: string }
  const text = e.summary ?? (e.message ?? String(err)).split('\n')[0]
  let hint = ''
  if (e.code === 'no_such_key' || /No such key/i.test(text ?? '')) hint = ' (the data has no such field; if it is optional, guard it with has(output.field) && …)'
  else if (/double/.test(text ?? '') && /int/.test(text ?? '')) hint = ' (JSON numbers are doubles in CEL: write 1.0 rather than 1, or convert with int(…) or double(…))'
  return `evaluation failed: ${text}${hint}`
}

function celType (value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'bigint') return 'an int'
  if (typeof value === 'number') return 'a double'
  if (typeof value === 'string') return 'a string'
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return 'bytes'
  if (value instanceof Date) return 'a timestamp'
  if (typeof value === 'object') return 'a map'
  return typeof value
}
