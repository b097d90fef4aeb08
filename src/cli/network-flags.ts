import { multiaddr } from '@multiformats/multiaddr'
import type { NodeSettings } from '../config/settings.ts'
import { DEFAULT_LISTEN_PORT } from '../config/constants.ts'
import type { OptionDef, OptionValues } from './command.ts'
import { UsageError } from './errors.ts'
import { isFollowEntry, parseConnectionBudget } from '../config/schema.ts'
import { DEFAULT_RELAY_LIMITS, InvalidAnnounceAddressError, parseAnnounceAddresses } from '../net/reachability.ts'

/**
 * The network flags `daemon` and `agent` share. Each is also a config.json key
 * and a SPECMESH_* variable; a flag wins over both (see `specmesh config show`).
 */
export const NETWORK_OPTIONS: Record<string, OptionDef> = {
  listen: { type: 'string', multiple: true, value: 'MULTIADDR', description: `address to listen on (default: config.json "listen", written at first start: port ${DEFAULT_LISTEN_PORT} on every interface, or the next free port)` },
  announce: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'address to tell peers besides the listen addresses, without /p2p: behind port forwarding, the router\'s public address and forwarded port (config.json "announce")' },
  bootstrap: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'peer to keep connected and fall back to, with its /p2p/<peer id> (config.json "bootstrap")' },
  'api-port': { type: 'string', value: 'N', description: 'port of the local API on 127.0.0.1 (default: config.json "apiPort", else 0: any free port)' },
  'no-mdns': { type: 'boolean', description: 'do not find or announce peers on the local network by mDNS (config.json "mdns": false)' },
  'no-dht': { type: 'boolean', description: 'stay out of specmesh\'s DHT: no provider records, no lookups (config.json "dht": false)' },
  follow: { type: 'string', multiple: true, value: 'SPEC', description: 'receive a spec\'s jobs, bids, awards, adverts and receipts without serving or submitting to it (an auditor, a reputation service): its id, name or name@version, repeatable; "all" for every spec held now or later (config.json "follow", SPECMESH_FOLLOW)' },
  connections: { type: 'string', value: 'HIGH[:LOW]', description: 'connection budget: above HIGH connections, close the unused ones down to LOW (default 48:32; LOW defaults to 32 or two thirds of HIGH; config.json "connections", SPECMESH_CONNECTIONS)' },
  'relay-server': {
    type: 'boolean',
    description: `relay for peers behind NAT: at most ${DEFAULT_RELAY_LIMITS.maxReservations} reservations, each relayed connection ` +
      `${DEFAULT_RELAY_LIMITS.durationLimitMs / 60_000} min and ${DEFAULT_RELAY_LIMITS.dataLimitBytes / (1024 * 1024)} MiB at most (config.json "relayServer")`
  }
}

/** The settings the flags give; undefined where a flag was not given, so the environment and config.json apply. */
export function networkFlags (options: OptionValues, path: string[]): Partial<NodeSettings> {
  const flags: Partial<NodeSettings> = {}
  const listen = multiaddrs(options.listen, '--listen', path)
  if (listen != null) flags.listen = listen
  const announce = multiaddrs(options.announce, '--announce', path)
  if (announce != null) {
    try {
      parseAnnounceAddresses(announce)
    } catch (err) {
      if (err instanceof InvalidAnnounceAddressError) throw new UsageError(err.message, path)
      throw err
    }
    flags.announce = announce
  }
  const bootstrap = multiaddrs(options.bootstrap, '--bootstrap', path)
  if (bootstrap != null) flags.bootstrap = bootstrap
  if (options['api-port'] != null) flags.apiPort = port(options['api-port'], path)
  if (options['no-mdns'] === true) flags.mdns = false
  if (options['no-dht'] === true) flags.dht = false
  if (options['relay-server'] === true) flags.relayServer = true
  if (typeof options.connections === 'string') {
    const budget = parseConnectionBudget(options.connections)
    if (typeof budget === 'string') throw new UsageError(`--connections ${options.connections} ${budget}`, path)
    flags.connections = budget
  }
  const follow = Array.isArray(options.follow) ? options.follow as string[] : typeof options.follow === 'string' ? [options.follow] : []
  for (const entry of follow) {
    if (!isFollowEntry(entry)) throw new UsageError(`--follow ${entry} is not a spec id, a spec name or name@version; for example --follow extract-entities@1.0.0, or --follow all`, path)
  }
  if (follow.length > 0) flags.follow = follow.includes('all') ? 'all' : follow
  return flags
}

function multiaddrs (value: unknown, flag: string, path: string[]): string[] | undefined {
  const list = Array.isArray(value) ? value as string[] : typeof value === 'string' ? [value] : []
  if (list.length === 0) return undefined
  for (const addr of list) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new UsageError(`${flag} ${addr} is not a multiaddr (${(err as Error).message}); for example /ip4/0.0.0.0/tcp/${DEFAULT_LISTEN_PORT}`, path)
    }
  }
  return list
}

function port (value: unknown, path: string[]): number {
  const n = Number(value)
  if (!/^\d+$/.test(String(value)) || n > 65535) throw new UsageError(`--api-port ${String(value)} is not a port number (0-65535)`, path)
  return n
}
