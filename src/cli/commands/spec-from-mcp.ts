import { writeFile } from 'node:fs/promises'
import { stringify as toYaml } from 'yaml'
import type { Command } from '../command.ts'
import { CliError } from '../errors.ts'
import { printJson, printLines } from '../output.ts'

export const fromMcpCommand: Command = {
  name: 'from-mcp',
  summary: 'write a spec file from a tool of an MCP server, to edit and publish',
  description: [
    'Start COMMAND (an MCP server on stdio, through /bin/sh), read the tool NAME and write a',
    'spec for it: the tool\'s name, description, input schema and output schema, with a price,',
    'deadlines, budget and capacity to edit to what you offer. Without --tool it lists the',
    'server\'s tools. Then serve it: specmesh agent --spec FILE --mcp COMMAND --tool NAME.'
  ].join('\n'),
  args: [{ name: 'COMMAND', description: 'the command line that starts the MCP server' }],
  options: {
    tool: { type: 'string', value: 'NAME', description: 'the tool to write a spec for' },
    out: { type: 'string', value: 'FILE', description: 'where to write the spec (default: NAME.spec.yaml; - for stdout); an existing file is never overwritten' }
  },
  examples: [
    'specmesh spec from-mcp "npx -y @acme/weather-mcp"',
    'specmesh spec from-mcp "npx -y @acme/weather-mcp" --tool get_forecast --out forecast.yaml'
  ],
  run: async ({ args, options, json, io }) => {
    const command = args[0]!
    const { listMcpTools } = await import('../../mcp/tool-handler.ts')
    const tools = await listMcpTools(command).catch((err: Error) => { throw new CliError(err.message, 'mcp_tool') })
    const name = options.tool as string | undefined
    if (name == null) {
      if (json) printJson(io, tools.map(t => ({ name: t.name, description: t.description ?? null, outputSchema: t.outputSchema != null })))
      else printLines(io, tools.length === 0 ? ['(the server has no tools)'] : tools.map(t => `${t.name}${t.outputSchema == null ? '  (no outputSchema)' : ''}  ${(t.description ?? '').split('\n')[0]}`))
      return 0
    }
    const tool = tools.find(t => t.name === name)
    if (tool == null) throw new CliError(`the MCP server \`${command}\` has no tool "${name}"; it has: ${tools.map(t => t.name).join(', ') || '(no tools)'}`, 'not_found')

    const { specFromTool } = await import('../../mcp/spec-from-tool.ts')
    const { validateSpec, specId } = await import('../../spec/index.ts')
    const spec = specFromTool(tool)
    const header = [
      `# A spec for the MCP tool "${tool.name}" of: ${command}`,
      '# Written by `specmesh spec from-mcp`. Edit the price, deadlines, budget and capacity to what',
      '# you offer, and add successCriteria (CEL over input and output); then serve it with',
      `#   specmesh agent --spec FILE --mcp ${JSON.stringify(command)} --tool ${tool.name}`,
      ...(tool.outputSchema == null ? ['# The tool declares no outputSchema: the output below allows any object; describe it.'] : [])
    ].join('\n')
    const text = `${header}\n${toYaml(spec)}`
    const out = (options.out as string | undefined) ?? `${tool.name.replace(/[^A-Za-z0-9._-]+/g, '-')}.spec.yaml`
    if (out === '-') {
      io.stdout(text)
    } else {
      await writeFile(out, text, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(err.code === 'EEXIST' ? `${out} exists; pick another --out, or remove it first` : `cannot write ${out}: ${err.message}`, err.code === 'EEXIST' ? 'exists' : 'failed')
      })
    }
    const checked = validateSpec(spec)
    const problems = checked.ok ? [] : checked.problems.map(p => `${p.path}: ${p.message}`)
    if (out !== '-') {
      if (json) printJson(io, { file: out, tool: tool.name, ok: checked.ok, ...(checked.ok ? { id: specId(checked.spec) } : { problems }) })
      else printLines(io, [`wrote ${out} (spec ${JSON.stringify(spec.name)} for MCP tool ${tool.name})`, ...problems.map(p => `  needs an edit: ${p}`)])
    } else if (!checked.ok) {
      io.stderr(problems.map(p => `needs an edit: ${p}\n`).join(''))
    }
    return checked.ok ? 0 : 1
  }
}
