import { describe, expect, it } from 'vitest'
import { jobInput, MAX_TOOL_NAME, specTools, structuredOutput } from '../../../src/mcp/spec-tools.ts'
import type { StoredSpec } from '../../../src/node-types.ts'

function stored (id: string, spec: Record<string, unknown>): StoredSpec {
  return { id, spec: { input: { type: 'object' }, output: { type: 'object' }, ...spec } as never, signer: 'p', sig: 's', receivedAt: 0 }
}

describe('specs as MCP tools', () => {
  it('names a tool from the spec name, version and variant, in the characters model APIs accept', () => {
    const tools = specTools([
      stored('bagaaa1', { name: 'extract-entities', version: '1.0' }),
      stored('bagaaa2', { name: 'summarize text', version: '2.1.0', variant: 'fast' })
    ])
    expect(tools.map(t => t.name)).toEqual(['extract-entities_v1_0', 'summarize_text_v2_1_0_fast'])
    for (const tool of tools) expect(tool.name).toMatch(/^[A-Za-z0-9_-]{1,64}$/)
  })

  it('tells apart specs that share name and version by a piece of their ids, and keeps long names within the limit', () => {
    const long = 'x'.repeat(100)
    const tools = specTools([
      stored('bagaaaaaaaaaaaaaaaa11111111', { name: 'same', version: '1' }),
      stored('bagaaaaaaaaaaaaaaaa22222222', { name: 'same', version: '1' }),
      stored('bagbbbb', { name: long })
    ])
    expect(tools.map(t => t.name)).toEqual(['same_v1_11111111', 'same_v1_22222222', 'x'.repeat(MAX_TOOL_NAME)])
  })

  it('wraps a spec whose input or output is not an object, and unwraps the call', () => {
    const [tool] = specTools([stored('bag1', { name: 'upper', input: { type: 'string' }, output: { type: 'array' } })])
    expect(tool!.inputSchema).toEqual({ type: 'object', properties: { input: { type: 'string' } }, required: ['input'] })
    expect(tool!.outputSchema).toEqual({ type: 'object', properties: { output: { type: 'array' } }, required: ['output'] })
    expect(jobInput(tool!, { input: 'abc' })).toBe('abc')
    expect(structuredOutput(tool!, ['A'])).toEqual({ output: ['A'] })
    const [plain] = specTools([stored('bag2', { name: 'plain' })])
    expect(jobInput(plain!, { text: 'a' })).toEqual({ text: 'a' })
    expect(structuredOutput(plain!, { n: 1 })).toEqual({ n: 1 })
  })
})
