import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, identifyPush, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { peerScorePolicy, SCORE_PARAMS } from './peer-scoring.ts'
import { meshCatchUp } from './mesh-catch-up.ts'
import type { Metrics, PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import type { Datastore } from 'interface-datastore'
import { sha256 } from '../crypto/content-id.ts'
import { MAX_MESSAGE_BYTES } from '../wire/constants.ts'
import { CONNECTION_PING_INTERVAL_MS, DHT_PROTOCOL, GOSSIP_HEARTBEAT_MS, IDONTWANT_MIN_BYTES, MDNS_SERVICE_TAG } from './constants.ts'
import type { ValidationGuard } from './validation-guard.ts'
import { reachabilityConfig, type ReachabilityInit } from './reachability.ts'
import { forgetDhtNeighbourTags, keepNoDhtNeighboursAlive } from './dht-neighbours.ts'
import { withConnectionHooks } from './connection-hooks.ts'
import { mergeQueuedWrites } from './merged-writes.ts'
import { cheapenShortReads } from './short-reads.ts'
import { withLazyWindowUpdates } from './lazy-window-updates.ts'
import { noiseCrypto } from '../crypto/noise-cipher.ts'
import { quietLogger } from './quiet-logger.ts'

/** The services every specmesh node runs; the optional ones depend on its settings. */
export interface SpecmeshServices {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  /** specmesh's own Kademlia DHT, when `dht` is on. */
  dht?: KadDHT
  [name: string]: unknown
}

export type SpecmeshLibp2p = Libp2p<SpecmeshServices>

/** A libp2p service factory: takes the components it needs, returns the service (Startable or not). */
export type ServiceFactory = (components: any) => unknown

export interface Libp2pInit {
  privateKey: PrivateKey
  /** Accounting of validation work per peer: feeds the application score (P5) and refuses graylisted peers' connections. */
  guard?: ValidationGuard
  /** @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
  /** Relays, AutoNAT, DCUtR, and addresses announced besides the listen ones (reachability.ts). */
  reachability?: ReachabilityInit
  /** Where reachability reports go. @default nowhere */
  log?: (event: string, fields?: Record<string, unknown>) => void
  /** Where the peer store and DHT records live. @default in memory */
  datastore?: Datastore
  /** Join specmesh's DHT (server mode: every node answers queries). @default true */
  dht?: boolean
  /** Announce and find peers on the local network by mDNS. @default false */
  mdns?: boolean
  /**
   * More services, composed beside the ones above: specmesh's own (reconnect,
   * spec discovery) and reachability (relay, AutoNAT, DCUtR). A service that
   * implements Startable is started and stopped with the node.
   */
  services?: Record<string, ServiceFactory>
  /** libp2p's metrics implementation (e.g. @libp2p/prometheus-metrics). @default none */
  metrics?: (components: any) => Metrics
}

/**
 * Messages are signed once, by the application, inside the envelope; gossipsub
 * itself runs StrictNoSign with the message id set to the content hash of the
 * bytes, as Ethereum consensus clients do (DESIGN.md "Measured": signing twice
 * costs throughput for nothing).
 */
function pubsub (guard: ValidationGuard | undefined): ServiceFactory {
  return gossipsub({
    globalSignaturePolicy: StrictNoSign,
    msgIdFn: (msg: Message) => sha256(msg.data),
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    emitSelf: false,
    // The limit applies to a whole RPC frame, which wraps the message in protobuf and control data.
    maxInboundDataLength: MAX_MESSAGE_BYTES + 16 * 1024,
    // gossipsub's own default. A message goes to mesh peers the moment it is published or
    // accepted; the heartbeat only repairs meshes and gossips IHAVE, so a shorter one (we had
    // 700 ms) buys little latency and costs every node CPU per heartbeat per peer, idle or not.
    heartbeatInterval: GOSSIP_HEARTBEAT_MS,
    // gossipsub sends IDONTWANT to every mesh peer for each new message of this size or more,
    // before the topic validator has run. At its default (512 bytes) that covers a signed job
    // call: a flood of them made each victim write one control RPC per mesh peer per flood
    // message (a quarter of its CPU in the flood test), and honest jobs, bids and receipts
    // paid the same for duplicates that cost less to receive than to announce. From 16 KiB
    // a duplicate costs more than the announcement, so large specs keep the saving.
    idontwantMinDataSize: IDONTWANT_MIN_BYTES,
    // Peer scoring: src/net/peer-scoring.ts (protocols/README.md "Peer scoring").
    scoreParams: {
      ...SCORE_PARAMS,
      // P5: a peer our validation guard graylisted (src/net/validation-guard.ts) scores far below the graylist threshold.
      appSpecificScore: (peer: string) => guard?.appScore(peer) ?? 0,
      appSpecificWeight: 1
    }
  }) as ServiceFactory
}

/**
 * specmesh's DHT: its own protocol id, so specmesh nodes form a DHT of their
 * own and never join (or answer) the public IPFS one. Every node is a server
 * (clientMode false): a specmesh mesh is small and often on one LAN or one
 * host, where kad-dht's automatic mode would keep every node a client for want
 * of a public address, and nobody would answer. For the same reason peers'
 * private and loopback addresses are kept (passthroughMapper), not stripped.
 */
function dht (): ServiceFactory {
  return kadDHT({
    protocol: DHT_PROTOCOL,
    clientMode: false,
    peerInfoMapper: passthroughMapper,
    // A node started alone still accepts provide and lookup calls; they find nothing until a peer comes.
    allowQueryWithZeroPeers: true,
    logPrefix: 'specmesh:dht',
    datastorePrefix: '/specmesh-dht'
  }) as ServiceFactory
}

export async function buildLibp2p (init: Libp2pInit): Promise<SpecmeshLibp2p> {
  const reachability = reachabilityConfig(init.reachability, init.log)
  const services: Record<string, ServiceFactory> = {
    ...reachability.services,
    identify: identify() as ServiceFactory,
    // Tells connected peers when our protocols or addresses change. A node dials its remembered
    // peers as libp2p starts, before node.ts has registered sync and the market's protocols, so
    // the identify those peers ran lacked them; without the push a peer that met us that way
    // never synced with us (it had relied on its own redial of us, a kad-dht keep-alive, which
    // dht-neighbours.ts turns off).
    identifyPush: identifyPush() as ServiceFactory,
    // libp2p's connection monitor pings every connection every 10 s and aborts the
    // connection (every stream on it, running executions too) when a ping fails. A
    // ping stream that is still closing when the next one opens counts against the
    // outbound limit, which is 1 by default: on a loaded machine that made the
    // second ping fail and killed healthy connections. 2 leaves room for the one
    // closing; the other side accepts 2 inbound ping streams (ping's default).
    ping: ping({ maxOutboundStreams: 2 }) as ServiceFactory,
    pubsub: pubsub(init.guard),
    // After pubsub, which it adjusts: relayed peers and gone peers out of IP colocation.
    scorePolicy: peerScorePolicy() as ServiceFactory,
    // After pubsub too: a peer that joins our mesh hears of the messages that went by just before (mesh-catch-up.ts).
    meshCatchUp: meshCatchUp() as ServiceFactory,
    ...(init.dht !== false ? { dht: dht() } : {}),
    ...(init.mdns === true ? { mdns: mdns({ serviceTag: MDNS_SERVICE_TAG }) as ServiceFactory } : {}),
    ...init.services
  }
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: {
      listen: [...(init.listen ?? ['/ip4/0.0.0.0/tcp/0']), ...reachability.listen],
      // Appended, not replacing: peers on the same network keep the listen addresses.
      appendAnnounce: reachability.announce
    },
    ...(init.datastore != null ? { datastore: init.datastore } : {}),
    ...(init.metrics != null ? { metrics: init.metrics } : {}),
    // No debug logger built for a stream whose topic is off (quiet-logger.ts).
    logger: quietLogger(),
    transports: [tcp(), ...reachability.transports],
    // A peer graylisted for flooding is refused outright until its graylisting ends.
    connectionGater: {
      denyInboundEncryptedConnection: peer => init.guard?.isGraylisted(peer.toString()) ?? false,
      denyOutboundEncryptedConnection: peer => init.guard?.isGraylisted(peer.toString()) ?? false,
      denyDialPeer: peer => init.guard?.isGraylisted(peer.toString()) ?? false
    },
    // Each ping opens a stream on every connection (negotiation, a peer-store read on both
    // sides): at libp2p's 10 s that was most of an idle node's network work. This ping is what
    // finds a connection that died silently (it aborts the connection when a ping fails), and
    // its traffic every 30 s is what keeps a NAT's mapping of the connection alive.
    connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
    // Each encrypted frame handed to the socket in one write, not two (merged-writes.ts), and
    // each read ending between frames without a new Error (short-reads.ts).
    connectionEncrypters: [withConnectionHooks(noise({ crypto: noiseCrypto() }), { raw: mergeQueuedWrites, secured: cheapenShortReads })],
    // yamux's own keep-alive (a ping frame each way on every connection, every 30 s) is off: the
    // connection monitor above already sends traffic on every connection every 30 s, and yamux's
    // ping only logs when it goes unanswered (it never closes the connection), so it found nothing
    // the monitor does not. Off, an idle connection costs each side one ping stream per 30 s, not
    // that and two more encrypted frames to write and two to read. Window updates go once half a
    // stream's window is used, not after every data frame (lazy-window-updates.ts).
    streamMuxers: [withLazyWindowUpdates(yamux({ enableKeepAlive: false }))],
    services,
    // Started below, once the DHT has been told to keep no neighbour alive.
    start: false
  })
  if (init.dht !== false) {
    keepNoDhtNeighboursAlive(node.services.dht)
    await forgetDhtNeighbourTags(node.peerStore)
  }
  await node.start()
  return node as unknown as SpecmeshLibp2p
}

/** The listen address a libp2p start failed on because another process holds it, if that was the failure. */
export function addressInUse (err: unknown): string | null {
  const message = err instanceof Error ? err.message : ''
  if (!message.includes('EADDRINUSE')) return null
  return /(\/ip[46]\/[^\s:]+\/tcp\/\d+)[^\n]*EADDRINUSE/.exec(message)?.[1] ?? 'the listen address'
}
