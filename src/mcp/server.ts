import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type ServerNotification } from '@modelcontextprotocol/sdk/types.js'
import type { JobResult, StoredSpec, SubmitOptions } from '../node-types.ts'
import { describeEvent, JOB_META, jobMeta, liveSpecs, outcomeText, runJob, type SurfaceJobEvent, type SurfaceNode } from '../surfaces/jobs.ts'
import { jobInput, specTools, structuredOutput, type SpecTool } from './spec-tools.ts'
import { ToolTasks } from './tool-tasks.ts'

/** Keys of a tool result's `_meta` that carry the job's record. */
export const MCP_META = {
  ...JOB_META,
  /** In a call's `_meta`: the job's price ceiling per attempt (only lowers the spec's). */
  maxUsd: 'specmesh/maxUsd',
  /** In a call's `_meta`: how long bids are collected, in ms. */
  bidWindowMs: 'specmesh/bidWindowMs'
} as const

/** Spec arrivals come in bursts (a sync after connecting); one list-changed notification per burst. */
const LIST_CHANGED_DEBOUNCE_MS = 50

export interface McpServerInit {
  node: SurfaceNode
  /** The version reported in the MCP handshake. @default '0.0.0' */
  version?: string
  log?: (event: string, fields?: Record<string, unknown>) => void
}

export interface SpecmeshMcpServer {
  /** The SDK server; connect it to a transport (stdio, Streamable HTTP). */
  readonly server: Server
  /** Stop following spec arrivals and close the server's transport. */
  close (): Promise<void>
}

/**
 * An MCP server whose tools are the specs the node holds: listing them lists
 * the specs, calling one runs a job on the market and returns its output as
 * structuredContent, with the job, receipt and cost in `_meta`. A failed job
 * is a tool error carrying the reason. One server serves one MCP session.
 */
export function createMcpServer (init: McpServerInit): SpecmeshMcpServer {
  const { node } = init
  const log = init.log ?? (() => {})
  // A job can take minutes: every tool may also be called as a task (MCP's task support, experimental in the SDK).
  const tasks = new ToolTasks()
  const server = new Server(
    { name: 'specmesh', title: 'specmesh market', version: init.version ?? '0.0.0' },
    {
      capabilities: { tools: { listChanged: true }, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      taskStore: tasks.store,
      instructions: 'Each tool is a specmesh spec: calling it submits a job to the peer-to-peer market, where agents bid and the best one runs it under the spec\'s deadline and budget. The output is checked against the spec before it is returned. A long job can be called as a task: the call returns at once, tasks/get shows the job\'s latest step.'
    }
  )

  const tools = async (): Promise<SpecTool[]> => specTools(await liveSpecs(node))

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: (await tools()).map(tool => ({
      name: tool.name,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: { readOnlyHint: false, openWorldHint: true },
      execution: { taskSupport: 'optional' as const },
      _meta: { [MCP_META.specId]: tool.specId }
    }))
  }))

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = (await tools()).find(t => t.name === request.params.name)
    if (tool == null) throw new McpError(ErrorCode.InvalidParams, `no tool ${request.params.name}: this node holds no such spec (tools/list gives the current ones)`)
    const progressToken = request.params._meta?.progressToken
    // A client drops progress that arrives after the result, so every notification is sent before it.
    let progressSent: Promise<unknown> = Promise.resolve()
    const progress = (event: SurfaceJobEvent): void => {
      // 'done' is the result itself. (The SDK's client runs notification handlers a microtask
      // late, so progress read in the same chunk as the result would be dropped anyway.)
      if (progressToken == null || event.type === 'done') return
      const notification: ServerNotification = {
        method: 'notifications/progress',
        params: { progressToken, progress: event.seq, message: describeEvent(event) }
      }
      progressSent = progressSent.then(async () => await extra.sendNotification(notification)).catch(() => {})
    }
    const call = async (signal: AbortSignal, onStep?: (event: SurfaceJobEvent) => void): Promise<CallToolResult> => {
      let result: JobResult
      try {
        result = await runJob(node, tool.specId, jobInput(tool, request.params.arguments), {
          ...jobOptions(request.params._meta),
          signal,
          onEvent: event => { progress(event); onStep?.(event) }
        })
        await progressSent
      } catch (err) {
        // Bad input (InvalidJobError names each field) is the caller's to fix: a tool error, so a model can read and retry.
        return toolError(`${(err as Error).message}`, { [MCP_META.specId]: tool.specId })
      }
      log('mcp.tool_called', { tool: tool.name, jobId: result.jobId, status: result.status })
      return toolResult(tool, result)
    }
    // Called as a task: the task at once, the job in the background, its steps as the task's status message.
    if (request.params.task != null && extra.taskStore != null) {
      return await tasks.start(extra.taskStore, request.params.task.ttl, async run =>
        await call(run.signal, event => { if (event.type !== 'done') run.step(describeEvent(event)) }))
    }
    return await call(extra.signal)
  })

  // A spec that arrives (published here, gossiped or synced) is a new tool.
  let timer: NodeJS.Timeout | undefined
  const onSpec = (_record: StoredSpec): void => {
    if (timer != null) return
    timer = setTimeout(() => {
      timer = undefined
      server.sendToolListChanged().catch(() => {})
    }, LIST_CHANGED_DEBOUNCE_MS)
  }
  node.events?.on('spec', onSpec)

  let closed = false
  return {
    server,
    close: async () => {
      // Closing the server closes its transport, whose onclose may call this again.
      if (closed) return
      closed = true
      node.events?.off('spec', onSpec)
      clearTimeout(timer)
      tasks.close()
      await server.close()
    }
  }
}

/** Job options a caller may give in the call's `_meta` (each can only tighten the spec). */
function jobOptions (meta: Record<string, unknown> | undefined): SubmitOptions {
  const options: SubmitOptions = {}
  const maxUsd = meta?.[MCP_META.maxUsd]
  const bidWindowMs = meta?.[MCP_META.bidWindowMs]
  if (typeof maxUsd === 'number') options.maxUsd = maxUsd
  if (typeof bidWindowMs === 'number') options.bidWindowMs = bidWindowMs
  return options
}

function toolResult (tool: SpecTool, result: JobResult): CallToolResult {
  const meta = jobMeta(tool.specId, result)
  if (result.status !== 'succeeded') return toolError(outcomeText(result), meta)
  const summary = outcomeText(result)
  const structuredContent = structuredOutput(tool, result.output)
  return {
    content: [{ type: 'text', text: JSON.stringify(structuredContent) }, { type: 'text', text: summary }],
    structuredContent,
    _meta: meta
  }
}

function toolError (text: string, meta: Record<string, unknown>): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }], _meta: meta }
}
