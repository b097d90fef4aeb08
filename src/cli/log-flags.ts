import { LOG_LEVELS, LogLevelError, parseLogLevel, type LogThreshold } from '../util/logger.ts'
import type { OptionDef, OptionValues } from './command.ts'
import { UsageError } from './errors.ts'

/** The log flags `daemon` and `agent` share. */
export const LOG_OPTIONS: Record<string, OptionDef> = {
  'log-level': { type: 'string', value: 'LEVEL', description: `lowest level logged: ${[...LOG_LEVELS, 'silent'].join(', ')} (default: SPECMESH_LOG_LEVEL, else info)` },
  'log-format': { type: 'string', value: 'json|pretty', description: 'log lines as JSON objects or readable text (default: pretty on a terminal, json otherwise)' },
  debug: { type: 'string', value: 'TOPICS', description: 'libp2p debug topics to print on stderr, as DEBUG does: e.g. libp2p:gossipsub*,libp2p:dialer (default: DEBUG)' }
}

export interface LogSettings {
  level: LogThreshold
  format: 'json' | 'pretty'
  /** libp2p debug topics, when asked for. */
  debug?: string
}

export function logSettings (options: OptionValues, env: NodeJS.ProcessEnv, path: string[], isTTY: boolean): LogSettings {
  const given = typeof options['log-level'] === 'string' ? options['log-level'] : env.SPECMESH_LOG_LEVEL
  let level: LogThreshold = 'info'
  if (given != null && given !== '') {
    try {
      level = parseLogLevel(given)
    } catch (err) {
      if (!(err instanceof LogLevelError)) throw err
      throw new UsageError(`${typeof options['log-level'] === 'string' ? '--log-level' : 'SPECMESH_LOG_LEVEL'}: ${err.message}`, path)
    }
  }
  const format = options['log-format'] ?? (isTTY ? 'pretty' : 'json')
  if (format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format ${String(format)} is not json or pretty`, path)
  const debug = typeof options.debug === 'string' && options.debug !== '' ? options.debug : undefined
  return { level, format, ...(debug != null ? { debug } : {}) }
}

/**
 * Turn libp2p's own debug output on for these topics. libp2p's loggers read
 * DEBUG when they are created, so this runs before the node is built.
 */
export async function enableDebugTopics (topics: string): Promise<void> {
  process.env.DEBUG = topics
  const { enable } = await import('@libp2p/logger')
  enable(topics)
}
