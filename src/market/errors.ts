/**
 * Errors raised while serving jobs. Every handler failure is a `HandlerError`, whose
 * `reason` goes into the execution receipt as it is and whose `outcome` is the receipt
 * outcome it stands for.
 */

export type HandlerOutcome = 'error' | 'timeout'

export class HandlerError extends Error {
  override name = 'HandlerError'
  /** Human-readable, bounded text fit for a receipt's reason field. */
  readonly reason: string
  readonly outcome: HandlerOutcome

  constructor (reason: string, outcome: HandlerOutcome = 'error', options?: ErrorOptions) {
    super(reason, options)
    this.reason = reason
    this.outcome = outcome
  }
}

/** The handler program could not be started: spawn failed, or the shell found no such command. */
export class HandlerSpawnError extends HandlerError {
  override name = 'HandlerSpawnError'
  readonly command: string

  constructor (command: string, detail: string, options?: ErrorOptions) {
    super(`could not start handler \`${command}\`: ${detail}`, 'error', options)
    this.command = command
  }
}

/** The job input could not be serialised to JSON for the handler. */
export class HandlerInputError extends HandlerError {
  override name = 'HandlerInputError'
}

/** The handler exited with a non-zero code or was killed by a signal it was not sent by us. */
export class HandlerExitError extends HandlerError {
  override name = 'HandlerExitError'
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string

  constructor (exitCode: number | null, signal: NodeJS.Signals | null, stderr: string) {
    const how = signal != null ? `was killed by ${signal}` : `exited with code ${exitCode}`
    super(stderr === '' ? `handler ${how}` : `handler ${how}: ${stderr}`)
    this.exitCode = exitCode
    this.signal = signal
    this.stderr = stderr
  }
}

/** The handler exited cleanly but what it printed is not one JSON value. */
export class HandlerOutputError extends HandlerError {
  override name = 'HandlerOutputError'
}

/** The handler printed more than the output limit; it was killed as soon as it crossed it. */
export class HandlerOutputTooLargeError extends HandlerError {
  override name = 'HandlerOutputTooLargeError'
  readonly limit: number

  constructor (limit: number) {
    super(`handler output exceeded ${limit} bytes`)
    this.limit = limit
  }
}

/** The job was aborted (deadline, cancellation, shutdown) and the handler killed. */
export class HandlerAbortedError extends HandlerError {
  override name = 'HandlerAbortedError'
}

/**
 * Abort reason for a job that ran out of time. Aborting with this (or with the
 * `TimeoutError` that `AbortSignal.timeout()` produces) makes the outcome 'timeout'.
 */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError'

  constructor (message = 'deadline exceeded') {
    super(message)
  }
}

/** True when an abort reason means "out of time" rather than "cancelled". */
export function isDeadlineReason (reason: unknown): boolean {
  if (reason == null || typeof reason !== 'object') return false
  const name = (reason as { name?: unknown }).name
  return name === 'TimeoutError' || name === 'DeadlineExceededError'
}
