/**
 * The node processes of bench:scale and bench:jobs (and bench:cascade's agent, via forkNodeProcess): one child process per node (scale-node.ts),
 * commands with an id and a deadline, and one place that kills every child
 * still alive when the bench ends, fails or is interrupted.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FromScaleNode, ToScaleNode } from './scale-protocol.ts'

type Command = ToScaleNode extends infer T ? T extends { id: number } ? Omit<T, 'id'> : never : never
type Answer<C extends Command['cmd']> = Extract<FromScaleNode, { event: { start: 'started', publish: 'published', serve: 'served', status: 'status', join: 'joined', burst: 'burst', lease: 'leases', leases: 'leases', echo: 'echoing', rtt: 'rtt', jobs: 'jobs', diag: 'diag', mark: 'marked', counters: 'counters', stop: 'stopped' }[C] }>

/**
 * Node's on-disk cache of compiled modules, shared by every node process: loading the modules is
 * most of a process's start cost, and with the cache four processes were ready in 5 s instead of
 * 10 on a busy two-core machine. Entries are keyed by each file's content, so an edit is never
 * served stale. A NODE_COMPILE_CACHE already set is used as it is.
 */
const COMPILE_CACHE = process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'specmesh-bench-compile-cache')

const alive = new Set<ChildProcess>()
let cleanupInstalled = false

/** Kill every node process still running; safe to call more than once. */
export function killAll (): void {
  for (const child of alive) child.kill('SIGKILL')
  alive.clear()
}

function installCleanup (): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`bench: ${signal}, killing ${alive.size} node processes\n`)
      killAll()
      process.exit(130)
    })
  }
}

/**
 * Fork a bench's node process (`script`, with IPC; stderr shown, stdout dropped) with the shared
 * compile cache, and track it so that killAll, and the bench's exit or interruption, end it.
 */
export function forkNodeProcess (script: string, execArgv: string[] = []): ChildProcess {
  installCleanup()
  const child = fork(script, [], {
    execPath: process.execPath,
    execArgv,
    env: { ...process.env, NODE_COMPILE_CACHE: COMPILE_CACHE },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  alive.add(child)
  child.on('exit', () => { alive.delete(child) })
  return child
}

export class ScaleNodeProcess {
  readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (m: FromScaleNode) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  private readonly ready: Promise<void>
  private exited: Error | undefined

  readonly index: number

  /** `execArgv`: more Node.js flags for this process (e.g. --cpu-prof to profile one node). */
  constructor (index: number, options: { execArgv?: string[] } = {}) {
    this.index = index
    // Small heaps: a node needs far less, and 100 of them share the machine.
    this.child = forkNodeProcess(new URL('./scale-node.ts', import.meta.url).pathname, ['--max-old-space-size=256', '--max-semi-space-size=2', '--expose-gc', ...(options.execArgv ?? [])])
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`node ${index}: no ready within 60 s`)) }, 60_000)
      this.child.once('message', () => { clearTimeout(timer); resolve() })
      this.child.once('exit', () => { clearTimeout(timer); reject(new Error(`node ${index} exited before it was ready`)) })
    })
    this.child.on('message', (message: FromScaleNode) => {
      const waiter = this.pending.get(message.id)
      if (waiter == null) return
      this.pending.delete(message.id)
      clearTimeout(waiter.timer)
      if (message.event === 'error') waiter.reject(new Error(`node ${index}: ${message.message}`))
      else waiter.resolve(message)
    })
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`node ${index} exited (${signal ?? code})`)
      for (const waiter of this.pending.values()) { clearTimeout(waiter.timer); waiter.reject(this.exited) }
      this.pending.clear()
    })
  }

  async whenReady (): Promise<void> { await this.ready }

  async send<C extends Command> (command: C, timeoutMs = 30_000): Promise<Answer<C['cmd']>> {
    await this.ready
    if (this.exited != null) throw this.exited
    const id = this.nextId++
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`node ${this.index}: no answer to ${command.cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: m => { resolve(m as Answer<C['cmd']>) }, reject, timer })
      this.child.send({ ...command, id })
    })
  }

  /** Stop the node (bounded), then end the process: disconnect, and SIGKILL if it lingers. */
  async close (): Promise<void> {
    if (this.exited == null) await this.send({ cmd: 'stop' }, 15_000).catch(() => {})
    if (this.exited != null) return
    const gone = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    if (this.child.connected) this.child.disconnect()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await gone
    clearTimeout(timer)
  }
}

/** Start `count` node processes, at most `concurrency` loading at once (loading the modules is most of a process's start cost). */
export async function spawnNodes (count: number, concurrency: number, onProgress?: (done: number) => void): Promise<ScaleNodeProcess[]> {
  const procs: ScaleNodeProcess[] = []
  let done = 0
  for (let i = 0; i < count; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - i) }, (_, j) => new ScaleNodeProcess(i + j))
    procs.push(...batch)
    try {
      await Promise.all(batch.map(async p => { await p.whenReady() }))
    } catch (err) {
      await Promise.all(procs.map(async p => { await p.close() }))
      throw err
    }
    done += batch.length
    onProgress?.(done)
  }
  return procs
}
