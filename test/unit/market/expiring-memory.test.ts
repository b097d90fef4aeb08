import { describe, expect, it } from 'vitest'
import { MAX_SEEN_IDS, SeenIds } from '../../../src/market/seen-ids.ts'
import { MAX_RECENT_JOBS, RecentJobs, type KnownJob } from '../../../src/market/recent-jobs.ts'

/** What lies past the limits of the two in-memory id tables gossip validation keeps. */
describe('SeenIds past its limit', () => {
  it('drops expired ids first, then the oldest, and never holds more than its limit', () => {
    const seen = new SeenIds(3)
    seen.add('a', 100, 0)
    seen.add('b', 50, 0)
    seen.add('c', 200, 0)
    // Full at t=60: b (until 50) has expired and goes; a, the oldest, stays.
    seen.add('d', 300, 60)
    expect(['a', 'b', 'c', 'd'].filter(id => seen.has(id))).toEqual(['a', 'c', 'd'])
    // Full again with nothing expired: the oldest (a) goes.
    seen.add('e', 300, 60)
    expect(['a', 'c', 'd', 'e'].filter(id => seen.has(id))).toEqual(['c', 'd', 'e'])
    expect(seen.size).toBe(3)
  })

  it(`holds ${MAX_SEEN_IDS} ids by default, and the ${MAX_SEEN_IDS + 1}th pushes out the oldest`, () => {
    const seen = new SeenIds()
    for (let i = 0; i < MAX_SEEN_IDS; i++) seen.add(`id-${i}`, 1000, 0)
    expect(seen.size).toBe(MAX_SEEN_IDS)
    seen.add('one-more', 1000, 0)
    expect(seen.size).toBe(MAX_SEEN_IDS)
    expect(seen.has('id-0')).toBe(false)
    expect(seen.has('id-1')).toBe(true)
    expect(seen.has('one-more')).toBe(true)
  })
})

describe('RecentJobs past its limit', () => {
  const job = (jobId: string, deadline: number): KnownJob => ({
    jobId,
    coordinator: 'c',
    publishedAt: 0,
    body: { specId: 's', inputHash: 'h', inputSize: 1, maxUsd: 0.1, deadline, bidWindowMs: 100, createdAt: 0, nonce: jobId }
  })

  it('drops jobs past their deadline first, then the oldest', () => {
    const jobs = new RecentJobs(2)
    const past = Date.now() - 1000
    const future = Date.now() + 60_000
    jobs.add(job('live', future))
    jobs.add(job('over', past))
    jobs.add(job('new', future))
    expect(['live', 'over', 'new'].filter(id => jobs.get(id) != null)).toEqual(['live', 'new'])
    jobs.add(job('newer', future))
    expect(['live', 'new', 'newer'].filter(id => jobs.get(id) != null)).toEqual(['new', 'newer'])
  })

  it(`holds ${MAX_RECENT_JOBS} jobs by default, and one more pushes out the oldest`, () => {
    const jobs = new RecentJobs()
    const future = Date.now() + 60_000
    for (let i = 0; i < MAX_RECENT_JOBS; i++) jobs.add(job(`job-${i}`, future))
    jobs.add(job('one-more', future))
    expect(jobs.size).toBe(MAX_RECENT_JOBS)
    expect(jobs.get('job-0')).toBeUndefined()
    expect(jobs.get('job-1')?.jobId).toBe('job-1')
    expect(jobs.get('one-more')?.jobId).toBe('one-more')
  })
})
