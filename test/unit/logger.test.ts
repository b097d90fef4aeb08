import { describe, expect, it } from 'vitest'
import { createLogger, parseLogLevel } from '../../src/util/logger.ts'

const at = new Date('2026-12-01T21:44:02.120Z')

function capture (init: Parameters<typeof createLogger>[0] extends infer I ? Omit<I & object, 'write'> : never) {
  const lines: string[] = []
  const log = createLogger({ ...init, write: text => { lines.push(text) }, now: () => at })
  return { log, lines }
}

describe('the levelled logger', () => {
  it('writes one JSON object per line, at the level the fields ask for (info by default)', () => {
    const { log, lines } = capture({})
    log('agent.bid', { jobId: 'j', priceUsd: 0.02 })
    log('agent.outcome', { level: 'warn', jobId: 'j', outcome: 'error', reason: 'boom' })
    expect(lines.map(l => JSON.parse(l))).toEqual([
      { ts: '2026-12-01T21:44:02.120Z', level: 'info', event: 'agent.bid', jobId: 'j', priceUsd: 0.02 },
      { ts: '2026-12-01T21:44:02.120Z', level: 'warn', event: 'agent.outcome', jobId: 'j', outcome: 'error', reason: 'boom' }
    ])
    expect(lines.every(l => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true)
  })

  it('drops lines below the chosen level; silent drops everything', () => {
    const warn = capture({ level: 'warn' })
    for (const level of ['debug', 'info', 'warn', 'error']) warn.log('e', { level })
    expect(warn.lines.map(l => JSON.parse(l).level)).toEqual(['warn', 'error'])
    const silent = capture({ level: 'silent' })
    silent.log('e', { level: 'error' })
    expect(silent.lines).toEqual([])
  })

  it('is readable on a terminal: time, level, event, message, then key=value', () => {
    const { log, lines } = capture({ format: 'pretty' })
    log('agent.stopping', { level: 'warn', message: 'stopping: no new work', running: 1, reason: 'a b' })
    expect(lines).toEqual(['21:44:02.120 WARN  agent.stopping  stopping: no new work running=1 reason="a b"\n'])
  })

  it('names the levels it takes when given another', () => {
    expect(parseLogLevel(' DEBUG ')).toBe('debug')
    expect(() => parseLogLevel('verbose')).toThrow('log level "verbose" is not one of debug, info, warn, error, silent')
  })
})
