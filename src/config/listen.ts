import { createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import { DEFAULT_LISTEN_PORT, LISTEN_PORT_SEARCH } from './constants.ts'
import { ConfigError } from './errors.ts'
import { updateConfigFile } from './file.ts'
import type { ResolvedSettings } from './settings.ts'

/** specmesh's listen addresses for a port: every IPv4 interface, and every IPv6 one where the machine has IPv6. */
export function defaultListen (port: number, ipv6: boolean = hasIpv6()): string[] {
  return [`/ip4/0.0.0.0/tcp/${port}`, ...(ipv6 ? [`/ip6/::/tcp/${port}`] : [])]
}

/** Whether any interface (the loopback one included) has an IPv6 address. */
export function hasIpv6 (): boolean {
  return Object.values(networkInterfaces()).some(list => list?.some(i => i.family === 'IPv6') === true)
}

/** Whether a TCP port can be bound on every interface of the given family. */
async function portFree (port: number, host: '0.0.0.0' | '::'): Promise<boolean> {
  return await new Promise(resolve => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen({ port, host, ipv6Only: host === '::', exclusive: true }, () => {
      server.close(() => { resolve(true) })
    })
  })
}

/**
 * The first port from `base` that is free on all interfaces (IPv4, and IPv6
 * where present): the default one, or the next free one when another data
 * folder's daemon (or another program) already listens there.
 */
export async function chooseListenPort (base = DEFAULT_LISTEN_PORT, ipv6 = hasIpv6()): Promise<number> {
  for (let port = base; port < base + LISTEN_PORT_SEARCH && port <= 65535; port++) {
    if (await portFree(port, '0.0.0.0') && (!ipv6 || await portFree(port, '::'))) return port
  }
  throw new ConfigError(`no free TCP port in ${base}-${base + LISTEN_PORT_SEARCH - 1} to listen on; set "listen" in config.json or pass --listen`, 'listen')
}

export interface ChosenListen {
  listen: string[]
  port: number
  /** True when the default port was taken and the next free one was chosen. */
  moved: boolean
}

/**
 * A node whose listen addresses come from no flag, variable or file gets
 * specmesh's port (or the next free one) and keeps it: the choice is written
 * to config.json, so every later start listens at the same address.
 * Returns null when the settings already say where to listen.
 */
export async function ensureListen (settings: ResolvedSettings, base = DEFAULT_LISTEN_PORT): Promise<ChosenListen | null> {
  if (settings.sources.listen !== 'default') return null
  const ipv6 = hasIpv6()
  const port = await chooseListenPort(base, ipv6)
  const listen = defaultListen(port, ipv6)
  await updateConfigFile(settings.home, { listen })
  settings.values.listen = listen
  settings.sources.listen = 'file'
  return { listen, port, moved: port !== base }
}

/** The one line that says which port a new data folder took, and why when it is not the default. */
export function describeChosenListen (chosen: ChosenListen, base = DEFAULT_LISTEN_PORT): string {
  return chosen.moved
    ? `port ${base} is taken (another data folder's daemon, or another program), so this data folder listens on port ${chosen.port}; written to config.json "listen"`
    : `this data folder listens on port ${chosen.port}; written to config.json "listen"`
}
