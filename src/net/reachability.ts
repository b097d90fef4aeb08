import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport, RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import type { Connection } from '@libp2p/interface'
import { dcutr } from '@libp2p/dcutr'
import { isPrivate } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { MAX_INPUT_BYTES, MAX_OUTPUT_BYTES } from '../wire/constants.ts'

/**
 * Reaching nodes behind NAT (protocols/reachability.md): every node can dial
 * `/p2p-circuit` addresses, answers AutoNAT dial-back requests and takes part
 * in DCUtR; a node that is not declared reachable reserves one slot on a relay
 * it is connected to and announces its `/p2p-circuit` address; a node started
 * with `relayServer` relays for others, within the limits below.
 */

/** What a relay server allows. Every relayed connection is reset by the relay once it passes either limit. */
export interface RelayServerLimits {
  /** Reservations held at once; a client past this is refused. @default 32 */
  maxReservations?: number
  /** How long a reservation lasts; clients refresh theirs before it ends. @default 2 h */
  reservationTtlMs?: number
  /** How long one relayed connection may stay open. @default 10 min */
  durationLimitMs?: number
  /** Bytes one relayed connection may carry, both directions counted together. @default 32 MiB */
  dataLimitBytes?: number
}

/**
 * One job over a relayed connection carries its award and input one way and
 * its claim and output the other, each at most 1 MiB of JSON plus envelopes,
 * Noise and yamux framing (a few per cent). The default data limit holds
 * fifteen such jobs of the largest size; the execution client opens a fresh
 * relayed connection before one would run out (exec-client.ts).
 */
export const BYTES_PER_LARGEST_JOB = MAX_INPUT_BYTES + MAX_OUTPUT_BYTES + 64 * 1024

export const DEFAULT_RELAY_LIMITS: Readonly<Required<RelayServerLimits>> = Object.freeze({
  maxReservations: 32,
  reservationTtlMs: 2 * 60 * 60_000,
  durationLimitMs: 10 * 60_000,
  dataLimitBytes: 32 * 1024 * 1024
})

export class RelayLimitsError extends Error {
  override name = 'RelayLimitsError'
}

export class InvalidAnnounceAddressError extends Error {
  override name = 'InvalidAnnounceAddressError'
}

/** The limits a relay server runs with: the defaults, overridden field by field, each checked. */
export function relayLimits (given: boolean | RelayServerLimits | undefined): Required<RelayServerLimits> | undefined {
  if (given == null || given === false) return undefined
  const limits = { ...DEFAULT_RELAY_LIMITS, ...(given === true ? {} : given) }
  for (const [field, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RelayLimitsError(`relayServer.${field} is ${String(value)}; it must be a whole number > 0`)
    }
  }
  if (limits.dataLimitBytes < BYTES_PER_LARGEST_JOB) {
    throw new RelayLimitsError(`relayServer.dataLimitBytes ${limits.dataLimitBytes} is below ${BYTES_PER_LARGEST_JOB}, what one job of the largest input and output needs; raise it`)
  }
  return limits
}

/** Check `--announce` addresses: multiaddrs a peer can dial, with no /p2p part (the node adds its own). */
export function parseAnnounceAddresses (addresses: string[]): Multiaddr[] {
  return addresses.map(address => {
    let parsed: Multiaddr
    try {
      parsed = multiaddr(address)
    } catch (err) {
      throw new InvalidAnnounceAddressError(`--announce ${address} is not a multiaddr (${(err as Error).message}); expected e.g. /ip4/203.0.113.5/tcp/7401 or /dns4/node.example.org/tcp/7401`)
    }
    if (parsed.getComponents().some(c => c.name === 'p2p')) {
      throw new InvalidAnnounceAddressError(`--announce ${address} has a /p2p/<peer id>; give the address without it, the node adds its own`)
    }
    return parsed
  })
}

export interface ReachabilityInit {
  /** Addresses to give peers besides the listen addresses (port forwarding, a public IP in front). @default [] */
  announce?: string[]
  /** Relay for other nodes: true for the default limits, or the limits to use. @default false */
  relayServer?: boolean | RelayServerLimits
  /**
   * Reserve a slot on a relay and announce the `/p2p-circuit` address.
   * @default true, unless `announce` or `relayServer` says this node is reachable itself
   */
  relayClient?: boolean
}

/** The libp2p pieces reachability adds: a transport, services, extra listen and announce addresses. */
export function reachabilityConfig (init: ReachabilityInit = {}, log: (event: string, fields?: Record<string, unknown>) => void = () => {}): {
  transports: Array<ReturnType<typeof circuitRelayTransport>>
  services: Record<string, (components: any) => unknown>
  listen: string[]
  announce: string[]
} {
  const announce = parseAnnounceAddresses(init.announce ?? []).map(a => a.toString())
  const limits = relayLimits(init.relayServer)
  const relayClient = init.relayClient ?? (announce.length === 0 && limits == null)
  const services: Record<string, (components: any) => unknown> = {
    autoNAT: autoNAT(),
    dcutr: dcutr(),
    reachability: reachabilityMonitor(log)
  }
  if (limits != null) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: limits.maxReservations,
        reservationTtl: limits.reservationTtlMs,
        defaultDurationLimit: limits.durationLimitMs,
        defaultDataLimit: BigInt(limits.dataLimitBytes)
      }
    })
  }
  if (relayClient) services.relayClient = relayReservations(log)
  return {
    transports: [circuitRelayTransport()],
    services,
    // No bare /p2p-circuit listen address: it starts libp2p's relay discovery,
    // whose random walk over a DHT with no peers never yields (the node hangs).
    // relayReservations picks a relay among the connected peers instead.
    listen: [],
    announce
  }
}

interface PeerIdentified {
  peerId: { toString: () => string }
  protocols: string[]
  connection: Connection
}

interface RelayClientComponents {
  events: {
    addEventListener: (event: 'peer:identify' | 'peer:disconnect', listener: (evt: CustomEvent<any>) => void) => void
    removeEventListener: (event: 'peer:identify' | 'peer:disconnect', listener: (evt: CustomEvent<any>) => void) => void
  }
  transportManager: { listen: (addrs: Multiaddr[]) => Promise<void> }
  connectionManager: { getConnections: () => Connection[] }
  peerStore: { get: (peer: Connection['remotePeer']) => Promise<{ protocols: string[] }> }
}

/**
 * Holds a reservation on one relay: the first directly connected peer whose
 * identify lists the hop protocol. When that relay goes away, or refuses, the
 * next connected relay is tried. Listening on `<relay address>/p2p-circuit` is
 * how libp2p reserves on a given relay; it then announces the circuit address.
 */
export class RelayReservations {
  private readonly components: RelayClientComponents
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private relay: string | undefined
  private readonly refused = new Set<string>()
  private running = false

  constructor (components: RelayClientComponents, log: (event: string, fields?: Record<string, unknown>) => void) {
    this.components = components
    this.log = log
    this.onIdentify = this.onIdentify.bind(this)
    this.onDisconnect = this.onDisconnect.bind(this)
  }

  start (): void {
    this.running = true
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
  }

  stop (): void {
    this.running = false
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  private onIdentify (evt: CustomEvent<PeerIdentified>): void {
    const { peerId, protocols, connection } = evt.detail
    if (protocols.includes(RELAY_V2_HOP_CODEC)) this.reserveOn(peerId.toString(), connection)
  }

  private onDisconnect (evt: CustomEvent<{ toString: () => string }>): void {
    if (evt.detail.toString() !== this.relay) return
    this.relay = undefined
    this.log('relay.lost', { relay: evt.detail.toString() })
    this.tryConnectedRelays()
  }

  private reserveOn (relay: string, connection: Connection): void {
    // A relay is reached directly: a reservation through another relay is refused anyway.
    if (!this.running || this.relay != null || this.refused.has(relay) || connection.status !== 'open' || connection.limits != null || isRelayed(connection.remoteAddr)) return
    this.relay = relay
    const direct = connection.remoteAddr.getComponents().some(c => c.name === 'p2p') ? connection.remoteAddr : connection.remoteAddr.encapsulate(`/p2p/${relay}`)
    const address = direct.encapsulate('/p2p-circuit')
    this.components.transportManager.listen([address]).then(() => {
      this.log('relay.reserved', { relay, address: address.toString() })
    }, (err: Error) => {
      if (this.relay === relay) this.relay = undefined
      this.refused.add(relay)
      this.log('relay.reservation-failed', { relay, error: err.message, level: 'warn' })
      this.tryConnectedRelays()
    })
  }

  private tryConnectedRelays (): void {
    for (const connection of this.components.connectionManager.getConnections()) {
      this.components.peerStore.get(connection.remotePeer).then(peer => {
        if (peer.protocols.includes(RELAY_V2_HOP_CODEC)) this.reserveOn(connection.remotePeer.toString(), connection)
      }, () => {})
    }
  }
}

/** The relay client as a libp2p service. */
export function relayReservations (log: (event: string, fields?: Record<string, unknown>) => void): (components: RelayClientComponents) => RelayReservations {
  return components => new RelayReservations(components, log)
}

export type ReachabilityStatus = 'public' | 'relayed' | 'private'

export interface ReachabilityReport {
  status: ReachabilityStatus
  /** Addresses a peer anywhere could dial: announced, confirmed by AutoNAT, or on a public interface. */
  public: string[]
  /** `/p2p-circuit` addresses through the relays this node holds a reservation on. */
  relayed: string[]
}

/** How the node can be reached, from the addresses it gives peers. */
export function reachabilityOf (addresses: Multiaddr[]): ReachabilityReport {
  const relayed = addresses.filter(isRelayed).map(a => a.toString())
  const publicAddrs = addresses.filter(a => !isRelayed(a) && !isPrivate(a)).map(a => a.toString())
  const status: ReachabilityStatus = publicAddrs.length > 0 ? 'public' : relayed.length > 0 ? 'relayed' : 'private'
  return { status, public: publicAddrs, relayed }
}

/**
 * Addresses in the order a far peer should try them, for messages that carry
 * only the first few (a bid carries eight): public ones, then relayed ones,
 * then private and loopback ones, which only a peer on the same network can use.
 */
export function inDialOrder (addresses: Multiaddr[]): Multiaddr[] {
  const rank = (a: Multiaddr): number => isRelayed(a) ? 1 : isPrivate(a) ? 2 : 0
  return addresses.map((a, i) => ({ a, i, r: rank(a) })).sort((x, y) => x.r - y.r || x.i - y.i).map(x => x.a)
}

/**
 * Our own addresses in dial order, as strings, recomputed only when they
 * change (libp2p's `self:peer:update`): an agent puts them in every bid, and
 * sorting and printing them per bid was ~3% of an agent's CPU in bench:jobs.
 * `maxAgeMs` bounds how long a copy is trusted should an update go unannounced.
 */
export class OwnAddresses {
  private readonly source: AddressSource
  private readonly now: () => number
  private readonly maxAgeMs: number
  private cached: string[] | undefined
  private cachedAt = 0
  private readonly invalidate = (): void => { this.cached = undefined }

  constructor (source: AddressSource, options: { maxAgeMs?: number, now?: () => number } = {}) {
    this.source = source
    this.now = options.now ?? Date.now
    this.maxAgeMs = options.maxAgeMs ?? 5_000
    source.addEventListener('self:peer:update', this.invalidate)
  }

  /** Every address, public first, then relayed, then private and loopback (inDialOrder). */
  current (): string[] {
    const now = this.now()
    if (this.cached == null || now - this.cachedAt > this.maxAgeMs) {
      this.cached = inDialOrder(this.source.getMultiaddrs()).map(a => a.toString())
      this.cachedAt = now
    }
    return this.cached
  }

  stop (): void {
    this.source.removeEventListener('self:peer:update', this.invalidate)
  }
}

function isRelayed (a: Multiaddr): boolean {
  return a.getComponents().some(c => c.name === 'p2p-circuit')
}

interface AddressSource {
  getMultiaddrs: () => Multiaddr[]
  addEventListener: (event: 'self:peer:update', listener: () => void) => void
  removeEventListener: (event: 'self:peer:update', listener: () => void) => void
}

interface MonitorComponents {
  addressManager: { getAddresses: () => Multiaddr[] }
  events: {
    addEventListener: (event: 'self:peer:update', listener: () => void) => void
    removeEventListener: (event: 'self:peer:update', listener: () => void) => void
  }
}

/** The monitor as a libp2p service: started and stopped with the node, reading the node's own addresses. */
export function reachabilityMonitor (log: (event: string, fields?: Record<string, unknown>) => void): (components: MonitorComponents) => ReachabilityMonitor {
  return components => new ReachabilityMonitor({
    getMultiaddrs: () => components.addressManager.getAddresses(),
    addEventListener: (event, listener) => { components.events.addEventListener(event, listener) },
    removeEventListener: (event, listener) => { components.events.removeEventListener(event, listener) }
  }, log)
}

/**
 * Logs `reachability` each time the way peers can reach this node changes
 * (a relay reservation made or lost, an address confirmed by AutoNAT), so an
 * operator sees at once whether the node is reachable and how.
 */
export class ReachabilityMonitor {
  private readonly source: AddressSource
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private last = ''
  private current: ReachabilityReport = { status: 'private', public: [], relayed: [] }

  constructor (source: AddressSource, log: (event: string, fields?: Record<string, unknown>) => void) {
    this.source = source
    this.log = log
    this.check = this.check.bind(this)
  }

  start (): void {
    this.source.addEventListener('self:peer:update', this.check)
  }

  /** Once the transports listen: the first report. */
  afterStart (): void {
    this.check()
  }

  stop (): void {
    this.source.removeEventListener('self:peer:update', this.check)
  }

  report (): ReachabilityReport {
    return this.current
  }

  private check (): void {
    const report = reachabilityOf(this.source.getMultiaddrs())
    const key = JSON.stringify(report)
    if (key === this.last) return
    this.last = key
    this.current = report
    this.log('reachability', { ...report })
  }
}
