import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import { HandlerError, HandlerOutputError } from '../market/errors.ts'
import { abortedError, type Handler } from '../market/exec-handler.ts'
import { packageVersion } from '../util/package-version.ts'

/** How much of a tool's error text goes into a receipt's reason. */
const REASON_CHARS = 500

export interface McpToolInit {
  /** Shell command line that starts the MCP server (stdio), run as `/bin/sh -c COMMAND`. */
  command: string
  /** The tool to call. */
  tool: string
  /** @default process.cwd() */
  cwd?: string
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/** The MCP server has no tool of that name. */
export class McpToolNotFoundError extends Error {
  override name = 'McpToolNotFoundError'
  constructor (command: string, tool: string, available: string[]) {
    super(`the MCP server \`${command}\` has no tool "${tool}"; it has: ${available.length > 0 ? available.join(', ') : '(no tools)'}`)
  }
}

/** The MCP server could not be started or did not complete the MCP handshake. */
export class McpServerStartError extends Error {
  override name = 'McpServerStartError'
  constructor (command: string, detail: string, options?: ErrorOptions) {
    super(`could not start the MCP server \`${command}\`: ${detail}`, options)
  }
}

export interface McpTool {
  /** The tool as the server lists it: name, description, schemas. */
  readonly tool: Tool
  /** A specmesh handler that serves a spec with this tool. */
  readonly handler: Handler
  /** Close the session and stop the server process. */
  close (): Promise<void>
}

/**
 * A tool of an MCP server (started on stdio and kept running) as a specmesh
 * handler: the job's input is the call's arguments (a non-object input goes
 * as `{ input }`), its structuredContent, or else its JSON text, is the output,
 * the job's deadline is the call's timeout, and an abort cancels the call.
 * A tool error is a failed attempt with the tool's text as the reason.
 */
export async function connectMcpTool (init: McpToolInit): Promise<McpTool> {
  const log = init.log ?? (() => {})
  const { client, tool } = await connect(init)
  let current = client
  let reconnecting: Promise<Client> | null = null
  // A server that exits is started again for the next job, rather than failing every job after it.
  const session = async (): Promise<Client> => {
    if (current.transport != null) return current
    reconnecting ??= connect(init).then(c => {
      log('mcp.tool_server_restarted', { command: init.command })
      current = c.client
      return current
    }).finally(() => { reconnecting = null })
    return await reconnecting
  }

  const handler: Handler = async (input, ctx) => {
    if (ctx.signal.aborted) throw abortedError(ctx.signal.reason)
    const args = typeof input === 'object' && input != null && !Array.isArray(input) ? input as Record<string, unknown> : { input }
    const timeout = ctx.deadline != null ? Math.max(1, ctx.deadline - Date.now()) : undefined
    let result: CallToolResult
    try {
      const c = await session()
      result = await c.callTool({ name: init.tool, arguments: args }, undefined, { signal: ctx.signal, ...(timeout != null ? { timeout } : {}) }) as CallToolResult
    } catch (err) {
      if (ctx.signal.aborted) throw abortedError(ctx.signal.reason)
      throw new HandlerError(`MCP tool ${init.tool} failed: ${(err as Error).message}`.slice(0, REASON_CHARS), 'error', { cause: err })
    }
    return toolOutput(init.tool, result)
  }

  return {
    tool,
    handler,
    close: async () => { await current.close() }
  }
}

/** The tools of an MCP server: start it, list them, stop it. */
export async function listMcpTools (command: string, cwd?: string): Promise<Tool[]> {
  const client = await startServer(command, cwd)
  try {
    return await allTools(client)
  } finally {
    await client.close().catch(() => {})
  }
}

async function startServer (command: string, cwd?: string): Promise<Client> {
  const client = new Client({ name: 'specmesh-agent', version: packageVersion() })
  const transport = new StdioClientTransport({ command: '/bin/sh', args: ['-c', command], cwd: cwd ?? process.cwd(), stderr: 'inherit' })
  try {
    await client.connect(transport)
  } catch (err) {
    await client.close().catch(() => {})
    throw new McpServerStartError(command, (err as Error).message, { cause: err })
  }
  return client
}

async function allTools (client: Client): Promise<Tool[]> {
  const tools: Tool[] = []
  let cursor: string | undefined
  do {
    const page = await client.listTools(cursor != null ? { cursor } : undefined)
    tools.push(...page.tools)
    cursor = page.nextCursor
  } while (cursor != null && tools.length < 10_000)
  return tools
}

async function connect (init: McpToolInit): Promise<{ client: Client, tool: Tool }> {
  const client = await startServer(init.command, init.cwd)
  const tools = await allTools(client)
  const tool = tools.find(t => t.name === init.tool)
  if (tool == null) {
    await client.close().catch(() => {})
    throw new McpToolNotFoundError(init.command, init.tool, tools.map(t => t.name))
  }
  return { client, tool }
}

/** The job's output from a tool result: structuredContent, else the JSON of its text. */
function toolOutput (name: string, result: CallToolResult): unknown {
  const text = result.content?.filter(c => c.type === 'text').map(c => (c as { text: string }).text).join('\n') ?? ''
  if (result.isError === true) throw new HandlerError(`MCP tool ${name} returned an error: ${text || '(no text)'}`.slice(0, REASON_CHARS))
  if (result.structuredContent != null) return result.structuredContent
  try {
    return JSON.parse(text)
  } catch {
    throw new HandlerOutputError(`MCP tool ${name} returned no structuredContent, and its text is not JSON: ${JSON.stringify(text.slice(0, 200))}`)
  }
}
