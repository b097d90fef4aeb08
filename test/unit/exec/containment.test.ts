/**
 * Nothing an --exec handler starts outlives it (issue 10, item 5), even a child
 * that detaches itself with setsid. Real processes; the cgroup v2 cases need
 * root (or a delegated cgroup) and skip, saying so, where this machine has none.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execHandler } from '../../../src/market/exec-handler.ts'
import { HandlerContainment } from '../../../src/market/handler-containment.ts'
import { processDead, waitFor } from './helpers.ts'

let dir: string
let containment: HandlerContainment
let mode: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'specmesh-contain-'))
  containment = new HandlerContainment({ home: dir })
  mode = containment.start().mode
  if (mode !== 'cgroup') console.warn('containment.test: cgroup v2 is not available to this process (not root, or no cgroup2 mount); the setsid cases are skipped')
})
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

const ctx = (signal: AbortSignal = new AbortController().signal) => ({ signal, jobId: 'job-1', specId: 'spec-1' })
const pidIn = (file: string): number => Number(readFileSync(file, 'utf8').trim())

describe('handler containment', () => {
  it('kills a setsid child the handler left running when it exits', async ({ skip }) => {
    if (mode !== 'cgroup') skip()
    const file = join(dir, 'escaped-on-exit.pid')
    const handler = execHandler({ command: `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${file}; echo '"done"'`, containment })
    await expect(handler(null, ctx())).resolves.toBe('done')
    await waitFor(() => processDead(pidIn(file)), 3000, 'the setsid sleep to die')
  })

  it('kills a setsid child when the handler is aborted at its deadline', async ({ skip }) => {
    if (mode !== 'cgroup') skip()
    const file = join(dir, 'escaped-on-abort.pid')
    const handler = execHandler({ command: `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${file}; sleep 300`, containment, killGraceMs: 200 })
    const controller = new AbortController()
    const running = handler(null, ctx(controller.signal))
    await waitFor(() => { try { return pidIn(file) > 0 } catch { return false } }, 3000, 'the pid file')
    controller.abort(Object.assign(new Error('deadline reached'), { name: 'DeadlineExceededError' }))
    await expect(running).rejects.toMatchObject({ outcome: 'timeout' })
    await waitFor(() => processDead(pidIn(file)), 3000, 'the setsid sleep to die')
  })

  it('keeps the exit code and the signal of the program it confines', async () => {
    await expect(execHandler({ command: 'exit 3', containment })(null, ctx())).rejects.toMatchObject({ exitCode: 3 })
    await expect(execHandler({ command: 'kill -SEGV $$', containment })(null, ctx())).rejects.toMatchObject({ signal: 'SIGSEGV' })
    await expect(execHandler({ command: 'cat', containment })({ a: 1 }, ctx())).resolves.toEqual({ a: 1 })
  })
})
