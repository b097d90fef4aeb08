import type { Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'

/**
 * The datastore libp2p keeps its peer store and DHT records in, on the node's
 * LevelDB, with reads that run to the end even when the caller's signal aborts.
 *
 * Why: libp2p's peer store updates a record by reading it, merging, and
 * writing it back, and it takes a failed read for "no record yet". When the
 * signal of an update (a DHT routing-table change made while the node stops,
 * a dial that timed out) aborts during the read, the read fails, and the
 * record is written afresh with only the update in it: the peer's addresses
 * and our 'specmesh/last-seen' mark are gone, and a restarted node has nobody
 * to redial. A LevelDB read is local and takes microseconds, so letting it
 * finish costs nothing; writes keep their signal (the peer store passes none
 * to the write that follows the read).
 */
export class PeerDatastore extends LevelDatastore {
  override async get (key: Key, _options?: AbortOptions): Promise<Uint8Array> {
    return await super.get(key)
  }

  override async has (key: Key, _options?: AbortOptions): Promise<boolean> {
    return await super.has(key)
  }
}
