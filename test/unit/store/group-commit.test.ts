import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openDb, sublevel, type Db } from '../../../src/store/db.ts'
import { GroupCommit } from '../../../src/store/group-commit.ts'
import { JobStore, type JobRecord } from '../../../src/store/job-store.ts'

let db: Db | undefined
let dir: string | undefined

afterEach(async () => {
  await db?.close()
  if (dir != null) await rm(dir, { recursive: true, force: true })
  db = undefined
  dir = undefined
})

async function open (): Promise<Db> {
  dir = await mkdtemp(join(tmpdir(), 'group-commit-'))
  db = await openDb(dir)
  return db
}

/** Counts the batches that reach LevelDB and the operations in each. */
function countBatches (target: Db): number[] {
  const sizes: number[] = []
  const batch = target.batch.bind(target) as (ops: unknown[]) => Promise<void>
  target.batch = ((ops: unknown[]) => { sizes.push(ops.length); return batch(ops) }) as typeof target.batch
  return sizes
}

const record = (jobId: string): JobRecord => ({ jobId, specId: 's', specName: 'n', status: 'bidding', submittedAt: 1, deadline: 2, maxUsd: 0, inputHash: 'h', costUsd: 0, attempts: [] })

describe('group commit', () => {
  it('writes everything asked for in one turn of the event loop as one batch, and each write resolves once it is stored', async () => {
    const target = await open()
    const sizes = countBatches(target)
    const jobs = new JobStore(target, new GroupCommit(target))
    await Promise.all(Array.from({ length: 20 }, async (_, i) => { await jobs.create(record(`j${i}`), { i }) }))
    expect(sizes).toEqual([40])
    expect(await jobs.get('j7')).toEqual(record('j7'))
    expect(await jobs.input('j19')).toEqual({ i: 19 })
  })

  it('stores a value as it was when the write was asked for, and a key put twice in one batch once, with its last value', async () => {
    const target = await open()
    const sizes = countBatches(target)
    const jobs = new JobStore(target, new GroupCommit(target))
    const r = record('j')
    const first = jobs.save(r)
    r.status = 'running'
    const second = jobs.save(r)
    // Changed after its last write: not stored.
    r.status = 'succeeded'
    await Promise.all([first, second])
    expect(sizes).toEqual([1])
    expect((await jobs.get('j'))?.status).toBe('running')
  })

  it('never writes a batch before the one before it has landed, so a later write of a key wins', async () => {
    const target = await open()
    const sizes = countBatches(target)
    const level = sublevel(target, 'k')
    const commit = new GroupCommit(target)
    const writes: Array<Promise<void>> = []
    for (let i = 0; i < 5; i++) {
      writes.push(commit.write([{ type: 'put', sublevel: level, key: 'x', value: i }]))
      await new Promise(resolve => setImmediate(resolve))
    }
    await Promise.all(writes)
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5)
    expect(await level.get('x')).toBe(4)
  })

  it('a failed batch fails every write in it, and later writes go on', async () => {
    const target = await open()
    const commit = new GroupCommit(target)
    const level = sublevel(target, 'k')
    const batch = target.batch.bind(target) as (ops: unknown[]) => Promise<void>
    let fail = true
    target.batch = ((ops: unknown[]) => fail ? Promise.reject(new Error('disk full')) : batch(ops)) as typeof target.batch
    await expect(commit.write([{ type: 'put', sublevel: level, key: 'a', value: 1 }])).rejects.toThrow('disk full')
    fail = false
    await commit.write([{ type: 'put', sublevel: level, key: 'b', value: 2 }])
    expect(await level.get('b')).toBe(2)
    expect(await level.get('a')).toBeUndefined()
  })
})
