import { packageVersion } from '../util/package-version.ts'
import { resolveHome } from '../store/home.ts'
import { checkPositionals, nextWord, parseCommandArgs } from './args.ts'
import type { CliIO, Command } from './command.ts'
import { CliError, UsageError } from './errors.ts'
import { commandHelp, topLevelHelp } from './help.ts'
import { printJson } from './output.ts'
import { COMMANDS } from './registry.ts'
import { suggest } from './suggest.ts'

export function processIO (): CliIO {
  return {
    stdout: text => { process.stdout.write(text) },
    stderr: text => { process.stderr.write(text) },
    env: process.env
  }
}

/** Run one command line (argv without node and script) and return the exit code: 0 ok, 1 failure, 2 usage. */
export async function runCli (argv: string[], io: CliIO = processIO()): Promise<number> {
  // Decided before parsing, so that even a usage error comes out as JSON when asked.
  const json = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).includes('--json')
  try {
    return await dispatch(argv, io)
  } catch (err) {
    return reportError(err, io, json)
  }
}

async function dispatch (argv: string[], io: CliIO): Promise<number> {
  const first = nextWord(argv, 0)
  if (first === -1) {
    const parsed = parseCommandArgs(argv, TOP_LEVEL, [])
    if (parsed.options.version === true) {
      const version = packageVersion()
      if (parsed.globals.json) printJson(io, { version })
      else io.stdout(`specmesh ${version}\n`)
      return 0
    }
    if (parsed.globals.help) {
      io.stdout(topLevelHelp(COMMANDS))
      return 0
    }
    if (parsed.positionals.length === 0 && !parsed.globals.json) io.stderr(topLevelHelp(COMMANDS))
    throw new UsageError('missing command')
  }

  let rest = [...argv.slice(0, first), ...argv.slice(first + 1)]
  const name = argv[first]!
  if (name === 'help') return await showHelp(rest.filter(a => !a.startsWith('-')), io)

  let command = await loadCommand(name)
  const path = [command.name]
  while (command.subcommands != null) {
    const i = nextWord(rest, 0)
    if (i === -1) {
      const parsed = parseCommandArgs(rest, null, path)
      if (parsed.globals.help) {
        io.stdout(commandHelp(path, command))
        return 0
      }
      throw new UsageError(`'specmesh ${path.join(' ')}' needs a command: ${command.subcommands.map(c => c.name).join(', ')}`, path)
    }
    const word = rest[i]!
    const sub = command.subcommands.find(c => c.name === word)
    if (sub == null) {
      const hint = suggest(word, command.subcommands.map(c => c.name))
      throw new UsageError(`unknown command 'specmesh ${[...path, word].join(' ')}'${hint != null ? `; did you mean 'specmesh ${[...path, hint].join(' ')}'?` : ''}`, path)
    }
    rest = [...rest.slice(0, i), ...rest.slice(i + 1)]
    command = sub
    path.push(sub.name)
  }

  const parsed = parseCommandArgs(rest, command, path)
  if (parsed.globals.help) {
    io.stdout(commandHelp(path, command))
    return 0
  }
  checkPositionals(parsed.positionals, command, path)
  if (command.run == null) throw new Error(`command ${path.join(' ')} has no implementation`)
  const code = await command.run({
    home: resolveHome(parsed.globals.home),
    json: parsed.globals.json,
    options: parsed.options,
    args: parsed.positionals,
    io,
    path
  })
  return code ?? 0
}

/** The options only the bare `specmesh` accepts. */
const TOP_LEVEL: Command = {
  name: 'specmesh',
  summary: '',
  options: { version: { type: 'boolean', description: 'print the version' } }
}

async function loadCommand (name: string): Promise<Command> {
  const entry = COMMANDS.find(c => c.name === name)
  if (entry == null) {
    const hint = suggest(name, [...COMMANDS.map(c => c.name), 'help'])
    throw new UsageError(`unknown command '${name}'${hint != null ? `; did you mean '${hint}'?` : ''}`)
  }
  return await entry.load()
}

/** `specmesh help [command [subcommand]]`. */
async function showHelp (words: string[], io: CliIO): Promise<number> {
  if (words.length === 0) {
    io.stdout(topLevelHelp(COMMANDS))
    return 0
  }
  let command = await loadCommand(words[0]!)
  const path = [command.name]
  for (const word of words.slice(1)) {
    const sub = command.subcommands?.find(c => c.name === word)
    if (sub == null) {
      const hint = suggest(word, (command.subcommands ?? []).map(c => c.name))
      throw new UsageError(`unknown command 'specmesh ${[...path, word].join(' ')}'${hint != null ? `; did you mean 'specmesh ${[...path, hint].join(' ')}'?` : ''}`, path)
    }
    command = sub
    path.push(sub.name)
  }
  io.stdout(commandHelp(path, command))
  return 0
}

interface ReportedError {
  code: string
  message: string
  problems?: Array<{ path: string, message: string }>
  exitCode: number
}

/** Map any error to an exit code and print it: JSON on stdout with --json, a human line on stderr otherwise. */
export function reportError (err: unknown, io: CliIO, json: boolean): number {
  const reported = describeError(err)
  if (json) {
    const error: Record<string, unknown> = { code: reported.code, message: reported.message }
    if (reported.problems != null) error.problems = reported.problems
    printJson(io, { error })
  } else {
    const lines = [`error: ${reported.message}`]
    for (const p of reported.problems ?? []) lines.push(`  ${p.path === '' ? '(root)' : p.path}: ${p.message}`)
    if (err instanceof UsageError) {
      lines.push(`Run '${['specmesh', ...err.path, '--help'].join(' ')}' for usage.`)
    } else if (io.env.SPECMESH_DEBUG != null && err instanceof Error && err.stack != null) {
      lines.push(err.stack)
    }
    io.stderr(`${lines.join('\n')}\n`)
  }
  return reported.exitCode
}

function describeError (err: unknown): ReportedError {
  if (err instanceof CliError) return { code: err.code, message: err.message, exitCode: err.exitCode }
  if (!(err instanceof Error)) return { code: 'failed', message: String(err), exitCode: 1 }
  const e = err as Error & { code?: unknown, problems?: unknown }
  const problems = Array.isArray(e.problems)
    ? e.problems.map((p: { path?: unknown, message?: unknown }) => ({ path: Array.isArray(p.path) ? p.path.join('.') : String(p.path ?? ''), message: String(p.message) }))
    : undefined
  const code = ERROR_CODES[err.name] ?? (typeof e.code === 'string' && !/^E[A-Z]+$/.test(e.code) ? e.code : 'failed')
  return { code, message: err.message, ...(problems != null ? { problems } : {}), exitCode: 1 }
}

/** Stable codes for the errors a user meets most, so scripts can branch on them. */
const ERROR_CODES: Record<string, string> = {
  DaemonNotRunningError: 'no_daemon',
  DaemonAlreadyRunningError: 'daemon_running',
  SpecValidationError: 'invalid_spec',
  ApiPortInUseError: 'api_port_in_use',
  IdentityFileError: 'bad_identity',
  ConfigError: 'bad_config',
  InvalidBootstrapAddressError: 'usage'
}
