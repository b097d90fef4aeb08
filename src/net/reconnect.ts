import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, PeerStore, Startable, TypedEventTarget, Libp2pEvents, IdentifyResult } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { speaksSync } from './sync.ts'

export type LogFn = (event: string, fields?: Record<string, unknown>) => void

/** First and longest wait between two dials of a bootstrap peer that is down. */
const BOOTSTRAP_FIRST_RETRY_MS = 250
const BOOTSTRAP_MAX_RETRY_MS = 10_000
/** First and longest wait between two rounds of redialling remembered peers while the node has none. */
const ISOLATED_FIRST_RETRY_MS = 1_000
const ISOLATED_MAX_RETRY_MS = 60_000
/** One dial gives up after this. */
const DIAL_TIMEOUT_MS = 5_000
/**
 * A peer whose connection ended (closed by either side: its connection budget, ours) is not
 * redialled on discovery for this long. Every DHT answer names peers; without it, a node
 * short of peers redialled a peer that had just trimmed it as soon as a lookup named it again
 * (bench:scale at 100 nodes: the coordinators trimmed 104 connections in 20 s and took 79 new
 * ones, each a handshake, identify and sync). Bootstrap peers, the isolated node's redials and
 * the peers libp2p keeps alive are not affected.
 */
const DISCOVERY_REDIAL_AFTER_MS = 5 * 60_000
const LOST_MEMORY_MAX = 4096
/** Peer store metadata key: when we last completed identify with the peer as a specmesh node (ms, decimal). */
const LAST_SEEN_KEY = 'specmesh/last-seen'

export class InvalidBootstrapAddressError extends Error {
  override name = 'InvalidBootstrapAddressError'
}

/** The peer id an address names in its /p2p component, if it has one. */
export function peerIdOfAddress (address: Multiaddr): string | undefined {
  return address.getComponents().find(c => c.name === 'p2p')?.value
}

/** The peer id of a bootstrap address (checked by parseBootstrapAddress, so it has one). */
export function bootstrapPeerId (address: string): string {
  return peerIdOfAddress(parseBootstrapAddress(address))!
}

export function parseBootstrapAddress (address: string): Multiaddr {
  let parsed: Multiaddr
  try {
    parsed = multiaddr(address)
  } catch (err) {
    throw new InvalidBootstrapAddressError(`bootstrap address ${address} is not a multiaddr (${(err as Error).message}); expected e.g. /ip4/127.0.0.1/tcp/4747/p2p/12D3KooW…`)
  }
  if (peerIdOfAddress(parsed) == null) {
    throw new InvalidBootstrapAddressError(`bootstrap address ${address} has no /p2p/<peer id>; copy the full address a daemon prints (specmesh id --json)`)
  }
  return parsed
}

export interface ReconnectInit {
  /** Peers to keep connected to, and to fall back to first. @default [] */
  bootstrap?: string[]
  /** How many remembered peers are redialled at start and while isolated. @default 16 */
  maxRemembered?: number
  /** Dial peers that discovery (mDNS, the DHT) reports while we have fewer connections than this. @default 16 */
  dialDiscoveredBelow?: number
  /** @default no logging */
  log?: LogFn
}

export interface ReconnectComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
}

type BootstrapState = 'unknown' | 'connected' | 'unreachable'

/**
 * Keeps a node in the mesh across restarts, its own and its peers':
 * - remembers every peer that identified as a specmesh node (in the peer
 *   store, which lives in the node's LevelDB) and redials the most recent
 *   ones at start;
 * - keeps its bootstrap peers connected, redialling with capped backoff;
 * - once it has lost every peer, redials remembered peers (the DHT's
 *   routing-table peers among them) with backoff until one answers;
 * - dials peers that discovery reports (mDNS on the LAN, DHT lookups).
 * Each bootstrap address and the mesh as a whole log once per change of state
 * (connected, unreachable, isolated, rejoined), never once per retry.
 */
export class Reconnect implements Startable {
  private readonly components: ReconnectComponents
  private readonly bootstrap: Multiaddr[]
  private readonly maxRemembered: number
  private readonly dialDiscoveredBelow: number
  private readonly log: LogFn
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly bootstrapState = new Map<string, BootstrapState>()
  private running = false
  private isolated = false
  private isolatedRetryMs = ISOLATED_FIRST_RETRY_MS
  /** When each peer's last connection ended, for DISCOVERY_REDIAL_AFTER_MS. */
  private readonly lost = new Map<string, number>()

  constructor (components: ReconnectComponents, init: ReconnectInit = {}) {
    this.components = components
    this.bootstrap = (init.bootstrap ?? []).map(parseBootstrapAddress)
    this.maxRemembered = init.maxRemembered ?? 16
    this.dialDiscoveredBelow = init.dialDiscoveredBelow ?? 16
    this.log = init.log ?? (() => {})
  }

  readonly [Symbol.toStringTag] = 'specmesh:reconnect'

  /** The node events this service follows while it runs. */
  private listeners (): Array<[keyof Libp2pEvents, (event: CustomEvent<any>) => void]> {
    return [
      ['peer:identify', this.onIdentify],
      ['peer:disconnect', this.onDisconnect],
      ['connection:open', this.onConnection],
      ['peer:discovery', this.onDiscovery]
    ]
  }

  start (): void {
    this.running = true
    for (const [event, listener] of this.listeners()) this.components.events.addEventListener(event, listener)
  }

  afterStart (): void {
    for (const address of this.bootstrap) this.keepConnected(address, BOOTSTRAP_FIRST_RETRY_MS)
    void this.dialRemembered().then(() => {
      // A node that starts with no peer at all never sees a disconnect, so without this a
      // failed first round (a remembered peer busy or not yet listening) would be its last.
      if (!this.running || this.isolated || this.connectedPeers() > 0) return
      this.isolated = true
      this.later(ISOLATED_FIRST_RETRY_MS, () => { void this.whileIsolated() })
    })
  }

  stop (): void {
    this.running = false
    for (const [event, listener] of this.listeners()) this.components.events.removeEventListener(event, listener)
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  /** Remembered specmesh peers, most recently seen first. */
  async rememberedPeers (limit = this.maxRemembered): Promise<PeerId[]> {
    const peers = await this.components.peerStore.all({ filters: [peer => peer.metadata.has(LAST_SEEN_KEY)] })
    const seen = (m: Map<string, Uint8Array>): number => Number(new TextDecoder().decode(m.get(LAST_SEEN_KEY)))
    return peers.sort((a, b) => seen(b.metadata) - seen(a.metadata)).slice(0, limit).map(p => p.id)
  }

  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols } = event.detail
    if (!speaksSync(protocols)) return
    this.components.peerStore.merge(peerId, { metadata: { [LAST_SEEN_KEY]: new TextEncoder().encode(String(Date.now())) } }).catch(() => {})
  }

  private readonly onConnection = (_event: CustomEvent<Connection>): void => {
    if (!this.isolated) return
    this.isolated = false
    this.isolatedRetryMs = ISOLATED_FIRST_RETRY_MS
    this.log('mesh.rejoined', { peers: this.connectedPeers() })
  }

  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail.toString()
    this.lost.delete(peer)
    this.lost.set(peer, Date.now())
    if (this.lost.size > LOST_MEMORY_MAX) this.lost.delete(this.lost.keys().next().value!)
    if (!this.running || this.isolated || this.connectedPeers() > 0) return
    this.isolated = true
    this.log('mesh.isolated', { message: 'lost every peer; redialling bootstrap and remembered peers with backoff', level: 'warn' })
    this.later(ISOLATED_FIRST_RETRY_MS, () => { void this.whileIsolated() })
  }

  private readonly onDiscovery = (event: CustomEvent<{ id: PeerId, multiaddrs: Multiaddr[] }>): void => {
    const { id, multiaddrs } = event.detail
    if (!this.running || multiaddrs.length === 0 || this.connectedPeers() >= this.dialDiscoveredBelow) return
    if (this.components.connectionManager.getConnections(id).length > 0) return
    const lostAt = this.lost.get(id.toString())
    if (lostAt != null && Date.now() - lostAt < DISCOVERY_REDIAL_AFTER_MS) return
    this.components.connectionManager.openConnection(id, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch(() => {})
  }

  private async whileIsolated (): Promise<void> {
    if (!this.running || !this.isolated) return
    await this.dialRemembered()
    if (!this.running || !this.isolated) return
    this.isolatedRetryMs = Math.min(this.isolatedRetryMs * 2, ISOLATED_MAX_RETRY_MS)
    this.later(this.isolatedRetryMs, () => { void this.whileIsolated() })
  }

  private async dialRemembered (): Promise<void> {
    const peers = await this.rememberedPeers().catch(() => [])
    const round = Promise.allSettled(peers
      .filter(peer => this.components.connectionManager.getConnections(peer).length === 0)
      .map(async peer => await this.components.connectionManager.openConnection(peer, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })))
    // A round ends when its dials do or a little after their timeout, whichever is first: the
    // retry loop waits on it, and one dial that ignored its signal would end the redialling for
    // good (a restarted node once stayed alone for 30 s in a loaded test suite).
    let timer: NodeJS.Timeout | undefined
    const cutoff = new Promise<void>(resolve => { timer = setTimeout(resolve, DIAL_TIMEOUT_MS + 1_000); timer.unref() })
    await Promise.race([round, cutoff])
    clearTimeout(timer)
  }

  private connectedPeers (): number {
    return new Set(this.components.connectionManager.getConnections().map(c => c.remotePeer.toString())).size
  }

  private later (ms: number, fn: () => void): void {
    if (!this.running) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    timer.unref()
    this.timers.add(timer)
  }

  /** Dial a bootstrap peer whenever it is not connected, backing off while it stays down. */
  private keepConnected (address: Multiaddr, retryMs: number): void {
    if (!this.running) return
    const key = address.toString()
    const peer = peerIdOfAddress(address)
    const connected = peer != null && this.components.connectionManager.getConnections().some(c => c.remotePeer.toString() === peer)
    if (connected) {
      this.setBootstrapState(key, 'connected')
      this.later(BOOTSTRAP_MAX_RETRY_MS / 2, () => { this.keepConnected(address, BOOTSTRAP_FIRST_RETRY_MS) })
      return
    }
    this.components.connectionManager.openConnection(address, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).then(() => {
      this.setBootstrapState(key, 'connected')
      this.later(BOOTSTRAP_MAX_RETRY_MS / 2, () => { this.keepConnected(address, BOOTSTRAP_FIRST_RETRY_MS) })
    }, (err: Error) => {
      if (!this.running) return
      this.setBootstrapState(key, 'unreachable', err.message)
      this.later(retryMs, () => { this.keepConnected(address, Math.min(retryMs * 2, BOOTSTRAP_MAX_RETRY_MS)) })
    })
  }

  private setBootstrapState (address: string, state: BootstrapState, error?: string): void {
    const before = this.bootstrapState.get(address) ?? 'unknown'
    if (before === state) return
    this.bootstrapState.set(address, state)
    if (state === 'connected') this.log('bootstrap.connected', { address })
    else this.log('bootstrap.unreachable', { address, error, level: 'warn', message: `cannot reach bootstrap peer ${address}; retrying every ${BOOTSTRAP_MAX_RETRY_MS / 1000} s or less, logging again only once it answers` })
  }
}

/** The reconnect service, for createLibp2p({ services }). */
export function reconnect (init: ReconnectInit = {}): (components: ReconnectComponents) => Reconnect {
  return components => new Reconnect(components, init)
}
