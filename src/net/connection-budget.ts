/**
 * A connection budget: above `high` connections, close the ones nobody uses
 * until `low` are left (go-libp2p's connection manager does the same with its
 * low and high water marks).
 *
 * Why: every DHT query dials the peers closest to its key, and nothing closes
 * those connections afterwards; libp2p's own pruner (maxConnections) never
 * closes a connection with a gossipsub stream on it, and every specmesh peer
 * has one. A coordinator that looks its spec's providers up again and again
 * held 94–99 connections at 100 nodes (bench:scale), and each one costs it a
 * ping, a yamux keep-alive and a gossipsub heartbeat entry for as long as it
 * lives: 56–78 ms of CPU per second idle, where an agent with 20 spent 14.
 *
 * Kept, whatever the count (protected):
 * - connections younger than `graceMs` (a lookup or a dial still using them);
 * - connections carrying a stream of work: anything but gossipsub's long-lived
 *   streams, identify and ping (an execution, a bid, a sync, a spec fetch, a
 *   DHT request in flight);
 * - peers `protect` names: the bootstrap peers and the parties of the specs the
 *   node is on (node.ts);
 * - peers libp2p keeps alive (a KEEP_ALIVE tag, which libp2p would redial at
 *   once; specmesh's own DHT tags none: src/net/dht-neighbours.ts);
 * - a peer that dials us again within seconds of our closing its connection: it
 *   keeps us connected on purpose (we are its bootstrap peer, or a keep-alive
 *   peer of an older node), and closing it again would only make it
 *   redial, handshake and all, every round. A peer that comes back later (its
 *   next DHT query passed through us) is trimmed again like any other.
 * Of the others, the lowest tag value goes first (gossipsub tags each mesh peer
 * 100 per topic, kad-dht its routing-table peers 1: a mesh peer goes last, and
 * gossipsub grafts another at its next heartbeat), then the newest.
 */
import { KEEP_ALIVE, type Connection, type PeerId, type PeerStore, type Startable, type TypedEventTarget, type Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { LogFn } from './reconnect.ts'

/** Streams that every idle connection carries: they do not make a connection busy. */
const IDLE_PROTOCOLS = [/^\/meshsub\//, /^\/floodsub\//, /^\/ipfs\/id\//, /^\/ipfs\/ping\//]

export interface ConnectionBudgetOptions {
  /** Trim once the node holds more connections than this. @default 48 */
  high?: number
  /** Trim down to this many. @default 32, or two thirds of `high` when that is less */
  low?: number
  /** A connection younger than this is never trimmed. @default 30 s */
  graceMs?: number
  /** How often the count is checked (and on every new connection above `high`, at most this often). @default 10 s */
  intervalMs?: number
}

export interface ConnectionBudgetInit extends ConnectionBudgetOptions {
  /** Peers never trimmed (bootstrap peers, the spec parties the node needs); asked once per trim. @default none */
  protect?: () => Set<string>
  /** @default no logging */
  log?: LogFn
}

export interface ConnectionBudgetComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
}

export const CONNECTION_BUDGET_DEFAULTS = { high: 48, low: 32, graceMs: 30_000, intervalMs: 10_000 } as const

/**
 * A trimmed peer that dials back within this is kept: libp2p redials a keep-alive peer
 * after 1 s, a bootstrap list within 250 ms; a DHT query that happens to pass through us
 * comes at any time.
 */
const TRIMMED_MEMORY_MS = 5_000
const TRIMMED_MEMORY_MAX = 4096

export class InvalidConnectionBudgetError extends Error {
  override name = 'InvalidConnectionBudgetError'
}

/** Check the budget's figures; throws naming the field and the fix. */
export function connectionBudgetSettings (options: ConnectionBudgetOptions = {}): Required<ConnectionBudgetOptions> {
  const high = options.high ?? CONNECTION_BUDGET_DEFAULTS.high
  const s = {
    high,
    // A high below the default low, given alone, brings low down with it rather than being refused.
    low: options.low ?? (Number.isInteger(high) ? Math.min(CONNECTION_BUDGET_DEFAULTS.low, Math.floor(high * 2 / 3)) : CONNECTION_BUDGET_DEFAULTS.low),
    graceMs: options.graceMs ?? CONNECTION_BUDGET_DEFAULTS.graceMs,
    intervalMs: options.intervalMs ?? CONNECTION_BUDGET_DEFAULTS.intervalMs
  }
  for (const [name, value] of Object.entries(s)) {
    if (!Number.isInteger(value) || value < 0) throw new InvalidConnectionBudgetError(`connection budget: ${name} must be a whole number ≥ 0, got ${String(value)}`)
  }
  if (s.high < 1) throw new InvalidConnectionBudgetError(`connection budget: high must be at least 1, got ${s.high}`)
  if (s.low > s.high) throw new InvalidConnectionBudgetError(`connection budget: low (${s.low}) must not be above high (${s.high}); e.g. low ${Math.floor(s.high * 2 / 3)}`)
  if (s.intervalMs < 1) throw new InvalidConnectionBudgetError(`connection budget: intervalMs must be at least 1, got ${s.intervalMs}`)
  return s
}

export class ConnectionBudget implements Startable {
  private readonly components: ConnectionBudgetComponents
  private readonly settings: Required<ConnectionBudgetOptions>
  private readonly protect: () => Set<string>
  private readonly log: LogFn
  private timer?: NodeJS.Timeout
  private trimming = false
  private lastTrim = 0
  /** Peers we trimmed, with when; one that dials back within TRIMMED_MEMORY_MS becomes wanted. */
  private readonly trimmed = new Map<string, number>()
  /** Peers that dialled us back after a trim: kept while they stay connected. */
  private readonly wanted = new Set<string>()
  private closedTotal = 0

  constructor (components: ConnectionBudgetComponents, init: ConnectionBudgetInit = {}) {
    this.components = components
    this.settings = connectionBudgetSettings(init)
    this.protect = init.protect ?? (() => new Set())
    this.log = init.log ?? (() => {})
  }

  readonly [Symbol.toStringTag] = 'specmesh:connection-budget'

  start (): void {
    this.components.events.addEventListener('connection:open', this.onOpen)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.timer = setInterval(() => { void this.check() }, this.settings.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    this.components.events.removeEventListener('connection:open', this.onOpen)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    clearInterval(this.timer)
  }

  /** The budget's figures, and how many connections it has closed since start. */
  report (): Required<ConnectionBudgetOptions> & { connections: number, closed: number, wanted: number } {
    return { ...this.settings, connections: this.components.connectionManager.getConnections().length, closed: this.closedTotal, wanted: this.wanted.size }
  }

  private readonly onOpen = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    const peer = connection.remotePeer.toString()
    const at = this.trimmed.get(peer)
    if (at != null) {
      this.trimmed.delete(peer)
      if (connection.direction === 'inbound' && Date.now() - at < TRIMMED_MEMORY_MS) this.wanted.add(peer)
    }
    if (this.components.connectionManager.getConnections().length > this.settings.high && Date.now() - this.lastTrim >= this.settings.intervalMs) void this.check()
  }

  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    this.wanted.delete(event.detail.toString())
  }

  /** Trim now if over budget; resolves to how many connections were closed. */
  async check (): Promise<number> {
    if (this.trimming) return 0
    const connections = this.components.connectionManager.getConnections()
    if (connections.length <= this.settings.high) return 0
    this.trimming = true
    this.lastTrim = Date.now()
    try {
      const victims = await this.choose(connections, connections.length - this.settings.low)
      await Promise.all(victims.map(async c => {
        this.remember(c.remotePeer.toString())
        await c.close({ signal: AbortSignal.timeout(1_000) }).catch(err => { c.abort(err as Error) })
      }))
      this.closedTotal += victims.length
      if (victims.length > 0) this.log('connections.trimmed', { level: 'debug', closed: victims.length, from: connections.length, low: this.settings.low, high: this.settings.high })
      return victims.length
    } finally {
      this.trimming = false
    }
  }

  private async choose (connections: Connection[], excess: number): Promise<Connection[]> {
    const now = Date.now()
    const protect = this.protect()
    const candidates: Array<{ connection: Connection, value: number }> = []
    for (const connection of connections) {
      const peer = connection.remotePeer.toString()
      if (now - connection.timeline.open < this.settings.graceMs) continue
      if (this.wanted.has(peer) || protect.has(peer)) continue
      if (connection.streams.some(s => s.protocol != null && !IDLE_PROTOCOLS.some(re => re.test(s.protocol!)))) continue
      let value = 0
      try {
        const tags = (await this.components.peerStore.get(connection.remotePeer)).tags
        if ([...tags.keys()].some(name => name.startsWith(KEEP_ALIVE))) continue
        for (const tag of tags.values()) value += tag.value
      } catch {}
      candidates.push({ connection, value })
    }
    candidates.sort((a, b) => a.value - b.value || b.connection.timeline.open - a.connection.timeline.open)
    return candidates.slice(0, Math.max(0, excess)).map(c => c.connection)
  }

  private remember (peer: string): void {
    this.trimmed.set(peer, Date.now())
    if (this.trimmed.size > TRIMMED_MEMORY_MAX) this.trimmed.delete(this.trimmed.keys().next().value!)
  }
}

/** The connection budget service, for createLibp2p({ services }). */
export function connectionBudget (init: ConnectionBudgetInit = {}): (components: ConnectionBudgetComponents) => ConnectionBudget {
  return components => new ConnectionBudget(components, init)
}
