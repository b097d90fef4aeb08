import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { MCP_HTTP_PATH } from './http.ts'

export interface StdioBridgeInit {
  /** The daemon's API base URL. */
  apiUrl: string
  token: string
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/**
 * MCP on stdio for the daemon's MCP server: every message from the client on
 * stdin goes to the daemon's Streamable HTTP endpoint, every message from the
 * daemon goes to stdout. The daemon holds the one implementation; this is a
 * transport, so an MCP client that can only start a command still reaches it.
 * Resolves when either side closes.
 */
export async function runStdioBridge (init: StdioBridgeInit): Promise<void> {
  const log = init.log ?? (() => {})
  const stdio = new StdioServerTransport()
  const http = new StreamableHTTPClientTransport(new URL(MCP_HTTP_PATH, init.apiUrl), {
    requestInit: { headers: { authorization: `Bearer ${init.token}` } }
  })
  await new Promise<void>((resolve, reject) => {
    let closed = false
    const close = (why: string): void => {
      if (closed) return
      closed = true
      log('mcp.bridge_closed', { why })
      Promise.allSettled([stdio.close(), http.terminateSession().finally(async () => { await http.close() })]).then(() => resolve(), reject)
    }
    pipe(stdio, http, 'daemon', log, (message, err) => {
      // A request the daemon never got still gets an answer, so the client does not wait forever.
      if ('method' in message && 'id' in message) {
        stdio.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `the specmesh daemon did not take the request: ${err.message}` } }).catch(() => {})
      }
    })
    pipe(http, stdio, 'client', log)
    stdio.onclose = () => close('the MCP client closed stdin')
    http.onclose = () => close('the daemon closed the MCP session')
    process.stdin.once('end', () => close('the MCP client closed stdin'))
    Promise.all([http.start(), stdio.start()]).catch(reject)
  })
}

function pipe (from: Transport, to: Transport, toName: string, log: NonNullable<StdioBridgeInit['log']>, onFailed?: (message: JSONRPCMessage, err: Error) => void): void {
  from.onmessage = message => {
    to.send(message).catch((err: Error) => {
      log('mcp.bridge_send_failed', { level: 'error', to: toName, message: err.message })
      onFailed?.(message, err)
    })
  }
  from.onerror = err => { log('mcp.bridge_error', { level: 'error', from: toName === 'daemon' ? 'client' : 'daemon', message: err.message }) }
}
