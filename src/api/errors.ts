/**
 * Errors the local API answers with. Every error body has the same shape,
 * `{"error": {"code", "message", "problems"?}}`, so a client in any language
 * can branch on `code` and show `message` as is.
 */

export interface Problem {
  path: string
  message: string
}

export interface ApiErrorBody {
  error: {
    code: string
    message: string
    problems?: Problem[]
    /** For `ambiguous_id`: the ids the prefix or name matched. */
    matches?: string[]
  }
}

export class ApiError extends Error {
  override name = 'ApiError'
  readonly status: number
  readonly code: string
  readonly problems?: Problem[]
  readonly headers?: Record<string, string>
  readonly matches?: string[]

  constructor (status: number, code: string, message: string, options: { problems?: Problem[], headers?: Record<string, string>, matches?: string[] } = {}) {
    super(message)
    this.status = status
    this.code = code
    if (options.problems != null) this.problems = options.problems
    if (options.headers != null) this.headers = options.headers
    if (options.matches != null) this.matches = options.matches
  }

  toBody (): ApiErrorBody {
    const error: ApiErrorBody['error'] = { code: this.code, message: this.message }
    if (this.problems != null) error.problems = this.problems
    if (this.matches != null) error.matches = this.matches
    return { error }
  }
}

export const badRequest = (code: string, message: string, problems?: Problem[]): ApiError =>
  new ApiError(400, code, message, problems != null ? { problems } : {})

export const unauthorized = (message: string): ApiError =>
  new ApiError(401, 'unauthorized', message, { headers: { 'www-authenticate': 'Bearer realm="specmesh"' } })

export const notFound = (message: string): ApiError =>
  new ApiError(404, 'not_found', message)

export const methodNotAllowed = (method: string, path: string, allowed: string[]): ApiError =>
  new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}; use ${allowed.join(', ')}`, { headers: { allow: allowed.join(', ') } })

export const payloadTooLarge = (limit: number): ApiError =>
  new ApiError(413, 'payload_too_large', `request body is larger than ${limit} bytes`)

export const unsupportedMediaType = (contentType: string): ApiError =>
  new ApiError(415, 'unsupported_media_type', `request body must be application/json, not ${contentType}`)

/**
 * Turn whatever a route threw into an ApiError. Validation errors from the
 * domain modules are recognised by name and shape rather than by class, so the
 * API does not depend on each module's error classes (and still works when a
 * module is loaded twice).
 */
export function toApiError (err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof Error) {
    if (err.name === 'UnknownIdError') return notFound(err.message)
    if (err.name === 'AmbiguousIdError') {
      const matches = (err as Error & { matches?: unknown }).matches
      return new ApiError(409, 'ambiguous_id', err.message, Array.isArray(matches) ? { matches: matches.map(String) } : {})
    }
    const problems = problemsOf(err)
    if (problems != null) return badRequest(validationCode(err.name), err.message, problems)
    if (err.name === 'MessageValidationError') {
      const code = (err as Error & { code?: unknown }).code
      return badRequest(typeof code === 'string' ? code : 'invalid_message', err.message)
    }
  }
  return new ApiError(500, 'internal', err instanceof Error ? err.message : String(err))
}

function problemsOf (err: Error): Problem[] | null {
  const problems = (err as Error & { problems?: unknown }).problems
  if (!Array.isArray(problems)) return null
  return problems.map((p: unknown) => {
    const rec = (p != null && typeof p === 'object') ? p as Record<string, unknown> : {}
    return { path: formatPath(rec.path), message: String(rec.message ?? p) }
  })
}

/** Problem paths arrive as strings or as arrays of keys; the wire always carries a string. */
export function formatPath (path: unknown): string {
  if (Array.isArray(path)) return path.map(String).join('.')
  if (path == null) return ''
  return String(path)
}

function validationCode (name: string): string {
  if (name === 'SpecValidationError') return 'invalid_spec'
  return 'invalid_request'
}
