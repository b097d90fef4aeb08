import { UnreadableFileError } from '../util/files.ts'

/**
 * One problem found in a workflow. `path` names the place in the file
 * (`jobs[1].input.transcript`, `jobs[2].needs[0]`); an empty path means the workflow as
 * a whole. `message` says what is wrong and then, after a semicolon, how to fix it —
 * the same convention as spec problems (src/spec/errors.ts).
 */
export interface WorkflowProblem {
  path: string
  message: string
}

export function formatWorkflowProblems (problems: readonly WorkflowProblem[], whole = 'workflow'): string {
  return problems.map(p => `${p.path === '' ? whole : p.path}: ${p.message}`).join('\n')
}

/** A workflow (file, text or API body) that does not validate. Carries every problem found. */
export class WorkflowValidationError extends Error {
  override name = 'WorkflowValidationError'
  readonly problems: WorkflowProblem[]
  readonly filename?: string

  constructor (problems: WorkflowProblem[], options: { filename?: string } = {}) {
    const where = options.filename ?? 'workflow'
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
    super(`${where} is not a valid workflow (${count}):\n${formatWorkflowProblems(problems, where)}`)
    this.problems = problems
    if (options.filename != null) this.filename = options.filename
  }
}

/** A workflow file that cannot be read at all (missing, a directory, unreadable). */
export class WorkflowFileError extends UnreadableFileError {
  override name = 'WorkflowFileError'
}
