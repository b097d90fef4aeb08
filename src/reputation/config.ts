import { parseConfig, readConfigFile } from '../config/file.ts'
import type { ConfigFile } from '../config/schema.ts'
import { ConfigError } from '../config/errors.ts'

/**
 * The operator's trust settings, from `<home>/config.json` (whose one schema,
 * src/config/schema.ts, checks them with every other key):
 *
 *   { "trustedPeers": ["12D3KooW…", "12D3KooW…"],
 *     "reputation": { "halfLifeHours": 168, "teleport": 0.2 } }
 *
 * Both keys are optional. The node itself is always pre-trusted.
 */
export interface ReputationConfig {
  trustedPeers: string[]
  halfLifeMs?: number
  teleport?: number
}

/** config.json's trust settings are wrong: the same error as any other bad key of it. */
export { ConfigError as ReputationConfigError }

export async function loadReputationConfig (home: string): Promise<ReputationConfig> {
  return reputationConfigOf(await readConfigFile(home))
}

export function parseReputationConfig (raw: unknown, where = 'config.json'): ReputationConfig {
  return reputationConfigOf(parseConfig(raw, where))
}

export function reputationConfigOf (file: Pick<ConfigFile, 'trustedPeers' | 'reputation'>): ReputationConfig {
  const config: ReputationConfig = { trustedPeers: [...new Set(file.trustedPeers ?? [])] }
  if (file.reputation?.halfLifeHours != null) config.halfLifeMs = file.reputation.halfLifeHours * 60 * 60 * 1000
  if (file.reputation?.teleport != null) config.teleport = file.reputation.teleport
  return config
}
