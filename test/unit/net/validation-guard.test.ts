/**
 * The validation guard's accounting, on a fake clock: what throttles a peer,
 * what graylists it, and what honest traffic never trips.
 */
import { describe, expect, it } from 'vitest'
import { GRAYLIST_APP_SCORE, ValidationGuard } from '../../../src/net/validation-guard.ts'

function guardAt (start = 1_000_000) {
  let now = start
  const events: string[] = []
  const guard = new ValidationGuard({
    now: () => now,
    onThrottle: (peer, topic) => events.push(`throttle ${peer} ${topic}`),
    onGraylist: peer => events.push(`graylist ${peer}`)
  })
  return { guard, events, advance: (ms: number) => { now += ms } }
}

/** One message through the guard: admitted and given its verdict, or dropped. */
function send (guard: ValidationGuard, peer: string, verdict: 'accept' | 'ignore' | 'reject', topic = 'jobs'): boolean {
  if (!guard.admit(peer, topic)) return false
  guard.finish(peer, topic, verdict)
  return true
}

describe('validation guard', () => {
  it('never throttles a peer whose messages are accepted, however many', () => {
    const { guard, events, advance } = guardAt()
    for (let i = 0; i < 10_000; i++) {
      expect(send(guard, 'honest', 'accept')).toBe(true)
      if (i % 100 === 0) advance(10)
    }
    expect(events).toEqual([])
    expect(guard.appScore('honest')).toBe(0)
  })

  it('lets an honest rate of Ignored messages through (40 a second for a minute)', () => {
    const { guard, events, advance } = guardAt()
    for (let i = 0; i < 40 * 60; i++) {
      expect(send(guard, 'forwarder', 'ignore')).toBe(true)
      advance(25)
    }
    expect(events).toEqual([])
  })

  it('throttles a peer flooding Ignored messages after its burst, then graylists it if it keeps going', () => {
    const { guard, events } = guardAt()
    let admitted = 0
    for (let i = 0; i < 1000; i++) if (send(guard, 'flooder', 'ignore')) admitted++
    // The burst of 50 was validated; everything after it was dropped unread.
    expect(admitted).toBe(50)
    expect(events).toEqual(['throttle flooder jobs', 'graylist flooder'])
    expect(guard.appScore('flooder')).toBe(GRAYLIST_APP_SCORE)
    expect(guard.isGraylisted('flooder')).toBe(true)
    // Other peers are untouched.
    expect(send(guard, 'other', 'ignore')).toBe(true)
  })

  it('lifts a throttle that the peer respected, without graylisting it', () => {
    const { guard, events, advance } = guardAt()
    for (let i = 0; i < 50; i++) send(guard, 'burst', 'ignore')
    expect(send(guard, 'burst', 'ignore')).toBe(false)
    advance(2_500)
    expect(send(guard, 'burst', 'ignore')).toBe(true)
    expect(events).toEqual(['throttle burst jobs'])
  })

  it('graylists after 20 Rejects in quick succession, but not after a few', () => {
    const { guard, events } = guardAt()
    for (let i = 0; i < 5; i++) send(guard, 'clumsy', 'reject')
    expect(guard.isGraylisted('clumsy')).toBe(false)
    for (let i = 0; i < 20; i++) send(guard, 'garbage', 'reject')
    expect(guard.isGraylisted('garbage')).toBe(true)
    expect(events).toEqual(['graylist garbage'])
  })

  it('ends a graylisting after its period and forgets quiet peers', () => {
    const { guard, advance } = guardAt()
    for (let i = 0; i < 1000; i++) send(guard, 'flooder', 'ignore')
    advance(60_001)
    expect(guard.isGraylisted('flooder')).toBe(false)
    advance(10_000)
    guard.prune()
    expect(guard.stats('flooder')).toEqual({ droppedWhileThrottled: 0, graylisted: false })
  })

  it('bounds the validations of one peer in flight', () => {
    const { guard } = guardAt()
    let admitted = 0
    for (let i = 0; i < 5000; i++) if (guard.admit('burst', 'receipts')) admitted++
    expect(admitted).toBe(1024)
  })
})
