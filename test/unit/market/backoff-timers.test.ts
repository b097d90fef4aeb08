import { describe, expect, it } from 'vitest'
import { backoffDelayMs, Semaphore } from '../../../src/market/backoff.ts'
import { after, clearableTimeout, collectBids, timeoutSignal, MAX_TIMER_MS, type BidWindow } from '../../../src/market/timers.ts'
import { waitFor } from '../../helpers/wait.ts'

describe('backoff', () => {
  it('grows by the multiplier from the base, with half of each delay random (equal jitter)', () => {
    expect(backoffDelayMs(1, 1000, 2, () => 0)).toBe(500)
    expect(backoffDelayMs(1, 1000, 2, () => 1)).toBe(1000)
    expect(backoffDelayMs(2, 1000, 2, () => 1)).toBe(2000)
    expect(backoffDelayMs(3, 1000, 1.5, () => 0)).toBeCloseTo(1125)
  })
})

describe('Semaphore (the retry budget)', () => {
  it('holds at most its limit; the next waits in order; an aborted wait gives up its place', async () => {
    const slots = new Semaphore(1)
    expect(await slots.acquire()).toBe(true)
    const order: string[] = []
    const controller = new AbortController()
    const second = slots.acquire().then(ok => { order.push(`second ${ok}`) })
    const third = slots.acquire(controller.signal).then(ok => { order.push(`third ${ok}`) })
    controller.abort()
    await third
    expect(order).toEqual(['third false'])
    slots.release()
    await second
    expect(order).toEqual(['third false', 'second true'])
    expect(slots.inUse).toBe(1)
  })

  it('with a limit of 0 nothing is ever granted', async () => {
    const none = new Semaphore(0)
    const controller = new AbortController()
    const waiting = none.acquire(controller.signal)
    controller.abort()
    expect(await waiting).toBe(false)
  })
})

describe('timers beyond 24.8 days', () => {
  it('do not fire at once (a plain setTimeout past 2^31−1 ms would)', async () => {
    let fired = false
    const cancel = after(MAX_TIMER_MS * 2, () => { fired = true })
    const signal = timeoutSignal(MAX_TIMER_MS * 3)
    let shortFired = false
    after(5, () => { shortFired = true })
    await waitFor(() => shortFired, { what: 'a short timer' })
    expect(fired).toBe(false)
    expect(signal.aborted).toBe(false)
    cancel()
  })
})

describe('clearableTimeout (an attempt\'s time limit)', () => {
  it('aborts with a TimeoutError after its time, as AbortSignal.timeout does', async () => {
    const { signal } = clearableTimeout(5)
    await waitFor(() => signal.aborted, { what: 'the time limit' })
    expect((signal.reason as DOMException).name).toBe('TimeoutError')
  })

  it('never aborts once cleared, and its timer keeps nothing pending', async () => {
    const limit = clearableTimeout(5)
    limit.clear()
    let later = false
    after(30, () => { later = true })
    await waitFor(() => later, { what: 'a timer after the limit' })
    expect(limit.signal.aborted).toBe(false)
  })

  it('does not fire at once past 24.8 days', async () => {
    const limit = clearableTimeout(MAX_TIMER_MS * 2)
    let shortFired = false
    after(5, () => { shortFired = true })
    await waitFor(() => shortFired, { what: 'a short timer' })
    expect(limit.signal.aborted).toBe(false)
    limit.clear()
  })
})

describe('collectBids (the bid window of job auctions and lease calls)', () => {
  const windowOf = (expected: string[]): BidWindow & { bids: string[], expected: Set<string>, bid: (agent: string) => void } => {
    const w = {
      bids: [] as string[],
      expected: new Set(expected),
      wake: undefined as (() => void) | undefined,
      bid (agent: string) { w.bids.push(agent); w.expected.delete(agent); w.wake?.() }
    }
    return w
  }

  it('closes early once every expected bidder has bid', async () => {
    const w = windowOf(['a', 'b'])
    const started = Date.now()
    setTimeout(() => { w.bid('a') }, 5)
    setTimeout(() => { w.bid('b') }, 10)
    await collectBids(w, started + 5_000, started + 10_000, () => false)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(w.bids).toEqual(['a', 'b'])
    expect(w.wake).toBeUndefined()
  })

  it('waits the whole window while an expected bidder is missing, and no grace once a bid is in', async () => {
    const w = windowOf(['a', 'b'])
    const started = Date.now()
    setTimeout(() => { w.bid('a') }, 5)
    await collectBids(w, started + 150, started + 5_000, () => false)
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(145)
    expect(took).toBeLessThan(2_000)
  })

  it('with no bid at the close waits on for a first one, until the grace ends', async () => {
    const late = windowOf(['a'])
    const started = Date.now()
    setTimeout(() => { late.bid('a') }, 120)
    await collectBids(late, started + 50, started + 5_000, () => false)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(late.bids).toEqual(['a'])
    const none = windowOf(['a'])
    const again = Date.now()
    await collectBids(none, again + 20, again + 80, () => false)
    expect(Date.now() - again).toBeGreaterThanOrEqual(75)
  })

  /**
   * A window of `windowMs` opened now with `expected` agents, each of `bidsAtMs` bidding that many
   * ms in, under the all-but-one rule; resolves when it closes, with how long it stayed open.
   */
  const allButOneWindow = async (expected: string[], bidsAtMs: Record<string, number>, windowMs: number): Promise<{ w: ReturnType<typeof windowOf>, tookMs: number }> => {
    const w = windowOf(expected)
    const openedAt = Date.now()
    for (const [agent, ms] of Object.entries(bidsAtMs)) setTimeout(() => { w.bid(agent) }, ms)
    await collectBids(w, openedAt + windowMs, openedAt + windowMs + 5_000, () => false, Date.now, { openedAt, expectedAtOpen: expected.length })
    return { w, tookMs: Date.now() - openedAt }
  }

  it('with three or more expected, closes a grace after all but one have bid: as long again as their bids took, at least a tenth of the window', async () => {
    // c is stalled: without the rule it would hold the window to its end, 5 s away.
    const { w, tookMs } = await allButOneWindow(['a', 'b', 'c'], { a: 5, b: 100 }, 5_000)
    expect(w.bids).toEqual(['a', 'b'])
    // b came at ~100 ms; the grace is the larger of that and a tenth of the 5 s window: closed at ~600 ms, not before.
    expect(tookMs).toBeGreaterThanOrEqual(595)
    expect(tookMs).toBeLessThan(4_000)
    // A window of 600 ms: a tenth is 60 ms, less than the bids took, so the grace is as long again as they took.
    const short = await allButOneWindow(['a', 'b', 'c'], { a: 5, b: 100 }, 600)
    expect(short.tookMs).toBeGreaterThanOrEqual(195)
    expect(w.wake).toBeUndefined()
  })

  it('the last expected bid within the all-but-one grace closes the window at once and is in', async () => {
    const { w, tookMs } = await allButOneWindow(['a', 'b', 'c'], { a: 5, b: 40, c: 60 }, 5_000)
    expect(w.bids).toEqual(['a', 'b', 'c'])
    expect(tookMs).toBeLessThan(2_000)
  })

  it('with two expected, waits for both (the all-but-one close needs three), and never past the window', async () => {
    const two = await allButOneWindow(['a', 'b'], { a: 5 }, 150)
    expect(two.tookMs).toBeGreaterThanOrEqual(145)
    // Three expected, the second bid late in the window: the grace stops at the window's end.
    const three = await allButOneWindow(['a', 'b', 'c'], { a: 5, b: 400 }, 450)
    // As long again as the bids took would be ~800 ms.
    expect(three.tookMs).toBeGreaterThanOrEqual(445)
    expect(three.tookMs).toBeLessThan(750)
  })

  it('ends at once when stopped', async () => {
    const w = windowOf(['a'])
    let stopped = false
    const started = Date.now()
    setTimeout(() => { stopped = true; w.wake?.() }, 10)
    await collectBids(w, started + 5_000, started + 10_000, () => stopped)
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})
