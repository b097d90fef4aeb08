import { describe, expect, it } from 'vitest'
import { tempDbs } from '../../helpers/temp-db.ts'
import { ReceivedIndex } from '../../../src/store/received-index.ts'

/** The received-time index sync cursors are positions in, on a real LevelDB, with a clock the test sets. */
const open = tempDbs('received-index-')

const ids = async (index: ReceivedIndex, since: number): Promise<string[]> => {
  const out: string[] = []
  for await (const id of index.idsSince(since)) out.push(id)
  return out
}

describe('ReceivedIndex', () => {
  it('holds a cursor back at the oldest write still in flight, so a record landing late is not skipped', async () => {
    const { db } = await open()
    let now = 1000
    const landed = new Set<string>()
    const index = new ReceivedIndex(db, 'idx', async id => landed.has(id), () => now)
    await index.load(async function * () {})
    const entry = index.entry('slow')
    now = 5000
    expect(await index.cursor()).toBe(1000)
    await db.batch([entry])
    index.settled('slow')
    expect(await index.cursor()).toBe(5000)
    expect(await ids(index, 1000)).toEqual(['slow'])
    expect(await ids(index, 5000)).toEqual([])
  })

  it('never stamps below a cursor it handed out, even after a restart with the clock stepped back', async () => {
    const first = await open()
    let now = 10_000
    const index = new ReceivedIndex(first.db, 'idx', async () => true, () => now)
    await index.load(async function * () {})
    expect(await index.cursor()).toBe(10_000)
    await first.db.close()

    const again = await open(first.dir)
    now = 4_000
    const reopened = new ReceivedIndex(again.db, 'idx', async () => true, () => now)
    await reopened.load(async function * () {})
    await again.db.batch([reopened.entry('after-restart')])
    reopened.settled('after-restart')
    expect(await ids(reopened, 10_000)).toEqual(['after-restart'])
  })

  it('indexes the records of a store written before the index existed, once, by their receivedAt', async () => {
    const { db } = await open()
    const index = new ReceivedIndex(db, 'idx', async () => true, () => 50_000)
    await index.load(async function * () {
      yield { id: 'old-a', receivedAt: 100 }
      yield { id: 'old-b', receivedAt: 200 }
    })
    expect(await ids(index, 0)).toEqual(['old-a', 'old-b'])
    expect(await ids(index, 150)).toEqual(['old-b'])
    // Loaded again: already indexed, the old records are not read again.
    const again = new ReceivedIndex(db, 'idx', async () => true, () => 50_000)
    await again.load(async function * () { throw new Error('read the store again') })
    expect(await ids(again, 0)).toEqual(['old-a', 'old-b'])
  })
})
