import { describe, it, expect } from 'vitest'
import { jobDeadlines, isExpired, acceptsNewJobs, executionWindowMs } from '../../../src/spec/index.ts'
import { baseSpec, valid } from './helpers.ts'

const T = Date.parse('2026-06-01T12:00:00Z')

describe('deadlines of a job', () => {
  it('relative deadlines count from the job’s submission', () => {
    const spec = valid({ ...baseSpec(), deadline: '5m', softDeadline: '4m' })
    expect(jobDeadlines(spec, T)).toEqual({ deadline: T + 300_000, softDeadline: T + 240_000 })
    expect(jobDeadlines(spec, T + 1000)).toEqual({ deadline: T + 301_000, softDeadline: T + 241_000 })
  })

  it('absolute deadlines are the same for every job', () => {
    const spec = valid({ ...baseSpec(), deadline: '2026-06-01T18:00:00Z', softDeadline: '2026-06-01T17:55:00Z' }, { now: T })
    expect(jobDeadlines(spec, T)).toEqual({ deadline: Date.parse('2026-06-01T18:00:00Z'), softDeadline: Date.parse('2026-06-01T17:55:00Z') })
    expect(jobDeadlines(spec, T + 60_000)).toEqual(jobDeadlines(spec, T))
  })

  it('no deadlines, no fields', () => {
    expect(jobDeadlines(valid(baseSpec()), T)).toEqual({})
  })

  it('fractional seconds are kept to the millisecond', () => {
    expect(jobDeadlines(valid({ ...baseSpec(), deadline: '1500ms' }), T)).toEqual({ deadline: T + 1500 })
    expect(executionWindowMs(valid({ ...baseSpec(), executionWindow: 2.5 }))).toBe(2500)
  })
})

describe('expiry', () => {
  const absolute = valid({ ...baseSpec(), deadline: '2026-06-01T18:00:00Z', softDeadline: '2026-06-01T17:55:00Z' }, { now: T })

  it('a spec with an absolute deadline expires at it', () => {
    expect(isExpired(absolute, Date.parse('2026-06-01T17:59:59.999Z'))).toBe(false)
    expect(isExpired(absolute, Date.parse('2026-06-01T18:00:00Z'))).toBe(true)
  })

  it('no new jobs after the soft deadline', () => {
    expect(acceptsNewJobs(absolute, Date.parse('2026-06-01T17:54:59Z'))).toBe(true)
    expect(acceptsNewJobs(absolute, Date.parse('2026-06-01T17:55:00Z'))).toBe(false)
    expect(isExpired(absolute, Date.parse('2026-06-01T17:55:00Z'))).toBe(false)
  })

  it('relative deadlines never expire the spec', () => {
    const relative = valid({ ...baseSpec(), deadline: '5m' })
    expect(isExpired(relative, Date.parse('2999-01-01T00:00:00Z'))).toBe(false)
    expect(acceptsNewJobs(relative, Date.parse('2999-01-01T00:00:00Z'))).toBe(true)
  })
})
