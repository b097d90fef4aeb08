import { Level } from 'level'
import type { AbstractBatchOperation } from 'abstract-level'
import { PeerDatastore } from './peer-datastore.ts'
import { StoreLockedError } from './errors.ts'

/**
 * The node's LevelDB. Each record family lives in its own sublevel so that a
 * key range scan never crosses families; multi-record updates go through
 * `batch` so that a crash leaves either all of them or none.
 */
export type Db = Level<string, unknown>
export type Sublevel = ReturnType<Db['sublevel']>
export type BatchOperation = AbstractBatchOperation<Db, string, unknown>

export async function openDb (path: string): Promise<Db> {
  const db = new Level<string, unknown>(path, { valueEncoding: 'json' })
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(path)
    throw err
  }
  return db
}

export function sublevel (db: Db, name: string): Sublevel {
  return db.sublevel<string, unknown>(name, { valueEncoding: 'json' }) as unknown as Sublevel
}

/** All values of a sublevel, optionally within a key range. */
export async function values<T> (level: Sublevel, range: { gte?: string, lt?: string, limit?: number } = {}): Promise<T[]> {
  return await level.values(range).all() as T[]
}

/**
 * The libp2p datastore (peer store, DHT provider records) on its own sublevel
 * of the node's LevelDB, so what the node knows of its peers survives a
 * restart and lives and dies with the rest of the data folder. Opened here;
 * closing the node's db closes it. Its reads ignore abort signals (see PeerDatastore).
 */
export async function libp2pDatastore (db: Db): Promise<PeerDatastore> {
  const level = db.sublevel<string, Uint8Array>('libp2p', { keyEncoding: 'utf8', valueEncoding: 'view' })
  const store = new PeerDatastore(level as unknown as ConstructorParameters<typeof PeerDatastore>[0])
  await store.open()
  return store
}
