import { joinPath } from '../spec/suggest.ts'
import type { WorkflowProblem } from './errors.ts'

/**
 * References from one job's input to an earlier job's output.
 *
 * A string value in a job's `input` that is EXACTLY `${JOB.output…}` is replaced by the
 * value found there in JOB's output, whatever its type: a number stays a number, an
 * object stays an object (type-preserving). Anywhere else `${` is an error rather than
 * a guess, so a value is either a literal or a reference, never half of each; write
 * `$${` for a literal `${`.
 *
 *   ${audio.output}                   the whole output
 *   ${audio.output.text}              a key (letters, digits, _ and -)
 *   ${nlp.output.topics[0].name}      a list index
 *   ${audio.output["odd key"]}        any key, as a JSON string
 */
export interface Reference {
  /** The job whose output is read. */
  job: string
  /** Keys and indexes inside that output; empty for the whole output. */
  path: Array<string | number>
  /** The reference as written, `${…}` included. */
  source: string
}

/** Job ids: short identifiers, so that they read unambiguously inside a reference. */
export const JOB_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/

const REFERENCE_HELP = 'write ${JOB.output}, ${JOB.output.key}, ${JOB.output.list[0]} or ${JOB.output["any key"]}'
const WHOLE = /^\$\{([\s\S]*)\}$/

export type ParsedReference = { ok: true, ref: Reference } | { ok: false, message: string }

/** Parses the text between `${` and `}`. */
export function parseReference (source: string): ParsedReference {
  const m = WHOLE.exec(source)
  if (m == null) return { ok: false, message: `${JSON.stringify(source)} is not a reference; ${REFERENCE_HELP}` }
  const text = m[1]!.trim()
  const bad = (why: string): ParsedReference => ({ ok: false, message: `${source} ${why}; ${REFERENCE_HELP}` })
  const head = /^([A-Za-z][A-Za-z0-9_-]{0,63})/.exec(text)
  if (head == null) return bad('does not start with a job id')
  const job = head[1]!
  let rest = text.slice(job.length)
  const field = /^\.([A-Za-z_][A-Za-z0-9_-]*)/.exec(rest)
  if (field == null) return bad(rest === '' ? `names job ${job} but not what to read from it` : `has ${JSON.stringify(rest.slice(0, 12))} after the job id`)
  if (field[1] !== 'output') return bad(`reads "${field[1]}" of job ${job}, but only a job's output can be referenced (did you mean \${${job}.output.${field[1]}}?)`)
  rest = rest.slice(field[0].length)
  const path: Array<string | number> = []
  while (rest !== '') {
    const key = /^\.([A-Za-z_][A-Za-z0-9_-]*)/.exec(rest)
    if (key != null) {
      path.push(key[1]!)
      rest = rest.slice(key[0].length)
      continue
    }
    const index = /^\[(\d{1,9})\]/.exec(rest)
    if (index != null) {
      path.push(Number(index[1]))
      rest = rest.slice(index[0].length)
      continue
    }
    const quoted = /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest)
    if (quoted != null) {
      let value: unknown
      try {
        value = JSON.parse(quoted[1]!)
      } catch {
        return bad(`has a key ${quoted[1]} that is not a valid JSON string`)
      }
      path.push(value as string)
      rest = rest.slice(quoted[0].length)
      continue
    }
    return bad(`cannot be read from ${JSON.stringify(rest.slice(0, 16))}`)
  }
  return { ok: true, ref: { job, path, source } }
}

/** Index of every `${` in the text that is not escaped as `$${`. */
function unescapedOpenings (text: string): number[] {
  const found: number[] = []
  for (let i = text.indexOf('${'); i !== -1; i = text.indexOf('${', i + 2)) {
    if (i > 0 && text[i - 1] === '$') continue
    found.push(i)
  }
  return found
}

type StringKind = { kind: 'literal', value: string } | { kind: 'reference', ref: Reference } | { kind: 'invalid', message: string }

function classify (text: string): StringKind {
  const openings = unescapedOpenings(text)
  if (openings.length === 0) return { kind: 'literal', value: text.replaceAll('$${', '${') }
  if (openings.length === 1 && openings[0] === 0 && WHOLE.test(text)) {
    const parsed = parseReference(text)
    return parsed.ok ? { kind: 'reference', ref: parsed.ref } : { kind: 'invalid', message: parsed.message }
  }
  return {
    kind: 'invalid',
    message: `${JSON.stringify(text.length > 80 ? text.slice(0, 79) + '…' : text)} mixes a reference with other text; a reference must be the whole value (e.g. "\${audio.output.text}"), so that its type is kept. Build text in the job that needs it, or write $\${ for a literal \${`
  }
}

export interface FoundReference {
  ref: Reference
  /** Where in the workflow it is written, e.g. `jobs[1].input.transcript`. */
  at: string
}

/** Every reference in a job's input (and every malformed one, as a problem). */
export function findReferences (input: unknown, basePath: string): { refs: FoundReference[], problems: WorkflowProblem[] } {
  const refs: FoundReference[] = []
  const problems: WorkflowProblem[] = []
  const walk = (value: unknown, at: string): void => {
    if (typeof value === 'string') {
      const kind = classify(value)
      if (kind.kind === 'reference') refs.push({ ref: kind.ref, at })
      else if (kind.kind === 'invalid') problems.push({ path: at, message: kind.message })
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, joinPath(at, i)))
    } else if (value != null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (unescapedOpenings(key).length > 0) {
          problems.push({ path: joinPath(at, key), message: 'a reference cannot be a key, only a value; use a fixed key and put the reference in its value' })
        }
        walk(item, joinPath(at, key))
      }
    }
  }
  walk(input, basePath)
  return { refs, problems }
}

export type Resolved = { ok: true, value: unknown } | { ok: false, path: string, message: string }

/**
 * A job's input with every reference replaced by the value it names in `outputs` (the
 * outputs of the jobs that succeeded) and every `$${` unescaped. Values are copied, so
 * a job can never change another job's output.
 */
export function resolveInput (input: unknown, outputs: ReadonlyMap<string, unknown>, basePath = 'input'): Resolved {
  let failure: Resolved | null = null
  const walk = (value: unknown, at: string): unknown => {
    if (failure != null) return undefined
    if (typeof value === 'string') {
      const kind = classify(value)
      if (kind.kind === 'literal') return kind.value
      if (kind.kind === 'invalid') {
        failure = { ok: false, path: at, message: kind.message }
        return undefined
      }
      const read = readReference(kind.ref, outputs)
      if (!read.ok) {
        failure = { ok: false, path: at, message: read.message }
        return undefined
      }
      return structuredClone(read.value)
    }
    if (Array.isArray(value)) return value.map((item, i) => walk(item, joinPath(at, i)))
    if (value != null && typeof value === 'object') {
      const out: Record<string, unknown> = {}
      for (const [key, item] of Object.entries(value)) out[key] = walk(item, joinPath(at, key))
      return out
    }
    return value
  }
  const value = walk(input, basePath)
  return failure ?? { ok: true, value }
}

/** The value a reference names, or why it names nothing. */
export function readReference (ref: Reference, outputs: ReadonlyMap<string, unknown>): { ok: true, value: unknown } | { ok: false, message: string } {
  if (!outputs.has(ref.job)) return { ok: false, message: `${ref.source}: job ${ref.job} has no output (it has not succeeded)` }
  let value = outputs.get(ref.job)
  let where = `${ref.job}.output`
  for (const step of ref.path) {
    if (typeof step === 'number') {
      if (!Array.isArray(value)) return { ok: false, message: `${ref.source}: ${where} is ${describe(value)}, not a list, so it has no item [${step}]; fix the reference or the spec's output` }
      if (step >= value.length) return { ok: false, message: `${ref.source}: ${where} has ${value.length} item${value.length === 1 ? '' : 's'}, so no item [${step}]; fix the reference` }
      value = value[step]
      where += `[${step}]`
    } else {
      if (value == null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: `${ref.source}: ${where} is ${describe(value)}, not an object, so it has no key "${step}"; fix the reference or the spec's output` }
      if (!Object.hasOwn(value, step)) {
        const keys = Object.keys(value)
        return { ok: false, message: `${ref.source}: ${where} has no key "${step}"${keys.length > 0 ? ` (it has ${keys.slice(0, 8).map(k => `"${k}"`).join(', ')}${keys.length > 8 ? ', …' : ''})` : ''}; fix the reference` }
      }
      value = (value as Record<string, unknown>)[step]
      where = joinPath(where, step)
    }
  }
  return { ok: true, value }
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
