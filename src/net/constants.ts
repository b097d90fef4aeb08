/**
 * Protocol ids and names of specmesh's discovery. The version is in each, so
 * nodes that would misunderstand each other never speak.
 */

/** specmesh's own Kademlia DHT (not the public IPFS DHT, /ipfs/kad/1.0.0). */
export const DHT_PROTOCOL = '/specmesh/kad/1.0.0'

/** The mDNS service name specmesh nodes announce and query, so they find each other and not every libp2p node on the LAN. */
export const MDNS_SERVICE_TAG = '_specmesh._udp.local'

/** How long one spec fetch (dial, request, answer) may take. */
export const SPEC_FETCH_TIMEOUT_MS = 10_000

/** How long a provider lookup runs before we use what it found. */
export const FIND_PROVIDERS_TIMEOUT_MS = 10_000

/** Most providers a lookup returns, and most a coordinator dials for one spec. */
export const MAX_PROVIDERS = 20
export const MAX_PROVIDER_DIALS = 8
/** How many connected peers a spec fetch asks when the DHT's providers did not deliver the spec. */
export const MAX_SPEC_FETCH_CONNECTED_PEERS = 8

/** Largest spec-fetch request frame, in bytes: {"id": "<spec id>"} fits many times over. */
export const MAX_SPEC_FETCH_REQUEST_BYTES = 1024

/** A failed provide is tried again after this, doubling up to the maximum, until it reaches a peer. */
export const PROVIDE_FIRST_RETRY_MS = 2_000
export const PROVIDE_MAX_RETRY_MS = 5 * 60_000

/** A coordinator looks up one spec's providers at most this often when it knows no agent with room. */
export const PROVIDER_LOOKUP_INTERVAL_MS = 30_000

/**
 * A coordinator or follower on a spec's topics looks its providers up again in
 * the background (provider-seeker.ts): first after this, doubling up to the
 * maximum, and from the first again whenever a lookup met a new provider.
 */
export const PROVIDER_SEEK_FIRST_MS = 1_000
export const PROVIDER_SEEK_MAX_MS = 5 * 60_000

/**
 * Smallest gossip message for which a node tells its mesh peers "I don't want this one"
 * (gossipsub 1.2 IDONTWANT). Below it a duplicate costs less to receive than the
 * announcement costs to send, and the announcement goes out before validation, so a
 * flood of small useless messages would make every victim write one per mesh peer.
 */
export const IDONTWANT_MIN_BYTES = 16 * 1024

/**
 * What an idle node spends (bench:scale runs 100 node processes on 2 cores, where each one's
 * idle CPU adds to everyone's latency): the gossipsub heartbeat (gossipsub's default), and how
 * often libp2p's connection monitor pings each connection (libp2p's default is 10 s).
 */
export const GOSSIP_HEARTBEAT_MS = 1_000
export const CONNECTION_PING_INTERVAL_MS = 30_000
