import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import type { HttpMount } from '../api/mount.ts'
import { createMcpServer, type McpServerInit, type SpecmeshMcpServer } from './server.ts'

/** Where the local API serves MCP (Streamable HTTP). */
export const MCP_HTTP_PATH = '/mcp'

/**
 * MCP over Streamable HTTP on the local API: an initialize request opens a
 * session (its own MCP server), later requests name it in `mcp-session-id`.
 * The API server has already checked the bearer token.
 */
export function mcpHttpMount (init: McpServerInit): HttpMount {
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport, mcp: SpecmeshMcpServer }>()
  return {
    path: MCP_HTTP_PATH,
    async handle (req, res, body) {
      const sessionId = req.headers['mcp-session-id']
      if (typeof sessionId === 'string') {
        const session = sessions.get(sessionId)
        if (session == null) return jsonRpcError(res, 404, `no MCP session ${sessionId} (it ended, or the daemon restarted): initialize a new one`)
        await session.transport.handleRequest(req, res, body)
        return
      }
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        return jsonRpcError(res, 400, 'no mcp-session-id header: the first request of an MCP session is an initialize request (POST)')
      }
      const mcp = createMcpServer(init)
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: id => { sessions.set(id, { transport, mcp }) }
      })
      transport.onclose = () => {
        if (transport.sessionId != null) sessions.delete(transport.sessionId)
        void mcp.close()
      }
      await mcp.server.connect(transport)
      await transport.handleRequest(req, res, body)
    },
    async close () {
      const open = [...sessions.values()]
      sessions.clear()
      await Promise.allSettled(open.map(async s => await s.mcp.close()))
    }
  }
}

function jsonRpcError (res: ServerResponse, status: number, message: string): void {
  const text = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
