/**
 * The node's levelled, structured log. Every line is one event name and its
 * fields; a `level` field picks the level (default info), so call sites stay
 * `log('agent.outcome', { level: 'warn', jobId, reason })`. Two formats: one
 * JSON object per line ({ts, level, event, ...fields}) for machines and pipes,
 * and a readable line for a terminal. Lines below the chosen level are dropped
 * before anything is formatted, so a quiet log costs next to nothing.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]
/** `silent` drops everything. */
export type LogThreshold = LogLevel | 'silent'

export type LogFn = (event: string, fields?: Record<string, unknown>) => void

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
  return (event, fields = {}) => {
    const level = levelOf(fields.level)
    if (RANK[level] < threshold) return
    const { level: _given, ...rest } = fields
    init.write(format(now(), level, event, rest))
  }
}

function jsonLine (at: Date, level: LogLevel, event: string, fields: Record<string, unknown>): string {
  return `${JSON.stringify({ ts: at.toISOString(), level, event, ...fields }, replacer)}\n`
}

const COLORS: Record<LogLevel, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' }
const RESET = '\x1b[0m'

/** `21:44:02.120 WARN  agent.outcome  jobId=bagaa… outcome=error reason="handler exited with code 1"` */
function prettyLine (color: boolean) {
  return (at: Date, level: LogLevel, event: string, fields: Record<string, unknown>): string => {
    const { message, ...rest } = fields
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
