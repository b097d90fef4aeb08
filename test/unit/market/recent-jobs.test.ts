import { describe, expect, it } from 'vitest'
import { MAX_AWAITING, RecentJobs } from '../../../src/market/recent-jobs.ts'
import type { JobBody } from '../../../src/market/messages.ts'

const known = (jobId: string) => ({ jobId, coordinator: 'c', body: { deadline: Date.now() + 60_000 } as JobBody, publishedAt: Date.now() })

describe('RecentJobs.awaitJob: a bid that outran its job waits for it, boundedly', () => {
  it('wakes when the job is added or starts arriving, and times out otherwise', async () => {
    const jobs = new RecentJobs()
    const added = jobs.awaitJob('a', 10_000)
    const arriving = jobs.awaitJob('b', 10_000)
    jobs.add(known('a'))
    const done = jobs.arriving('b')
    expect(await added).toBe(true)
    expect(await arriving).toBe(true)
    done()
    expect(await jobs.awaitJob('never', 20)).toBe(false)
    // Known already: at once.
    expect(await jobs.awaitJob('a', 10_000)).toBe(true)
  })

  it('lets at most MAX_AWAITING wait at once: the next is refused at once', async () => {
    const jobs = new RecentJobs()
    const waiting = Array.from({ length: MAX_AWAITING }, (_, i) => jobs.awaitJob(`j${i}`, 10_000))
    const started = Date.now()
    expect(await jobs.awaitJob('one-too-many', 10_000)).toBe(false)
    expect(Date.now() - started).toBeLessThan(1_000)
    for (let i = 0; i < MAX_AWAITING; i++) jobs.add(known(`j${i}`))
    expect((await Promise.all(waiting)).every(Boolean)).toBe(true)
    // The slots are free again.
    const again = jobs.awaitJob('later', 10_000)
    jobs.add(known('later'))
    expect(await again).toBe(true)
  })
})
