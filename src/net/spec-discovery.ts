import { CID } from 'multiformats/cid'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ContentRouting, PeerId, PeerStore, Startable, Stream, Connection, AbortOptions } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { MessageType, type KadDHT } from '@libp2p/kad-dht'
import { z } from 'zod'
import { MAX_MESSAGE_BYTES, PROTOCOLS } from '../wire/constants.ts'
import {
  FIND_PROVIDERS_TIMEOUT_MS, MAX_PROVIDER_DIALS, MAX_PROVIDERS, MAX_SPEC_FETCH_CONNECTED_PEERS, MAX_SPEC_FETCH_REQUEST_BYTES,
  PROVIDE_FIRST_RETRY_MS, PROVIDE_MAX_RETRY_MS, PROVIDER_LOOKUP_INTERVAL_MS, PROVIDER_SEEK_FIRST_MS, PROVIDER_SEEK_MAX_MS,
  SPEC_FETCH_TIMEOUT_MS
} from './constants.ts'
import { DhtDisabledError, SpecFetchError, SpecFetchProtocolError } from './errors.ts'
import { FramedStream } from './frames.ts'
import { ProviderSeeker } from './provider-seeker.ts'
import type { LogFn } from './reconnect.ts'

/** What this node's latest finished lookup of a spec's providers found: how long ago it ended, the providers the DHT listed, those newly dialled. */
export interface ProviderLookup {
  agoMs: number
  found: number
  dialled: number
}

/** Specs whose lookups are remembered (when each last began, what the last to end found); the oldest is forgotten past this. */
const REMEMBERED_LOOKUPS = 1024

/** One peer that says it serves a spec, and where to dial it. */
export interface SpecProvider {
  peerId: string
  addrs: string[]
}

/** The spec-fetch request frame. */
export const SpecFetchRequestSchema = z.object({ id: z.string().min(1).max(200) }).strict()
const NOT_FOUND = new TextEncoder().encode('{"error":"not-found"}')

/** The stream framing every specmesh stream uses; the whole exchange already has SPEC_FETCH_TIMEOUT_MS, so one frame may too. */
function specFetchStream (stream: Stream, maxFrameBytes: number): FramedStream {
  return new FramedStream(stream, { maxFrameBytes, frameTimeoutMs: SPEC_FETCH_TIMEOUT_MS })
}

export interface SpecDiscoveryInit {
  /** The encoded, signed envelope of a live spec this node holds, or null. */
  localSpec: (id: string) => Promise<Uint8Array | null>
  /**
   * Check and store a spec envelope fetched from `from`, exactly as the spec
   * gossip topic does; resolves once it is stored, throws the validator's
   * MessageValidationError when it is not acceptable.
   */
  ingest: (data: Uint8Array, from: string) => Promise<void>
  /** @default no logging */
  log?: LogFn
}

export interface SpecDiscoveryComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  contentRouting: ContentRouting
  peerStore: PeerStore
  /** The DHT service, when the node runs one (services are components by their name). */
  dht?: KadDHT
}

/**
 * Who serves a spec, and fetching a spec by id. Spec ids are CIDs, so "who
 * serves spec X" is a provider lookup in specmesh's DHT, as "who has CID X" is
 * in IPFS: an agent provides each spec it serves (provideSpec), a coordinator
 * or a node missing a spec looks up the providers (findSpecProviders) and
 * dials them, or asks one for the spec itself over the spec-fetch stream
 * (fetchSpec). kad-dht re-provides our records before they expire; a provide
 * that reached no peer (the node was alone) is retried with backoff here.
 */
export class SpecDiscovery implements Startable {
  private readonly components: SpecDiscoveryComponents
  private readonly init: SpecDiscoveryInit
  private readonly log: LogFn
  /** Specs we provide, with the retry timer of a provide that has not reached a peer yet. */
  private readonly providing = new Map<string, { timer?: NodeJS.Timeout, retryMs: number, announced: boolean }>()
  private shutdown = new AbortController()
  /** Per spec: when its providers were last looked up (the interval counts from it), and what the latest lookup to end found (lookupOf). */
  private readonly lookups = new Map<string, { startedAt: number, ended?: { at: number, found: number, dialled: number } }>()
  /** The lookup (and its dials) of each spec under way, which every caller meanwhile shares. */
  private readonly underWay = new Map<string, Promise<string[]>>()
  /** Repeated lookups of the specs whose parties this node needs to meet. */
  private readonly seeker: ProviderSeeker

  constructor (components: SpecDiscoveryComponents, init: SpecDiscoveryInit) {
    this.components = components
    this.init = init
    this.log = init.log ?? (() => {})
    this.seeker = new ProviderSeeker({
      lookup: async specId => (await this.connectToProviders(specId, { ignoreInterval: true, maxConnected: MAX_PROVIDER_DIALS })).length,
      firstDelayMs: PROVIDER_SEEK_FIRST_MS,
      maxDelayMs: PROVIDER_SEEK_MAX_MS,
      log: this.log
    })
  }

  readonly [Symbol.toStringTag] = 'specmesh:spec-discovery'

  /** The DHT service, or undefined when the node runs without one (libp2p's components throw for a missing service). */
  private get dht (): KadDHT | undefined {
    try {
      return this.components.dht
    } catch {
      return undefined
    }
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    this.seeker.start()
    await this.components.registrar.handle(PROTOCOLS.specFetch, (stream: Stream, connection: Connection) => {
      this.serve(stream).catch((err: Error) => {
        stream.abort(err)
        this.log('spec-fetch.serve-failed', { level: 'warn', peer: connection.remotePeer.toString(), error: err.message })
      })
    })
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    this.seeker.stop()
    for (const entry of this.providing.values()) clearTimeout(entry.timer)
    this.providing.clear()
    await this.components.registrar.unhandle(PROTOCOLS.specFetch)
  }

  /** Whether the node runs the DHT (otherwise lookups throw DhtDisabledError and provides do nothing). */
  get enabled (): boolean {
    return this.dht != null
  }

  /**
   * Announce that this node serves the spec. Resolves after the first attempt;
   * until one reaches a peer it is retried with backoff in the background.
   */
  async provideSpec (specId: string): Promise<void> {
    if (this.dht == null || this.providing.has(specId)) return
    const entry = { retryMs: PROVIDE_FIRST_RETRY_MS, announced: false }
    this.providing.set(specId, entry)
    await this.announce(specId)
  }

  /** Stop announcing the spec (this node no longer serves it); our record expires at the peers that hold it. */
  async stopProviding (specId: string): Promise<void> {
    const entry = this.providing.get(specId)
    clearTimeout(entry?.timer)
    this.providing.delete(specId)
    await this.dht?.cancelReprovide(CID.parse(specId)).catch(() => {})
  }

  /** The specs this node provides, and whether each has reached a peer yet. */
  provided (): Array<{ specId: string, announced: boolean }> {
    return [...this.providing].map(([specId, e]) => ({ specId, announced: e.announced }))
  }

  /** Peers that provide the spec (ourselves excluded), as the DHT knows them. */
  async findSpecProviders (specId: string, options: AbortOptions & { limit?: number } = {}): Promise<SpecProvider[]> {
    if (this.dht == null) throw new DhtDisabledError()
    const cid = CID.parse(specId)
    const limit = options.limit ?? MAX_PROVIDERS
    const signal = AbortSignal.any([options.signal ?? this.shutdown.signal, this.shutdown.signal, AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS)])
    const found = new Map<string, SpecProvider>()
    try {
      for await (const peer of this.components.contentRouting.findProviders(cid, { signal })) {
        if (peer.id.equals(this.components.peerId)) continue
        const key = peer.id.toString()
        const addrs = new Set([...(found.get(key)?.addrs ?? []), ...peer.multiaddrs.map(a => a.toString())])
        found.set(key, { peerId: key, addrs: [...addrs] })
        if (found.size >= limit) break
      }
    } catch (err) {
      // A lookup cut short by its time limit returns what it found so far.
      if (!signal.aborted || options.signal?.aborted === true) throw err
    }
    return [...found.values()]
  }

  /**
   * Look up the spec's providers and dial those we are not connected to.
   * Returns the providers newly dialled (connections that succeeded); none when
   * every provider found was already connected. A lookup for one spec runs at
   * most once per PROVIDER_LOOKUP_INTERVAL_MS: a coordinator submitting a
   * stream of jobs while every agent is busy does not query the DHT per job
   * (`ignoreInterval` is for the seeker, which keeps its own schedule).
   * `maxConnected` dials only while fewer providers than that are connected.
   *
   * A caller that comes while a lookup of the spec is under way shares it, and
   * its answer, whatever its own options: jobs submitted together before the
   * first lookup ended used to skip it (the interval counted from its start)
   * and were published to a topic no agent was on yet (bench:scale at 100
   * nodes: every warm-up job failed with no bid).
   */
  async connectToProviders (specId: string, options: AbortOptions & { ignoreInterval?: boolean, maxConnected?: number } = {}): Promise<string[]> {
    const running = this.underWay.get(specId)
    if (running != null) return await running
    const last = this.lookups.get(specId)
    if (options.ignoreInterval !== true && last != null && Date.now() - last.startedAt < PROVIDER_LOOKUP_INTERVAL_MS) return []
    // Re-inserted, so the spec looked up longest ago is the one forgotten first.
    this.lookups.delete(specId)
    this.lookups.set(specId, { startedAt: Date.now(), ended: last?.ended })
    if (this.lookups.size > REMEMBERED_LOOKUPS) this.lookups.delete(this.lookups.keys().next().value!)
    const lookup = this.lookUpAndDial(specId, options)
    this.underWay.set(specId, lookup)
    try {
      return await lookup
    } finally {
      this.underWay.delete(specId)
    }
  }

  private async lookUpAndDial (specId: string, options: AbortOptions & { maxConnected?: number }): Promise<string[]> {
    const providers = await this.findSpecProviders(specId, options)
    const isConnected = (p: SpecProvider): boolean => this.components.connectionManager.getConnections(peerIdFromString(p.peerId)).length > 0
    const room = (options.maxConnected ?? Infinity) - providers.filter(isConnected).length
    const unconnected = providers.filter(p => !isConnected(p)).slice(0, Math.max(0, Math.min(MAX_PROVIDER_DIALS, room)))
    const dialled: string[] = []
    await Promise.allSettled(unconnected.map(async provider => {
      const peer = await this.peerIdOf(provider.peerId)
      await this.components.connectionManager.openConnection(peer, { signal: AbortSignal.timeout(SPEC_FETCH_TIMEOUT_MS) })
      dialled.push(provider.peerId)
    }))
    if (dialled.length > 0) this.log('discovery.providers-dialled', { specId, providers: providers.length, connected: dialled.length })
    const entry = this.lookups.get(specId)
    if (entry != null) entry.ended = { at: Date.now(), found: providers.length, dialled: dialled.length }
    return dialled
  }

  /**
   * What this node's latest finished lookup of the spec's providers found (the
   * providers the DHT listed, those newly dialled) and how long ago it ended;
   * undefined before the first. A job that met no agent says it (no-bid.ts).
   */
  lookupOf (specId: string): ProviderLookup | undefined {
    const ended = this.lookups.get(specId)?.ended
    return ended == null ? undefined : { agoMs: Date.now() - ended.at, found: ended.found, dialled: ended.dialled }
  }

  /**
   * Keep meeting the spec's providers while this node is on its topics as a
   * coordinator or follower: look them up again in the background, with
   * backoff (provider-seeker.ts), until stopSeeking or stop.
   */
  seekProviders (specId: string): void {
    if (this.dht != null) this.seeker.seek(specId)
  }

  /** When this node began seeking the spec's providers (Date.now()); undefined when it is not seeking them. */
  seekingSince (specId: string): number | undefined {
    return this.seeker.soughtSince(specId)
  }

  stopSeeking (specId: string): void {
    this.seeker.forget(specId)
  }

  /** The specs whose providers are being sought, and when each is looked up next. */
  seeking (): Array<{ specId: string, nextDelayMs: number, lookups: number }> {
    return this.seeker.sought()
  }

  /**
   * Fetch a spec this node does not hold, and ingest it as if it had come by
   * gossip: from its providers in the DHT in turn, then from the peers this
   * node is connected to. The second step covers an agent met a moment ago,
   * whose spec has not come by sync yet and whose provider record may not have
   * reached the DHT (or a node running without the DHT). Throws SpecFetchError
   * naming what each said when none delivered it.
   */
  async fetchSpec (specId: string, options: AbortOptions = {}): Promise<void> {
    const failures: string[] = []
    let providers: SpecProvider[] = []
    if (this.dht != null) {
      providers = await this.findSpecProviders(specId, options).catch((err: Error) => {
        failures.push(`DHT lookup: ${err.message}`)
        return []
      })
    }
    const asked = new Set<string>()
    for (const provider of providers.slice(0, MAX_PROVIDER_DIALS)) {
      asked.add(provider.peerId)
      if (await this.fetchAndIngest(provider.peerId, specId, options, failures)) return
    }
    const connected = this.connectedPeers().filter(p => !asked.has(p)).slice(0, MAX_SPEC_FETCH_CONNECTED_PEERS)
    // Asked all at once: most answer not-found at once, and one slow peer must not hold up the rest.
    const answers = await Promise.all(connected.map(async peer => await this.fetchFrom(peer, specId, options).then(
      envelope => ({ peer, envelope }),
      (err: Error) => { failures.push(`${peer}: ${err.message}`); return null }
    )))
    for (const answer of answers) {
      if (answer != null && await this.ingestFrom(answer.peer, answer.envelope, specId, failures)) return
    }
    const where = [
      this.dht == null ? 'this node runs no DHT' : providers.length === 0 ? 'no provider of it is known to the DHT' : `${providers.length} provider${providers.length === 1 ? '' : 's'} tried`,
      connected.length === 0 ? 'no other connected peer to ask' : `${connected.length} connected peer${connected.length === 1 ? '' : 's'} asked`
    ].join('; ')
    throw new SpecFetchError(specId, failures.length > 0 ? `${where} (${failures.join('; ')})` : where)
  }

  /** Fetch from one peer and ingest; false (the reason in `failures`) when that peer did not deliver an acceptable spec. */
  private async fetchAndIngest (peer: string, specId: string, options: AbortOptions, failures: string[]): Promise<boolean> {
    let envelope: Uint8Array
    try {
      envelope = await this.fetchFrom(peer, specId, options)
    } catch (err) {
      failures.push(`${peer}: ${(err as Error).message}`)
      return false
    }
    return await this.ingestFrom(peer, envelope, specId, failures)
  }

  /** Check and store what `peer` answered; false (the reason in `failures`) when it is not acceptable. */
  private async ingestFrom (peer: string, envelope: Uint8Array, specId: string, failures: string[]): Promise<boolean> {
    try {
      await this.init.ingest(envelope, peer)
      this.log('spec-fetch.fetched', { specId, from: peer })
      return true
    } catch (err) {
      failures.push(`${peer}: ${(err as Error).message}`)
      return false
    }
  }

  /** The peers this node has an open connection to, once each. */
  private connectedPeers (): string[] {
    return [...new Set(this.components.connectionManager.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))]
  }

  /** One request, one answer: the spec's envelope, or not-found. */
  private async fetchFrom (peerIdText: string, specId: string, options: AbortOptions): Promise<Uint8Array> {
    const signal = AbortSignal.any([AbortSignal.timeout(SPEC_FETCH_TIMEOUT_MS), this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    const peer = await this.peerIdOf(peerIdText)
    const connection = await this.components.connectionManager.openConnection(peer, { signal })
    const stream = await connection.newStream(PROTOCOLS.specFetch, { signal })
    const framed = specFetchStream(stream, MAX_MESSAGE_BYTES)
    try {
      await framed.write(new TextEncoder().encode(JSON.stringify({ id: specId })), { signal })
      const answer = await framed.read({ signal })
      await stream.close({ signal }).catch(() => {})
      let head: { id?: unknown, type?: unknown, error?: unknown }
      try {
        head = JSON.parse(new TextDecoder().decode(answer))
      } catch {
        throw new SpecFetchProtocolError('answered with a frame that is not JSON')
      }
      if (head.error === 'not-found') throw new SpecFetchProtocolError('does not hold it')
      // Checked before the validator runs: a provider answering with another spec is not one of this spec.
      if (head.type !== 'spec' || head.id !== specId) throw new SpecFetchProtocolError(`answered with ${String(head.type)} ${String(head.id)} instead of the spec asked for`)
      return answer
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async serve (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(SPEC_FETCH_TIMEOUT_MS)
    const framed = specFetchStream(stream, MAX_SPEC_FETCH_REQUEST_BYTES)
    const request = SpecFetchRequestSchema.parse(JSON.parse(new TextDecoder().decode(await framed.read({ signal }))))
    await framed.write(await this.init.localSpec(request.id) ?? NOT_FOUND, { signal })
    await stream.close({ signal })
  }

  private async announce (specId: string): Promise<void> {
    const entry = this.providing.get(specId)
    const dht = this.dht
    if (entry == null || dht == null) return
    let reached = 0
    try {
      for await (const event of dht.provide(CID.parse(specId), { signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS * 3)]) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageType === MessageType.ADD_PROVIDER) reached++
      }
    } catch {}
    if (this.providing.get(specId) !== entry) return
    if (reached > 0) {
      entry.announced = true
      entry.retryMs = PROVIDE_FIRST_RETRY_MS
      this.log('discovery.provided', { specId, peers: reached })
      return
    }
    // Nobody took the record (no DHT peer yet): try again later. kad-dht's own
    // reprovider takes over once a record has been placed.
    entry.timer = setTimeout(() => { void this.announce(specId) }, entry.retryMs)
    entry.timer.unref()
    entry.retryMs = Math.min(entry.retryMs * 2, PROVIDE_MAX_RETRY_MS)
  }

  private async peerIdOf (text: string): Promise<PeerId> {
    return peerIdFromString(text)
  }
}

/** The spec discovery service, for createLibp2p({ services }). */
export function specDiscovery (init: SpecDiscoveryInit): (components: SpecDiscoveryComponents) => SpecDiscovery {
  return components => new SpecDiscovery(components, init)
}
