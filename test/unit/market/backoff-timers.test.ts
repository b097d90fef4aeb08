import { describe, expect, it } from 'vitest'
import { backoffDelayMs, Semaphore } from '../../../src/market/backoff.ts'
import { after, timeoutSignal, MAX_TIMER_MS } from '../../../src/market/timers.ts'
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
