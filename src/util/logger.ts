/**
 * The node's levelled, structured log. Every line is one event name and its
 * fields; a `level` field picks the level (default info), so call sites stay
 * `log('agent.outcome', { level: 'warn', jobId, reason })`. Two formats: one
 * JSON object per line ({ts, level, event, ...fields}) for machines and pipes,
 * and a readable line for a terminal. Lines below the chosen level are dropped
 * before anything is formatted, so a quiet log costs next to nothing; a call
 * site that builds its fields at some cost can ask `log.enabled?.(level)`
 * first. A JSON line is built field by field (no copies of the fields, no
 * replacer for plain strings and numbers): a node at full load writes several
 * lines per job. Where the lines go, and when, is `write`'s business
 * (log-writer.ts batches them per event-loop turn).
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]
/** `silent` drops everything. */
export type LogThreshold = LogLevel | 'silent'

export type LogFn = ((event: string, fields?: Record<string, unknown>) => void) & {
  /** Whether a line of this level would be written (absent on plain functions: assume it would). */
  enabled?: (level: LogLevel) => boolean
}

export interface LoggerInit {
  /** Where each line goes (one call per line, newline included). */
  write: (text: string) => void
  /** Lines below this level are dropped. @default 'info' */
  level?: LogThreshold
  /** 'json' for machines, 'pretty' for a terminal. @default 'json' */
  format?: 'json' | 'pretty'
  /** Colour the level in pretty lines. @default false */
  color?: boolean
  now?: () => Date
  /**
   * Called after each warning and error line, so that a batching `write` puts it
   * (and every line before it) out at once, before whatever it leads to (an
   * agent's start-up warnings come before its "serving" output). @default none
   */
  flush?: () => void
}

const RANK: Record<LogThreshold, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: Infinity }

export class LogLevelError extends Error {
  override name = 'LogLevelError'
  constructor (value: string) {
    super(`log level ${JSON.stringify(value)} is not one of ${[...LOG_LEVELS, 'silent'].join(', ')}`)
  }
}

export function parseLogLevel (value: string): LogThreshold {
  const level = value.trim().toLowerCase()
  if (level in RANK) return level as LogThreshold
  throw new LogLevelError(value)
}

function levelOf (value: unknown): LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value) ? value as LogLevel : 'info'
}

export function createLogger (init: LoggerInit): LogFn {
  const threshold = RANK[init.level ?? 'info']
  const now = init.now ?? (() => new Date())
  const format = init.format === 'pretty' ? prettyLine(init.color === true) : jsonLine
  const { write, flush } = init
  const log: LogFn = (event, fields = {}) => {
    const level = levelOf(fields.level)
    if (RANK[level] < threshold) return
    write(format(now(), level, event, fields))
    if (RANK[level] >= RANK.warn) flush?.()
  }
  log.enabled = level => RANK[level] >= threshold
  return log
}

/**
 * `{"ts":…,"level":…,"event":…,<fields but level>}` and a newline: what
 * JSON.stringify({ ts, level, event, ...fields }) gives (a field named ts or
 * event replaces that one), without copying the fields into a new object.
 */
function jsonLine (at: Date, level: LogLevel, event: string, fields: Record<string, unknown>): string {
  let ts = `"${at.toISOString()}"`
  let name = JSON.stringify(event)
  let rest = ''
  for (const key of Object.keys(fields)) {
    if (key === 'level') continue
    const text = jsonValue(fields[key])
    if (text === undefined) continue
    if (key === 'ts') ts = text
    else if (key === 'event') name = text
    else rest += `,${JSON.stringify(key)}:${text}`
  }
  return `{"ts":${ts},"level":"${level}","event":${name}${rest}}\n`
}

/** A field's JSON, as JSON.stringify with the replacer would give it inside an object (undefined: left out). */
function jsonValue (value: unknown): string | undefined {
  switch (typeof value) {
    case 'string': return JSON.stringify(value)
    case 'number': return Number.isFinite(value) ? String(value) : 'null'
    case 'boolean': return value ? 'true' : 'false'
    case 'undefined': case 'function': case 'symbol': return undefined
    default: return JSON.stringify(value, replacer)
  }
}

const COLORS: Record<LogLevel, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' }
const RESET = '\x1b[0m'

/** `21:44:02.120 WARN  agent.outcome  jobId=bagaa… outcome=error reason="handler exited with code 1"` */
function prettyLine (color: boolean) {
  return (at: Date, level: LogLevel, event: string, fields: Record<string, unknown>): string => {
    const { message, level: _given, ...rest } = fields
    const label = level.toUpperCase().padEnd(5)
    const parts = [at.toISOString().slice(11, 23), color ? `${COLORS[level]}${label}${RESET}` : label, event]
    if (typeof message === 'string') parts.push(` ${message}`)
    const pairs = Object.entries(rest).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${prettyValue(v)}`)
    if (pairs.length > 0) parts.push(pairs.join(' '))
    return `${parts.join(' ')}\n`
  }
}

function prettyValue (value: unknown): string {
  if (typeof value === 'string') return /^[\w./:@+-]+$/.test(value) ? value : JSON.stringify(value)
  return JSON.stringify(value, replacer) ?? String(value)
}

function replacer (_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  return value
}
