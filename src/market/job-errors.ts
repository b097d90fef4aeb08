/** Errors a requester sees when a job cannot even be submitted. */

export interface JobProblem {
  path: string
  message: string
}

export class UnknownSpecError extends Error {
  override name = 'UnknownSpecError'
  readonly specId: string
  constructor (specId: string) {
    super(`this node holds no spec ${specId}; check the id with \`specmesh spec list\`, or publish the spec first`)
    this.specId = specId
  }
}

export class InvalidJobError extends Error {
  override name = 'InvalidJobError'
  readonly problems: JobProblem[]
  constructor (problems: JobProblem[]) {
    super(problems.map(p => `${p.path}: ${p.message}`).join('\n'))
    this.problems = problems
  }
}

export class UnknownJobError extends Error {
  override name = 'UnknownJobError'
  constructor (jobId: string) {
    super(`this node has no record of job ${jobId}; \`specmesh job list\` shows the jobs it submitted`)
  }
}

/** The abort reason of a job its requester cancelled. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError'
  constructor () {
    super('cancelled by the requester')
  }
}
