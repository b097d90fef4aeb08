/**
 * Validation outcomes map to gossipsub verdicts the way Ethereum consensus clients
 * do it: a message that is wrong in itself is Rejected (the sender's score drops),
 * one that is merely stale, duplicated or early is Ignored.
 */
export type ValidationAction = 'reject' | 'ignore'

export class MessageValidationError extends Error {
  override name = 'MessageValidationError'
  readonly action: ValidationAction
  readonly code: string

  constructor (action: ValidationAction, code: string, message: string) {
    super(message)
    this.action = action
    this.code = code
  }
}

export const reject = (code: string, message: string): MessageValidationError =>
  new MessageValidationError('reject', code, message)

export const ignore = (code: string, message: string): MessageValidationError =>
  new MessageValidationError('ignore', code, message)
