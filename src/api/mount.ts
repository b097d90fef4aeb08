import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * A protocol served on the local API beside its JSON routes, that answers
 * requests itself (streams, its own framing): MCP's Streamable HTTP, A2A.
 * The API server authenticates the request and parses its JSON body first.
 */
export interface HttpMount {
  /** Requests to this path, or below it, go to the mount. */
  path: string
  /** Answer without the bearer token (a public discovery document). @default false */
  public?: boolean
  handle (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>
  /** Called when the API server closes (end open sessions). */
  close? (): Promise<void>
}

/** The mount serving a path, if any. */
export function findMount (mounts: HttpMount[], pathname: string): HttpMount | undefined {
  return mounts.find(m => pathname === m.path || pathname.startsWith(m.path.endsWith('/') ? m.path : `${m.path}/`))
}
