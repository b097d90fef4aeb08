import { Key } from 'interface-datastore'
import { describe, expect, it, vi } from 'vitest'
import type { Db } from '../../../src/store/db.ts'
import { tempDbs } from '../../helpers/temp-db.ts'
import { createLibp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PEER_DATASTORE_CACHE_SIZE, PEER_RECORD_REFRESH_MS, PeerDatastore, peerRecordUpdated } from '../../../src/store/peer-datastore.ts'

/** libp2p's datastore on a real LevelDB, as libp2pDatastore opens it, with the LevelDB reads counted. */
const openDb = tempDbs('peer-datastore-')

/** `slowReads`: each LevelDB read answers only after this promise settles (a read that a write overtakes). */
async function open (dir?: string, slowReads?: Promise<void>): Promise<{ store: PeerDatastore, reads: () => number, writes: () => number, dir: string, db: Db }> {
  const { db, dir: path } = await openDb(dir)
  const level = db.sublevel<string, Uint8Array>('libp2p', { keyEncoding: 'utf8', valueEncoding: 'view' })
  let reads = 0
  let writes = 0
  const put = level.put.bind(level)
  level.put = (async (...args: Parameters<typeof put>) => { writes++; return await put(...args) }) as typeof level.put
  const get = level.get.bind(level)
  level.get = (async (...args: Parameters<typeof get>) => {
    reads++
    const value = await get(...args)
    await slowReads
    return value
  }) as typeof level.get
  const store = new PeerDatastore(level as unknown as ConstructorParameters<typeof PeerDatastore>[0])
  await store.open()
  return { store, reads: () => reads, writes: () => writes, dir: path, db }
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array): string => new TextDecoder().decode(value)

describe('PeerDatastore', () => {
  it('answers repeated reads of a record from memory, and a reopened store (a restart) reads what was written', async () => {
    const { store, reads, dir, db } = await open()
    const key = new Key('/peers/a')
    await store.put(key, bytes('v1'))
    // libp2p reads a connected peer's record for every stream: none of these reach LevelDB.
    for (let i = 0; i < 100; i++) expect(text(await store.get(key))).toBe('v1')
    expect(await store.has(key)).toBe(true)
    expect(reads()).toBe(0)
    await store.put(key, bytes('v2'))
    expect(text(await store.get(key))).toBe('v2')
    // Written through: a store opened afresh on the same LevelDB (the node restarted) reads it from disk.
    await db.close()
    const again = await open(dir)
    expect(text(await again.store.get(key))).toBe('v2')
    expect(again.reads()).toBe(1)
    expect(text(await again.store.get(key))).toBe('v2')
    expect(again.reads()).toBe(1)
  })

  it('never answers from memory a record deleted or replaced by a batch', async () => {
    const { store } = await open()
    const a = new Key('/peers/a')
    const b = new Key('/peers/b')
    await store.put(a, bytes('a1'))
    await store.put(b, bytes('b1'))
    await store.delete(a)
    await expect(store.get(a)).rejects.toThrow()
    expect(await store.has(a)).toBe(false)
    const batch = store.batch()
    batch.put(a, bytes('a2'))
    batch.delete(b)
    await batch.commit()
    expect(text(await store.get(a))).toBe('a2')
    await expect(store.get(b)).rejects.toThrow()
  })

  it('does not keep the old value of a read that a write overtook', async () => {
    const { store, dir, db } = await open()
    const key = new Key('/peers/a')
    await store.put(key, bytes('old'))
    await db.close()
    // A fresh store, so the read goes to LevelDB; it has the old value in hand when the write lands.
    let release = (): void => {}
    const { store: fresh } = await open(dir, new Promise(resolve => { release = resolve }))
    const reading = fresh.get(key)
    await fresh.put(key, bytes('new'))
    release()
    expect(text(await reading)).toBe('old')
    expect(text(await fresh.get(key))).toBe('new')
    void store
  })

  it('keeps at most PEER_DATASTORE_CACHE_SIZE records, the least recently used leaving first', async () => {
    const { store, reads } = await open()
    for (let i = 0; i <= PEER_DATASTORE_CACHE_SIZE; i++) await store.put(new Key(`/peers/${i}`), bytes(String(i)))
    // Record 0 was the least recently used: it is read from LevelDB again, and still right.
    expect(text(await store.get(new Key('/peers/0')))).toBe('0')
    expect(reads()).toBe(1)
    expect(text(await store.get(new Key(`/peers/${PEER_DATASTORE_CACHE_SIZE}`)))).toBe(String(PEER_DATASTORE_CACHE_SIZE))
    expect(reads()).toBe(1)
  })

  it('writes a peer record that changed only in its updated time at most every PEER_RECORD_REFRESH_MS; any other change at once', async () => {
    const { store, writes, dir, db } = await open()
    // libp2p's own peer store on it, as a node runs it: every stream merges its protocol into the remote peer's record.
    const libp2p = await createLibp2p({ datastore: store, start: false })
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await libp2p.peerStore.merge(peer, { protocols: ['/ipfs/ping/1.0.0'] })
    const first = writes()
    expect(first).toBe(1)
    // The same protocol again (the next ping, the next stream): nothing to write but the time.
    for (let i = 0; i < 20; i++) await libp2p.peerStore.merge(peer, { protocols: ['/ipfs/ping/1.0.0'] })
    expect(writes()).toBe(first)
    // A new protocol, a tag, metadata: written at once, and read back whole.
    await libp2p.peerStore.merge(peer, { protocols: ['/meshsub/1.2.0'] })
    await libp2p.peerStore.merge(peer, { metadata: { 'specmesh/last-seen': new TextEncoder().encode('1') } })
    expect(writes()).toBe(first + 2)
    expect((await libp2p.peerStore.get(peer)).protocols).toEqual(['/ipfs/ping/1.0.0', '/meshsub/1.2.0'])
    // Once the held record's time is PEER_RECORD_REFRESH_MS old, the next merge writes it again.
    const now = Date.now()
    const later = now + PEER_RECORD_REFRESH_MS + 1
    const clock = vi.spyOn(Date, 'now').mockReturnValue(later)
    try {
      await libp2p.peerStore.merge(peer, { protocols: ['/ipfs/ping/1.0.0'] })
      expect(writes()).toBe(first + 3)
    } finally { clock.mockRestore() }
    // What a restarted node reads is the record with everything in it.
    await db.close()
    const again = await open(dir)
    const reread = await createLibp2p({ datastore: again.store, start: false })
    const record = await reread.peerStore.get(peer)
    expect(record.protocols).toEqual(['/ipfs/ping/1.0.0', '/meshsub/1.2.0'])
    expect(record.metadata.get('specmesh/last-seen')).toBeDefined()
  })

  it('reads the updated time only at the end of a peer record (field 8), and leaves other values alone', () => {
    const varint = (n: number): number[] => { const out: number[] = []; while (n >= 128) { out.push((n % 128) | 0x80); n = Math.floor(n / 128) } out.push(n); return out }
    const ms = 1_764_800_000_000
    const record = Uint8Array.from([0x12, 3, 0x61, 0x62, 0x63, 0x40, ...varint(ms)])
    expect(peerRecordUpdated(record)).toEqual({ at: 5, ms })
    expect(peerRecordUpdated(bytes('v1'))).toBeUndefined()
    expect(peerRecordUpdated(Uint8Array.from([0x40, ...varint(5)]))).toBeUndefined()
    expect(peerRecordUpdated(new Uint8Array())).toBeUndefined()
  })
})
