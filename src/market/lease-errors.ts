import type { JobProblem } from './job-errors.ts'

/** A lease request whose terms peers would Reject (slots, duration, bid window, ceiling): nothing was sent. */
export class InvalidLeaseError extends Error {
  override name = 'InvalidLeaseError'
  readonly problems: JobProblem[]
  constructor (problems: JobProblem[]) {
    super(problems.map(p => `lease ${p.path}: ${p.message}`).join('\n'))
    this.problems = problems
  }
}
