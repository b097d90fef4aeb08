/** config.json (or a SPECMESH_* variable) holds something the node cannot use. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  /** The key at fault, e.g. "listen" or "reputation.teleport"; '' for the whole file. */
  readonly key: string

  constructor (message: string, key = '') {
    super(message)
    this.key = key
  }
}

/** A listen address is taken by another process. */
export class ListenAddressInUseError extends Error {
  override name = 'ListenAddressInUseError'
  readonly code = 'listen_address_in_use'
  readonly address: string

  constructor (address: string, home: string) {
    super(`${address} is already in use (another specmesh daemon, or another program, listens there); ` +
      `choose another with --listen, e.g. --listen ${nextPortAddress(address)}, or change "listen" in ${home}/config.json`)
    this.address = address
  }
}

function nextPortAddress (address: string): string {
  return address.replace(/\/tcp\/(\d+)/, (_m, port: string) => `/tcp/${Number(port) + 1}`)
}
