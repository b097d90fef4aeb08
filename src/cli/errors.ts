/** A failure the user should read: printed as is, exit code 1. */
export class CliError extends Error {
  override name = 'CliError'
  readonly exitCode: number = 1
  readonly code: string

  constructor (message: string, code = 'failed') {
    super(message)
    this.code = code
  }
}

/** The command line itself is wrong: exit code 2, with a pointer to the right help. */
export class UsageError extends CliError {
  override name = 'UsageError'
  override readonly exitCode: number = 2
  /** The command whose help to point at, e.g. ['spec', 'publish']; [] for the top level. */
  readonly path: string[]

  constructor (message: string, path: string[] = []) {
    super(message, 'usage')
    this.path = path
  }
}
