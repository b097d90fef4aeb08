import { afterEach, describe, expect, it, vi } from 'vitest'
import { nextEvent, until } from '../../src/util/until.ts'

afterEach(() => { vi.useRealTimers() })

/** An EventTarget that counts its listeners, to see that a wait leaves none behind. */
class CountingTarget extends EventTarget {
  listeners = 0
  override addEventListener (...args: Parameters<EventTarget['addEventListener']>): void { this.listeners++; super.addEventListener(...args) }
  override removeEventListener (...args: Parameters<EventTarget['removeEventListener']>): void { this.listeners--; super.removeEventListener(...args) }
}

describe('until', () => {
  it('ends at the event that makes the condition hold, with no timer run: an idle wait checks nothing', async () => {
    vi.useFakeTimers()
    const target = new CountingTarget()
    let ready = false
    let checks = 0
    const waiting = until(() => { checks++; return ready }, Date.now() + 2_000, [nextEvent(target, 'change')])
    let ended: boolean | undefined
    void waiting.then(held => { ended = held })
    target.dispatchEvent(new Event('change'))
    for (let i = 0; i < 5; i++) await Promise.resolve()
    expect(ended).toBeUndefined()
    ready = true
    target.dispatchEvent(new Event('change'))
    // No fake time passes: only the event can have woken it.
    expect(await waiting).toBe(true)
    expect(checks).toBe(3)
    expect(target.listeners).toBe(0)
  })

  it('gives up at the deadline, false, and leaves no listener behind', async () => {
    vi.useFakeTimers()
    const target = new CountingTarget()
    let ended: boolean | undefined
    const waiting = until(() => false, Date.now() + 2_000, [nextEvent(target, 'change', 'other')])
    void waiting.then(held => { ended = held })
    await vi.advanceTimersByTimeAsync(1_999)
    expect(ended).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(await waiting).toBe(false)
    expect(target.listeners).toBe(0)
  })

  it('does not wait when the condition already holds', async () => {
    const next = vi.fn(async () => {})
    expect(await until(() => true, Date.now() + 2_000, [next])).toBe(true)
    expect(next).not.toHaveBeenCalled()
  })
})
