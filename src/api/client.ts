import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { PeerInfo, SpecProvider, StoredSpec } from '../node-types.ts'
import { homePaths } from '../store/home.ts'
import type { Problem } from './errors.ts'
import { NEXT_CURSOR_HEADER } from './paging.ts'
import type { ServerSentEvent } from './router.ts'
import { readApiInfo, type ApiInfo } from './info.ts'
import { readToken } from './token.ts'

/** How long a client waits for the daemon to answer one request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** Nobody is listening: no api.json, or it is left over from a daemon that died. */
export class DaemonNotRunningError extends Error {
  override name = 'DaemonNotRunningError'
  readonly home: string

  constructor (home: string) {
    super(`no daemon is running for ${home}; start one with: specmesh daemon --home ${home}`)
    this.home = home
  }
}

/** An open stream from the daemon broke off (it stopped or restarted); it may be resumed. */
export class DaemonConnectionLostError extends Error {
  override name = 'DaemonConnectionLostError'
  readonly home: string

  constructor (home: string, detail: string) {
    super(`lost the connection to the daemon for ${home}: ${detail}`)
    this.home = home
  }
}

/** The daemon answered with an error body. */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError'
  readonly status: number
  readonly code: string
  readonly problems?: Problem[]

  constructor (status: number, code: string, message: string, problems?: Problem[]) {
    super(message)
    this.status = status
    this.code = code
    if (problems != null) this.problems = problems
  }
}

export interface IdInfo {
  peerId: string
  multiaddrs: string[]
  api: string
}

export interface ApiClientInit {
  home: string
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  timeoutMs?: number
}

/**
 * Talks to the daemon that owns a data folder, finding it through
 * `<home>/api.json` and authenticating with `<home>/api-token`.
 */
export class ApiClient {
  readonly home: string
  private readonly timeoutMs: number
  private connection: Promise<{ info: ApiInfo, token: string }> | null = null

  constructor (init: ApiClientInit) {
    this.home = init.home
    this.timeoutMs = init.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  }

  id (): Promise<IdInfo> {
    return this.request('GET', '/v1/id') as Promise<IdInfo>
  }

  peers (): Promise<PeerInfo[]> {
    return this.request('GET', '/v1/peers') as Promise<PeerInfo[]>
  }

  publishSpec (spec: unknown): Promise<StoredSpec> {
    return this.request('POST', '/v1/specs', spec) as Promise<StoredSpec>
  }

  listSpecs (): Promise<StoredSpec[]> {
    return this.request('GET', '/v1/specs') as Promise<StoredSpec[]>
  }

  getSpec (id: string): Promise<StoredSpec> {
    return this.request('GET', `/v1/specs/${encodeURIComponent(id)}`) as Promise<StoredSpec>
  }

  /** The daemon's API URL and bearer token (for protocols the daemon serves beside its routes: MCP, A2A). */
  async endpoint (): Promise<{ url: string, token: string }> {
    const { info, token } = await this.connect()
    return { url: info.url, token }
  }

  /** Peers that provide (serve) the spec, by a lookup in specmesh's DHT. */
  specProviders (id: string): Promise<{ specId: string, providers: SpecProvider[] }> {
    return this.request('GET', `/v1/specs/${encodeURIComponent(id)}/providers`) as Promise<{ specId: string, providers: SpecProvider[] }>
  }

  /** Any API call: resolves with the parsed JSON body, rejects with ApiRequestError or DaemonNotRunningError. */
  async request (method: string, path: string, body?: unknown): Promise<unknown> {
    return (await this.exchange(method, path, body)).body
  }

  /** A GET of one page of a list route: the body and the cursor of the next page (null on the last). */
  async page<T = unknown> (path: string): Promise<{ body: T, next: string | null }> {
    const { body, headers } = await this.exchange('GET', path)
    const next = headers[NEXT_CURSOR_HEADER]
    return { body: body as T, next: typeof next === 'string' && next !== '' ? next : null }
  }

  private async exchange (method: string, path: string, body?: unknown): Promise<{ body: unknown, headers: IncomingHttpHeaders }> {
    const { info, token } = await this.connect()
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const url = new URL(path, info.url)
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json' }
    if (payload != null) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = payload.length
    }
    const { status, text, headers: answered } = await new Promise<{ status: number, text: string, headers: IncomingHttpHeaders }>((resolve, reject) => {
      const req = request(url, { method, headers, agent: false, timeout: this.timeoutMs }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`the daemon at ${info.url} did not answer ${method} ${path} within ${this.timeoutMs} ms`)))
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') reject(new DaemonNotRunningError(this.home))
        else reject(err)
      })
      req.end(payload)
    })
    if (status >= 200 && status < 300) {
      try {
        return { body: text === '' ? undefined : JSON.parse(text), headers: answered }
      } catch {
        throw new ApiRequestError(status, 'bad_response', `the daemon answered ${status} with a body that is not JSON`)
      }
    }
    throw errorOf(status, text)
  }

  /**
   * Follow a text/event-stream route: yields each event until the stream ends.
   * `lastEventId` resumes after that event (sent as Last-Event-ID). Rejects with
   * ApiRequestError when the daemon answers with an error instead of a stream.
   */
  async * events (path: string, options: { lastEventId?: string, signal?: AbortSignal } = {}): AsyncGenerator<ServerSentEvent> {
    const { info, token } = await this.connect()
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
    if (options.lastEventId != null) headers['last-event-id'] = options.lastEventId
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(new URL(path, info.url), { method: 'GET', headers, agent: false, signal: options.signal }, resolve)
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') reject(new DaemonNotRunningError(this.home))
        else reject(err)
      })
      req.end()
    })
    if ((res.statusCode ?? 0) >= 300 || !String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      const chunks: Buffer[] = []
      for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk)
      throw errorOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))
    }
    res.setEncoding('utf8')
    let buffer = ''
    let event: ServerSentEvent = { data: '' }
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buffer += chunk
        let newline: number
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, '')
          buffer = buffer.slice(newline + 1)
          if (line === '') {
            if (event.data !== '' || event.event != null) yield event
            event = { data: '' }
            continue
          }
          if (line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'data') event.data = event.data === '' ? value : `${event.data}\n${value}`
          else if (field === 'id') event.id = value
          else if (field === 'event') event.event = value
        }
      }
    } catch (err) {
      if (options.signal?.aborted === true) return
      throw new DaemonConnectionLostError(this.home, (err as Error).message)
    }
    // A stream the daemon cut without its last event (a restart): the caller may resume.
    if (!res.complete) throw new DaemonConnectionLostError(this.home, 'the event stream was cut')
  }

  private async connect (): Promise<{ info: ApiInfo, token: string }> {
    this.connection ??= (async () => {
      const info = await readApiInfo(this.home)
      if (info == null || !processAlive(info.pid)) throw new DaemonNotRunningError(this.home)
      const token = await readToken(homePaths(this.home).apiToken)
      if (token == null) throw new Error(`${homePaths(this.home).apiToken} is missing, but a daemon (pid ${info.pid}) is listed in api.json; restart the daemon`)
      return { info, token }
    })()
    return this.connection
  }
}

/** The ApiRequestError an error answer stands for. */
function errorOf (status: number, text: string): ApiRequestError {
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    return new ApiRequestError(status, 'bad_response', `the daemon answered ${status} with a body that is not JSON`)
  }
  const error = (parsed as { error?: { code?: unknown, message?: unknown, problems?: unknown } } | undefined)?.error
  return new ApiRequestError(
    status,
    typeof error?.code === 'string' ? error.code : `http_${status}`,
    typeof error?.message === 'string' ? error.message : `the daemon answered ${status}`,
    Array.isArray(error?.problems) ? error.problems as Problem[] : undefined
  )
}

/** Signal 0 tests for existence: EPERM means it exists but belongs to someone else. */
export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
