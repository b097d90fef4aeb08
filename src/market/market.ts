import type { Signer } from '../crypto/signatures.ts'
import { ignore } from '../wire/errors.ts'
import type { Spec } from '../spec/index.ts'
import type { Gossip } from '../net/gossip.ts'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import type { SyncKind } from '../net/sync.ts'
import { OwnAddresses } from '../net/reachability.ts'
import type { Db } from '../store/db.ts'
import { JobStore, type JobRecord } from '../store/job-store.ts'
import { LedgerStore, type JobLedger, type SpecLedger } from '../store/ledger-store.ts'
import { CapacityTable } from './capacity-table.ts'
import { closeInterruptedJobs } from './recovery.ts'
import type { RequesterPolicy } from './policy.ts'
import type { AwardPolicy, BetaPosterior } from './scoring.ts'
import { ReceiptStore, type ReceiptQuery, type StoredReceipt } from '../store/receipt-store.ts'
import type { SpecStore } from '../store/spec-store.ts'
import { AgentService, type ServeOptions } from './agent.ts'
import { Coordinator, type JobResult, type SubmitOptions } from './coordinator.ts'
import type { Handler } from './exec-handler.ts'
import { UnknownJobError, UnknownSpecError } from './job-errors.ts'
import { JobEventLog, type JobEvent } from './job-events.ts'
import { JobEventStore } from '../store/job-event-store.ts'
import { GroupCommit } from '../store/group-commit.ts'
import { JOB_AWAIT_MS, RecentJobs } from './recent-jobs.ts'
import { receiptSyncKind } from './receipt-sync.ts'
import { EXEC_PROTOCOLS, MAX_EXEC_STREAMS_PER_PEER } from './exec-protocol.ts'
import { SpecSubscriptions, type FollowList, type JoinReason, type TopicValidators } from './subscriptions.ts'
import type { TopicMode } from './topics.ts'
import type { ProviderLookup } from '../net/spec-discovery.ts'
import { leaseContext, validateLeaseMessage } from './lease-validators.ts'
import type { LeaseInfo, LeaseRequest } from './lease-coordinator.ts'
import { marketContext, validateAward, validateBid, validateCapacity, validateJob, type MarketContext } from './validators.ts'
import { ReceiptIngest } from './receipt-ingest.ts'
import { ReceiptBatcher } from './receipt-batcher.ts'
import { BidClient } from './bid-client.ts'
import { DEFAULT_BID_MODE, type BidMode } from './bid-protocol.ts'
import { BidStreamService } from './bid-stream.ts'
import { acceptStreamBid } from './stream-bids.ts'
import type { AuctionGateOptions } from './auction-gate.ts'

export interface MarketDeps {
  libp2p: SpecmeshLibp2p
  gossip: Gossip
  signer: Signer
  db: Db
  specs: SpecStore
  log: (event: string, fields?: Record<string, unknown>) => void
  onReceipt?: (receipt: StoredReceipt) => void
  /** Called with every event of every job this node coordinates. */
  onJobEvent?: (event: JobEvent) => void
  posteriorOf?: (agent: string, spec: Spec) => BetaPosterior
  /** The operator's award policy for a spec (config.json awardPolicies); a job's own wins, field by field. */
  specAwardPolicy?: (spec: Spec) => AwardPolicy | undefined
  options?: MarketOptions
  /** The specs this node follows (`--follow`): their topics are joined as for a party. */
  follow?: FollowList
  /** A spec's topics were joined: the node dials the spec's providers here. */
  onJoined?: (specId: string, reason: JoinReason) => void
  /** The node keeps looking for a spec's agents while it coordinates jobs of it (the DHT), so a job that knows none waits to meet one. @default false */
  meetsAgentsLater?: boolean
  /** This node's latest DHT lookup of a spec's providers (spec-discovery.ts), told in a no-bid reason. */
  providerLookup?: (specId: string) => ProviderLookup | undefined
  /** When the node began looking a spec's providers up in the background (spec-discovery.ts); undefined when it is not. */
  providersSoughtSince?: (specId: string) => number | undefined
  /** The node began taking a spec's receipts (coordinating or following it; subscriptions.ts). */
  onReceiptsJoined?: (specId: string) => void
  /** The verdict on each bid that came over the bid stream, as a gossip validator's (topic: the protocol id). */
  onVerdict?: (topic: string, verdict: 'accept' | 'reject' | 'ignore', from: string, reason?: string) => void
}

export interface MarketOptions {
  /** First retry's backoff in ms; later ones multiply by the spec's backoffMultiplier. @default 1000 */
  retryBaseMs?: number
  /** Fee per attempt, counted against budget.maxUsd when the spec's budget includesFees. @default 0 */
  feePerAttemptUsd?: number
  /** How often an agent re-announces its capacity when nothing changes. @default 2000 */
  advertIntervalMs?: number
  /** How long one execution-stream frame may take to arrive once it has begun. @default EXEC_FRAME_TIMEOUT_MS (30,000) */
  execFrameTimeoutMs?: number
  /** Receipts held per signer, and served per signer in a sync answer. @default MAX_RECEIPTS_PER_SIGNER (10,000) */
  receiptsPerSigner?: number
  /** How this node as requester applies specs' limits. @default specPolicy(retryBaseMs) — see policy.ts */
  policy?: RequesterPolicy
  /** How long a signed receipt waits for others to share its gossip message (receipt-batcher.ts); 0 sends each alone. @default 20 */
  receiptFlushMs?: number
  /** Seed of the award draws (scoring.ts): set it to make awards reproducible. @default random per start */
  awardSeed?: string
  /**
   * Where market traffic travels: 'per-spec' (each spec's own topics, joined by
   * its parties and followers) or 'global' (one topic per kind for the whole
   * mesh, as before; kept for bench:scale's side-by-side run). @default 'per-spec'
   */
  topics?: TopicMode
  /**
   * Call for a lease by itself once this many jobs of one spec are in progress
   * at once (protocols/market.md "Leases"); 0: only when requestLease asks. @default 0
   */
  leaseThreshold?: number
  /**
   * How this node's agent sends bids: 'gossip' (signed, on the spec's bids
   * topic, seen by every party of the spec) or 'stream' (straight to the job's
   * coordinator over /specmesh/bid/1.0.0; the award then embeds the bids it
   * ranked; an agent with no connection to the coordinator gossips). Every
   * node accepts both. @default 'stream' (protocols/market.md "Bid stream")
   */
  bids?: BidMode
  /** How many of this node's auctions of one spec run at once, and how that adapts to late bids (auction-gate.ts). */
  auctionGate?: AuctionGateOptions
}

export interface Market {
  serve: (specId: string, handler: Handler, options?: ServeOptions) => Promise<() => void>
  submitJob: (specId: string, input: unknown, options?: SubmitOptions) => Promise<JobResult>
  startJob: (specId: string, input: unknown, options?: SubmitOptions) => Promise<{ jobId: string }>
  waitJob: (jobId: string) => Promise<JobResult>
  cancelJob: (jobId: string) => Promise<JobRecord>
  jobEvents: (jobId: string, options?: JobEventsOptions) => AsyncIterable<JobEvent>
  getJob: (jobId: string) => Promise<(JobRecord & { input?: unknown, output?: unknown }) | null>
  listJobs: () => Promise<JobRecord[]>
  listReceipts: (query?: ReceiptQuery) => Promise<StoredReceipt[]>
  getReceipt: (id: string) => Promise<StoredReceipt | null>
  servedSpecs: () => ReturnType<AgentService['servedSpecs']>
  /** Agents with a live capacity advert for the spec, and their advertised load. */
  capacityOf: (specId: string) => Array<{ agent: string, inFlight: number, limit: number, priceUsd: number }>
  /** Resolves at the next capacity advert (or end of one of our executions), after `maxWaitMs`, or when `signal` aborts. */
  capacityChanged: (maxWaitMs: number, signal?: AbortSignal) => Promise<void>
  /** Per job and per spec: reserved, spent and remaining, each traceable to receipts. */
  ledger: (specId?: string) => Promise<{ jobs: JobLedger[], specs: SpecLedger[] }>
  /** Graceful stop of the serving side: see AgentService.drain. Resolves with the executions still running. */
  drain: (timeoutMs: number, signal?: AbortSignal) => Promise<number>
  /** Depth of the coordinator's queues now. */
  queues: () => ReturnType<Coordinator['queues']>
  /** Job or receipt ids starting with `prefix`, from the stores' key order. */
  matchIds: (kind: 'job' | 'receipt', prefix: string, limit: number) => Promise<string[]>
  syncKinds: Array<[string, SyncKind]>
  /** Call for lease bids on a spec and award leases; later jobs of the spec run under them (protocols/market.md "Leases"). */
  requestLease: (specId: string, request?: LeaseRequest) => Promise<LeaseInfo[]>
  /** End one of this node's leases now; false when no live lease has the id. */
  endLease: (leaseId: string) => boolean
  /** This node's live leases (of one spec, or all), then recently ended ones. */
  leases: (specId?: string) => LeaseInfo[]
  /** Which specs' topics this node is on, and why (market/subscriptions.ts). */
  subscriptions: SpecSubscriptions
  /** Stop serving and coordinating; resolves once every job event is on disk. */
  stop: () => Promise<void>
}

export interface JobEventsOptions {
  /** Only events after this seq (what a resuming follower saw last). @default 0 */
  afterSeq?: number
  /** Ends the iteration early. */
  signal?: AbortSignal
}

/**
 * Receipts held per signing coordinator, and served per signer in one sync
 * answer: an honest coordinator's history fits, and no one key can crowd the
 * others out of a store or a sync answer.
 */
export const MAX_RECEIPTS_PER_SIGNER = 10_000


/** Wire the market's topics, stream and stores onto a running node. */
export async function startMarket (deps: MarketDeps): Promise<Market> {
  const { libp2p, gossip, signer, db, specs, log } = deps
  const jobs = new RecentJobs()
  const receipts = new ReceiptStore(db)
  await receipts.load()
  const perSigner = deps.options?.receiptsPerSigner ?? MAX_RECEIPTS_PER_SIGNER
  // One group commit for the per-job writes: job records, their receipts and ledgers, and job events.
  const commit = new GroupCommit(db)
  const jobStore = new JobStore(db, commit)
  const ledger = new LedgerStore(db)
  const capacity = new CapacityTable()
  const jobEvents = new JobEventLog(new JobEventStore(db, commit), {
    onEvent: deps.onJobEvent,
    onWriteFailed: err => { log('job.events-write-failed', { level: 'error', error: err.message }) }
  })
  const interrupted = await closeInterruptedJobs(jobStore, ledger, jobEvents)
  if (interrupted > 0) log('jobs.interrupted-closed', { level: 'warn', count: interrupted })
  const specCache = new Map<string, Spec>()
  const specOf = async (specId: string): Promise<Spec | null> => {
    const cached = specCache.get(specId)
    if (cached != null) return cached
    const record = await specs.get(specId)
    if (record != null) specCache.set(specId, record.spec)
    return record?.spec ?? null
  }
  const mode: TopicMode = deps.options?.topics ?? 'per-spec'
  const topicOf = (specId: string, kind: Parameters<SpecSubscriptions['topicOf']>[1]): string => subscriptions.topicOf(specId, kind)
  // A bid or award that outran its job on gossip waits a moment for it (RecentJobs.awaitJob).
  const ctx: MarketContext = { ...marketContext({ now: Date.now, specOf, knowsSpec: id => specs.has(id), jobs, self: signer.peerId }), jobAwaitMs: JOB_AWAIT_MS }
  const leaseCtx = leaseContext({ now: Date.now, specOf, knowsSpec: id => specs.has(id) })
  const bidMode: BidMode = deps.options?.bids ?? DEFAULT_BID_MODE
  const bidClient = bidMode === 'stream' ? new BidClient(libp2p) : undefined

  const ownAddresses = new OwnAddresses(libp2p)
  const agent = new AgentService({
    signer,
    gossip,
    jobs,
    addresses: () => ownAddresses.current(),
    log,
    advertIntervalMs: deps.options?.advertIntervalMs,
    execFrameTimeoutMs: deps.options?.execFrameTimeoutMs,
    topicOf,
    advertPerSpec: mode === 'per-spec',
    ...(bidClient != null ? { sendBid: async (coordinator, bid, options) => await bidClient.send(coordinator, bid, options) } : {}),
    takeReceipt: async (frame, coordinator, parsed) => { await receiptIngest.ownReceipt(frame, signer.peerId, coordinator, parsed) }
  })
  const receiptOut = new ReceiptBatcher({
    publish: async (topic, bytes) => { await gossip.publishBytes(topic, bytes) },
    flushMs: deps.options?.receiptFlushMs,
    onPublishFailed: (topic, err) => { log('gossip.publish-failed', { level: 'warn', topic, error: err.message }) }
  })
  const coordinator = new Coordinator({ signer, publishReceipt: (topic, receipt, bytes) => { receiptOut.add(topic, receipt, bytes) }, libp2p, gossip, specOf, jobStore, receipts, ledger, capacity, jobs, log, events: jobEvents, posteriorOf: deps.posteriorOf, specAwardPolicy: deps.specAwardPolicy, awardSeed: deps.options?.awardSeed, onReceipt: deps.onReceipt, retryBaseMs: deps.options?.retryBaseMs, policy: deps.options?.policy, feePerAttemptUsd: deps.options?.feePerAttemptUsd, topicOf, leaseCalls: leaseCtx.calls, leaseAutoThreshold: deps.options?.leaseThreshold, auctionGate: deps.options?.auctionGate, meetsAgentsLater: deps.meetsAgentsLater, providerLookup: deps.providerLookup, providersSoughtSince: deps.providersSoughtSince })

  const receiptIngest = new ReceiptIngest({ receipts, ctx, perSigner, onReceipt: deps.onReceipt })
  /** The validators of one spec's topics (or of the global ones, topicSpec null). */
  const validators: TopicValidators = topicSpec => ({
    jobs: async data => {
      const { envelope } = await validateJob(data, ctx, topicSpec)
      agent.onJob(envelope).catch(err => { log('agent.bid-failed', { level: 'warn', jobId: envelope.id, error: (err as Error).message }) })
    },
    capacity: async data => {
      const advert = await validateCapacity(data, ctx, topicSpec)
      if (!capacity.update(advert.signer, advert.body, topicSpec ?? '')) throw ignore('stale', 'an advert at least as new from this agent is held')
    },
    bids: async data => {
      const { envelope } = await validateBid(data, ctx, topicSpec)
      coordinator.onBid(envelope)
    },
    awards: async data => {
      const { envelope } = await validateAward(data, ctx, topicSpec)
      agent.onAward(envelope)
    },
    receipts: async data => { await receiptIngest.message(data, topicSpec) },
    leases: async data => {
      const message = await validateLeaseMessage(data, leaseCtx, topicSpec)
      if (message.type === 'lease-call') agent.onLeaseCall(message.envelope).catch(err => { log('agent.lease-bid-failed', { level: 'warn', callId: message.envelope.id, error: (err as Error).message }) })
      else if (message.type === 'lease-bid') coordinator.onLeaseBid(message.envelope)
      else agent.onLease(message.envelope)
    }
  })
  const subscriptions = new SpecSubscriptions({
    libp2p,
    gossip,
    mode,
    validators,
    follow: deps.follow,
    heldSpecs: async () => (await specs.list()).map(r => ({ id: r.id, spec: r.spec })),
    onJoined: deps.onJoined,
    onReceiptsJoined: deps.onReceiptsJoined,
    // A peer new on a capacity topic of ours hears our load now, not an advert interval later.
    onPeerSubscribed: (specId, kind) => { if (kind === 'capacity' && agent.servedSpecs().some(s => s.specId === specId)) agent.advertiseSoon() },
    log
  })
  await subscriptions.start()

  // Bids straight from agents, judged as the bids topic judges them (every node takes them, whatever its own mode).
  const bidStreams = new BidStreamService({
    libp2p,
    log,
    onVerdict: deps.onVerdict,
    accept: acceptStreamBid({ ctx, ownsOpenJob: jobId => coordinator.ownsOpenJob(jobId), take: envelope => coordinator.onBid(envelope, true), tookByGossip: (jobId, bidId, agent) => coordinator.tookByGossip(jobId, bidId, agent), cameAfterClose: (jobId, agent) => { coordinator.onBidAfterClose(jobId, agent) } })
  })
  await bidStreams.start()

  // A coordinator needs one stream per agent; a peer holding many is hoarding memory and handlers.
  const execStreams = new Map<string, number>()
  await libp2p.handle(EXEC_PROTOCOLS, (stream, connection) => {
    const peer = connection.remotePeer.toString()
    const open = execStreams.get(peer) ?? 0
    if (open >= MAX_EXEC_STREAMS_PER_PEER) {
      log('agent.stream-refused', { level: 'warn', coordinator: peer, reason: `more than ${MAX_EXEC_STREAMS_PER_PEER} execution streams from one peer` })
      stream.abort(new Error(`at most ${MAX_EXEC_STREAMS_PER_PEER} execution streams per peer`))
      return
    }
    execStreams.set(peer, open + 1)
    stream.addEventListener('close', () => {
      const left = (execStreams.get(peer) ?? 1) - 1
      if (left > 0) execStreams.set(peer, left)
      else execStreams.delete(peer)
    }, { once: true })
    agent.handleExecStream(stream, connection).catch(err => {
      log('agent.stream-error', { level: 'warn', error: (err as Error).message })
    })
  }, {
    maxInboundStreams: 256,
    // An agent behind NAT is reached through a relay; the relay's limits are
    // chosen so the largest job fits (net/reachability.ts).
    runOnLimitedConnection: true
  })

  return {
    async serve (specId, handler, options) {
      const spec = await specOf(specId)
      if (spec == null) throw new UnknownSpecError(specId)
      subscriptions.join(specId, 'serving')
      const stopServing = agent.serve(specId, spec, handler, options)
      return () => {
        stopServing()
        // Left once the withdrawal advert has gone out (it is published within MIN_ADVERT_GAP_MS).
        setTimeout(() => { if (!agent.servedSpecs().some(s => s.specId === specId)) subscriptions.leave(specId, 'serving') }, 100).unref()
      }
    },
    async submitJob (specId, input, options) {
      subscriptions.join(specId, 'coordinating')
      return await coordinator.submit(specId, input, options)
    },
    async startJob (specId, input, options) {
      subscriptions.join(specId, 'coordinating')
      const { jobId } = await coordinator.start(specId, input, options)
      return { jobId }
    },
    async waitJob (jobId) {
      const result = await coordinator.wait(jobId)
      if (result == null) throw new UnknownJobError(jobId)
      return result
    },
    async cancelJob (jobId) {
      const record = await coordinator.cancel(jobId)
      if (record == null) throw new UnknownJobError(jobId)
      return record
    },
    jobEvents: (jobId, options = {}) => ({
      async * [Symbol.asyncIterator] () {
        if (await jobStore.get(jobId) == null) throw new UnknownJobError(jobId)
        yield * jobEvents.follow(jobId, options.afterSeq ?? 0, options.signal)
      }
    }),
    async getJob (jobId) {
      const record = await jobStore.get(jobId)
      if (record == null) return null
      const input = await jobStore.input(jobId)
      return record.status === 'succeeded' ? { ...record, input, output: await jobStore.output(jobId) } : { ...record, input }
    },
    listJobs: async () => await jobStore.list(),
    listReceipts: async (query) => await receipts.query(query),
    getReceipt: async (id) => await receipts.get(id),
    servedSpecs: () => agent.servedSpecs(),
    drain: async (timeoutMs, signal) => await agent.drain(timeoutMs, signal),
    capacityOf: (specId) => capacity.agentsServing(specId).map(agent => ({ agent, ...capacity.load(agent, specId)! })),
    capacityChanged: async (maxWaitMs, signal) => { await capacity.changed(maxWaitMs, signal) },
    async ledger (specId) {
      const jobs = await ledger.list(specId)
      return { jobs, specs: LedgerStore.bySpec(jobs) }
    },
    queues: () => coordinator.queues(),
    async requestLease (specId, request) {
      subscriptions.join(specId, 'coordinating')
      return await coordinator.requestLease(specId, request)
    },
    endLease: leaseId => coordinator.endLease(leaseId),
    leases: specId => coordinator.leasesOf(specId),
    matchIds: async (kind, prefix, limit) => kind === 'job' ? await jobStore.idsWithPrefix(prefix, limit) : await receipts.idsWithPrefix(prefix, limit),
    syncKinds: [['receipt', receiptSyncKind(receipts, perSigner, async data => { await receiptIngest.single(data) })]],
    subscriptions,
    stop: async () => {
      agent.stop()
      ownAddresses.stop()
      coordinator.stop()
      receiptOut.stop()
      bidClient?.close()
      await bidStreams.stop()
      subscriptions.stop()
      await jobEvents.flushed()
    }
  }
}
