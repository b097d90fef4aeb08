import type { Connection, IdentifyResult, PeerId, PeerUpdate, Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { PROTOCOLS } from '../wire/constants.ts'
import type { SyncCursorStore } from '../store/sync-cursor-store.ts'
import type { SpecmeshLibp2p } from './libp2p.ts'
import { MAX_SYNC_SPECS, speaksSync, type Sync, type SyncRequest, type SyncResult, type SyncSelection } from './sync.ts'

/** The kinds the node syncs (src/node.ts): specs always in full, receipts by spec. */
const SPEC_KIND = 'spec'
const RECEIPT_KIND = 'receipt'
/** Cursor scopes: every spec; every receipt; the receipts of one spec. */
const SPEC_SCOPE = 'spec'
const ALL_RECEIPTS_SCOPE = 'receipt'
const receiptScope = (specId: string): string => `receipt:${specId}`
/** Peers asked at once by a query. */
const QUERY_PARALLELISM = 8

export interface SyncCatchUpDeps {
  libp2p: SpecmeshLibp2p
  sync: Sync
  cursors: SyncCursorStore
  /** The specs whose receipts this node keeps up with: 'all', or these ids (those it coordinates or follows). */
  receiptSpecs: () => readonly string[] | 'all'
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/** What a query asked of the peers, and what came back. */
export interface SyncQueryResult {
  /** Connected peers that speak sync 1.1.0 and were asked. */
  asked: number
  /** Those that answered completely. */
  answered: number
  /** Records newly stored here (accepted). */
  fetched: number
  /** Peers whose answer held at least one record accepted here. */
  from: number
  /** Records refused as invalid (a forged receipt counts here). */
  rejected: number
  failures: Array<{ peer: string, error: string }>
}

/** One pull and the cursor scopes it advances. */
interface Plan {
  request: SyncRequest
  scopes: string[]
}

/**
 * Keeps this node caught up with each peer it meets, and fetches on demand
 * what it never followed (protocols/sync.md, "When a node syncs"):
 * - on every identify with a sync peer, one pull of the specs and of the
 *   receipts of the joined specs, from the cursors that peer gave last time
 *   (so a reconnect exchanges only what the peer stored since);
 * - when the node joins a spec, one full pull of that spec's receipts from
 *   the peers on its topics;
 * - queries (receipts of an agent, of specs, by id) across connected peers.
 * A cursor is written only once the records it covers are on disk, so a kill
 * at any point can at worst re-fetch, never skip.
 */
export class SyncCatchUp implements Startable {
  private readonly deps: SyncCatchUpDeps
  /** The connection each peer was last pulled from over: a new connection pulls again (the old one may not be seen closed yet). */
  private readonly synced = new Map<string, string>()

  constructor (deps: SyncCatchUpDeps) {
    this.deps = deps
  }

  start (): void {
    this.deps.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.deps.libp2p.addEventListener('connection:close', this.onClose)
    this.deps.libp2p.addEventListener('peer:update', this.onUpdate)
  }

  stop (): void {
    this.deps.libp2p.removeEventListener('peer:identify', this.onIdentify)
    this.deps.libp2p.removeEventListener('connection:close', this.onClose)
    this.deps.libp2p.removeEventListener('peer:update', this.onUpdate)
  }

  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols, connection } = event.detail
    this.meet(peerId, protocols, connection)
  }

  /**
   * A peer that had not registered sync yet when identify ran (a node just
   * started dials out before its handlers are in place) is met again when its
   * protocols change in the peer store.
   */
  private readonly onUpdate = (event: CustomEvent<PeerUpdate>): void => {
    const { peer } = event.detail
    if (!speaksSync(peer.protocols)) return
    const connection = this.deps.libp2p.getConnections(peer.id).find(c => c.status === 'open')
    if (connection != null) this.meet(peer.id, peer.protocols, connection)
  }

  private meet (peerId: PeerId, protocols: readonly string[], connection: Connection): void {
    const key = peerId.toString()
    if (!speaksSync(protocols) || this.synced.get(key) === connection.id) return
    this.synced.set(key, connection.id)
    // Over the connection that just identified, relayed or not: dialling anew
    // would open a second relayed connection, since libp2p reuses only unlimited ones.
    this.catchUp(peerId, connection).catch((err: Error) => {
      if (this.synced.get(key) === connection.id) this.synced.delete(key)
      this.deps.log?.('sync.failed', { level: 'warn', peer: key, error: err.message })
    })
  }

  private readonly onClose = (event: CustomEvent<Connection>): void => {
    const key = event.detail.remotePeer.toString()
    if (this.synced.get(key) === event.detail.id) this.synced.delete(key)
  }

  /** The pulls that bring this node up to date with one peer: specs, and the joined specs' receipts. */
  private plans (): Plan[] {
    const joined = this.deps.receiptSpecs()
    if (joined === 'all') return [{ request: { kinds: [SPEC_KIND, RECEIPT_KIND] }, scopes: [SPEC_SCOPE, ALL_RECEIPTS_SCOPE] }]
    if (joined.length === 0) return [{ request: { kinds: [SPEC_KIND] }, scopes: [SPEC_SCOPE] }]
    const plans: Plan[] = []
    for (let i = 0; i < joined.length; i += MAX_SYNC_SPECS) {
      const specs = joined.slice(i, i + MAX_SYNC_SPECS)
      plans.push({
        request: i === 0 ? { kinds: [SPEC_KIND, RECEIPT_KIND], specs } : { kinds: [RECEIPT_KIND], specs },
        scopes: [...(i === 0 ? [SPEC_SCOPE] : []), ...specs.map(receiptScope)]
      })
    }
    return plans
  }

  /**
   * Pull from one peer what it stored since its last cursors. One request
   * covers several scopes from the oldest of their cursors (a scope never
   * pulled before makes it a full pull); the few records the others already
   * had are Ignored as duplicates.
   */
  async catchUp (peer: PeerId, connection?: Connection): Promise<SyncResult[]> {
    const results: SyncResult[] = []
    for (const plan of this.plans()) {
      const since = await this.oldestCursor(peer.toString(), plan.scopes)
      const request = since != null ? { ...plan.request, since } : plan.request
      results.push(await this.pullAndKeep(peer, request, plan.scopes, connection))
    }
    return results
  }

  /** The node joined a spec: its receipts, in full, from each peer given (the spec's topic peers), once. */
  async specJoined (specId: string, peers: readonly string[]): Promise<void> {
    await Promise.all(peers.map(async peer => {
      if (!await this.speaksV11(peer)) return
      await this.pullAndKeep(peerIdFromString(peer), { kinds: [RECEIPT_KIND], specs: [specId] }, [receiptScope(specId)]).catch((err: Error) => {
        this.deps.log?.('sync.failed', { level: 'warn', peer, specId, error: err.message })
      })
    }))
  }

  /** Ask every connected peer that speaks sync 1.1.0 for the receipts `selection` names; they are validated and stored as any. */
  async query (selection: Omit<SyncSelection, 'since'>): Promise<SyncQueryResult> {
    const peers: string[] = []
    for (const peer of new Set(this.deps.libp2p.getPeers().map(p => p.toString()))) {
      if (await this.speaksV11(peer)) peers.push(peer)
    }
    const result: SyncQueryResult = { asked: peers.length, answered: 0, fetched: 0, from: 0, rejected: 0, failures: [] }
    for (let i = 0; i < peers.length; i += QUERY_PARALLELISM) {
      await Promise.all(peers.slice(i, i + QUERY_PARALLELISM).map(async peer => {
        try {
          const answer = await this.deps.sync.pull(peerIdFromString(peer), { kinds: [RECEIPT_KIND], ...selection })
          result.answered++
          result.fetched += answer.accepted
          result.rejected += answer.rejected
          if (answer.accepted > 0) result.from++
        } catch (err) {
          result.failures.push({ peer, error: (err as Error).message })
        }
      }))
    }
    this.deps.log?.('sync.query', { ...selection, asked: result.asked, answered: result.answered, fetched: result.fetched, rejected: result.rejected })
    return result
  }

  private async speaksV11 (peer: string): Promise<boolean> {
    try {
      return (await this.deps.libp2p.peerStore.get(peerIdFromString(peer))).protocols.includes(PROTOCOLS.sync)
    } catch {
      return false
    }
  }

  private async oldestCursor (peer: string, scopes: readonly string[]): Promise<number | undefined> {
    let oldest: number | undefined
    for (const scope of scopes) {
      const cursor = await this.deps.cursors.get(peer, scope)
      if (cursor == null) return undefined
      oldest = oldest == null ? cursor : Math.min(oldest, cursor)
    }
    return oldest
  }

  /** Pull, and once every record accepted is on disk, keep the peer's cursor for the scopes the pull covered. */
  private async pullAndKeep (peer: PeerId, request: SyncRequest, scopes: readonly string[], connection?: Connection): Promise<SyncResult> {
    const result = await this.deps.sync.pull(peer, request, connection)
    if (result.cursor != null) {
      await this.deps.sync.flushed()
      await this.deps.cursors.set(peer.toString(), scopes, result.cursor)
    }
    return result
  }
}
