/**
 * What a command is. Commands are data (name, arguments, options, examples) plus
 * a run function, so help text, argument checking and suggestions are derived
 * in one place (args.ts, help.ts) rather than hand-written per command.
 */

export interface OptionDef {
  type: 'string' | 'boolean'
  /** May be given more than once; the value is then a string[]. @default false */
  multiple?: boolean
  short?: string
  /** Name of the value in help, e.g. 'DIR'. @default 'VALUE' */
  value?: string
  description: string
}

export interface ArgDef {
  /** Shown in usage, e.g. 'FILE'. */
  name: string
  description: string
  /** @default false */
  optional?: boolean
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>

export interface CliIO {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
}

export interface CommandContext {
  /** The data folder: --home, then SPECMESH_HOME, then ~/.specmesh. */
  home: string
  /** --json: print exactly one JSON document on stdout. */
  json: boolean
  /** This command's own options (globals removed). */
  options: OptionValues
  /** Positional arguments, in the order of `args`. */
  args: string[]
  io: CliIO
  /** The words that named this command, e.g. ['spec', 'publish']. */
  path: string[]
}

export interface Command {
  name: string
  /** One line, shown in the parent's command list. */
  summary: string
  /** Paragraphs shown under the usage line. */
  description?: string
  args?: ArgDef[]
  options?: Record<string, OptionDef>
  /** Full command lines, e.g. 'specmesh spec validate my-spec.yaml'. */
  examples?: string[]
  /** A group (like `spec`) has subcommands and no run. */
  subcommands?: Command[]
  /** Returns the exit code. @default 0 */
  run?: (ctx: CommandContext) => Promise<number | void>
}

/** A top-level command as the registry knows it: loaded only when used, so `specmesh spec validate` never loads libp2p. */
export interface CommandEntry {
  name: string
  summary: string
  load: () => Promise<Command>
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  home: { type: 'string', value: 'DIR', description: 'data folder (default: $SPECMESH_HOME, else ~/.specmesh)' },
  json: { type: 'boolean', description: 'print exactly one JSON document on stdout (errors too)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' }
}
