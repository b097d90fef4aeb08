import { describe, expect, it } from 'vitest'
import { createLogger, parseLogLevel } from '../../src/util/logger.ts'
import { batchedWriter } from '../../src/util/log-writer.ts'

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

  it('writes what JSON.stringify of {ts, level, event, ...fields} writes, without copying the fields', () => {
    const { log, lines } = capture({})
    const fields = {
      jobId: 'j"\n', n: 1.5, inf: Infinity, ok: false, none: null, gone: undefined, fn: () => 1,
      big: 12n, err: new Error('boom'), bytes: new Uint8Array([1, 2]), nested: { a: [1, 'x'], b: 2n }, at: new Date(0)
    }
    log('e', fields)
    const { gone: _g, fn: _f, ...kept } = fields
    expect(lines[0]).toBe(`${JSON.stringify({ ts: at.toISOString(), level: 'info', event: 'e', ...kept, big: '12', err: { name: 'Error', message: 'boom' }, bytes: 'AQI=', nested: { a: [1, 'x'], b: '2' } })}\n`)
    expect(Object.keys(fields)).toContain('gone')
  })

  it('says which levels it writes, and flushes its writer after a warning or an error line', () => {
    const flushed: string[] = []
    const lines: string[] = []
    const log = createLogger({ level: 'info', write: text => { lines.push(text) }, flush: () => { flushed.push(lines.at(-1)!) }, now: () => at })
    expect([log.enabled?.('debug'), log.enabled?.('info'), log.enabled?.('error')]).toEqual([false, true, true])
    log('a')
    log('b', { level: 'warn' })
    log('c', { level: 'error' })
    expect(flushed.map(l => JSON.parse(l).event)).toEqual(['b', 'c'])
  })
})

describe('the batched log writer', () => {
  it('hands the lines of one event-loop turn to the sink in one write, in order', async () => {
    const chunks: string[] = []
    const writer = batchedWriter(chunk => { chunks.push(chunk) })
    writer.write('a\n')
    writer.write('b\n')
    expect(chunks).toEqual([])
    await new Promise(resolve => setImmediate(resolve))
    expect(chunks).toEqual(['a\nb\n'])
    writer.write('c\n')
    await new Promise(resolve => setImmediate(resolve))
    expect(chunks).toEqual(['a\nb\n', 'c\n'])
  })

  it('writes at once when flushed or when its limit is reached, and never twice', async () => {
    const chunks: string[] = []
    const writer = batchedWriter(chunk => { chunks.push(chunk) }, 8)
    writer.write('1234\n')
    writer.flush()
    expect(chunks).toEqual(['1234\n'])
    writer.write('1234\n')
    writer.write('5678\n')
    expect(chunks).toEqual(['1234\n', '1234\n5678\n'])
    await new Promise(resolve => setImmediate(resolve))
    writer.flush()
    expect(chunks).toHaveLength(2)
  })
})
