import { EventEmitter } from 'node:events'
import type { PeerId } from '@libp2p/interface'
import { loadOrCreateIdentity } from './crypto/identity.ts'
import { resolveHome, homePaths } from './store/home.ts'
import { openDb } from './store/db.ts'
import { SpecStore } from './store/spec-store.ts'
import { buildLibp2p, type SpecmeshLibp2p } from './net/libp2p.ts'
import { Gossip } from './net/gossip.ts'
import { Sync, type SyncKind } from './net/sync.ts'
import { Bootstrapper, parseBootstrapAddress } from './net/bootstrap.ts'
import { specTopicValidator, storedSpecFromEnvelope, envelopeOfStoredSpec } from './net/spec-topic.ts'
import { seal, encodeEnvelope } from './wire/envelope.ts'
import type { Signer } from './crypto/signatures.ts'
import { PROTOCOLS, TOPICS } from './wire/constants.ts'
import { validateSpec, specId, isExpired, SpecValidationError } from './spec/index.ts'
import type { NodeInit, PeerInfo, SpecmeshNode, StoredSpec } from './node-types.ts'
import { startMarket } from './market/market.ts'
import { Reputation } from './reputation/reputation.ts'
import { loadReputationConfig } from './reputation/config.ts'
import { ReceiptStore } from './store/receipt-store.ts'
import type { StoredReceipt } from './store/receipt-store.ts'
import type { JobEvent } from './store/job-event-store.ts'

export type { NodeInit, PeerInfo, SpecmeshNode, StoredSpec } from './node-types.ts'

export interface NodeEvents {
  'spec': [StoredSpec]
  'receipt': [StoredReceipt]
  /** Every step of every job this node coordinates (the same events as jobEvents()). */
  'job-event': [JobEvent]
}

/**
 * A specmesh node: identity, LevelDB, libp2p with gossip and sync. The daemon
 * wraps one of these in the local API; the SDK hands it to TypeScript users.
 */
export interface Node extends SpecmeshNode {
  readonly events: EventEmitter<NodeEvents>
  /** The underlying libp2p node, for diagnostics and advanced use. */
  readonly libp2p: SpecmeshLibp2p
  /** Signs with the node's identity key. */
  readonly signer: Signer
  /** The most recent gossip verdicts other than accept, newest last (diagnostics). */
  readonly verdicts: GossipVerdict[]
  /** How this node rates agents, from the receipts it holds. */
  readonly reputation: Reputation
}

export interface GossipVerdict {
  at: number
  topic: string
  verdict: 'reject' | 'ignore'
  from: string
  reason?: string
}

/** How many non-accept verdicts a node remembers for diagnostics. */
const VERDICT_HISTORY = 1000

export async function createNode (init: NodeInit = {}): Promise<Node> {
  const home = resolveHome(init.home)
  const log = init.log ?? (() => {})
  const bootstrap = (init.bootstrap ?? []).map(parseBootstrapAddress)
  const { identity } = await loadOrCreateIdentity(home)
  const db = await openDb(homePaths(home).db)
  const events = new EventEmitter<NodeEvents>()
  const specs = new SpecStore(db)

  // Everything that can fail on bad local state (the store, config.json) runs
  // before any socket opens, so a failed start leaves nothing listening.
  let reputation: Reputation
  let libp2p
  try {
    await specs.load()
    // Reputation is derived from the receipts this node holds: rebuilt from the
    // store at start, then updated as each receipt arrives.
    const reputationConfig = await loadReputationConfig(home)
    reputation = new Reputation({
      self: identity.peerId,
      trustedPeers: [...reputationConfig.trustedPeers, ...(init.trustedPeers ?? [])],
      halfLifeMs: reputationConfig.halfLifeMs,
      teleport: reputationConfig.teleport,
      specName: async id => (await specs.get(id))?.spec.name ?? null
    })
    await reputation.rebuildFromStore(new ReceiptStore(db), specs)
    libp2p = await buildLibp2p({ privateKey: identity.privateKey, listen: init.listen })
  } catch (err) {
    await db.close()
    throw err
  }

  const verdicts: GossipVerdict[] = []
  const gossip = new Gossip(libp2p, {
    onVerdict: (topic, verdict, from, reason) => {
      if (verdict === 'accept') return
      log('gossip.' + verdict, { topic, from, reason })
      verdicts.push({ at: Date.now(), topic, verdict, from, reason })
      if (verdicts.length > VERDICT_HISTORY) verdicts.splice(0, verdicts.length - VERDICT_HISTORY)
    }
  })
  const validateSpecMessage = specTopicValidator({
    specs,
    onStored: record => {
      log('spec.stored', { id: record.id, name: record.spec.name, signer: record.signer })
      events.emit('spec', record)
    },
    onStoreFailed: (record, err) => { log('spec.store-failed', { id: record.id, error: err.message }) }
  })
  gossip.handle(TOPICS.specs, validateSpecMessage)

  const market = await startMarket({
    libp2p,
    gossip,
    signer: identity.signer,
    db,
    specs,
    log,
    options: init.market,
    reputationOf: (agent, spec) => reputation.forAward(agent, spec.name),
    onReceipt: record => {
      reputation.ingest(record).catch(err => { log('reputation.ingest-failed', { id: record.id, error: (err as Error).message }) })
      events.emit('receipt', record)
    },
    onJobEvent: event => { events.emit('job-event', event) }
  })

  const syncKinds = new Map<string, SyncKind>([
    ['spec', {
      records: async function * () {
        const now = Date.now()
        for (const record of await specs.list()) {
          if (!isExpired(record.spec, now)) yield encodeEnvelope(envelopeOfStoredSpec(record))
        }
      },
      validate: validateSpecMessage
    }],
    // After specs, so that every receipt's spec is known by the time it is checked.
    ...market.syncKinds
  ])
  const sync = new Sync(libp2p, syncKinds, result => {
    log('sync.done', { ...result })
  })
  await sync.start()

  // Pull what we missed from every peer that speaks sync, once per connection.
  const synced = new Set<string>()
  libp2p.addEventListener('peer:identify', event => {
    const { peerId, protocols } = event.detail
    const key = peerId.toString()
    if (!protocols.includes(PROTOCOLS.sync) || synced.has(key)) return
    synced.add(key)
    sync.pull(peerId as PeerId).catch((err: Error) => {
      synced.delete(key)
      log('sync.failed', { peer: key, error: err.message })
    })
  })
  libp2p.addEventListener('peer:disconnect', event => {
    synced.delete(event.detail.toString())
  })

  const bootstrapper = new Bootstrapper(libp2p, bootstrap, log)
  bootstrapper.start()

  let stopping: Promise<void> | undefined
  return {
    peerId: identity.peerId,
    home,
    events,
    libp2p,
    signer: identity.signer,
    verdicts,
    reputation,
    multiaddrs: () => libp2p.getMultiaddrs().map(a => a.toString()),
    peers: (): PeerInfo[] => {
      const byPeer = new Map<string, string[]>()
      for (const connection of libp2p.getConnections()) {
        const key = connection.remotePeer.toString()
        byPeer.set(key, [...(byPeer.get(key) ?? []), connection.remoteAddr.toString()])
      }
      return [...byPeer].map(([peerId, addrs]) => ({ peerId, addrs }))
    },
    async publishSpec (raw: unknown): Promise<StoredSpec> {
      const checked = validateSpec(raw, { requireFutureDeadline: true })
      if (!checked.ok) throw new SpecValidationError(checked.problems)
      const id = specId(checked.spec)
      const existing = await specs.get(id)
      const record = existing ?? storedSpecFromEnvelope(seal('spec', checked.spec, identity.signer), checked.spec, Date.now())
      // Gossip and the local write go out together; publishing a known spec
      // again re-gossips it: the way to reach peers that missed it.
      await Promise.all([
        existing == null ? specs.put(record) : undefined,
        gossip.publish(TOPICS.specs, envelopeOfStoredSpec(record))
      ])
      if (existing == null) {
        events.emit('spec', record)
        log('spec.published', { id, name: checked.spec.name })
      }
      return record
    },
    listSpecs: async () => await specs.list(),
    serve: market.serve,
    submitJob: market.submitJob,
    startJob: market.startJob,
    waitJob: market.waitJob,
    cancelJob: market.cancelJob,
    jobEvents: market.jobEvents,
    getJob: market.getJob,
    listJobs: market.listJobs,
    listReceipts: market.listReceipts,
    getReceipt: market.getReceipt,
    servedSpecs: market.servedSpecs,
    drain: market.drain,
    ledger: market.ledger,
    capacityOf: market.capacityOf,
    getSpec: async (id: string) => await specs.get(id),
    async stop (): Promise<void> {
      stopping ??= (async () => {
        bootstrapper.stop()
        await market.stop()
        await libp2p.stop()
        await db.close()
      })()
      await stopping
    }
  }
}
