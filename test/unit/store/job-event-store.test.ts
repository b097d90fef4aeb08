import { describe, expect, it } from 'vitest'
import { sublevel } from '../../../src/store/db.ts'
import { GroupCommit } from '../../../src/store/group-commit.ts'
import { JobEventStore, type JobEvent } from '../../../src/store/job-event-store.ts'
import { JobEventLog } from '../../../src/market/job-events.ts'
import { tempDbs } from '../../helpers/temp-db.ts'

const openDb = tempDbs('job-event-store-')
const event = (jobId: string, seq: number, type: JobEvent['type'] = 'bid'): JobEvent => ({ seq, jobId, type, at: 1000 + seq, data: { n: seq } })

describe('JobEventStore', () => {
  it('stores the events of one job that one append carries under one key, and lists them from any seq, in order', async () => {
    const { db } = await openDb()
    const store = new JobEventStore(db, new GroupCommit(db))
    await store.append([event('a', 1, 'submitted'), event('b', 1, 'submitted'), event('a', 2, 'award'), event('a', 3, 'attempt-started')])
    await store.append([event('a', 4, 'attempt-ended'), event('a', 5, 'receipt'), event('a', 6, 'done')])
    // Three keys for seven events: a 1–3, b 1, a 4–6.
    expect(await sublevel(db, 'job-events').keys().all()).toHaveLength(3)
    expect((await store.list('a')).map(e => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
    // afterSeq inside a key's run of events, and at its end.
    expect((await store.list('a', 2)).map(e => [e.seq, e.type])).toEqual([[3, 'attempt-started'], [4, 'attempt-ended'], [5, 'receipt'], [6, 'done']])
    expect((await store.list('a', 3)).map(e => e.seq)).toEqual([4, 5, 6])
    expect(await store.list('a', 6)).toEqual([])
    expect(await store.list('b')).toEqual([event('b', 1, 'submitted')])
    expect(await store.lastSeq('a')).toBe(6)
    expect(await store.lastSeq('b')).toBe(1)
    expect(await store.lastSeq('c')).toBe(0)
  })

  it('reads a data folder written when every event had its own key', async () => {
    const { db } = await openDb()
    const events = sublevel(db, 'job-events')
    await db.batch([1, 2, 3].map(seq => ({ type: 'put' as const, sublevel: events, key: `old!${String(seq).padStart(10, '0')}`, value: event('old', seq) })))
    const store = new JobEventStore(db)
    await store.append([event('old', 4, 'done')])
    expect((await store.list('old', 1)).map(e => e.seq)).toEqual([2, 3, 4])
    expect(await store.lastSeq('old')).toBe(4)
  })

  it('gives a follower that resumes after a restart the events after the seq it saw, then the live ones', async () => {
    const { db, dir } = await openDb()
    const first = new JobEventLog(new JobEventStore(db, new GroupCommit(db)))
    first.record('j', 'submitted')
    first.record('j', 'award')
    first.record('j', 'attempt-started')
    await first.flushed()
    await db.close()
    const { db: reopened } = await openDb(dir)
    const log = new JobEventLog(new JobEventStore(reopened, new GroupCommit(reopened)))
    await log.reopen('j')
    const seen: Array<[number, string]> = []
    const following = (async () => { for await (const e of log.follow('j', 1)) seen.push([e.seq, e.type]) })()
    log.record('j', 'attempt-ended')
    log.record('j', 'done')
    await following
    expect(seen).toEqual([[2, 'award'], [3, 'attempt-started'], [4, 'attempt-ended'], [5, 'done']])
  })
})
