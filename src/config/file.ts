import { readFile, rename, writeFile } from 'node:fs/promises'
import { homePaths } from '../store/home.ts'
import { suggest } from '../cli/suggest.ts'
import type { core } from 'zod'
import { CONFIG_KEYS, ConfigFileSchema, NESTED_CONFIG_KEYS, type ConfigFile } from './schema.ts'
import { ConfigError } from './errors.ts'

type ZodIssue = core.$ZodIssue

/** The parsed `<home>/config.json`; {} when there is none. Throws ConfigError naming the key and the fix. */
export async function readConfigFile (home: string): Promise<ConfigFile> {
  const path = homePaths(home).config
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parseConfig(raw, path)
}

/** Check a config object against the schema; `where` names the file (or variable) in errors. */
export function parseConfig (raw: unknown, where = 'config.json'): ConfigFile {
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where} must hold a JSON object, such as {"listen": ["/ip4/0.0.0.0/tcp/4747"]}`)
  const parsed = ConfigFileSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    const parent = issue.path.map(String)
    const key = issue.keys[0]!
    const known = parent.length === 0 ? CONFIG_KEYS : NESTED_CONFIG_KEYS[parent[0]!] ?? []
    const hint = suggest(key, known)
    const full = [...parent, key].join('.')
    throw new ConfigError(
      `${where}: unknown key "${full}"${hint != null ? ` (did you mean "${[...parent, hint].join('.')}"?)` : ''}; ` +
      `remove it or use one of: ${known.join(', ')}`, full)
  }
  const key = issue.path.map(p => typeof p === 'number' ? `[${p}]` : `.${String(p)}`).join('').replace(/^\./, '')
  const value = issue.path.reduce<unknown>((v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p as PropertyKey], raw)
  throw new ConfigError(`${where}: ${key} ${describeIssue(issue, value)}`, key)
}

/** One problem in words a user acts on: what the value must be, and what it was. */
function describeIssue (issue: ZodIssue, value: unknown): string {
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`
  if (issue.code === 'invalid_type') return `must be ${ARTICLE[issue.expected] ?? issue.expected}${shown}`
  if (issue.code === 'too_small') return issue.origin === 'array' ? `must list at least ${String(issue.minimum)} entry${shown}` : `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${shown}`
  if (issue.code === 'too_big') return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${shown}`
  // Our own refinements already read "is not a multiaddr…", "has no /p2p/…".
  return /^(is|has) /.test(issue.message) ? `${issue.message}${shown}` : `is wrong: ${issue.message}${shown}`
}

const ARTICLE: Record<string, string> = { array: 'an array', object: 'an object', string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false' }

/**
 * Set keys of config.json, keeping every other key as it was. The file is
 * written whole under a temporary name and renamed, so a crash never leaves
 * half a file.
 */
export async function updateConfigFile (home: string, patch: Partial<ConfigFile>): Promise<ConfigFile> {
  const path = homePaths(home).config
  const next = parseConfig({ ...await readConfigFile(home), ...patch }, path)
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, path)
  return next
}
