import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { SpecmeshLibp2p } from './libp2p.ts'

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 10_000

export class InvalidBootstrapAddressError extends Error {
  override name = 'InvalidBootstrapAddressError'
}

export function parseBootstrapAddress (address: string): Multiaddr {
  let parsed: Multiaddr
  try {
    parsed = multiaddr(address)
  } catch (err) {
    throw new InvalidBootstrapAddressError(`--bootstrap ${address} is not a multiaddr (${(err as Error).message}); expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…`)
  }
  if (parsed.getComponents().find(c => c.name === 'p2p') == null) {
    throw new InvalidBootstrapAddressError(`--bootstrap ${address} has no /p2p/<peer id>; copy the full address a daemon prints (specmesh id --json)`)
  }
  return parsed
}

/**
 * Keeps the node connected to its bootstrap peers: dials each at start, and
 * redials with capped exponential backoff whenever the connection is gone, so a
 * node started before its bootstrap peer still joins once that peer is up.
 */
export class Bootstrapper {
  private readonly libp2p: SpecmeshLibp2p
  private readonly addresses: Multiaddr[]
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private readonly timers = new Set<NodeJS.Timeout>()
  private stopped = false

  constructor (libp2p: SpecmeshLibp2p, addresses: Multiaddr[], log: (event: string, fields?: Record<string, unknown>) => void) {
    this.libp2p = libp2p
    this.addresses = addresses
    this.log = log
  }

  start (): void {
    for (const address of this.addresses) this.keepConnected(address, FIRST_RETRY_MS)
  }

  stop (): void {
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  private keepConnected (address: Multiaddr, retryMs: number): void {
    if (this.stopped) return
    const peer = address.getComponents().find(c => c.name === 'p2p')?.value
    const connected = peer != null && this.libp2p.getConnections().some(c => c.remotePeer.toString() === peer)
    const next = (delay: number, backoff: number): void => {
      if (this.stopped) return
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        this.keepConnected(address, backoff)
      }, delay)
      timer.unref()
      this.timers.add(timer)
    }
    if (connected) {
      next(MAX_RETRY_MS / 2, FIRST_RETRY_MS)
      return
    }
    this.libp2p.dial(address, { signal: AbortSignal.timeout(5_000) }).then(() => {
      this.log('bootstrap.connected', { address: address.toString() })
      next(MAX_RETRY_MS / 2, FIRST_RETRY_MS)
    }, (err: Error) => {
      if (this.stopped) return
      this.log('bootstrap.dial-failed', { address: address.toString(), error: err.message, retryMs })
      next(retryMs, Math.min(retryMs * 2, MAX_RETRY_MS))
    })
  }
}
