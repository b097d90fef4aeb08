import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import { SPEC_NAME_PATTERN } from '../spec/constants.ts'

/**
 * A first draft of a spec for serving an MCP tool: name, description and both
 * schemas from the tool; price, deadlines, budget and capacity are placeholders
 * the author edits to what they offer. A tool without an outputSchema gets an
 * output that allows any object (its JSON text becomes the output).
 */
export function specFromTool (tool: Tool): Record<string, unknown> {
  const output = tool.outputSchema != null ? stripMeta(tool.outputSchema) : { type: 'object' }
  return {
    name: specName(tool.name),
    version: '1.0.0',
    description: (tool.description ?? tool.title ?? `the MCP tool ${tool.name}`).slice(0, 2000),
    input: stripMeta(tool.inputSchema),
    output,
    successCriteria: [],
    costUsd: 0.01,
    deadline: '2m',
    softDeadline: '1m',
    executionWindow: 60,
    budget: { maxUsd: 0.05, currency: 'USD', overageBehavior: 'fail' },
    capacity: { maxConcurrentRequests: 4, maxConcurrentRetries: 1, backoffMultiplier: 2, maxRetries: 2, timeoutSeconds: 60 }
  }
}

/** A spec name from a tool name: the characters a spec name allows. */
function specName (toolName: string): string {
  const name = toolName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64)
  return SPEC_NAME_PATTERN.test(name) ? name : 'mcp-tool'
}

/** `$schema` draft URLs of other JSON Schema versions would be refused; specs are 2020-12. */
function stripMeta (schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema
  return rest
}
