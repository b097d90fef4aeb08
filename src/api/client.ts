import { request } from 'node:http'
import type { PeerInfo, StoredSpec } from '../node-types.ts'
import { homePaths } from '../store/home.ts'
import type { Problem } from './errors.ts'
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

  /** Any API call: resolves with the parsed JSON body, rejects with ApiRequestError or DaemonNotRunningError. */
  async request (method: string, path: string, body?: unknown): Promise<unknown> {
    const { info, token } = await this.connect()
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const url = new URL(path, info.url)
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json' }
    if (payload != null) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = payload.length
    }
    const { status, text } = await new Promise<{ status: number, text: string }>((resolve, reject) => {
      const req = request(url, { method, headers, agent: false, timeout: this.timeoutMs }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`the daemon at ${info.url} did not answer ${method} ${path} within ${this.timeoutMs} ms`)))
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') reject(new DaemonNotRunningError(this.home))
        else reject(err)
      })
      req.end(payload)
    })
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new ApiRequestError(status, 'bad_response', `the daemon answered ${status} with a body that is not JSON`)
    }
    if (status >= 200 && status < 300) return parsed
    const error = (parsed as { error?: { code?: unknown, message?: unknown, problems?: unknown } } | undefined)?.error
    throw new ApiRequestError(
      status,
      typeof error?.code === 'string' ? error.code : `http_${status}`,
      typeof error?.message === 'string' ? error.message : `the daemon answered ${status}`,
      Array.isArray(error?.problems) ? error.problems as Problem[] : undefined
    )
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

/** Signal 0 tests for existence: EPERM means it exists but belongs to someone else. */
export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
