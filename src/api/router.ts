import type { IncomingHttpHeaders } from 'node:http'
import { methodNotAllowed, notFound } from './errors.ts'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** What a route handler sees of a request: already authenticated, body already parsed. */
export interface ApiRequest {
  method: string
  path: string
  params: Record<string, string>
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** Parsed JSON body, or undefined when the request had none. */
  body: unknown
  /** Aborts when the client goes away (a long request, an event stream). */
  signal: AbortSignal
}

/** One Server-Sent Event: `id`, `event` and JSON `data` lines. */
export interface ServerSentEvent {
  id?: string
  event?: string
  data: unknown
}

export type ApiResponse = {
  /** @default 200 */
  status?: number
  /** Sent as JSON, unless `raw` is given. */
  body?: unknown
  /** A body sent as is (metrics text, the dashboard's files), with `contentType`. */
  raw?: string | Uint8Array
  /** @default 'application/json; charset=utf-8' */
  contentType?: string
  /** Extra response headers, e.g. the next page's cursor. */
  headers?: Record<string, string>
} | {
  /**
   * Answer as `text/event-stream`, one event per item, until the iteration
   * ends or the client leaves (the request's signal aborts then).
   */
  events: AsyncIterable<ServerSentEvent>
}

export type Handler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse

export interface Route {
  method: HttpMethod
  /** Path pattern such as `/v1/specs/:id`; `:name` segments become `params.name`. */
  path: string
  handler: Handler
  /**
   * Served without the bearer token. Only for what holds no node data: the
   * dashboard's static files, which then call the API with the token. @default false
   */
  public?: boolean
}

interface CompiledRoute extends Route {
  segments: string[]
}

export interface Match {
  handler: Handler
  params: Record<string, string>
  public: boolean
}

/**
 * A small exact-segment router. Routes are plain data so each resource family
 * (specs, jobs, receipts, …) lives in its own module under routes/ and the
 * server just concatenates the lists.
 */
export class Router {
  private readonly routes: CompiledRoute[] = []

  constructor (routes: Route[] = []) {
    for (const route of routes) this.add(route)
  }

  add (route: Route): this {
    const segments = split(route.path)
    const clash = this.routes.find(r => r.method === route.method && r.segments.join('/') === segments.join('/'))
    if (clash != null) throw new Error(`route ${route.method} ${route.path} is registered twice`)
    this.routes.push({ ...route, segments })
    return this
  }

  /** Find the handler for a request, or throw 404 (no such path) / 405 (path exists, method does not). */
  match (method: string, path: string): Match {
    const parts = split(path)
    const allowed: string[] = []
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts)
      if (params == null) continue
      if (route.method === method) return { handler: route.handler, params, public: route.public === true }
      allowed.push(route.method)
    }
    if (allowed.length > 0) throw methodNotAllowed(method, path, [...new Set(allowed)])
    throw notFound(`no route for ${method} ${path}`)
  }
}

function split (path: string): string[] {
  return path.split('/').filter(s => s !== '')
}

function matchSegments (pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!
    const got = parts[i]!
    if (want.startsWith(':')) {
      let value: string
      try {
        value = decodeURIComponent(got)
      } catch {
        return null
      }
      params[want.slice(1)] = value
    } else if (want !== got) {
      return null
    }
  }
  return params
}
