import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { openDb, type Db } from '../../src/store/db.ts'

/**
 * Real LevelDBs in temporary folders for the tests of one file: call once at the
 * file's top level; every database it opened is closed, and every folder it made
 * removed, after each test (closing one the test closed already does nothing, so a
 * test may close a database to reopen it). `open(dir)` opens a folder made earlier in the same
 * test again (a restart); `open()` makes a fresh one.
 */
export function tempDbs (prefix: string): (dir?: string) => Promise<{ db: Db, dir: string }> {
  let dirs: string[] = []
  let dbs: Db[] = []
  afterEach(async () => {
    await Promise.all(dbs.map(async db => { await db.close() }))
    await Promise.all(dirs.map(async dir => { await rm(dir, { recursive: true, force: true }) }))
    dbs = []
    dirs = []
  })
  return async (dir) => {
    const path = dir ?? await mkdtemp(join(tmpdir(), prefix))
    if (dir == null) dirs.push(path)
    const db = await openDb(path)
    dbs.push(db)
    return { db, dir: path }
  }
}
