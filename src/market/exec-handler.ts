/**
 * `--exec` handlers: serve a spec with a program in any language. Each job runs
 * COMMAND through `/bin/sh -c` with the input as JSON on stdin; the one JSON value
 * the program prints on stdout is the output. A program that fails exits non-zero,
 * and may print `{"error": "what to publish"}` on stdout: that message (bounded)
 * is the only text of its own that reaches the receipt. Its stderr goes to the
 * agent's log.
 *
 * The program runs in its own process group so that killing it (abort, oversized
 * output) also kills whatever a shell wrapper started. Every job's promise settles
 * once, after the program has exited and its pipes are drained or given up on.
 */

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { MAX_OUTPUT_BYTES } from '../wire/constants.ts'
import { decodeUtf8, parseJson, type JsonInputError } from '../wire/json-input.ts'
import { CGROUP_JOIN_FAILED, type Cell, type HandlerContainment } from './handler-containment.ts'
import {
  handlerChosenMessage,
  HandlerAbortedError,
  HandlerError,
  HandlerExitError,
  HandlerInputError,
  HandlerOutputError,
  HandlerOutputTooLargeError,
  HandlerSpawnError,
  isDeadlineReason
} from './errors.ts'

export interface ExecHandlerOptions {
  /** Shell command line, run as `/bin/sh -c COMMAND`. */
  command: string
  /**
   * Working directory of the program.
   *
   * @default process.cwd()
   */
  cwd?: string
  /** Extra environment, laid over the node's own; SPECMESH_JOB_ID and SPECMESH_SPEC_ID are always set. */
  env?: Record<string, string>
  /**
   * Largest stdout accepted, in bytes; the program is killed the moment it prints more.
   *
   * @default MAX_OUTPUT_BYTES (1 MiB)
   */
  maxOutputBytes?: number
  /**
   * How much of the end of stderr to keep for the agent's log (never published), in bytes.
   *
   * @default 8192
   */
  maxStderrBytes?: number
  /**
   * Time between SIGTERM and SIGKILL when the program is aborted.
   *
   * @default 2000
   */
  killGraceMs?: number
  /**
   * Where each job's processes are confined (cgroup v2 or process group) and
   * recorded for the sweep at the next start. Without one, the process group alone.
   */
  containment?: HandlerContainment
  /**
   * Called with each line the program writes on stderr, as it writes it, success or
   * not (`specmesh agent` puts them in its own log, never in a receipt). Lines are
   * cut at 4,096 characters.
   *
   * @default stderr is only kept, as its tail, for the reason of a failure
   */
  onStderr?: (line: string, job: { jobId: string, specId: string }) => void
}

/** Longest stderr line passed to onStderr; the rest of it is dropped. */
const MAX_STDERR_LINE_CHARS = 4096

/** Splits a byte stream into lines for onStderr, bounded in memory. */
class LineSplitter {
  private partial = ''
  private readonly emit: (line: string) => void
  private readonly decoder = new TextDecoder()

  constructor (emit: (line: string) => void) {
    this.emit = emit
  }

  push (chunk: Buffer): void {
    const text = this.partial + this.decoder.decode(chunk, { stream: true })
    const lines = text.split('\n')
    this.partial = (lines.pop() ?? '').slice(0, MAX_STDERR_LINE_CHARS)
    for (const line of lines) this.emit(line.replace(/\r$/, '').slice(0, MAX_STDERR_LINE_CHARS))
  }

  end (): void {
    const rest = this.partial + this.decoder.decode()
    this.partial = ''
    if (rest !== '') this.emit(rest.slice(0, MAX_STDERR_LINE_CHARS))
  }
}

export interface HandlerContext {
  /** Aborted at the job's deadline (or execution window): stop and clean up. */
  signal: AbortSignal
  jobId: string
  specId: string
  /** The job's deadline and soft deadline (epoch ms), for handlers that pace themselves. */
  deadline?: number
  softDeadline?: number
}

export type Handler = (input: unknown, ctx: HandlerContext) => Promise<unknown>

export const DEFAULT_MAX_STDERR_BYTES = 8 * 1024
export const DEFAULT_KILL_GRACE_MS = 2000

/** How much of unparseable stdout goes into the reason. */
const OUTPUT_PREVIEW_CHARS = 200

/**
 * After the program itself has exited, how long to wait for its pipes to close.
 * Only something that left our process group (setsid) can still hold them then.
 */
const PIPE_DRAIN_MS = 1000

/** `sh` exits with these when it cannot find or cannot execute the command. */
const SHELL_NOT_FOUND = 127
const SHELL_NOT_EXECUTABLE = 126

/** Process groups still running (with their cells), killed if this node exits before they do. */
const liveGroups = new Map<number, Cell | undefined>()
let exitHookInstalled = false

function trackGroup (pgid: number, cell: Cell | undefined): void {
  liveGroups.set(pgid, cell)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const [group, groupCell] of liveGroups) {
        killGroup(group, 'SIGKILL')
        groupCell?.kill()
      }
    })
  }
}

function forgetGroup (pgid: number): void {
  liveGroups.get(pgid)?.close()
  liveGroups.delete(pgid)
}

function killGroup (pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

function groupAlive (pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Keeps the last `limit` bytes written to it, in bounded memory. */
class TailBuffer {
  private chunks: Buffer[] = []
  private size = 0
  private readonly limit: number

  constructor (limit: number) {
    this.limit = limit
  }

  push (chunk: Buffer): void {
    if (this.limit <= 0) return
    this.chunks.push(chunk)
    this.size += chunk.length
    if (this.size > 2 * this.limit) this.compact()
  }

  private compact (): void {
    const all = Buffer.concat(this.chunks)
    const tail = all.subarray(Math.max(0, all.length - this.limit))
    this.chunks = [Buffer.from(tail)]
    this.size = tail.length
  }

  toString (): string {
    this.compact()
    return this.chunks[0]?.toString('utf8').trim() ?? ''
  }
}

function describeReason (reason: unknown): string {
  if (reason instanceof Error) return reason.message
  if (typeof reason === 'string') return reason
  if (reason === undefined) return 'aborted'
  try {
    return JSON.stringify(reason) ?? String(reason)
  } catch {
    return String(reason)
  }
}

/** The error a handler throws when its job was aborted: a timeout outcome when the deadline was the reason. */
export function abortedError (reason: unknown): HandlerAbortedError {
  return new HandlerAbortedError(
    `handler aborted: ${describeReason(reason)}`,
    isDeadlineReason(reason) ? 'timeout' : 'error',
    { cause: reason }
  )
}

export function execHandler (options: ExecHandlerOptions): Handler {
  const command = options.command
  const maxOutputBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES
  const maxStderrBytes = options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS

  return async (input, ctx) => {
    const { signal } = ctx
    if (signal.aborted) throw abortedError(signal.reason)

    let stdin: string
    try {
      const json = JSON.stringify(input)
      if (json === undefined) throw new TypeError(`${typeof input} is not a JSON value`)
      stdin = json
    } catch (err) {
      throw new HandlerInputError('job input is not serialisable as JSON', 'error', { cause: err, detail: (err as Error).message })
    }

    return await new Promise<unknown>((resolve, reject) => {
      let child: ChildProcess
      const cell = options.containment?.open(command)
      const [file, ...args] = cell?.argv ?? ['/bin/sh', '-c', command]
      try {
        child = spawn(file, args, {
          cwd: options.cwd,
          env: {
            ...process.env,
            ...options.env,
            SPECMESH_JOB_ID: ctx.jobId,
            SPECMESH_SPEC_ID: ctx.specId
          },
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe']
        })
      } catch (err) {
        cell?.close()
        reject(new HandlerSpawnError(command, 'the program could not be spawned', { cause: err, detail: (err as Error).message }))
        return
      }

      const stdoutChunks: Buffer[] = []
      let stdoutBytes = 0
      const stderrTail = new TailBuffer(maxStderrBytes)
      /** The first reason we decided the job failed; later ones are consequences of it. */
      let failure: HandlerError | undefined
      let settled = false
      let exited = false
      let closed = false
      let drained = false
      let killTimer: NodeJS.Timeout | undefined
      let drainTimer: NodeJS.Timeout | undefined
      const pgid = child.pid

      const cleanup = (): void => {
        signal.removeEventListener('abort', onAbort)
        clearTimeout(drainTimer)
        child.stdin?.destroy()
        child.stdout?.destroy()
        child.stderr?.destroy()
        if (pgid === undefined) return
        if (killTimer !== undefined && groupAlive(pgid)) {
          // Terminated, and the program is gone with its pipes, but something else in
          // its group may still be running out its grace: the pending SIGKILL (or the
          // exit hook, if this node stops first) ends it. Orphans that died already
          // count as members until init reaps them, so this is not waited for.
          killTimer.unref()
        } else {
          clearTimeout(killTimer)
          forgetGroup(pgid)
        }
      }

      const settle = (err: HandlerError | undefined, value?: unknown): void => {
        if (settled) return
        settled = true
        cleanup()
        if (err !== undefined) reject(err)
        else resolve(value)
      }

      /** Sends SIGKILL to the group; from then on only an escaped process can hold our pipes. */
      const killNow = (): void => {
        if (pgid === undefined) return
        clearTimeout(killTimer)
        killTimer = undefined
        killGroup(pgid, 'SIGKILL')
        // The cell reaches what left the group (setsid): with cgroup v2, everything the program started.
        cell?.kill()
        if (settled) forgetGroup(pgid)
        else if (exited) {
          armDrain()
          tryFinish()
        }
      }

      const armDrain = (): void => {
        if (drainTimer !== undefined || settled) return
        drainTimer = setTimeout(() => {
          drained = true
          tryFinish()
        }, PIPE_DRAIN_MS)
      }

      /** Settles once the program has exited and its pipes are closed (or given up on). */
      const tryFinish = (): void => {
        if (settled || !exited || pgid === undefined) return
        if (!closed && !drained) return
        finish(child.exitCode, child.signalCode)
      }

      const fail = (err: HandlerError, how: 'terminate' | 'kill'): void => {
        if (failure !== undefined || settled) return
        failure = err
        if (pgid === undefined) return
        if (how === 'kill') {
          killNow()
          return
        }
        // SIGTERM to the whole group, so the real program behind a shell wrapper gets
        // its grace period too; SIGKILL for whatever is still there after it.
        killGroup(pgid, 'SIGTERM')
        killTimer = setTimeout(killNow, killGraceMs)
      }

      function onAbort (): void {
        // Once the program has exited its result stands; only the pipes are still draining.
        if (exited) return
        fail(abortedError(signal.reason), 'terminate')
      }

      child.once('error', (err: NodeJS.ErrnoException) => {
        // Spawn failures arrive here with no pid; nothing was started, nothing to wait for.
        if (pgid === undefined) {
          cell?.close()
          settle(new HandlerSpawnError(command, 'the program could not be spawned', { cause: err, detail: options.cwd === undefined ? err.message : `${err.message} (cwd ${options.cwd})` }))
        }
      })

      if (pgid === undefined) return
      cell?.started(pgid)
      trackGroup(pgid, cell)
      signal.addEventListener('abort', onAbort, { once: true })

      child.stdout?.on('data', (chunk: Buffer) => {
        if (failure !== undefined) return
        stdoutBytes += chunk.length
        if (stdoutBytes > maxOutputBytes) {
          stdoutChunks.length = 0
          fail(new HandlerOutputTooLargeError(maxOutputBytes), 'kill')
          return
        }
        stdoutChunks.push(chunk)
      })
      const stderrLines = options.onStderr != null
        ? new LineSplitter(line => { options.onStderr!(line, { jobId: ctx.jobId, specId: ctx.specId }) })
        : undefined
      child.stderr?.on('data', (chunk: Buffer) => {
        stderrTail.push(chunk)
        stderrLines?.push(chunk)
      })
      child.stderr?.once('end', () => { stderrLines?.end() })

      // A program that never reads stdin, or closes it early, makes our write fail
      // with EPIPE; that is its business, and its exit status tells the story.
      child.stdin?.on('error', () => {})
      child.stdout?.on('error', () => {})
      child.stderr?.on('error', () => {})
      child.stdin?.end(stdin)

      child.once('exit', () => {
        exited = true
        // While terminating, the rest of the group keeps its grace period (and holds
        // our pipes until it ends). Otherwise the job is over, and anything the
        // program left behind in its group goes with it.
        if (killTimer === undefined) killNow()
      })
      child.once('close', () => {
        closed = true
        tryFinish()
      })

      const finish = (code: number | null, sig: NodeJS.Signals | null): void => {
        if (failure !== undefined) {
          settle(failure)
          return
        }
        if (cell != null && code === CGROUP_JOIN_FAILED) {
          settle(new HandlerSpawnError(command, 'the program could not be confined (cgroup)', { detail: `stderr: ${stderrTail.toString()}` }))
          return
        }
        if (code === SHELL_NOT_FOUND || code === SHELL_NOT_EXECUTABLE) {
          const stderr = stderrTail.toString()
          settle(new HandlerSpawnError(command, `${code === SHELL_NOT_FOUND ? 'command not found' : 'command not executable'} (exit ${code})`, { detail: stderr === '' ? undefined : `stderr: ${stderr}` }))
          return
        }
        if (code !== 0 || sig !== null) {
          settle(new HandlerExitError(code, sig, stderrTail.toString(), handlerChosenMessage(Buffer.concat(stdoutChunks).toString('utf8'))))
          return
        }
        const bytes = Buffer.concat(stdoutChunks)
        let value: unknown
        try {
          const text = decodeUtf8(bytes, 'handler output')
          if (text.trim() === '') {
            settle(new HandlerOutputError('handler output was not JSON: it printed nothing on stdout'))
            return
          }
          value = parseJson(text, { what: 'handler output' })
        } catch (err) {
          const problem = err as JsonInputError
          // What the program printed stays local: the reason says only what was wrong with it.
          const raw = bytes.toString('utf8')
          const preview = raw.length > OUTPUT_PREVIEW_CHARS ? `${raw.slice(0, OUTPUT_PREVIEW_CHARS)}…` : raw
          const reason = problem.code === 'not-json' ? `handler output was not JSON (${bytes.length} bytes on stdout)` : problem.message
          settle(new HandlerOutputError(reason, 'error', { detail: `stdout began ${JSON.stringify(preview)}` }))
          return
        }
        settle(undefined, value)
      }
    })
  }
}
