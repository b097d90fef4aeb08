/**
 * specmesh's own default TCP port: fixed, so a restarted node is back where its
 * peers expect it (as kubo's 4001 is), and not 4001, so an IPFS node can run
 * beside it. A second data folder on the same machine takes the next free port.
 */
export const DEFAULT_LISTEN_PORT = 4747

/** How many ports past the default `init` tries before giving up. */
export const LISTEN_PORT_SEARCH = 32
