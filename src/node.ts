import { EventEmitter } from 'node:events'
import { loadOrCreateIdentity } from './crypto/identity.ts'
import { describeBackend, ed25519, isUnrequestedFallback } from './crypto/ed25519.ts'
import { resolveHome, homePaths, secureHome } from './store/home.ts'
import { libp2pDatastore, openDb, sublevel } from './store/db.ts'
import { SpecStore } from './store/spec-store.ts'
import { addressInUse, buildLibp2p, type SpecmeshLibp2p } from './net/libp2p.ts'
import { Gossip } from './net/gossip.ts'
import { ValidationGuard } from './net/validation-guard.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { Sync, type SyncKind } from './net/sync.ts'
import { SyncCatchUp } from './net/sync-catch-up.ts'
import { SyncCursorStore } from './store/sync-cursor-store.ts'
import { bootstrapPeerId, reconnect } from './net/reconnect.ts'
import { specDiscovery, type SpecDiscovery } from './net/spec-discovery.ts'
import { connectionBudget, connectionBudgetSettings } from './net/connection-budget.ts'
import { SubscriptionExchange } from './net/subscription-exchange.ts'
import { nextEvent, until } from './util/until.ts'
import { resolveSettings, type ResolvedSettings } from './config/settings.ts'
import { describeChosenListen, ensureListen } from './config/listen.ts'
import { ListenAddressInUseError } from './config/errors.ts'
import { followListOf } from './config/schema.ts'
import { reputationConfigOf } from './reputation/config.ts'
import type { ReachabilityMonitor, ReachabilityReport } from './net/reachability.ts'
import { normalizeAwardPolicy } from './market/award-policy.ts'
import { specValidators, type SpecValidators, storedSpecFromEnvelope, envelopeOfStoredSpec, bytesOfStoredSpec } from './net/spec-topic.ts'
import { seal } from './wire/envelope.ts'
import type { Signer } from './crypto/signatures.ts'
import { PROTOCOLS, TOPICS } from './wire/constants.ts'
import { validateSpec, specId, isExpired, SpecValidationError } from './spec/index.ts'
import type { Handler, JobResult, NodeInit, PeerInfo, ReceiptFetch, ReceiptFetchQuery, ServeOptions, SpecAgents, SpecmeshNode, StoredSpec, SubmitOptions } from './node-types.ts'
import { SpecFetchError } from './net/errors.ts'
import { startMarket } from './market/market.ts'
import { Reputation } from './reputation/reputation.ts'
import { ReceiptStore } from './store/receipt-store.ts'
import type { StoredReceipt } from './store/receipt-store.ts'
import type { JobEvent } from './store/job-event-store.ts'
import type { NodeMetrics } from './metrics/node-metrics.ts'
import type { Market } from './market/market.ts'
import type { LeaseInfo, LeaseRequest } from './market/lease-coordinator.ts'
import type { SpecSubscriptions } from './market/subscriptions.ts'
import type { LogFn } from './util/logger.ts'

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
  /** The most recent gossip verdicts other than accept, newest last (diagnostics); a bid refused on the bid stream is one, its topic the protocol id. */
  readonly verdicts: GossipVerdict[]
  /** How this node rates agents, from the receipts it holds. */
  readonly reputation: Reputation
  /** Per-peer accounting of validation work: who is throttled or graylisted for flooding. */
  readonly guard: ValidationGuard
  /** Who serves a spec, and fetching specs by id (specmesh's DHT). */
  readonly discovery: SpecDiscovery
  /** Which specs' market topics this node is on, and why (serving, coordinating, following). */
  readonly subscriptions: SpecSubscriptions
  /** How peers can reach this node now: directly at a public address, through a relay, or not from outside. */
  reachability (): ReachabilityReport
  /**
   * Call for lease bids on a spec and award leases by the job award rule
   * (protocols/market.md "Leases"): this node's later jobs of the spec skip the
   * auction and run in the leases' slots, each with its own award-equivalent,
   * claim and receipt. Resolves with the leases awarded (none when nobody bid).
   */
  requestLease (specId: string, request?: LeaseRequest): Promise<LeaseInfo[]>
  /** End one of this node's leases now; false when no live lease has the id. */
  endLease (leaseId: string): boolean
  /** This node's live leases (of one spec, or all), then recently ended ones. */
  leases (specId?: string): LeaseInfo[]
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
/** How long a job waits for a just-dialled provider to join the job topic before it is called. */
const PROVIDER_JOIN_WAIT_MS = 5_000
/** How long a coordinator new on a spec's topics waits for the first capacity advert from the agents already there. */
const FIRST_ADVERT_WAIT_MS = 2_000

/** How often the metrics sample event-loop delay (nodejs_eventloop_lag_*), ms. */
const EVENT_LOOP_SAMPLE_MS = 100

/** Resolve a node's settings from its init (as flags), the environment and config.json. */
export async function nodeSettings (init: NodeInit, home: string): Promise<ResolvedSettings> {
  if (init.settings != null) return init.settings
  return await resolveSettings({
    home,
    flags: { listen: init.listen, announce: init.announce, bootstrap: init.bootstrap, mdns: init.mdns, dht: init.dht, relayServer: init.relayServer == null ? undefined : init.relayServer !== false, follow: init.follow },
    defaults: init.defaults
  })
}

export async function createNode (init: NodeInit = {}): Promise<Node> {
  const home = resolveHome(init.home)
  const log: LogFn = init.log ?? Object.assign(() => {}, { enabled: () => false })
  // config.json is read (and checked) before the identity or the store is touched.
  const settings = await nodeSettings(init, home)
  const bootstrapPeers = new Set(settings.values.bootstrap.map(bootstrapPeerId))
  // The budget's figures (config.json's, under the SDK's own) are checked before anything is opened, as config.json is.
  const budget = connectionBudgetSettings({ ...settings.values.connections, ...init.connections })
  const { identity } = await loadOrCreateIdentity(home)
  const access = await secureHome(home)
  if (access.warning != null) {
    // Loud on purpose: the SDK user may pass no log at all.
    log('home.insecure', { level: 'warn', message: access.warning })
    process.emitWarning(access.warning, 'SpecmeshInsecureHome')
  } else if (access.mode !== access.modeBefore) {
    log('home.tightened', { level: 'warn', message: `the data folder ${home} was mode ${access.modeBefore.toString(8).padStart(4, '0')}; changed to 0700 so only its owner can read job inputs and outputs` })
  }
  const signatures = ed25519()
  log('crypto.ed25519', { backend: signatures.name, level: isUnrequestedFallback(signatures) ? 'warn' : 'info', message: `Ed25519 signatures by ${describeBackend(signatures)}` })
  const chosen = await ensureListen(settings)
  if (chosen != null) log('config.listen-chosen', { port: chosen.port, listen: chosen.listen, level: chosen.moved ? 'warn' : 'info', message: describeChosenListen(chosen) })
  const db = await openDb(homePaths(home).db)
  const events = new EventEmitter<NodeEvents>()
  const specs = new SpecStore(db)

  // Everything that can fail on bad local state (the store, config.json) runs
  // before any socket opens, so a failed start leaves nothing listening.
  let reputation: Reputation
  let libp2p: SpecmeshLibp2p
  /** The running libp2p, for the guard's callback (set once it is built). */
  const running: { libp2p?: SpecmeshLibp2p } = {}
  const guard = new ValidationGuard({
    ...init.guard,
    onThrottle: (peer, topic) => { log('gossip.peer-throttled', { level: 'warn', peer, topic }) },
    onGraylist: peer => {
      log('gossip.peer-graylisted', { level: 'warn', peer })
      // Graylisted: gossipsub drops its RPCs (P5), and the connection goes too, refused until the
      // graylisting ends. Aborted, not closed: a graceful close would keep reading (and
      // decrypting) the flood already in the socket while it waits for streams to end.
      for (const connection of running.libp2p?.getConnections(peerIdFromString(peer)) ?? []) connection.abort(new Error('graylisted for flooding'))
    }
  })
  const pruneGuard = setInterval(() => { guard.prune() }, 10_000)
  pruneGuard.unref()
  // What starts after libp2p, for the services and metrics that read it once it runs (the connection budget, the scrapes).
  const late: { market?: Market, catchUp?: SyncCatchUp } = {}
  let specMessages: SpecValidators
  let metricsRegistry: import('prom-client').Registry | undefined
  let libp2pMetrics: ReturnType<typeof import('./metrics/libp2p-metrics.ts').libp2pMetrics> | undefined
  try {
    await specs.load()
    // Reputation is derived from the receipts this node holds: rebuilt from the
    // store at start, then updated as each receipt arrives.
    const reputationConfig = reputationConfigOf(settings.values)
    reputation = new Reputation({
      self: identity.peerId,
      trustedPeers: [...reputationConfig.trustedPeers, ...(init.trustedPeers ?? [])],
      halfLifeMs: reputationConfig.halfLifeMs,
      teleport: reputationConfig.teleport,
      specName: async id => (await specs.get(id))?.spec.name ?? null
    })
    await reputation.rebuildFromStore(new ReceiptStore(db), specs)
    specMessages = specValidators({
      specs,
      onStored: record => {
        log('spec.stored', { id: record.id, name: record.spec.name, signer: record.signer })
        events.emit('spec', record)
      },
      onStoreFailed: (record, err) => { log('spec.store-failed', { level: 'error', id: record.id, error: err.message }) }
    })
    if (init.metrics === true) {
      const [{ Registry }, { libp2pMetrics: metricsOfLibp2p }] = await Promise.all([import('prom-client'), import('./metrics/libp2p-metrics.ts')])
      metricsRegistry = new Registry()
      // prom-client samples event-loop delay every 10 ms by default: a timer waking the process
      // 100 times a second, 6 of an idle node's 7 ms of CPU per second. Ten samples a second
      // still catch a stall of the loop; the metric names stay the same.
      libp2pMetrics = metricsOfLibp2p(metricsRegistry, { defaultMetrics: { eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS } })
    }
    const { values } = settings
    libp2p = await buildLibp2p({
      privateKey: identity.privateKey,
      guard,
      ...(libp2pMetrics != null ? { metrics: libp2pMetrics } : {}),
      listen: values.listen,
      reachability: {
        announce: values.announce,
        // Limits given in code (NodeInit) apply whenever relaying is on, whoever turned it on.
        relayServer: values.relayServer && typeof init.relayServer === 'object' ? init.relayServer : values.relayServer,
        relayClient: init.relayClient
      },
      log,
      datastore: await libp2pDatastore(db),
      dht: values.dht,
      mdns: values.mdns,
      services: {
        reconnect: reconnect({ bootstrap: values.bootstrap, log }),
        connectionBudget: connectionBudget({ ...budget, protect: () => partiesToKeep(), log }),
        specDiscovery: specDiscovery({
          localSpec: async id => {
            const record = await specs.get(id)
            return record != null && !isExpired(record.spec, Date.now()) ? await bytesOfStoredSpec(specs, record) : null
          },
          ingest: async (data, _from) => { await ingestFetchedSpec(data) },
          log
        })
      }
    }).catch((err: unknown) => {
      const address = addressInUse(err)
      throw address != null ? new ListenAddressInUseError(address, home) : err
    })
  } catch (err) {
    clearInterval(pruneGuard)
    await db.close()
    throw err
  }
  running.libp2p = libp2p
  const discovery = libp2p.services.specDiscovery as SpecDiscovery
  const exchange = new SubscriptionExchange(libp2p, TOPICS.specs)
  exchange.start()

  /** Validate a fetched spec exactly as the gossip topic would, and resolve once it is stored. */
  async function ingestFetchedSpec (data: Uint8Array): Promise<void> {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { id?: string }).id
    const stored = new Promise<void>(resolve => {
      const onSpec = (record: StoredSpec): void => {
        if (record.id !== id) return
        events.off('spec', onSpec)
        resolve()
      }
      events.on('spec', onSpec)
      setTimeout(() => { events.off('spec', onSpec); resolve() }, 5_000).unref()
    })
    await specMessages.fetched(data)
    await stored
  }

  /**
   * Peers the connection budget never closes: the bootstrap peers, and on each spec's topics this
   * node is on (per-spec topics) the peers subscribed to its jobs and the agents advertising for it.
   * Under the global topics every peer is on them: the budget then keeps only what its own rules keep.
   */
  function partiesToKeep (): Set<string> {
    const keep = new Set(bootstrapPeers)
    const joined = late.market?.subscriptions.joinedSpecs()
    if (late.market == null || joined == null || joined === 'all') return keep
    for (const specId of joined) {
      for (const peer of late.market.subscriptions.topicPeers(specId, 'jobs')) keep.add(peer)
      for (const { agent } of late.market.capacityOf(specId)) keep.add(agent)
    }
    return keep
  }

  // Metrics count gossip verdicts from the first message, before the market starts; they read the market at scrape time.
  let metrics: NodeMetrics | undefined
  if (metricsRegistry != null) {
    const { NodeMetrics } = await import('./metrics/node-metrics.ts')
    metrics = new NodeMetrics({
      peers: () => new Set(libp2p.getConnections().map(c => c.remotePeer.toString())).size,
      specsHeld: () => specs.size,
      served: () => late.market?.servedSpecs() ?? [],
      queues: () => late.market?.queues() ?? { auctions: 0, bidding: 0, executing: 0, retrying: 0 }
    }, metricsRegistry)
  }

  const verdicts: GossipVerdict[] = []
  // Gossip validators' verdicts, and the bid stream's on each bid (its "topic" is the protocol id).
  const onVerdict = (topic: string, verdict: 'accept' | 'reject' | 'ignore', from: string, reason?: string): void => {
    metrics?.verdict(topic, verdict, reason)
    if (verdict === 'accept') return
    // An ignore (a duplicate, a stale record) is a debug line: not even built when debug is off.
    if (verdict === 'reject' || log.enabled?.('debug') !== false) log('gossip.' + verdict, { level: verdict === 'reject' ? 'warn' : 'debug', topic, from, reason })
    verdicts.push({ at: Date.now(), topic, verdict, from, reason })
    if (verdicts.length > VERDICT_HISTORY) verdicts.splice(0, verdicts.length - VERDICT_HISTORY)
  }
  const gossip = new Gossip(libp2p, { onVerdict }, guard)
  gossip.handle(TOPICS.specs, specMessages.gossip)

  const market = await startMarket({
    libp2p,
    gossip,
    signer: identity.signer,
    db,
    specs,
    log,
    options: init.market,
    onVerdict,
    follow: followListOf(settings.values.follow),
    meetsAgentsLater: discovery.enabled,
    providerLookup: specId => discovery.lookupOf(specId),
    providersSoughtSince: specId => discovery.seekingSince(specId),
    // A follower meets the spec's agents (the coordinator's first job does so in prepareJob), and keeps
    // looking them up in the background: one lookup may run before the agents' records land.
    onJoined: (specId, reason) => {
      if (reason === 'following' && discovery.enabled) {
        discovery.connectToProviders(specId).catch(() => {})
        discovery.seekProviders(specId)
      }
    },
    onReceiptsJoined: specId => {
      // The spec's receipts held by the peers already on its receipts topic (later peers are caught up as they
      // connect). Not when this node keeps up with every receipt (--follow all): its catch-up on connect already
      // pulls them, and a second pull at once would fetch the same records twice.
      const { market: joinedMarket, catchUp: joinedCatchUp } = late
      if (joinedMarket != null && joinedCatchUp != null && joinedMarket.subscriptions.receiptSpecs() !== 'all') {
        joinedCatchUp.specJoined(specId, joinedMarket.subscriptions.topicPeers(specId, 'receipts')).catch(() => {})
      }
    },
    posteriorOf: (agent, spec) => reputation.awardPosterior(agent, spec.name),
    specAwardPolicy: spec => normalizeAwardPolicy(settings.values.awardPolicies[spec.name]),
    onReceipt: record => {
      reputation.ingest(record).catch(err => { log('reputation.ingest-failed', { level: 'error', id: record.id, error: (err as Error).message }) })
      events.emit('receipt', record)
    },
    onJobEvent: event => { events.emit('job-event', event) }
  })
  late.market = market
  events.on('spec', record => { market.subscriptions.specHeld(record.id, record.spec) })
  if (metrics != null) events.on('job-event', event => { metrics.jobEvent(event) })

  const syncKinds = new Map<string, SyncKind>([
    ['spec', {
      records: async function * (selection) {
        const now = Date.now()
        const held = selection.since != null ? specs.since(selection.since) : await specs.list()
        for await (const record of held) {
          if (!isExpired(record.spec, now)) yield await bytesOfStoredSpec(specs, record)
        }
      },
      validate: specMessages.fetched,
      cursor: async () => await specs.received.cursor(),
      // The spec validator gives its verdict before the write lands.
      flushed: async () => { await specs.flushed() }
    }],
    // After specs, so that every receipt's spec is known by the time it is checked.
    ...market.syncKinds
  ])
  const sync = new Sync(libp2p, syncKinds, {
    onResult: result => { log('sync.done', { ...result }) },
    onServed: served => { log('sync.served', { ...served }) },
    onRefused: (peer, reason) => { log('sync.refused', { level: 'warn', peer, reason }) }
  })
  await sync.start()
  // Pull what we missed from every peer that speaks sync, once per connection, from where the last
  // pull ended: the specs, and the receipts of the specs whose topics this node is on (a bystander
  // gets no receipt by sync either; --follow all, or the global topics, keep up with every receipt).
  const catchUp = new SyncCatchUp({ libp2p, sync, cursors: new SyncCursorStore(db), receiptSpecs: () => market.subscriptions.receiptSpecs(), log })
  late.catchUp = catchUp
  catchUp.start()

  /** Sync by query (protocols/sync.md, "Queries"); a spec's DHT providers are dialled first so they are asked too. */
  async function fetchReceipts (query: ReceiptFetchQuery): Promise<ReceiptFetch> {
    if (query.specId != null && discovery.enabled) await discovery.connectToProviders(query.specId).catch(() => [])
    const found = await catchUp.query({
      ...(query.agent != null ? { agent: query.agent } : {}),
      ...(query.specId != null ? { specs: [query.specId] } : {}),
      ...(query.ids != null ? { ids: query.ids } : {})
    })
    if (found.fetched > 0) {
      // Stored already; reputation takes receipts in asynchronously, and the caller is about to ask it.
      const fetched = query.ids != null
        ? (await Promise.all(query.ids.map(async id => await market.getReceipt(id)))).filter(r => r != null)
        : await market.listReceipts({ ...(query.agent != null ? { agent: query.agent } : {}), ...(query.specId != null ? { specId: query.specId } : {}) })
      for (const record of fetched) await reputation.ingest(record)
    }
    return { asked: found.asked, answered: found.answered, fetched: found.fetched, from: found.from, rejected: found.rejected }
  }

  /** The spec: held, or fetched from a provider. */
  async function fetchSpec (id: string): Promise<StoredSpec> {
    const held = await specs.get(id)
    if (held != null) return held
    await discovery.fetchSpec(id)
    const fetched = await specs.get(id)
    if (fetched == null) throw new SpecFetchError(id, 'a provider sent it, but it could not be stored here (see the spec.store-failed log)')
    return fetched
  }

  /** Serve a spec, fetching it first when it is not held; announce it in the DHT while served. */
  async function serve (specId: string, handler: Handler, options?: ServeOptions): Promise<() => void> {
    if (!specs.has(specId) && discovery.enabled) await fetchSpec(specId).catch(() => {})
    const stop = await market.serve(specId, handler, options)
    void discovery.provideSpec(specId)
    return () => {
      stop()
      void discovery.stopProviding(specId)
    }
  }

  /**
   * Submit a job, first fetching the spec when it is not held, and dialling the
   * spec's providers when this node knows no agent with room for it.
   */
  async function submitJob (specId: string, input: unknown, options?: SubmitOptions): Promise<JobResult> {
    await prepareJob(specId)
    return await market.submitJob(specId, input, options)
  }

  async function startJob (specId: string, input: unknown, options?: SubmitOptions): Promise<{ jobId: string }> {
    await prepareJob(specId)
    return await market.startJob(specId, input, options)
  }

  /** Before a job: hold the spec, be on its topics as its coordinator, and meet its agents. */
  async function prepareJob (specId: string): Promise<void> {
    if (!specs.has(specId) && discovery.enabled) await fetchSpec(specId).catch(() => {})
    if (specs.has(specId) && market.subscriptions.join(specId, 'coordinating')) await hearAgents(specId)
    if (!discovery.enabled) return
    // Agents met now are not all there are: keep looking in the background (provider-seeker.ts).
    if (specs.has(specId)) discovery.seekProviders(specId)
    if (!market.capacityOf(specId).some(a => a.inFlight < a.limit)) await reachProviders(specId)
  }

  /**
   * Just joined a spec's topics: agents already on them answer our
   * subscription with their capacity (AgentService re-announces on it). Wait
   * (bounded) until every one of them has: the first job's bid window closes
   * once each agent we know of has bid, so an agent whose advert came second
   * would miss it. A first advert also shows they know we hear bids. A peer
   * connected a moment ago whose subscriptions have not arrived yet may be
   * one of them (SubscriptionExchange): it is waited for too. Each check runs
   * when an advert, a subscription or a peer arrives, not on a timer.
   */
  async function hearAgents (specId: string): Promise<void> {
    const heard = (): boolean => exchange.pending().length === 0 &&
      (market.subscriptions.topicPeers(specId, 'capacity').length === 0 || everyAgentHeard(specId))
    const started = Date.now()
    const complete = await until(heard, started + FIRST_ADVERT_WAIT_MS, [market.capacityChanged, exchange.changed])
    if (!complete) {
      const pendingPeers = exchange.pending().length
      log('job.agents-unheard', { specId, waitedMs: Date.now() - started, advertised: market.capacityOf(specId).length, pendingPeers, message: `the first job goes out after ${FIRST_ADVERT_WAIT_MS} ms without hearing every agent of the spec (${pendingPeers} connected peers have not told their subscriptions)` })
    }
  }

  /**
   * The peers known to be agents of the spec: on its capacity topic but not its
   * receipts topic, where only an agent is (KINDS_FOR in market/subscriptions.ts).
   * A peer that also coordinates or follows the spec cannot be told from a
   * coordinator, so it is not counted.
   */
  function agentsOnTopic (specId: string): string[] {
    const onReceipts = new Set(market.subscriptions.topicPeers(specId, 'receipts'))
    return market.subscriptions.topicPeers(specId, 'capacity').filter(peer => !onReceipts.has(peer))
  }

  /** Whether we hold an advert from at least one agent of the spec and from each peer known to be one (agentsOnTopic). */
  function everyAgentHeard (specId: string): boolean {
    const advertised = new Set(market.capacityOf(specId).map(a => a.agent))
    return advertised.size > 0 && agentsOnTopic(specId).every(peer => advertised.has(peer))
  }

  /** What this node knows of the spec's agents now: the readiness a script checks before it submits. */
  function specAgents (specId: string): SpecAgents {
    const onTopic = new Set(agentsOnTopic(specId))
    const adverts = new Map(market.capacityOf(specId).map(({ agent, inFlight, limit, priceUsd }) => [agent, { inFlight, limit, priceUsd }]))
    const agents = [...new Set([...onTopic, ...adverts.keys()])].sort().map(peerId => ({ peerId, onTopic: onTopic.has(peerId), advert: adverts.get(peerId) ?? null }))
    const pendingPeers = exchange.pending().sort()
    return { specId, joined: market.subscriptions.joined(specId), agents, pendingPeers, ready: pendingPeers.length === 0 && agents.length > 0 }
  }

  /**
   * Dial the spec's providers we are not connected to, and wait (bounded) until
   * one of them is on the spec's job topic. A lookup already under way is shared
   * (spec-discovery.ts); a job that still knows no agent waits for one in the
   * coordinator (awaitAgent) with its record written, so it can be seen and cancelled.
   */
  async function reachProviders (specId: string): Promise<void> {
    const dialled = await discovery.connectToProviders(specId).catch(() => [])
    if (dialled.length === 0) return
    await until(() => {
      const subscribers = new Set(market.subscriptions.topicPeers(specId, 'jobs'))
      return dialled.some(p => subscribers.has(p)) || market.capacityOf(specId).length > 0
    }, Date.now() + PROVIDER_JOIN_WAIT_MS, [market.capacityChanged, nextEvent(libp2p.services.pubsub, 'subscription-change')])
  }

  // A spec is provided only while it is served; records we placed before a
  // restart are withdrawn until serve() announces them again.
  for (const record of await specs.list()) await discovery.stopProviding(record.id)

  let stopping: Promise<void> | undefined
  return {
    peerId: identity.peerId,
    home,
    events,
    libp2p,
    signer: identity.signer,
    verdicts,
    reputation,
    guard,
    subscriptions: market.subscriptions,
    reachability: () => (libp2p.services.reachability as ReachabilityMonitor).report(),
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
      // Gossip and the local write go out together. A known spec is gossiped
      // again only after gossipsub's 2-minute duplicate window (within it,
      // publish sends nothing); peers that missed it get it from the mesh
      // catch-up (src/net/mesh-catch-up.ts) or by sync when they connect.
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
    listSpecs: async (page) => await specs.list(page),
    specsNamed: async (name) => await specs.named(name),
    matchIds: async (kind, prefix, limit) => kind === 'spec' ? await specs.idsWithPrefix(prefix, limit) : await market.matchIds(kind, prefix, limit),
    ...(metrics != null ? { metricsText: async () => ({ text: await metrics.text(), contentType: metrics.contentType }) } : {}),
    specCount: () => specs.size,
    serve,
    submitJob,
    startJob,
    waitJob: market.waitJob,
    cancelJob: market.cancelJob,
    jobEvents: market.jobEvents,
    fetchSpec,
    findSpecProviders: async (specId: string) => await discovery.findSpecProviders(specId),
    settings: () => settings,
    surfaceRecords: (family: string) => sublevel(db, `surface-${family}`),
    discovery,
    getJob: market.getJob,
    listJobs: market.listJobs,
    listReceipts: market.listReceipts,
    getReceipt: market.getReceipt,
    fetchReceipts,
    servedSpecs: market.servedSpecs,
    drain: market.drain,
    ledger: market.ledger,
    capacityOf: market.capacityOf,
    specAgents,
    async requestLease (specId: string, request?: LeaseRequest): Promise<LeaseInfo[]> {
      await prepareJob(specId)
      return await market.requestLease(specId, request)
    },
    endLease: market.endLease,
    leases: market.leases,
    getSpec: async (id: string) => await specs.get(id),
    joinedSpecs: () => market.subscriptions.joinedSpecs(),
    async stop (): Promise<void> {
      stopping ??= (async () => {
        clearInterval(pruneGuard)
        exchange.stop()
        catchUp.stop()
        await market.stop()
        await libp2p.stop()
        await db.close()
      })()
      await stopping
    }
  }
}
