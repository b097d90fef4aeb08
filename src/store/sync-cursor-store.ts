import { sublevel, type BatchOperation, type Db, type Sublevel } from './db.ts'

/**
 * The sync cursors this node holds, per (peer, request scope): the number a
 * peer's last complete answer ended with, sent back as `since` on the next
 * reconnect so that only what it stored since is exchanged (protocols/sync.md).
 * Per peer: a cursor is a position in that peer's store, meaningless at any
 * other, so a peer lying about it can only starve us of its own records.
 * Kept in LevelDB so a restart resumes where the last complete pull ended.
 */
export class SyncCursorStore {
  private readonly db: Db
  private readonly level: Sublevel

  constructor (db: Db) {
    this.db = db
    this.level = sublevel(db, 'sync-cursors')
  }

  private key (peer: string, scope: string): string {
    return `${peer}!${scope}`
  }

  async get (peer: string, scope: string): Promise<number | null> {
    const value = await this.level.get(this.key(peer, scope)) as number | undefined
    return typeof value === 'number' ? value : null
  }

  /** Set several scopes of one peer at once (one batch: all or none after a crash). */
  async set (peer: string, scopes: readonly string[], cursor: number): Promise<void> {
    const operations: BatchOperation[] = scopes.map(scope => ({ type: 'put' as const, sublevel: this.level, key: this.key(peer, scope), value: cursor }))
    await this.db.batch(operations)
  }
}
