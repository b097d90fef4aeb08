import { ConfigFileSchema, parseConnectionBudget, type ConfigFile } from './schema.ts'
import { ConfigError } from './errors.ts'
import { readConfigFile } from './file.ts'
import { defaultListen } from './listen.ts'
import { DEFAULT_LISTEN_PORT } from './constants.ts'

/** Every setting a node takes from flags, the environment or config.json. */
export interface NodeSettings {
  listen: string[]
  announce: string[]
  bootstrap: string[]
  apiPort: number
  mdns: boolean
  dht: boolean
  relayServer: boolean
  trustedPeers: string[]
  reputation: NonNullable<ConfigFile['reputation']>
  awardPolicies: NonNullable<ConfigFile['awardPolicies']>
  /** The connection budget's water marks; what is not given takes the budget's default (48 and 32). */
  connections: NonNullable<ConfigFile['connections']>
  /** Specs whose market traffic and receipts this node receives without being a party (ids, name@version, name), or 'all'. */
  follow: string[] | 'all'
}

export type SettingKey = keyof NodeSettings
/** Where an effective value came from; the first that has it wins, in this order. */
export type SettingSource = 'flag' | 'env' | 'file' | 'default'

export interface ResolvedSettings {
  values: NodeSettings
  sources: Record<SettingKey, SettingSource>
  /** The data folder the file was read from. */
  home: string
}

/** The environment variable of each setting that has one (lists: comma- or space-separated). */
export const SETTING_ENV: Partial<Record<SettingKey, string>> = {
  listen: 'SPECMESH_LISTEN',
  announce: 'SPECMESH_ANNOUNCE',
  bootstrap: 'SPECMESH_BOOTSTRAP',
  apiPort: 'SPECMESH_API_PORT',
  mdns: 'SPECMESH_MDNS',
  dht: 'SPECMESH_DHT',
  relayServer: 'SPECMESH_RELAY_SERVER',
  connections: 'SPECMESH_CONNECTIONS',
  follow: 'SPECMESH_FOLLOW'
}

/**
 * Built-in defaults. `listen` is specmesh's port on every interface; a node
 * whose config.json has no `listen` writes one there at first start (see
 * ensureListen), so this default is rarely what a node ends up using.
 * mDNS is off here: the SDK does not broadcast on a LAN unless asked, while
 * `specmesh daemon` and `specmesh agent` pass `{ mdns: true }`.
 */
export const BUILT_IN_DEFAULTS: NodeSettings = {
  listen: defaultListen(DEFAULT_LISTEN_PORT, true),
  announce: [],
  bootstrap: [],
  apiPort: 0,
  mdns: false,
  dht: true,
  relayServer: false,
  trustedPeers: [],
  reputation: {},
  awardPolicies: {},
  connections: {},
  follow: []
}

/** What `specmesh daemon` and `specmesh agent` turn on that the SDK leaves off: mDNS on the LAN. */
export const DAEMON_DEFAULTS: Partial<NodeSettings> = { mdns: true }

export interface ResolveInit {
  home: string
  /** Values given as command-line flags or SDK options: they win. Undefined means not given. */
  flags?: Partial<NodeSettings>
  /** @default process.env */
  env?: NodeJS.ProcessEnv
  /** Defaults of the caller (the daemon turns mDNS on), over the built-in ones. */
  defaults?: Partial<NodeSettings>
}

/** flags > SPECMESH_* environment > config.json > defaults, with the source of each value. */
export async function resolveSettings (init: ResolveInit): Promise<ResolvedSettings> {
  const file = await readConfigFile(init.home)
  const env = settingsFromEnv(init.env ?? process.env)
  const defaults = { ...BUILT_IN_DEFAULTS, ...withoutUndefined(init.defaults ?? {}) }
  const flags = withoutUndefined(init.flags ?? {})
  const values = {} as Record<SettingKey, unknown>
  const sources = {} as Record<SettingKey, SettingSource>
  for (const key of Object.keys(BUILT_IN_DEFAULTS) as SettingKey[]) {
    const layers: Array<[SettingSource, unknown]> = [['flag', flags[key]], ['env', env[key]], ['file', file[key]], ['default', defaults[key]]]
    const [source, value] = layers.find(([, v]) => v !== undefined)!
    values[key] = value
    sources[key] = source
  }
  return { values: values as unknown as NodeSettings, sources, home: init.home }
}

/** The settings the SPECMESH_* variables give, each checked by the config.json schema. */
export function settingsFromEnv (env: NodeJS.ProcessEnv): Partial<NodeSettings> {
  const out: Record<string, unknown> = {}
  for (const [key, name] of Object.entries(SETTING_ENV) as Array<[SettingKey, string]>) {
    const text = env[name]
    if (text == null || text.trim() === '') continue
    const value = parseEnvValue(key, name, text.trim())
    const checked = ConfigFileSchema.shape[key as keyof typeof ConfigFileSchema.shape].safeParse(value)
    if (!checked.success) {
      const issue = checked.error.issues[0]!
      throw new ConfigError(`${name}=${text}: ${issue.path.length > 0 ? `entry ${String(issue.path[0])} ` : ''}${issue.message}`, key)
    }
    out[key] = checked.data
  }
  return out as Partial<NodeSettings>
}

function parseEnvValue (key: SettingKey, name: string, text: string): unknown {
  const sample = (BUILT_IN_DEFAULTS as unknown as Record<string, unknown>)[key]
  if (key === 'follow' && text === 'all') return 'all'
  if (key === 'connections') {
    const budget = parseConnectionBudget(text)
    if (typeof budget === 'string') throw new ConfigError(`${name}=${text} ${budget}`, key)
    return budget
  }
  if (Array.isArray(sample)) return text.split(/[\s,]+/).filter(s => s !== '')
  if (typeof sample === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true
    if (/^(0|false|no|off)$/i.test(text)) return false
    throw new ConfigError(`${name}=${text} is not a switch; use true or false`, key)
  }
  if (typeof sample === 'number') {
    if (!/^\d+$/.test(text)) throw new ConfigError(`${name}=${text} is not a whole number`, key)
    return Number(text)
  }
  return text
}

function withoutUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
