import type { Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'

/** How many of the most recently read or written values PeerDatastore keeps in memory (a peer record is a few hundred bytes). */
export const PEER_DATASTORE_CACHE_SIZE = 1024

/**
 * A peer record that differs from the one held only in its `updated` time is written to
 * LevelDB again only once the held one is this old. libp2p's peer store drops a record not
 * updated for 6 hours (and addresses by their own `observed` time, which such a write keeps),
 * so a record's `updated` that lags by up to this much changes nothing a node does.
 */
export const PEER_RECORD_REFRESH_MS = 10 * 60_000

/** libp2p's peer store's records: /peers/<peer id as a CID>. */
const PEER_RECORD_PREFIX = '/peers/'

/**
 * The `updated` time of a libp2p peer record (protobuf field 8, tag 0x40, a varint of epoch
 * ms, the last field its codec writes) and where its tag starts; undefined for a value that
 * does not end so.
 */
export function peerRecordUpdated (value: Uint8Array): { at: number, ms: number } | undefined {
  const end = value.length - 1
  if (end < 1 || (value[end]! & 0x80) !== 0) return undefined
  let tag = end - 1
  while (tag >= 0 && (value[tag]! & 0x80) !== 0) tag--
  // A millisecond time since 2001 takes 6 varint bytes; 8 reach far beyond any date.
  const length = end - tag
  if (tag < 0 || value[tag] !== 0x40 || length < 6 || length > 8) return undefined
  let ms = 0
  for (let i = end; i > tag; i--) ms = ms * 128 + (value[i]! & 0x7f)
  return { at: tag, ms }
}

/** Whether two peer records are the same but for their `updated` time; the held one's time when they are. */
function sameButUpdated (held: Uint8Array, next: Uint8Array): number | undefined {
  const a = peerRecordUpdated(held)
  const b = peerRecordUpdated(next)
  if (a == null || b == null || a.at !== b.at) return undefined
  for (let i = 0; i < a.at; i++) if (held[i] !== next[i]) return undefined
  return a.ms
}

/**
 * The datastore libp2p keeps its peer store and DHT records in, on the node's
 * LevelDB, with reads that run to the end even when the caller's signal aborts,
 * and the values most recently read or written kept in memory.
 *
 * Why reads ignore the signal: libp2p's peer store updates a record by reading
 * it, merging, and writing it back, and it takes a failed read for "no record
 * yet". When the signal of an update (a DHT routing-table change made while
 * the node stops, a dial that timed out) aborts during the read, the read
 * fails, and the record is written afresh with only the update in it: the
 * peer's addresses and our 'specmesh/last-seen' mark are gone, and a restarted
 * node has nobody to redial. A LevelDB read is local and takes microseconds,
 * so letting it finish costs nothing; writes keep their signal (the peer store
 * passes none to the write that follows the read).
 *
 * Why the cache: libp2p merges the stream's protocol into the remote peer's
 * record for every stream it opens or accepts (each connection-monitor ping, each
 * gossip, DHT or sync stream), a LevelDB read and write each time, and its DHT
 * reads the records of the peers it names in every answer. In CPU profiles of
 * bench:scale's idle nodes the peer store and LevelDB under it were the largest
 * part of libp2p's own work. The records read are those of the peers a node is
 * connected to, a few dozen, so a small cache answers nearly all of them; every
 * write still goes to LevelDB first, so nothing is lost on a crash.
 *
 * Why some writes are skipped: the peer store writes the record back after every such merge
 * even when nothing but its `updated` time changed (each ping, each stream of a protocol the
 * record already names). In idle CPU profiles of bench:scale at 100 nodes (3 December) those
 * LevelDB writes were a sixth of a coordinator's work and the largest single item of it. A
 * record the same as the one held but for `updated` is not written while the held one is
 * younger than PEER_RECORD_REFRESH_MS: reads keep answering the held one, whose addresses,
 * protocols, keys, tags and metadata are the same.
 */
export class PeerDatastore extends LevelDatastore {
  /** Values by key, least recently used first; exactly what LevelDB holds for those keys. */
  private readonly recent = new Map<string, Uint8Array>()
  /**
   * Counts every write started. A read from LevelDB is remembered only if no write started
   * while it ran: it might have read the value that write replaced.
   */
  private writes = 0

  override async get (key: Key, _options?: AbortOptions): Promise<Uint8Array> {
    const name = key.toString()
    const hit = this.recent.get(name)
    if (hit != null) {
      this.touch(name, hit)
      return hit
    }
    const writes = this.writes
    const value = await super.get(key)
    if (writes === this.writes) this.remember(name, value)
    return value
  }

  override async has (key: Key, _options?: AbortOptions): Promise<boolean> {
    if (this.recent.has(key.toString())) return true
    return await super.has(key)
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const name = key.toString()
    const held = name.startsWith(PEER_RECORD_PREFIX) ? this.recent.get(name) : undefined
    if (held != null) {
      const heldUpdated = sameButUpdated(held, value)
      if (heldUpdated != null && Date.now() - heldUpdated < PEER_RECORD_REFRESH_MS) {
        this.touch(name, held)
        return key
      }
    }
    this.writes++
    // Until LevelDB has it, a read finds the old value there, never a value that may not land.
    this.recent.delete(name)
    const stored = await super.put(key, value, options)
    this.remember(name, value)
    return stored
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    this.writes++
    this.recent.delete(key.toString())
    await super.delete(key, options)
  }

  override batch (): ReturnType<LevelDatastore['batch']> {
    const inner = super.batch()
    const touched: string[] = []
    return {
      put: (key: Key, value: Uint8Array) => { touched.push(key.toString()); inner.put(key, value) },
      delete: (key: Key) => { touched.push(key.toString()); inner.delete(key) },
      commit: async (options?: AbortOptions) => {
        this.writes++
        for (const name of touched) this.recent.delete(name)
        await inner.commit(options)
      }
    }
  }

  /** `name`, held, becomes the most recently used. */
  private touch (name: string, value: Uint8Array): void {
    this.recent.delete(name)
    this.recent.set(name, value)
  }

  private remember (name: string, value: Uint8Array): void {
    this.recent.set(name, value)
    if (this.recent.size > PEER_DATASTORE_CACHE_SIZE) this.recent.delete(this.recent.keys().next().value!)
  }
}
