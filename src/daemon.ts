import { readFileSync, unlinkSync } from 'node:fs'
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { processAlive } from './api/client.ts'
import { startApiServer, type ApiServer } from './api/server.ts'
import { loadOrCreateIdentity } from './crypto/identity.ts'
import type { NodeInit, SpecmeshNode } from './node-types.ts'
import { homePaths } from './store/home.ts'
import { DAEMON_DEFAULTS, resolveSettings, type NodeSettings } from './config/settings.ts'
import { packageVersion } from './util/package-version.ts'

/** How long a graceful shutdown may take before the process gives up and exits 1. */
export const SHUTDOWN_TIMEOUT_MS = 15_000

import { createLogger, type LogFn, type LogThreshold } from './util/logger.ts'
import { batchedWriter } from './util/log-writer.ts'

export type { LogFn } from './util/logger.ts'

export interface DaemonInit {
  /** Data folder, already resolved (see resolveHome). */
  home: string
  /**
   * Settings given as command-line flags (listen, bootstrap, apiPort, mdns, …):
   * they win over SPECMESH_* variables and config.json. @default none
   */
  flags?: Partial<NodeSettings>
  /** Collect Prometheus metrics for GET /metrics. @default true */
  metrics?: boolean
  /** Print one JSON document instead of the human banner once ready. @default false */
  json?: boolean
  /** Where the banner goes. @default process.stdout */
  stdout?: (text: string) => void
  /**
   * Where the log lines go, one call per line. @default process.stderr, the
   * lines of each event-loop turn in one write (util/log-writer.ts), warning and error
   * lines at once, everything on exit
   */
  stderr?: (text: string) => void
  /** Lowest level logged. @default 'info' */
  logLevel?: LogThreshold
  /** @default 'pretty' when the log goes to a terminal, else 'json' */
  logFormat?: 'json' | 'pretty'
  /** Stop on SIGINT/SIGTERM (runDaemon only). @default true */
  handleSignals?: boolean
  /** The node factory; tests may pass a fake. @default createNode from ./node.ts */
  createNode?: (init: NodeInit) => Promise<SpecmeshNode>
  /**
   * runDaemon only: work to do once the daemon runs, while shutdown signals are
   * already handled (`specmesh agent` serves its specs here). `signal` aborts when
   * a shutdown signal arrives. A rejection stops the daemon, and runDaemon
   * rejects with it. @default nothing
   */
  onReady?: (daemon: Daemon, signal: AbortSignal) => Promise<void>
  /**
   * runDaemon only: on the first SIGINT/SIGTERM, before the daemon stops, finish
   * what can be finished (`specmesh agent` drains its running jobs here). A
   * second signal aborts `force`; the stop follows either way, and a third
   * signal ends the process at once. @default nothing
   */
  onShutdown?: (daemon: Daemon, force: AbortSignal) => Promise<void>
}

export interface Daemon {
  readonly home: string
  readonly node: SpecmeshNode
  readonly api: ApiServer
  readonly log: LogFn
  /** Stop the API (removing api.json), then the node (closing its database), then release the lock. Idempotent. */
  stop (): Promise<void>
}

export class DaemonAlreadyRunningError extends Error {
  override name = 'DaemonAlreadyRunningError'
  readonly pid: number

  constructor (pid: number, home: string) {
    super(`another specmesh daemon (pid ${pid}) is using ${home}; stop it first or pick another --home`)
    this.pid = pid
  }
}

/** One JSON object per line: {ts, level, event, ...fields}. `fields.level` overrides the default 'info'. */
export function jsonLineLogger (write: (text: string) => void, level: LogThreshold = 'info'): LogFn {
  return createLogger({ write, level, format: 'json' })
}

/**
 * Start a daemon on a data folder: take the folder's lock, make sure it has an
 * identity (so `daemon` works on a fresh machine without `init`), start the
 * node and the local API, and print where they listen.
 */
export async function startDaemon (init: DaemonInit): Promise<Daemon> {
  const { home } = init
  const stdout = init.stdout ?? ((text: string) => { process.stdout.write(text) })
  const toTerminal = init.stderr == null && process.stderr.isTTY
  const batched = init.stderr == null ? batchedWriter(chunk => { process.stderr.write(chunk) }) : undefined
  // Lines still waiting when the process ends (process.exit, an uncaught exception) are written then.
  const flushLog = (): void => { batched?.flush() }
  if (batched != null) process.on('exit', flushLog)
  const log = createLogger({
    write: batched?.write ?? init.stderr!,
    flush: batched?.flush,
    level: init.logLevel ?? 'info',
    format: init.logFormat ?? (toTerminal ? 'pretty' : 'json'),
    color: toTerminal && process.env.NO_COLOR == null
  })

  await mkdir(home, { recursive: true, mode: 0o700 })
  const lock = await acquireDaemonLock(home)
  // Whatever way this process ends, do not leave a lock or api.json pointing at it.
  const onExit = (): void => {
    lock.releaseSync()
    removeApiInfoSync(home)
  }
  process.on('exit', onExit)

  let node: SpecmeshNode | undefined
  let api: ApiServer | undefined
  try {
    // Bad settings stop the start before anything is created.
    const settings = await resolveSettings({ home, flags: init.flags, defaults: DAEMON_DEFAULTS })
    const { identity, created } = await loadOrCreateIdentity(home)
    log(created ? 'identity.created' : 'identity.loaded', { peerId: identity.peerId, home })
    const factory = init.createNode ?? (await import('./node.ts')).createNode
    const nodeInit: NodeInit = { home, log, settings, metrics: init.metrics ?? true }
    node = await factory(nodeInit)
    const { mcpHttpMount } = await import('./mcp/http.ts')
    const { a2aMounts } = await import('./a2a/http.ts')
    // The A2A card names the API's URL, known once it listens (before any request arrives).
    let apiUrl = ''
    const mounts = [
      mcpHttpMount({ node, log, version: packageVersion() }),
      ...a2aMounts({ node, apiUrl: () => apiUrl, version: packageVersion() })
    ]
    api = await startApiServer({ node, home, port: settings.values.apiPort, log, mounts })
    apiUrl = api.url
  } catch (err) {
    await api?.close().catch(() => {})
    await node?.stop().catch(() => {})
    await lock.release()
    process.off('exit', onExit)
    flushLog()
    process.off('exit', flushLog)
    throw err
  }

  const multiaddrs = node.multiaddrs()
  log('daemon.started', { peerId: node.peerId, multiaddrs, api: api.url, home, pid: process.pid })
  // The lines logged so far come before the banner.
  flushLog()
  if (init.json === true) {
    stdout(`${JSON.stringify({ peerId: node.peerId, multiaddrs, api: api.url, home, pid: process.pid })}\n`)
  } else {
    const lines = [
      'specmesh daemon running',
      `  home     ${home}`,
      `  peer id  ${node.peerId}`,
      ...(multiaddrs.length > 0 ? multiaddrs.map((a, i) => `  ${i === 0 ? 'listen  ' : '        '} ${a}`) : ['  listen   (no addresses)']),
      `  api      ${api.url}`,
      'Stop it with Ctrl+C (SIGINT) or SIGTERM.'
    ]
    stdout(`${lines.join('\n')}\n`)
  }

  const started = { node, api }
  let stopping: Promise<void> | null = null
  return {
    home,
    node,
    api,
    log,
    stop: async () => {
      stopping ??= (async () => {
        log('daemon.stopping', { home })
        let failure: unknown
        await started.api.close().catch(err => { failure ??= err })
        await started.node.stop().catch(err => { failure ??= err })
        await lock.release().catch(err => { failure ??= err })
        process.off('exit', onExit)
        if (failure == null) log('daemon.stopped', { home })
        flushLog()
        process.off('exit', flushLog)
        if (failure != null) throw failure
      })()
      return stopping
    }
  }
}

/**
 * Run a daemon until SIGINT or SIGTERM, then stop it gracefully. Resolves after
 * a clean stop; rejects when startup fails. A second signal, or a shutdown that
 * takes longer than SHUTDOWN_TIMEOUT_MS, ends the process with exit code 1.
 */
export async function runDaemon (init: DaemonInit): Promise<void> {
  const shutdown = new AbortController()
  if (init.handleSignals === false) {
    const daemon = await startDaemon(init)
    await init.onReady?.(daemon, shutdown.signal).catch(async (err: unknown) => {
      await daemon.stop().catch(() => {})
      throw err
    })
    return
  }
  // The signals are ours before the start begins: the lock, api.json and the banner
  // appear during it, and a signal sent the moment they do (by a supervisor, a script,
  // a test) would otherwise meet the default disposition and kill the process with
  // the lock and api.json left behind (a loaded suite saw SIGINT do it once). A signal
  // during the start stops the daemon once it has started; a second one ends the
  // process at once (the exit hook still removes the lock and api.json).
  const early: NodeJS.Signals[] = []
  let onSignal = (signal: NodeJS.Signals): void => {
    early.push(signal)
    if (early.length > 1) process.exit(1)
  }
  const dispatch = (signal: NodeJS.Signals): void => { onSignal(signal) }
  process.on('SIGINT', dispatch)
  process.on('SIGTERM', dispatch)
  let daemon: Daemon
  try {
    daemon = await startDaemon(init)
  } catch (err) {
    process.off('SIGINT', dispatch)
    process.off('SIGTERM', dispatch)
    throw err
  }
  const { log } = daemon

  // A closed terminal or pipe (`specmesh daemon | head`) must not take the node down.
  const ignoreStreamError = (): void => {}
  process.stdout.on('error', ignoreStreamError)
  process.stderr.on('error', ignoreStreamError)

  const onRejection = (reason: unknown): void => {
    log('daemon.unhandled_rejection', { level: 'error', message: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined })
  }
  process.on('unhandledRejection', onRejection)

  await new Promise<void>((resolve, reject) => {
    let signalled = false
    /** While onShutdown runs: a second signal aborts it rather than ending the process. */
    let finishing: AbortController | undefined
    const detach = (): void => {
      process.off('SIGINT', dispatch)
      process.off('SIGTERM', dispatch)
      process.off('unhandledRejection', onRejection)
      process.stdout.off('error', ignoreStreamError)
      process.stderr.off('error', ignoreStreamError)
    }
    const stop = (): void => {
      const timer = setTimeout(() => {
        log('daemon.shutdown_timeout', { level: 'error', timeoutMs: SHUTDOWN_TIMEOUT_MS })
        process.exit(1)
      }, SHUTDOWN_TIMEOUT_MS)
      timer.unref()
      daemon.stop().then(() => {
        clearTimeout(timer)
        detach()
        resolve()
      }, reject)
    }
    onSignal = (signal: NodeJS.Signals): void => {
      if (finishing != null && !finishing.signal.aborted) {
        log('daemon.forced_stop', { level: 'warn', signal, message: 'second signal: aborting the work still running' })
        finishing.abort()
        return
      }
      if (signalled) {
        log('daemon.forced_exit', { level: 'error', signal })
        process.exit(1)
      }
      signalled = true
      log('daemon.signal', { signal })
      shutdown.abort()
      if (init.onShutdown == null) {
        stop()
        return
      }
      finishing = new AbortController()
      init.onShutdown(daemon, finishing.signal)
        .catch((err: unknown) => { log('daemon.shutdown_failed', { level: 'error', message: (err as Error).message }) })
        .finally(() => {
          finishing = undefined
          stop()
        })
    }
    if (early.length > 0) {
      // Signalled while starting: stop now, without running onReady's work.
      log('daemon.signal', { signal: early[0], during: 'start' })
      signalled = true
      shutdown.abort()
      stop()
      return
    }
    init.onReady?.(daemon, shutdown.signal).catch((err: unknown) => {
      // A failure once shutdown has begun is a consequence of it, not news.
      if (signalled) return
      signalled = true
      daemon.stop().catch(() => {}).finally(() => {
        detach()
        reject(err)
      })
    })
  })
}

// ---- the data folder's daemon lock ----

export interface DaemonLock {
  readonly path: string
  release (): Promise<void>
  releaseSync (): void
}

interface LockHolder {
  pid: number
  start: string | null
  raw: string
}

/**
 * Take `<home>/daemon.lock`, which holds the owner's pid (and, on Linux, its
 * process start time, so a reused pid is not mistaken for the owner). The file
 * is written whole to a temporary name and hard-linked into place, which fails
 * atomically when it exists. A lock whose owner is gone (after kill -9, a
 * crash, a reboot) is moved aside and taken over.
 */
export async function acquireDaemonLock (home: string): Promise<DaemonLock> {
  const path = join(home, 'daemon.lock')
  const start = processStartTime(process.pid)
  const content = `${process.pid}\n${start != null ? `${start}\n` : ''}`

  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(path, content)) return ownedLock(path, content)
    const holder = await readLock(path)
    if (holder == null) continue // it vanished between our attempts: try again
    if (holderAlive(holder)) throw new DaemonAlreadyRunningError(holder.pid, home)
    // Stale. Rename is atomic, so of several starters only one moves this file.
    const aside = `${path}.stale-${process.pid}`
    try {
      await rename(path, aside)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    const moved = await readFile(aside, 'utf8').catch(() => '')
    // If a live starter replaced the stale lock between our read and our rename, put its lock back.
    if (moved !== holder.raw) await link(aside, path).catch(() => {})
    await unlink(aside).catch(() => {})
  }
  throw new Error(`could not take ${path}: other processes keep creating it; is another daemon starting on ${home}?`)
}

async function createExclusive (path: string, content: string): Promise<boolean> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, content, { mode: 0o600 })
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw err
    // A file system without hard links: O_EXCL create instead.
    try {
      await writeFile(path, content, { flag: 'wx', mode: 0o600 })
      return true
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err2
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function readLock (path: string): Promise<LockHolder | null> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const [pidLine, startLine] = raw.split('\n')
  const pid = Number(pidLine)
  // Garbage (pid 0 or NaN) can never be alive, so it reads as a stale lock.
  return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : 0, start: startLine != null && startLine !== '' ? startLine : null, raw }
}

function holderAlive ({ pid, start }: LockHolder): boolean {
  if (pid <= 0) return false
  if (pid === process.pid) return true // another daemon in this very process
  if (!processAlive(pid)) return false
  if (start == null) return true
  const now = processStartTime(pid)
  return now == null || now === start
}

/** Process start time in clock ticks since boot (field 22 of /proc/PID/stat), or null off Linux. */
function processStartTime (pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? null
  } catch {
    return null
  }
}

function ownedLock (path: string, content: string): DaemonLock {
  let released = false
  const stillOurs = (raw: string): boolean => raw === content
  return {
    path,
    release: async () => {
      if (released) return
      released = true
      const raw = await readFile(path, 'utf8').catch(() => null)
      if (raw != null && stillOurs(raw)) await unlink(path).catch(() => {})
    },
    releaseSync: () => {
      if (released) return
      released = true
      try {
        if (stillOurs(readFileSync(path, 'utf8'))) unlinkSync(path)
      } catch {}
    }
  }
}

function removeApiInfoSync (home: string): void {
  const { apiInfo } = homePaths(home)
  try {
    const info = JSON.parse(readFileSync(apiInfo, 'utf8')) as { pid?: unknown }
    if (info.pid === process.pid) unlinkSync(apiInfo)
  } catch {}
}
