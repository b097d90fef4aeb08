/**
 * Errors raised while serving jobs. Every handler failure is a `HandlerError`:
 * its `reason` is what the agent publishes (in its signed claim, and so in the
 * receipt every node stores), its `message` what the agent's own log gets,
 * and its `outcome` the receipt outcome it stands for.
 *
 * The reason is short and says only what the agent means to publish: what
 * happened (exit code, signal, timeout, which limit) and, when the handler
 * chose one, its own message (protocols/market.md "Reasons"). Whatever the
 * program printed on stderr, the command line and the working directory stay
 * in `message`, on the agent's machine.
 */
import { MAX_HANDLER_MESSAGE_CHARS } from '../wire/constants.ts'
import { publishableReason } from './messages.ts'

export type HandlerOutcome = 'error' | 'timeout'

export interface HandlerErrorOptions extends ErrorOptions {
  /** Local detail for the agent's log (stderr, paths, the command); never published. */
  detail?: string
}

export class HandlerError extends Error {
  override name = 'HandlerError'
  /** Short, bounded text fit for a claim's and a receipt's reason field. */
  readonly reason: string
  readonly outcome: HandlerOutcome

  constructor (reason: string, outcome: HandlerOutcome = 'error', options?: HandlerErrorOptions) {
    const published = publishableReason(reason)
    super(options?.detail == null || options.detail === '' ? published : `${published}: ${options.detail}`, options)
    this.reason = published
    this.outcome = outcome
  }
}

/**
 * The message a failing program chose to publish: a JSON object on stdout whose
 * `error` is a string, or an object with a string `message`, cut to
 * MAX_HANDLER_MESSAGE_CHARS. Anything else on stdout is not a message.
 */
export function handlerChosenMessage (stdout: string): string | null {
  let value: unknown
  try {
    value = JSON.parse(stdout)
  } catch {
    return null
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value)) return null
  const error = (value as { error?: unknown }).error
  const text = typeof error === 'string'
    ? error
    : error != null && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string'
      ? (error as { message: string }).message
      : null
  if (text == null || text.trim() === '') return null
  return publishableReason(text, MAX_HANDLER_MESSAGE_CHARS)
}

/** The handler program could not be started: spawn failed, or the shell found no such command. */
export class HandlerSpawnError extends HandlerError {
  override name = 'HandlerSpawnError'
  readonly command: string

  /** `what` is published ("command not found (exit 127)"); the command line and `detail` stay local. */
  constructor (command: string, what: string, options?: HandlerErrorOptions) {
    super(`could not start the handler: ${what}`, 'error', { ...options, detail: [`command \`${command}\``, options?.detail].filter(Boolean).join(': ') })
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

  /** `chosen` is the handler's own message (see handlerChosenMessage); stderr only reaches the local log. */
  constructor (exitCode: number | null, signal: NodeJS.Signals | null, stderr: string, chosen: string | null = null) {
    const how = signal != null ? `was killed by ${signal}` : `exited with code ${exitCode}`
    super(chosen == null ? `handler ${how}` : `handler ${how}: ${chosen}`, 'error', { detail: stderr === '' ? undefined : `stderr: ${stderr}` })
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

/** Why an agent refuses an award (or a lease-award) before any work: the reason goes into its refused claim. */
export class Refusal extends Error {
  override name = 'Refusal'
  readonly retryAfterMs?: number
  /** The agent is shutting down: the coordinator should not award it again. */
  readonly stopping: boolean
  constructor (reason: string, retryAfterMs?: number, stopping = false) {
    super(reason)
    this.retryAfterMs = retryAfterMs
    this.stopping = stopping
  }
}
