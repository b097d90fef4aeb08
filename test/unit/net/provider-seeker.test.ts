/**
 * The provider seeker's schedule with a lookup that records when it ran and
 * answers what the test says (the real lookup, on real nodes, is in
 * test/integration/discovery.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ProviderSeeker } from '../../../src/net/provider-seeker.ts'
import { waitFor } from '../../helpers/wait.ts'

const seekers: ProviderSeeker[] = []
afterEach(() => { for (const s of seekers.splice(0)) s.stop() })

/** A seeker whose lookups answer `answers` in turn (a count of providers met, or a failure), recording each call and the delay that preceded it. */
function seeker (answers: Array<number | Error>): { seeker: ProviderSeeker, calls: Array<{ specId: string, at: number, afterDelayMs: number }> } {
  const calls: Array<{ specId: string, at: number, afterDelayMs: number }> = []
  const s: ProviderSeeker = new ProviderSeeker({
    lookup: async specId => {
      calls.push({ specId, at: performance.now(), afterDelayMs: s.sought().find(e => e.specId === specId)!.nextDelayMs })
      const answer = answers.shift() ?? 0
      if (answer instanceof Error) throw answer
      return answer
    },
    firstDelayMs: 20,
    maxDelayMs: 160
  })
  seekers.push(s)
  return { seeker: s, calls }
}

describe('ProviderSeeker', () => {
  it('looks a spec up again and again, each delay doubling up to the maximum, and from the first delay again after a lookup that met someone', async () => {
    // met nobody, nobody, nobody, 2 new providers, nobody, ...
    const { seeker: s, calls } = seeker([0, 0, 0, 2, 0])
    const started = performance.now()
    s.seek('spec-a')
    s.seek('spec-a') // a second seek of the same spec changes nothing
    await waitFor(() => calls.length >= 6, { timeoutMs: 5_000, what: 'six lookups' })
    expect(calls.every(c => c.specId === 'spec-a')).toBe(true)
    // Delays: 20, 40, 80, 160 (the maximum), then 20 again after the lookup that met two, then 40.
    expect(calls.slice(0, 6).map(c => c.afterDelayMs)).toEqual([20, 40, 80, 160, 20, 40])
    // And the timers kept them: each lookup ran no sooner than its delay after the one before.
    const gaps = calls.map((c, i) => c.at - (i === 0 ? started : calls[i - 1]!.at))
    for (const [i, gap] of gaps.slice(0, 6).entries()) expect(gap, `gap ${i}`).toBeGreaterThanOrEqual(calls[i]!.afterDelayMs - 2)
    expect(s.sought()).toEqual([{ specId: 'spec-a', nextDelayMs: expect.any(Number), lookups: expect.any(Number) }])
  })

  it('tells since when a spec is sought: from its first seek, not moved by a second, and none once forgotten', async () => {
    const { seeker: s } = seeker([])
    expect(s.soughtSince('spec-a')).toBeUndefined()
    const before = Date.now()
    s.seek('spec-a')
    const since = s.soughtSince('spec-a')!
    expect(since).toBeGreaterThanOrEqual(before)
    expect(since).toBeLessThanOrEqual(Date.now())
    await waitFor(() => Date.now() > since + 5, { timeoutMs: 1_000, what: 'the clock to move' })
    s.seek('spec-a')
    expect(s.soughtSince('spec-a')).toBe(since)
    s.forget('spec-a')
    expect(s.soughtSince('spec-a')).toBeUndefined()
  })

  it('a failed lookup counts as one that met nobody; forget and stop end the lookups', async () => {
    const { seeker: s, calls } = seeker([new Error('no DHT peer'), 0])
    s.seek('spec-a')
    s.seek('spec-b')
    await waitFor(() => calls.filter(c => c.specId === 'spec-a').length >= 2, { timeoutMs: 5_000, what: 'two lookups of spec-a' })
    s.forget('spec-a')
    const afterForget = calls.filter(c => c.specId === 'spec-a').length
    await waitFor(() => calls.filter(c => c.specId === 'spec-b').length >= 3, { timeoutMs: 5_000, what: 'spec-b looked up on' })
    expect(calls.filter(c => c.specId === 'spec-a').length).toBe(afterForget)
    expect(s.sought().map(e => e.specId)).toEqual(['spec-b'])
    s.stop()
    const afterStop = calls.length
    s.seek('spec-c') // refused once stopped
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(calls.length).toBe(afterStop)
    expect(s.sought()).toEqual([])
  })
})
