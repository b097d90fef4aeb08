import { UnreadableFileError } from '../util/files.ts'

/**
 * One problem found in a spec, or in an input checked against a spec.
 * `path` names the field in canonical camelCase (`capacity.maxConcurrentRequests`,
 * `successCriteria[1]`, `input.properties.text.type`); an empty path means the spec as a
 * whole. `message` says what is wrong and then, after a semicolon, what would fix it.
 */
export interface Problem {
  path: string
  message: string
}

/** `path: message`, the one-line form the CLI prints. */
export function formatProblem (problem: Problem, whole = 'spec'): string {
  return `${problem.path === '' ? whole : problem.path}: ${problem.message}`
}

export function formatProblems (problems: readonly Problem[], whole = 'spec'): string {
  return problems.map(p => formatProblem(p, whole)).join('\n')
}

/** A spec (file, text or network body) that does not validate. Carries every problem found. */
export class SpecValidationError extends Error {
  override name = 'SpecValidationError'
  readonly problems: Problem[]
  readonly filename?: string

  constructor (problems: Problem[], options: { filename?: string } = {}) {
    const where = options.filename ?? 'spec'
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
    super(`${where} is not a valid spec (${count}):\n${formatProblems(problems, where)}`)
    this.problems = problems
    if (options.filename != null) this.filename = options.filename
  }
}

/** A spec file that cannot be read at all (missing, a directory, unreadable). */
export class SpecFileError extends UnreadableFileError {
  override name = 'SpecFileError'
}
