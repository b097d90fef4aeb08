import { parseArgs } from 'node:util'
import { GLOBAL_OPTIONS, type Command, type OptionDef, type OptionValues } from './command.ts'
import { UsageError } from './errors.ts'
import { suggest } from './suggest.ts'

/**
 * Index of the first word in argv (from `from`) that is not an option, skipping
 * the values of global string options. That word names the (sub)command.
 * Returns -1 when there is none.
 */
export function nextWord (argv: string[], from: number): number {
  for (let i = from; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') return -1
    if (arg.startsWith('-') && arg !== '-') {
      if (arg.startsWith('--') && !arg.includes('=')) {
        const def = GLOBAL_OPTIONS[arg.slice(2)]
        if (def?.type === 'string') i++
      }
      continue
    }
    return i
  }
  return -1
}

export interface ParsedArgs {
  globals: { home?: string, json: boolean, help: boolean }
  options: OptionValues
  positionals: string[]
}

/**
 * Parse what follows the command words with node:util parseArgs, then check it
 * ourselves so every mistake names the flag and suggests the right one.
 */
export function parseCommandArgs (args: string[], command: Command | null, path: string[]): ParsedArgs {
  const own = command?.options ?? {}
  const all: Record<string, OptionDef> = { ...GLOBAL_OPTIONS, ...own }
  const config: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}
  for (const [name, def] of Object.entries(all)) {
    config[name] = { type: def.type, ...(def.multiple === true ? { multiple: true } : {}), ...(def.short != null ? { short: def.short } : {}) }
  }
  const { values, positionals, tokens } = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true })
  const where = path.length > 0 ? `'specmesh ${path.join(' ')}'` : 'specmesh'
  const help = values.help === true

  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const def = all[token.name]
    if (def == null) {
      if (help) continue
      const hint = suggest(token.name, Object.keys(all))
      throw new UsageError(`unknown option '${token.rawName}' for ${where}${hint != null ? `; did you mean '--${hint}'?` : ''}`, path)
    }
    // `--home --json` means a forgotten value, not a folder called "--json".
    const missing = token.value == null || (token.inlineValue !== true && token.value.startsWith('-') && token.value !== '-')
    if (def.type === 'string' && missing && !help) {
      throw new UsageError(`option '${token.rawName}' needs a value (${def.value ?? 'VALUE'})`, path)
    }
    if (def.type === 'boolean' && token.value != null) {
      throw new UsageError(`option '${token.rawName}' takes no value`, path)
    }
  }

  const options: OptionValues = {}
  for (const name of Object.keys(own)) options[name] = values[name] as OptionValues[string]
  const home = values.home
  return {
    globals: { ...(typeof home === 'string' ? { home } : {}), json: values.json === true, help },
    options,
    positionals
  }
}

/** Check positional arguments against the command's declared ones. */
export function checkPositionals (positionals: string[], command: Command, path: string[]): void {
  const defs = command.args ?? []
  const required = defs.filter(a => a.optional !== true)
  if (positionals.length < required.length) {
    const missing = required.slice(positionals.length).map(a => a.name).join(' ')
    throw new UsageError(`missing ${missing} for 'specmesh ${path.join(' ')}'`, path)
  }
  if (positionals.length > defs.length) {
    throw new UsageError(`unexpected argument '${positionals[defs.length]}' for 'specmesh ${path.join(' ')}'`, path)
  }
}
