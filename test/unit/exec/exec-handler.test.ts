import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { getEventListeners } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { execHandler } from '../../../src/market/exec-handler.ts'
import {
  DeadlineExceededError,
  HandlerAbortedError,
  HandlerError,
  HandlerExitError,
  HandlerInputError,
  HandlerOutputError,
  HandlerOutputTooLargeError,
  HandlerSpawnError
} from '../../../src/market/errors.ts'
import { childrenOf, fixture, processDead, waitFor } from './helpers.ts'

const NODE = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))

const ctx = (signal: AbortSignal = new AbortController().signal) => ({ signal, jobId: 'job-1', specId: 'spec-1' })

/** Runs `promise` and returns what it rejected with, failing if it resolved. */
async function rejection (promise: Promise<unknown>): Promise<HandlerError> {
  try {
    const value = await promise
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
  } catch (err) {
    expect(err).toBeInstanceOf(HandlerError)
    return err as HandlerError
  }
}

let dir: string
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'specmesh-exec-')) })
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

// Every test must leave no child process behind, running or zombie.
afterEach(async () => {
  await waitFor(() => childrenOf(process.pid).length === 0, 3000, 'no child processes left')
})

describe('execHandler: success', () => {
  it('writes the input as JSON on stdin and resolves with the JSON printed on stdout', async () => {
    const handler = execHandler({ command: `python3 ${fixture('upper.py')}` })
    const input = { greeting: 'hello', items: ['a', 1, { deep: 'z' }], n: 3.5, ok: true, none: null }
    await expect(handler(input, ctx())).resolves.toEqual({
      greeting: 'HELLO', items: ['A', 1, { deep: 'Z' }], n: 3.5, ok: true, none: null
    })
  }, 10_000)

  it('accepts leading and trailing whitespace around the JSON value', async () => {
    const handler = execHandler({ command: 'cat > /dev/null; printf \'\\n  [1, 2]\\n\\n\\t \\n\'' })
    await expect(handler(null, ctx())).resolves.toEqual([1, 2])
  })

  it('accepts scalar JSON output, null included', async () => {
    await expect(execHandler({ command: 'echo null' })(1, ctx())).resolves.toBeNull()
    await expect(execHandler({ command: 'echo \'"x"\'' })(1, ctx())).resolves.toBe('x')
  })

  it('passes SPECMESH_JOB_ID, SPECMESH_SPEC_ID and extra env, and runs in cwd', async () => {
    const handler = execHandler({
      command: 'printf \'{"job":"%s","spec":"%s","extra":"%s","cwd":"%s"}\' "$SPECMESH_JOB_ID" "$SPECMESH_SPEC_ID" "$EXTRA" "$(pwd -P)"',
      cwd: dir,
      env: { EXTRA: 'from-options', SPECMESH_JOB_ID: 'must-be-overridden' }
    })
    const out = await handler({}, { signal: new AbortController().signal, jobId: 'j-42', specId: 'bafy-spec' })
    expect(out).toEqual({ job: 'j-42', spec: 'bafy-spec', extra: 'from-options', cwd: realpathSync(dir) })
  })

  it('runs many jobs at once without mixing their inputs and outputs', async () => {
    const handler = execHandler({ command: 'cat' })
    const inputs = Array.from({ length: 24 }, (_, i) => ({ i, pad: 'x'.repeat(i * 1000) }))
    const outputs = await Promise.all(inputs.map(async (input, i) => await handler(input, { ...ctx(), jobId: `j${i}` })))
    expect(outputs).toEqual(inputs)
  }, 15_000)

  it('round-trips an input larger than a pipe buffer', async () => {
    const input = { blob: 'q'.repeat(512 * 1024) }
    await expect(execHandler({ command: 'cat' })(input, ctx())).resolves.toEqual(input)
  })
})

describe('execHandler: failures', () => {
  it('rejects with HandlerExitError carrying the code and the tail of stderr', async () => {
    const err = await rejection(execHandler({ command: fixture('exit3.sh') })({ a: 1 }, ctx()))
    expect(err).toBeInstanceOf(HandlerExitError)
    const exit = err as HandlerExitError
    expect(exit.exitCode).toBe(3)
    expect(exit.signal).toBeNull()
    expect(exit.outcome).toBe('error')
    expect(exit.message).toContain('code 3')
    expect(exit.message).toContain('fatal: widget catalogue missing')
    // stderr is for the agent's log: the published reason says only how it ended.
    expect(exit.reason).toBe('handler exited with code 3')
  })

  it('keeps only the last maxStderrBytes of stderr', async () => {
    const handler = execHandler({
      command: 'head -c 100000 /dev/zero | tr \'\\000\' x >&2; echo THE-END >&2; exit 1',
      maxStderrBytes: 64
    })
    const err = await rejection(handler(null, ctx())) as HandlerExitError
    expect(err).toBeInstanceOf(HandlerExitError)
    expect(err.stderr).toMatch(/THE-END$/)
    expect(err.stderr.length).toBeLessThanOrEqual(64)
  })

  it('reports a handler killed by a signal', async () => {
    const err = await rejection(execHandler({ command: 'kill -SEGV $$' })(null, ctx())) as HandlerExitError
    expect(err).toBeInstanceOf(HandlerExitError)
    expect(err.signal).toBe('SIGSEGV')
    expect(err.message).toContain('SIGSEGV')
  })

  it('rejects garbage on stdout with HandlerOutputError quoting its start', async () => {
    const err = await rejection(execHandler({ command: fixture('garbage.sh') })({ a: 1 }, ctx()))
    expect(err).toBeInstanceOf(HandlerOutputError)
    expect(err.message).toContain('not JSON')
    expect(err.message).toContain('<html><body>Internal Server Error')
  })

  it('quotes at most about 200 characters of unparseable output', async () => {
    const err = await rejection(execHandler({ command: 'head -c 5000 /dev/zero | tr \'\\000\' g' })(null, ctx()))
    expect(err).toBeInstanceOf(HandlerOutputError)
    expect(err.message).toContain('g'.repeat(200))
    expect(err.message).not.toContain('g'.repeat(201))
    expect(err.message.length).toBeLessThan(300)
  })

  it('rejects empty output and two JSON values with HandlerOutputError', async () => {
    expect(await rejection(execHandler({ command: 'true' })(null, ctx()))).toBeInstanceOf(HandlerOutputError)
    expect(await rejection(execHandler({ command: 'echo 1; echo 2' })(null, ctx()))).toBeInstanceOf(HandlerOutputError)
  })

  it('names the command when it does not exist', async () => {
    const err = await rejection(execHandler({ command: 'specmesh-no-such-handler --flag' })(null, ctx()))
    expect(err).toBeInstanceOf(HandlerSpawnError)
    expect((err as HandlerSpawnError).command).toBe('specmesh-no-such-handler --flag')
    expect(err.message).toContain('specmesh-no-such-handler')
    expect(err.message).toContain('not found')
  })

  it('reports a spawn failure (missing cwd) as HandlerSpawnError', async () => {
    const err = await rejection(execHandler({ command: 'echo 1', cwd: join(dir, 'does-not-exist') })(null, ctx()))
    expect(err).toBeInstanceOf(HandlerSpawnError)
    expect(err.message).toContain('echo 1')
    expect(err.message).toContain('does-not-exist')
  })

  it('rejects input that is not JSON-serialisable before starting anything', async () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(await rejection(execHandler({ command: 'cat' })(circular, ctx()))).toBeInstanceOf(HandlerInputError)
    expect(await rejection(execHandler({ command: 'cat' })(undefined, ctx()))).toBeInstanceOf(HandlerInputError)
  })
})

describe('execHandler: output limit', () => {
  it('kills a handler printing 2 MiB against the 1 MiB default and rejects', async () => {
    const err = await rejection(execHandler({ command: fixture('big-output.sh') })(null, ctx()))
    expect(err).toBeInstanceOf(HandlerOutputTooLargeError)
    expect((err as HandlerOutputTooLargeError).limit).toBe(1024 * 1024)
  })

  it('accepts the same 2 MiB when the limit allows it', async () => {
    const out = await execHandler({ command: fixture('big-output.sh'), maxOutputBytes: 3 * 1024 * 1024 })(null, ctx())
    expect(typeof out).toBe('string')
    expect((out as string).length).toBe(2 * 1024 * 1024)
  })

  it('stops a handler that prints forever, without buffering it all', async () => {
    const before = process.memoryUsage().rss
    const started = Date.now()
    const err = await rejection(execHandler({ command: 'yes', maxOutputBytes: 64 * 1024 })(null, ctx()))
    expect(err).toBeInstanceOf(HandlerOutputTooLargeError)
    expect(Date.now() - started).toBeLessThan(3000)
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024)
  })
})

describe('execHandler: stdin', () => {
  it('survives a handler that never reads stdin (EPIPE on a large input)', async () => {
    const input = { blob: 'z'.repeat(4 * 1024 * 1024) }
    await expect(execHandler({ command: 'echo \'{"ignored":true}\'' })(input, ctx())).resolves.toEqual({ ignored: true })
  })

  it('survives a handler that closes stdin early', async () => {
    const input = { blob: 'z'.repeat(1024 * 1024) }
    await expect(execHandler({ command: 'exec 0<&-; sleep 0.05; echo 42' })(input, ctx())).resolves.toBe(42)
  })
})

describe('execHandler: abort', () => {
  const pidfile = (name: string): string => join(dir, name)

  async function startSleeper (name: string, args: string, killGraceMs?: number) {
    const file = pidfile(name)
    const controller = new AbortController()
    const handler = execHandler({
      command: `${fixture('sleep-forever.sh')} ${args}`,
      env: { SLEEPER_PIDFILE: file },
      killGraceMs
    })
    const promise = handler({ x: 1 }, ctx(controller.signal))
    promise.catch(() => {}) // inspected later
    await waitFor(() => existsSync(file), 5000, 'the sleeper to write its pids')
    const [shellPid, childPid] = readFileSync(file, 'utf8').trim().split(' ').map(Number)
    expect(processDead(shellPid)).toBe(false)
    expect(processDead(childPid)).toBe(false)
    return { controller, promise, shellPid, childPid }
  }

  it('kills the handler and its own children on abort, and rejects with HandlerAbortedError', async () => {
    const { controller, promise, shellPid, childPid } = await startSleeper('plain.pids', '')
    const started = Date.now()
    controller.abort(new Error('cancelled by requester'))
    const err = await rejection(promise)
    expect(err).toBeInstanceOf(HandlerAbortedError)
    expect(err.outcome).toBe('error')
    expect(err.reason).toContain('cancelled by requester')
    // SIGTERM was enough: nothing waited for the 2 s grace.
    expect(Date.now() - started).toBeLessThan(1500)
    // The kernel may take a moment to reap them after the pipes close; wait for it, bounded.
    await waitFor(() => processDead(shellPid) && processDead(childPid), 3000, 'shell and child to die')
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('escalates to SIGKILL after killGraceMs when SIGTERM is ignored', async () => {
    const { controller, promise, shellPid, childPid } = await startSleeper('stubborn.pids', '--ignore-term', 300)
    const started = Date.now()
    controller.abort(new DeadlineExceededError())
    const err = await rejection(promise)
    const took = Date.now() - started
    expect(err).toBeInstanceOf(HandlerAbortedError)
    expect(err.outcome).toBe('timeout')
    expect(took).toBeGreaterThanOrEqual(250)
    expect(took).toBeLessThan(3000)
    await waitFor(() => processDead(shellPid) && processDead(childPid), 3000, 'shell and child to die')
  })

  it('settles once the program is gone, and still kills a straggler that ignores SIGTERM after the grace', async () => {
    const file = pidfile('straggler.pids')
    const controller = new AbortController()
    // The straggler leaves our pipes alone, so nothing waits on it; only the pending SIGKILL ends it.
    // It writes its own pid once it ignores SIGTERM: a pid written by its parent could be signalled before the trap is set.
    const handler = execHandler({
      command: `sh -c "trap '' TERM; echo \\$\\$ > ${file}.tmp; mv ${file}.tmp ${file}; exec sleep 1000" </dev/null >/dev/null 2>&1 & wait`,
      killGraceMs: 400
    })
    const promise = handler(null, ctx(controller.signal))
    promise.catch(() => {})
    await waitFor(() => existsSync(file), 5000, 'the straggler pid')
    const pid = Number(readFileSync(file, 'utf8').trim())
    const started = Date.now()
    controller.abort()
    expect(await rejection(promise)).toBeInstanceOf(HandlerAbortedError)
    await waitFor(() => processDead(pid), 3000, 'the straggler to die')
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
  })

  it('kills running handlers when the node process exits', async () => {
    const file = pidfile('orphaned.pids')
    const script = [
      `import { execHandler } from ${JSON.stringify(new URL('../../../src/market/exec-handler.ts', import.meta.url).href)}`,
      `import { existsSync } from 'node:fs'`,
      `const run = execHandler({ command: ${JSON.stringify(fixture('sleep-forever.sh'))}, env: { SLEEPER_PIDFILE: ${JSON.stringify(file)} } })`,
      `run(null, { signal: new AbortController().signal, jobId: 'j', specId: 's' }).catch(() => {})`,
      `const poll = setInterval(() => { if (existsSync(${JSON.stringify(file)})) { clearInterval(poll); process.exit(0) } }, 10)`
    ].join('\n')
    const node = spawn(NODE, ['--input-type=module', '-e', script], { stdio: 'ignore' })
    const code = await new Promise<number | null>(resolve => node.once('exit', resolve))
    expect(code).toBe(0)
    const [shellPid, childPid] = readFileSync(file, 'utf8').trim().split(' ').map(Number)
    await waitFor(() => processDead(shellPid) && processDead(childPid), 3000, 'the orphaned handler to die')
  }, 10_000)

  it('treats AbortSignal.timeout() as a deadline', async () => {
    const handler = execHandler({ command: 'exec sleep 1000' })
    const err = await rejection(handler(null, ctx(AbortSignal.timeout(100))))
    expect(err).toBeInstanceOf(HandlerAbortedError)
    expect(err.outcome).toBe('timeout')
  })

  it('uses a plain abort() without a reason', async () => {
    const controller = new AbortController()
    const promise = execHandler({ command: 'exec sleep 1000' })(null, ctx(controller.signal))
    // Abort once the program is surely running: it shows up as our child.
    await waitFor(() => childrenOf(process.pid).length > 0, 3000, 'the handler to start')
    controller.abort()
    const err = await rejection(promise)
    expect(err).toBeInstanceOf(HandlerAbortedError)
    expect(err.outcome).toBe('error')
    expect(err.reason).toMatch(/^handler aborted: /)
  })

  it('rejects at once, starting nothing, when the signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort('too late')
    const err = await rejection(execHandler({ command: `touch ${join(dir, 'should-not-exist')}; echo 1` })(null, ctx(controller.signal)))
    expect(err).toBeInstanceOf(HandlerAbortedError)
    expect(err.reason).toContain('too late')
    expect(existsSync(join(dir, 'should-not-exist'))).toBe(false)
  })

  it('ignores an abort that comes after the job finished, and leaves no listener', async () => {
    const controller = new AbortController()
    await expect(execHandler({ command: 'echo 7' })(null, ctx(controller.signal))).resolves.toBe(7)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    controller.abort()
  })

  it('leaves no abort listener after a failure either', async () => {
    const controller = new AbortController()
    await rejection(execHandler({ command: fixture('exit3.sh') })(null, ctx(controller.signal)))
    await rejection(execHandler({ command: 'yes', maxOutputBytes: 1024 })(null, ctx(controller.signal)))
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('kills what a handler left running in the background once it exits', async () => {
    const file = pidfile('background.pids')
    const handler = execHandler({ command: `sleep 1000 > /dev/null 2>&1 & echo $! > ${file}; echo '"done"'` })
    await expect(handler(null, ctx())).resolves.toBe('done')
    const pid = Number(readFileSync(file, 'utf8').trim())
    await waitFor(() => processDead(pid), 3000, 'the background sleep to die')
  })
})
