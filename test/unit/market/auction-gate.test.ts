import { describe, expect, it } from 'vitest'
import { AuctionGate } from '../../../src/market/auction-gate.ts'

describe('AuctionGate (how many auctions of a spec a coordinator runs at once)', () => {
  it('grants at once below the limit, then in order as auctions end', async () => {
    const gate = new AuctionGate({ initial: 2, min: 1 })
    expect(await gate.acquire(Date.now() + 5_000)).toBe(true)
    expect(await gate.acquire(Date.now() + 5_000)).toBe(true)
    const order: string[] = []
    const third = gate.acquire(Date.now() + 5_000).then(ok => { order.push(`third ${ok}`) })
    const fourth = gate.acquire(Date.now() + 5_000).then(ok => { order.push(`fourth ${ok}`) })
    expect(gate.waiting).toBe(2)
    gate.release(0)
    await third
    expect(order).toEqual(['third true'])
    gate.release(0)
    await fourth
    expect(order).toEqual(['third true', 'fourth true'])
    expect(gate.open).toBe(2)
  })

  it('halves on an auction whose first bid came after its window, once per round, and never below the minimum', () => {
    let now = 1000
    const gate = new AuctionGate({ initial: 16, min: 2, now: () => now })
    // Sixteen auctions opened at 1000 all came back late: one cut, not sixteen.
    for (let i = 0; i < 16; i++) void gate.acquire(now + 5_000)
    now = 1300
    for (let i = 0; i < 16; i++) gate.release(1000, false)
    expect(gate.limit).toBe(8)
    // An auction opened after that cut and late again cuts again.
    now = 1600
    gate.release(1400, false)
    expect(gate.limit).toBe(4)
    now = 1900
    gate.release(1700, false)
    gate.release(1950, false)
    now = 2100
    gate.release(2000, false)
    expect(gate.limit).toBe(2)
  })

  it('widens by one per limit\'s worth of auctions answered in time, up to the maximum; a cancelled one says nothing', () => {
    const gate = new AuctionGate({ initial: 4, max: 6 })
    // 4 + 1/4 + 1/4.25 + …: about one more after a limit's worth (four, and a fifth to cross 5).
    for (let i = 0; i < 4; i++) gate.release(0, true)
    expect(gate.limit).toBe(4)
    gate.release(0, true)
    expect(gate.limit).toBe(5)
    for (let i = 0; i < 100; i++) gate.release(0, true)
    expect(gate.limit).toBe(6)
    gate.release(0)
    expect(gate.limit).toBe(6)
  })

  it('lets a waiting job go at its deadline or when cancelled, and gives its turn to the next', async () => {
    const gate = new AuctionGate({ initial: 1, min: 1 })
    expect(await gate.acquire(Date.now() + 5_000)).toBe(true)
    const started = Date.now()
    expect(await gate.acquire(Date.now() + 30)).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(25)
    const controller = new AbortController()
    const cancelled = gate.acquire(Date.now() + 5_000, controller.signal)
    const next = gate.acquire(Date.now() + 5_000)
    controller.abort()
    expect(await cancelled).toBe(false)
    expect(gate.waiting).toBe(1)
    gate.release(0)
    expect(await next).toBe(true)
    expect(gate.waiting).toBe(0)
  })
})
