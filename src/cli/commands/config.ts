import type { Command } from '../command.ts'
import { formatTable, printJson, printLines } from '../output.ts'

const show: Command = {
  name: 'show',
  summary: 'print every effective setting and where it came from',
  description: [
    'Print the settings a `specmesh daemon` started now on this data folder would use, each with',
    'its source: "env" (a SPECMESH_* variable), "file" (<home>/config.json) or "default".',
    'Flags given to `daemon` or `agent` win over all three. An unknown key in config.json, or a',
    'value of the wrong kind, is an error naming the key. Reads files only; no daemon needed.',
    '',
    'Keys of config.json: listen, announce, bootstrap (lists of multiaddrs), apiPort (0-65535),',
    'mdns, dht, relayServer (true/false), trustedPeers (peer ids), reputation ({halfLifeHours,',
    'teleport}), awardPolicies ({"<spec name>": {explore, minReputation, preferredAgents}}), connections',
    '({high, low}: above high connections the node closes unused ones down to low; 48 and 32), follow (spec ids,',
    'names or name@version whose market traffic and receipts to receive, or "all"). Variables: SPECMESH_LISTEN,',
    'SPECMESH_ANNOUNCE, SPECMESH_BOOTSTRAP, SPECMESH_FOLLOW (comma- or space-separated; SPECMESH_FOLLOW=all),',
    'SPECMESH_API_PORT, SPECMESH_MDNS, SPECMESH_DHT, SPECMESH_RELAY_SERVER.'
  ].join('\n'),
  examples: ['specmesh config show', 'specmesh config show --home ./node-a --json'],
  run: async ({ home, json, io }) => {
    const { resolveSettings, SETTING_ENV, DAEMON_DEFAULTS } = await import('../../config/settings.ts')
    const { values, sources } = await resolveSettings({ home, env: io.env, defaults: DAEMON_DEFAULTS })
    const keys = Object.keys(values) as Array<keyof typeof values>
    if (json) {
      printJson(io, { home, settings: Object.fromEntries(keys.map(k => [k, { value: values[k], source: sources[k], ...(SETTING_ENV[k] != null ? { env: SETTING_ENV[k] } : {}) }])) })
      return
    }
    const shown = (value: unknown): string => Array.isArray(value) ? (value.length === 0 ? '(none)' : value.join(' ')) : typeof value === 'object' ? JSON.stringify(value) : String(value)
    const from = (key: keyof typeof values): string => {
      const source = sources[key]
      if (source === 'env') return `env ${SETTING_ENV[key]}`
      if (source === 'file') return 'config.json'
      return key === 'listen' ? 'default (written to config.json at first start)' : 'default'
    }
    printLines(io, [`home ${home}`, ...formatTable(['KEY', 'VALUE', 'SOURCE'], keys.map(k => [k, shown(values[k]), from(k)]))])
  }
}

export const configCommand: Command = {
  name: 'config',
  summary: 'show this data folder\'s settings (config.json, SPECMESH_* variables, defaults)',
  subcommands: [show]
}
