import type { StoredSpec } from '../node-types.ts'

/**
 * How a spec looks as an MCP tool, and back: the tool's name, description and
 * schemas from the spec, and the mapping between a tool call's arguments and
 * result and a job's input and output. MCP requires both schemas to describe
 * objects; a spec whose input or output is anything else (a string, an
 * array) is wrapped in a one-field object, `{ input }` or `{ output }`.
 */
export interface SpecTool {
  name: string
  specId: string
  description: string
  inputSchema: { type: 'object', [key: string]: unknown }
  outputSchema: { type: 'object', [key: string]: unknown }
  /** Whether input and output are wrapped in `{ input }` and `{ output }`. */
  wrapsInput: boolean
  wrapsOutput: boolean
}

/** Model APIs accept at most 64 characters of [A-Za-z0-9_-] in a tool name; MCP allows more, so the stricter rule wins. */
export const MAX_TOOL_NAME = 64

/** The tools for a set of specs: names from name and version (and variant), made unique by a piece of the spec id where two specs share them. */
export function specTools (specs: StoredSpec[]): SpecTool[] {
  const byName = new Map<string, StoredSpec[]>()
  for (const record of [...specs].sort((a, b) => a.id < b.id ? -1 : 1)) {
    const name = baseToolName(record)
    byName.set(name, [...(byName.get(name) ?? []), record])
  }
  const tools: SpecTool[] = []
  for (const [name, records] of byName) {
    for (const record of records) {
      const unique = records.length === 1 ? name : withSuffix(name, `_${record.id.slice(-8)}`)
      tools.push(toolOf(record, unique))
    }
  }
  return tools.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

function toolOf (record: StoredSpec, name: string): SpecTool {
  const { spec } = record
  const wrapsInput = !isObjectSchema(spec.input)
  const wrapsOutput = !isObjectSchema(spec.output)
  return {
    name,
    specId: record.id,
    description: describe(record),
    inputSchema: wrapsInput ? { type: 'object', properties: { input: spec.input }, required: ['input'] } : spec.input as SpecTool['inputSchema'],
    outputSchema: wrapsOutput ? { type: 'object', properties: { output: spec.output }, required: ['output'] } : spec.output as SpecTool['outputSchema'],
    wrapsInput,
    wrapsOutput
  }
}

/** The job input a tool call's arguments stand for. */
export function jobInput (tool: SpecTool, args: Record<string, unknown> | undefined): unknown {
  return tool.wrapsInput ? args?.input : (args ?? {})
}

/** The tool result's structuredContent for a job's output. */
export function structuredOutput (tool: SpecTool, output: unknown): Record<string, unknown> {
  return tool.wrapsOutput ? { output } : output as Record<string, unknown>
}

function baseToolName (record: StoredSpec): string {
  const { name, version, variant } = record.spec as { name: string, version?: string, variant?: string }
  const parts = [clean(name)]
  if (version != null && version !== '') parts.push(`v${clean(version)}`)
  if (variant != null && variant !== '') parts.push(clean(variant))
  return withSuffix(parts[0]!, parts.slice(1).map(p => `_${p}`).join(''))
}

/** Only [A-Za-z0-9_-]: a version's dots become underscores (1.0 → v1_0). */
function clean (text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || 'spec'
}

/** The name shortened so that name + suffix fits MAX_TOOL_NAME. */
function withSuffix (name: string, suffix: string): string {
  return name.slice(0, Math.max(1, MAX_TOOL_NAME - suffix.length)) + suffix
}

function isObjectSchema (schema: unknown): boolean {
  return typeof schema === 'object' && schema != null && (schema as { type?: unknown }).type === 'object'
}

function describe (record: StoredSpec): string {
  const { spec } = record
  const terms = [`specmesh spec ${record.id}`]
  if (spec.costUsd != null) terms.push(`expected price ${spec.costUsd} USD`)
  if (spec.budget?.maxUsd != null) terms.push(`budget ${spec.budget.maxUsd} USD`)
  if (spec.deadline != null) terms.push(`deadline ${String(spec.deadline)}${typeof spec.deadline === 'number' ? ' s' : ''}`)
  const text = spec.description ?? `${spec.name}${spec.version != null ? ` ${spec.version}` : ''}`
  return `${text}\n\nRuns as a job on the specmesh market: agents bid, the best is awarded, the output is checked against the spec (${terms.join('; ')}).`
}
