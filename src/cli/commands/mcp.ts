import { ApiClient } from '../../api/client.ts'
import type { Command } from '../command.ts'
import { jsonLineLogger } from '../../daemon.ts'

export const mcpCommand: Command = {
  name: 'mcp',
  summary: 'serve the running node\'s specs as MCP tools, on stdio',
  description: [
    'An MCP server (Model Context Protocol) on stdin/stdout for the running daemon of --home:',
    'every spec the node holds is a tool (named from the spec\'s name and version, with its',
    'input and output schemas); calling one submits a job to the market and returns the output',
    'as structuredContent, with the job id, receipt id and cost in _meta; a failed job is a',
    'tool error with the reason. The tool list changes as specs arrive (list-changed',
    'notifications), and a call with a progress token gets the job\'s steps as progress.',
    'A call may also be made as an MCP task (taskSupport optional): it returns the task at once;',
    'tasks/get shows the job\'s latest step, tasks/result the result, tasks/cancel cancels the job.',
    '',
    'Give this command to an MCP client (Claude Desktop, an IDE, an agent framework) as the',
    'server to start. The daemon serves the same MCP over Streamable HTTP at <api>/mcp, with',
    'the bearer token in <home>/api-token, for clients that connect to a URL. Logs go to stderr.'
  ].join('\n'),
  examples: [
    'specmesh mcp',
    'specmesh mcp --home ./node-a'
  ],
  run: async ({ home }) => {
    const { url, token } = await new ApiClient({ home }).endpoint()
    const { runStdioBridge } = await import('../../mcp/stdio-bridge.ts')
    await runStdioBridge({ apiUrl: url, token, log: jsonLineLogger(text => { process.stderr.write(text) }) })
  }
}
