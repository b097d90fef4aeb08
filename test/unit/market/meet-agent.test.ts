/**
 * How long a job that knows no agent waits to meet one (meet-agent.ts), as
 * plain arithmetic on the job's times: the cases on real nodes are in
 * test/integration/discovery.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { MEET_AGENT_WAIT_MS, meetAgentUntil } from '../../../src/market/meet-agent.ts'

const now = 1_000_000
const job = (extra: { bidWindowMs?: number, deadline?: number, softDeadline?: number } = {}): { bidWindowMs: number, deadline: number, softDeadline?: number } =>
  ({ bidWindowMs: 100, deadline: now + 60_000, ...extra })

describe('meetAgentUntil', () => {
  it('a node that does not seek the spec waits the first-bid wait: 5 windows, never past the deadline', () => {
    expect(meetAgentUntil(job(), now, undefined)).toBe(now + 500)
    expect(meetAgentUntil(job({ deadline: now + 300 }), now, undefined)).toBe(now + 300)
  })

  it('in the first MEET_AGENT_WAIT_MS of seeking, it waits until they are over', () => {
    expect(meetAgentUntil(job(), now, now)).toBe(now + MEET_AGENT_WAIT_MS)
    expect(meetAgentUntil(job(), now, now - 1_000)).toBe(now - 1_000 + MEET_AGENT_WAIT_MS)
  })

  it('past them, it waits the first-bid wait alone, as a node that does not seek', () => {
    expect(meetAgentUntil(job(), now, now - MEET_AGENT_WAIT_MS)).toBe(now + 500)
    expect(meetAgentUntil(job(), now, now - 60_000)).toBe(now + 500)
  })

  it('the longer wait never runs past the soft deadline, nor past the deadline less 5 windows', () => {
    expect(meetAgentUntil(job({ softDeadline: now + 2_000 }), now, now)).toBe(now + 2_000)
    expect(meetAgentUntil(job({ deadline: now + 3_000 }), now, now)).toBe(now + 3_000 - 500)
    expect(meetAgentUntil(job({ deadline: now + 3_000, softDeadline: now + 2_800 }), now, now)).toBe(now + 2_500)
  })

  it('and never cuts the first-bid wait short', () => {
    // A soft deadline sooner than 5 windows: the first-bid wait still stands (never past the deadline).
    expect(meetAgentUntil(job({ softDeadline: now + 200 }), now, now)).toBe(now + 500)
    expect(meetAgentUntil(job({ bidWindowMs: 2_000 }), now, now)).toBe(now + 10_000)
  })
})
