import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SpecmeshNode } from '../node-types.ts'
import { ApiError, badRequest, payloadTooLarge, toApiError, unauthorized, unsupportedMediaType } from './errors.ts'
import { removeApiInfo, writeApiInfo } from './info.ts'
import { JsonInputError, parseJsonBytes } from '../wire/json-input.ts'
import { findMount, type HttpMount } from './mount.ts'
import { Router, type Match, type Route, type ServerSentEvent } from './router.ts'
import { allRoutes } from './routes/index.ts'
import { loadOrCreateApiToken, tokensEqual } from './token.ts'

/** The API listens on loopback only: it is a local control surface, never a network service. */
export const API_HOST = '127.0.0.1'

/** Largest request body accepted, in bytes. */
export const MAX_API_BODY_BYTES = 2 * 1024 * 1024

/** An idle event stream sends a comment this often, so proxies and clients know it is alive. */
const SSE_HEARTBEAT_MS = 15_000

/** A request that keeps sending after the limit is cut off once it sends this much more. */
const DRAIN_LIMIT_BYTES = 8 * MAX_API_BODY_BYTES

export interface ApiServerInit {
  node: SpecmeshNode
  /** Data folder holding api-token and, while listening, api.json. @default node.home */
  home?: string
  /** TCP port on 127.0.0.1. @default 0 (any free port) */
  port?: number
  /** @default MAX_API_BODY_BYTES */
  maxBodyBytes?: number
  /** Write `<home>/api.json` once listening and remove it on close. @default true */
  writeInfo?: boolean
  /** Extra routes, for tests and embedders. */
  routes?: Route[]
  /** Protocols that answer requests themselves (MCP, A2A), each under its own path. @default [] */
  mounts?: HttpMount[]
  /** Structured log sink. @default no logging */
  log?: (event: string, fields?: Record<string, unknown>) => void
}

export interface ApiServer {
  readonly url: string
  readonly port: number
  readonly token: string
  close (): Promise<void>
}

export class ApiPortInUseError extends Error {
  override name = 'ApiPortInUseError'
}

export async function startApiServer (init: ApiServerInit): Promise<ApiServer> {
  const { node } = init
  const home = init.home ?? node.home
  const maxBodyBytes = init.maxBodyBytes ?? MAX_API_BODY_BYTES
  const log = init.log ?? (() => {})
  const token = await loadOrCreateApiToken(home)
  let url = ''
  const router = new Router([...allRoutes({ node, apiUrl: () => url }), ...(init.routes ?? [])])
  const mounts = init.mounts ?? []

  const server = createServer((req, res) => {
    handle(req, res).catch(err => {
      log('api.error', { level: 'error', message: (err as Error).message })
      if (!res.headersSent) send(res, 500, new ApiError(500, 'internal', 'internal error').toBody())
      else res.destroy()
    })
  })

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    let status = 200
    try {
      const target = new URL(req.url ?? '/', `http://${API_HOST}`)
      const mount = findMount(mounts, target.pathname)
      if (mount != null) {
        if (mount.public !== true && !authorized(req.headers.authorization, token)) {
          throw unauthorized(`missing or wrong bearer token; send "Authorization: Bearer <token>" with the token from ${home}/api-token`)
        }
        await mount.handle(req, res, await readJsonBody(req, maxBodyBytes))
        return
      }
      // Unknown paths answer 401 too without the token: a stranger learns nothing of the routes.
      let match: Match | null = null
      let noRoute: unknown
      try {
        match = router.match(method, target.pathname)
      } catch (err) {
        noRoute = err
      }
      if (match?.public !== true && !authorized(req.headers.authorization, token)) {
        throw unauthorized(`missing or wrong bearer token; send "Authorization: Bearer <token>" with the token from ${home}/api-token`)
      }
      if (match == null) throw noRoute
      const body = await readJsonBody(req, maxBodyBytes)
      const gone = new AbortController()
      res.once('close', () => { gone.abort() })
      const result = await match.handler({ method, path: target.pathname, params: match.params, query: target.searchParams, headers: req.headers, body, signal: gone.signal })
      if ('events' in result) {
        await streamEvents(res, result.events, gone.signal)
        return
      }
      status = result.status ?? 200
      if (result.raw != null) sendRaw(res, status, result.raw, result.contentType ?? 'application/octet-stream', result.headers)
      else send(res, status, result.body, result.headers)
    } catch (err) {
      const apiErr = toApiError(err)
      status = apiErr.status
      if (status >= 500) log('api.error', { level: 'error', method, path: req.url, message: apiErr.message, stack: (err as Error).stack })
      send(res, status, apiErr.toBody(), apiErr.headers)
    }
  }

  // Clients are local and short-lived: idle keep-alive sockets need not linger.
  server.keepAliveTimeout = 5_000

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      if (err.code === 'EADDRINUSE') {
        reject(new ApiPortInUseError(`API port ${init.port} is already in use on ${API_HOST}; pick another with --api-port, or 0 for any free port`))
      } else {
        reject(err)
      }
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host: API_HOST, port: init.port ?? 0, exclusive: true })
  })
  server.on('error', err => log('api.error', { level: 'error', message: err.message }))

  const port = (server.address() as AddressInfo).port
  url = `http://${API_HOST}:${port}`
  const writeInfo = init.writeInfo ?? true
  if (writeInfo) {
    try {
      await writeApiInfo(home, { url, pid: process.pid, peerId: node.peerId })
    } catch (err) {
      await closeServer(server)
      throw err
    }
  }
  log('api.listening', { url })

  let closing: Promise<void> | null = null
  return {
    url,
    port,
    token,
    close: async () => {
      closing ??= (async () => {
        if (writeInfo) await removeApiInfo(home)
        await Promise.allSettled(mounts.map(async m => await m.close?.()))
        await closeServer(server)
        log('api.closed', { url })
      })()
      return closing
    }
  }
}

function authorized (header: string | undefined, token: string): boolean {
  if (header == null) return false
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (match == null) return false
  return tokensEqual(match[1]!, token)
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers
  })
  res.end(text)
}

function sendRaw (res: ServerResponse, status: number, body: string | Uint8Array, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers
  })
  res.end(body)
}

/** Write events as text/event-stream until they end or the client leaves. */
async function streamEvents (res: ServerResponse, events: AsyncIterable<ServerSentEvent>, gone: AbortSignal): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no'
  })
  res.flushHeaders()
  const heartbeat = setInterval(() => { res.write(': keep-alive\n\n') }, SSE_HEARTBEAT_MS)
  heartbeat.unref()
  try {
    for await (const event of events) {
      if (gone.aborted) break
      let text = ''
      if (event.id != null) text += `id: ${event.id}\n`
      if (event.event != null) text += `event: ${event.event}\n`
      text += `data: ${JSON.stringify(event.data)}\n\n`
      res.write(text)
    }
  } catch (err) {
    // Headers are gone: the error travels as an event of its own.
    const apiErr = toApiError(err)
    if (!gone.aborted) res.write(`event: error\ndata: ${JSON.stringify(apiErr.toBody())}\n\n`)
  } finally {
    clearInterval(heartbeat)
    res.end()
  }
}

/**
 * Read and parse a JSON body, enforcing the size limit. A body over the limit
 * is drained (up to a hard cap) before answering 413, so the client gets the
 * answer rather than a reset connection.
 */
async function readJsonBody (req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN)
  const chunked = req.headers['transfer-encoding'] != null
  if (!chunked && (Number.isNaN(declared) || declared === 0)) {
    req.resume()
    return undefined
  }
  const contentType = req.headers['content-type']
  if (contentType != null && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType)) {
    await drain(req)
    throw unsupportedMediaType(contentType)
  }
  const chunks: Buffer[] = []
  let size = 0
  let tooLarge = declared > limit
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) tooLarge = true
    if (size > DRAIN_LIMIT_BYTES) {
      req.destroy()
      break
    }
    if (!tooLarge) chunks.push(chunk)
  }
  if (tooLarge) throw payloadTooLarge(limit)
  if (size === 0) return undefined
  try {
    return parseJsonBytes(Buffer.concat(chunks), { what: 'request body' })
  } catch (err) {
    if (!(err instanceof JsonInputError)) throw err
    const code = err.code === 'not-json' ? 'invalid_json' : err.code.replaceAll('-', '_')
    throw badRequest(code, err.message, err.path === '' ? undefined : [{ path: err.path, message: err.message }])
  }
}

async function drain (req: IncomingMessage): Promise<void> {
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > DRAIN_LIMIT_BYTES) {
      req.destroy()
      return
    }
  }
}

async function closeServer (server: Server): Promise<void> {
  await new Promise<void>(resolve => {
    server.close(() => resolve())
    server.closeIdleConnections()
    // In-flight requests get a moment to finish; then their sockets go too.
    setTimeout(() => server.closeAllConnections(), 2_000).unref()
  })
}
