import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import type { Db } from '../../../src/store/db.ts'
import { tempDbs } from '../../helpers/temp-db.ts'
import { PEER_DATASTORE_CACHE_SIZE, PeerDatastore } from '../../../src/store/peer-datastore.ts'

/** libp2p's datastore on a real LevelDB, as libp2pDatastore opens it, with the LevelDB reads counted. */
const openDb = tempDbs('peer-datastore-')

/** `slowReads`: each LevelDB read answers only after this promise settles (a read that a write overtakes). */
async function open (dir?: string, slowReads?: Promise<void>): Promise<{ store: PeerDatastore, reads: () => number, dir: string, db: Db }> {
  const { db, dir: path } = await openDb(dir)
  const level = db.sublevel<string, Uint8Array>('libp2p', { keyEncoding: 'utf8', valueEncoding: 'view' })
  let reads = 0
  const get = level.get.bind(level)
  level.get = (async (...args: Parameters<typeof get>) => {
    reads++
    const value = await get(...args)
    await slowReads
    return value
  }) as typeof level.get
  const store = new PeerDatastore(level as unknown as ConstructorParameters<typeof PeerDatastore>[0])
  await store.open()
  return { store, reads: () => reads, dir: path, db }
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
})
