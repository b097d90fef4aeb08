import { resolveHome } from '../store/home.ts'
import type { CliIO, CommandContext, OptionDef } from './command.ts'
import { UsageError } from './errors.ts'

/** The options every list command takes; the API's defaults apply when they are absent. */
export const PAGE_OPTIONS: Record<string, OptionDef> = {
  limit: { type: 'string', value: 'N', description: 'at most N items per page (default 100, at most 1000)' },
  cursor: { type: 'string', value: 'CURSOR', description: 'the page after the one that printed this cursor (see the "more:" line at its end)' }
}

/** `--limit` and `--cursor` as query parameters, with --limit checked here so the mistake names the flag. */
export function pageParams (ctx: Pick<CommandContext, 'options' | 'path'>, query = new URLSearchParams()): URLSearchParams {
  const { limit, cursor } = ctx.options
  if (typeof limit === 'string') {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new UsageError(`--limit ${limit} is not a whole number ≥ 1`, ctx.path)
    query.set('limit', limit)
  }
  if (typeof cursor === 'string' && cursor !== '') query.set('cursor', cursor)
  return query
}

/** `path?query`, without a dangling `?`. */
export function withQuery (path: string, query: URLSearchParams): string {
  const qs = query.toString()
  return qs === '' ? path : `${path}?${qs}`
}

/**
 * After a page that is not the last: the command that prints the next one, on
 * stderr so that stdout stays the page itself (and --json one document).
 */
export function printNextPage (io: CliIO, ctx: Pick<CommandContext, 'options' | 'path' | 'args' | 'home'>, next: string | null): void {
  if (next == null) return
  // --home only when the command would not find this folder without it.
  const flags: string[] = ctx.home !== resolveHome() ? [`--home ${quote(ctx.home)}`] : []
  for (const [name, value] of Object.entries(ctx.options)) {
    if (name === 'cursor' || value === undefined || value === false) continue
    if (value === true) flags.push(`--${name}`)
    else for (const v of Array.isArray(value) ? value : [value]) flags.push(`--${name} ${quote(v)}`)
  }
  const words = ['specmesh', ...ctx.path, ...ctx.args.map(quote), ...flags, `--cursor ${next}`]
  io.stderr(`more: ${words.join(' ')}\n`)
}

function quote (word: string): string {
  return /^[\w@%+=:,./…-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}
