import type { ServerResponse } from 'node:http'
import { A2A_VERSION_HEADER } from '@a2a-js/sdk'
import { DefaultRequestHandler, InMemoryTaskStore, JsonRpcTransportHandler, validateVersion } from '@a2a-js/sdk/server'
import { defaultServerCallContextBuilder, UnauthenticatedUser } from '@a2a-js/sdk/server'
import type { HttpMount } from '../api/mount.ts'
import type { SpecmeshNode } from '../node-types.ts'
import { liveSpecs, type SurfaceNode } from '../surfaces/jobs.ts'
import { A2A_JSONRPC_PATH, AGENT_CARD_PATH, agentCard } from './agent-card.ts'
import { settleOpenTask, SpecmeshAgentExecutor } from './executor.ts'
import { LevelTaskStore } from './task-store.ts'

export interface A2AInit {
  node: SurfaceNode & Partial<Pick<SpecmeshNode, 'getJob' | 'surfaceRecords'>>
  /** The local API's base URL, known once it listens. */
  apiUrl: () => string
  version: string
}

/**
 * A2A on the local API: the Agent Card at /.well-known/agent-card.json (public:
 * it is how A2A clients discover the agent, and names the token it needs), and
 * the JSON-RPC binding at /a2a (behind the API's bearer token) for sending a
 * message, streaming a task's updates, getting and cancelling a task. Tasks
 * are kept in the node's LevelDB (where the node offers it) beside the jobs
 * behind them, so a task is still answered after the daemon restarts.
 */
export function a2aMounts (init: A2AInit): HttpMount[] {
  const card = agentCard({ apiUrl: init.apiUrl(), peerId: init.node.peerId, version: init.version, specs: [] })
  // The handler holds one card object; its skills and URL are refreshed whenever the card is read.
  const refreshCard = async (): Promise<typeof card> => {
    const specs = await liveSpecs(init.node)
    Object.assign(card, agentCard({ apiUrl: init.apiUrl(), peerId: init.node.peerId, version: init.version, specs }))
    return card
  }
  const { node } = init
  const tasks = node.surfaceRecords != null && node.getJob != null
    ? new LevelTaskStore(node.surfaceRecords('a2a-tasks'), async task => await settleOpenTask(task, async id => await node.getJob!(id)))
    : new InMemoryTaskStore()
  const requestHandler = new DefaultRequestHandler(card, tasks, new SpecmeshAgentExecutor(init.node))
  const transport = new JsonRpcTransportHandler(requestHandler)

  const cardMount: HttpMount = {
    path: AGENT_CARD_PATH,
    public: true,
    async handle (req, res) {
      if (req.method !== 'GET') return json(res, 405, { error: 'the agent card is read with GET' })
      json(res, 200, await refreshCard())
    }
  }

  const rpcMount: HttpMount = {
    path: A2A_JSONRPC_PATH,
    async handle (req, res, body) {
      if (req.method !== 'POST') return json(res, 405, { error: 'A2A JSON-RPC requests are POSTed' })
      const id = (body as { id?: unknown } | undefined)?.id ?? null
      try {
        await refreshCard()
        const requestedVersion = header(req.headers[A2A_VERSION_HEADER.toLowerCase()])
        const context = defaultServerCallContextBuilder({ extensions: undefined, user: new UnauthenticatedUser(), headers: req.headers as Record<string, string>, ...(requestedVersion != null ? { requestedVersion } : {}) })
        validateVersion(context.requestedVersion, card, 'JSONRPC')
        const answer = await transport.handle(body as Record<string, unknown>, context)
        if (!isAsyncIterable(answer)) return json(res, 200, answer)
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
        try {
          for await (const event of answer) res.write(`data: ${JSON.stringify(event)}\n\n`)
        } catch (err) {
          res.write(`event: error\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, error: JsonRpcTransportHandler.mapToJSONRPCError(err) })}\n\n`)
        }
        res.end()
      } catch (err) {
        if (!res.headersSent) json(res, 200, { jsonrpc: '2.0', id, error: JsonRpcTransportHandler.mapToJSONRPCError(err) })
        else res.end()
      }
    }
  }
  return [cardMount, rpcMount]
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function isAsyncIterable (value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown })?.[Symbol.asyncIterator] === 'function'
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}
