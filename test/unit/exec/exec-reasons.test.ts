/**
 * What an --exec handler's failure publishes, and how strictly its output is
 * read (issue 10, items 4 and 7). Real child processes through /bin/sh.
 */
import { describe, expect, it } from 'vitest'
import { execHandler } from '../../../src/market/exec-handler.ts'
import { HandlerError, HandlerExitError, HandlerOutputError } from '../../../src/market/errors.ts'
import { MAX_HANDLER_MESSAGE_CHARS, MAX_JSON_DEPTH, MAX_REASON_CHARS } from '../../../src/wire/constants.ts'

const ctx = () => ({ signal: new AbortController().signal, jobId: 'job-1', specId: 'spec-1' })

async function failure (command: string): Promise<HandlerError> {
  const err = await execHandler({ command })(null, ctx()).then(v => { throw new Error(`expected a failure, got ${JSON.stringify(v)}`) }, (e: unknown) => e)
  expect(err).toBeInstanceOf(HandlerError)
  return err as HandlerError
}

describe('exec handler reasons: stderr stays on the agent', () => {
  it('publishes the exit code only, however much stderr the program wrote, and keeps stderr in the local message', async () => {
    const err = await failure(`echo "token=SECRET-abc123 path=/home/ada/input.json" >&2; head -c 5000 /dev/zero | tr '\\000' x >&2; exit 4`)
    expect(err).toBeInstanceOf(HandlerExitError)
    expect(err.reason).toBe('handler exited with code 4')
    expect(err.message).toContain('SECRET-abc123')
    expect(err.reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS)
  })

  it('publishes the signal that killed it', async () => {
    const err = await failure('echo "oops: SECRET" >&2; kill -TERM $$')
    expect(err.reason).toBe('handler was killed by SIGTERM')
  })

  it('publishes the message a program chooses with {"error": …} on stdout, bounded', async () => {
    expect((await failure(`echo '{"error": "the catalogue has no such widget"}'; echo SECRET >&2; exit 2`)).reason)
      .toBe('handler exited with code 2: the catalogue has no such widget')
    expect((await failure(`echo '{"error": {"code": "E42", "message": "quota exhausted"}}'; exit 1`)).reason)
      .toBe('handler exited with code 1: quota exhausted')
    const long = await failure(`printf '{"error": "%s"}' "$(head -c 5000 /dev/zero | tr '\\000' m)"; exit 1`)
    expect(long.reason.startsWith('handler exited with code 1: mmm')).toBe(true)
    expect(long.reason.length).toBeLessThanOrEqual('handler exited with code 1: '.length + MAX_HANDLER_MESSAGE_CHARS)
  })

  it('does not publish what a program printed when its output is not JSON', async () => {
    const err = await failure('echo "<html>SECRET-in-output</html>"')
    expect(err).toBeInstanceOf(HandlerOutputError)
    expect(err.reason).toBe('handler output was not JSON (30 bytes on stdout)')
    expect(err.message).toContain('SECRET-in-output')
  })

  it('does not publish the command line when the command is not found', async () => {
    const err = await failure('specmesh-missing-tool --api-key=SECRET')
    expect(err.reason).toBe('could not start the handler: command not found (exit 127)')
    expect(err.message).toContain('--api-key=SECRET')
  })
})

describe('exec handler output: read strictly', () => {
  it('fails an output that is not UTF-8 instead of replacing bytes with U+FFFD', async () => {
    const err = await failure(`printf '{"name": "caf\\351"}'`)
    expect(err).toBeInstanceOf(HandlerOutputError)
    expect(err.reason).toBe('handler output is not valid UTF-8 (at byte 13)')
  })

  it(`fails an output nested deeper than ${MAX_JSON_DEPTH} with that reason, not a stack overflow`, async () => {
    const err = await failure(`node -e 'process.stdout.write("[".repeat(5000) + "]".repeat(5000))' 2>/dev/null || python3 -c 'print("["*5000 + "]"*5000)'`)
    expect(err).toBeInstanceOf(HandlerOutputError)
    expect(err.reason).toBe(`handler output is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`)
  })

  it(`accepts an output exactly ${MAX_JSON_DEPTH} deep`, async () => {
    const handler = execHandler({ command: `python3 -c 'print("["*${MAX_JSON_DEPTH} + "]"*${MAX_JSON_DEPTH})'` })
    let value: unknown = await handler(null, ctx())
    let depth = 0
    while (Array.isArray(value)) { depth++; value = value[0] }
    expect(depth).toBe(MAX_JSON_DEPTH)
  })

  it('fails an output holding a member named __proto__, naming where (no receipt could carry its hash: every node refuses the name)', async () => {
    const err = await failure(`printf '{"names": [{"__proto__": {"admin": true}}]}'`)
    expect(err.reason).toBe('handler output field names.0.__proto__ is a member named "__proto__", which no specmesh message may hold (JavaScript reads it as an object\'s prototype); rename it')
  })

  it('fails an output holding a lone surrogate escape, naming where', async () => {
    const err = await failure(`printf '{"names": ["ok", "\\\\ud800"]}'`)
    expect(err.reason).toBe('handler output field names.1 holds a lone UTF-16 surrogate, which has no UTF-8 encoding; send well-formed Unicode text')
  })
})
