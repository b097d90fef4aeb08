import { afterEach, describe, expect, it } from 'vitest'
import { disable, enable } from '@libp2p/logger'
import { quietLogger } from '../../../src/net/quiet-logger.ts'

describe('quietLogger (libp2p\'s loggers, nothing built for a topic that is off)', () => {
  afterEach(() => { disable() })

  it('a topic that is off logs nothing, in every scope', () => {
    const log = quietLogger().forComponent('libp2p:yamux')
    const stream = log.newScope('stream').newScope('7')
    expect(log.enabled).toBe(false)
    expect(stream.enabled).toBe(false)
    expect(() => { stream('a %s', 1); stream.error('b'); stream.trace('c') }).not.toThrow()
  })

  it('a topic turned on (DEBUG, --debug) gets libp2p\'s own logger, scopes included', () => {
    enable('libp2p:ping*')
    const log = quietLogger().forComponent('libp2p:ping')
    expect(log.enabled).toBe(true)
    expect(log.newScope('stream').enabled).toBe(true)
    expect(quietLogger().forComponent('libp2p:yamux').enabled).toBe(false)
  })
})
