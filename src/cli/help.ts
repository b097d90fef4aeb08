import { GLOBAL_OPTIONS, type ArgDef, type Command, type CommandEntry, type OptionDef } from './command.ts'

const PROGRAM = 'specmesh'

export function usageLine (path: string[], command: Command): string {
  const words = [PROGRAM, ...path]
  if (command.subcommands != null) return `${words.join(' ')} <command> [options]`
  const args = (command.args ?? []).map(formatArg)
  return [...words, ...args, '[options]'].join(' ')
}

export function topLevelHelp (entries: CommandEntry[]): string {
  return [
    `${PROGRAM}: a peer-to-peer marketplace for multi-agent work`,
    '',
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...table([...entries.map(e => [e.name, e.summary]), ['help', 'show help for a command: specmesh help spec publish']]),
    '',
    'Global options:',
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', description: 'print the version' } }),
    '',
    'Environment:',
    ...table([['SPECMESH_HOME', 'data folder, when --home is not given']]),
    '',
    'Examples:',
    `  ${PROGRAM} init`,
    `  ${PROGRAM} daemon --listen /ip4/0.0.0.0/tcp/4800`,
    `  ${PROGRAM} spec publish ./extract-entities.yaml`,
    `  ${PROGRAM} spec list --json`,
    '',
    'Exit codes: 0 ok, 1 failure (including invalid input), 2 wrong usage.',
    `Run '${PROGRAM} <command> --help' for a command's usage.`,
    ''
  ].join('\n')
}

export function commandHelp (path: string[], command: Command): string {
  const lines = [`Usage: ${usageLine(path, command)}`, '', command.description ?? capitalise(command.summary)]
  if (command.subcommands != null) {
    lines.push('', 'Commands:', ...table(command.subcommands.map(c => [c.name, c.summary])))
  }
  if (command.args != null && command.args.length > 0) {
    lines.push('', 'Arguments:', ...table(command.args.map(a => [a.name, a.description])))
  }
  if (command.options != null && Object.keys(command.options).length > 0) {
    lines.push('', 'Options:', ...optionLines(command.options))
  }
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS))
  if (command.examples != null && command.examples.length > 0) {
    lines.push('', 'Examples:', ...command.examples.map(e => `  ${e}`))
  }
  if (command.subcommands != null) {
    lines.push('', `Run '${[PROGRAM, ...path].join(' ')} <command> --help' for a command's usage.`)
  }
  lines.push('')
  return lines.join('\n')
}

function formatArg (arg: ArgDef): string {
  return arg.optional === true ? `[${arg.name}]` : arg.name
}

function optionLines (options: Record<string, OptionDef>): string[] {
  return table(Object.entries(options).map(([name, def]) => {
    const flag = `${def.short != null ? `-${def.short}, ` : ''}--${name}${def.type === 'string' ? ` ${def.value ?? 'VALUE'}` : ''}`
    return [flag, def.description + (def.multiple === true ? ' (repeatable)' : '')]
  }))
}

function table (rows: string[][]): string[] {
  const width = Math.max(0, ...rows.map(r => r[0]!.length))
  return rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`)
}

function capitalise (text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1) + (text.endsWith('.') ? '' : '.')
}
