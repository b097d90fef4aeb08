import type { NodeSettings } from '../config/settings.ts'
import type { LogThreshold } from '../util/logger.ts'
import type { OptionDef, OptionValues } from './command.ts'
import { enableDebugTopics, LOG_OPTIONS, logSettings } from './log-flags.ts'
import { NETWORK_OPTIONS, networkFlags } from './network-flags.ts'

/** The flags of the commands that run a node (`daemon`, `agent`): where it listens and what it logs. */
export const NODE_OPTIONS: Record<string, OptionDef> = { ...NETWORK_OPTIONS, ...LOG_OPTIONS }

export interface NodeRunSettings {
  flags: Partial<NodeSettings>
  logLevel: LogThreshold
  logFormat: 'json' | 'pretty'
}

/**
 * What a node-running command starts its node with, from NODE_OPTIONS. The
 * libp2p debug topics asked for are switched on here, before the node is built.
 */
export async function nodeRunSettings (options: OptionValues, env: NodeJS.ProcessEnv, path: string[]): Promise<NodeRunSettings> {
  const flags = networkFlags(options, path)
  const logs = logSettings(options, env, path, process.stderr.isTTY)
  if (logs.debug != null) await enableDebugTopics(logs.debug)
  return { flags, logLevel: logs.level, logFormat: logs.format }
}
