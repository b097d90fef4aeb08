/**
 * Run the real `specmesh` command as child processes, the way a user would:
 * the pinned Node 24 running bin/specmesh.js. Every process started here is
 * tracked so a test's afterEach can kill whatever is left (killSpawned).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { waitFor } from './wait.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const NODE = join(ROOT, 'node_modules/.bin/node')
export const BIN = join(ROOT, 'bin/specmesh.js')

/** The fixture agent most end-to-end tests run: its spec, its Python handler as an --exec command, and an input for it. */
export const EXTRACT_SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
export const EXTRACT_EXEC = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
export const EXTRACT_INPUT = join(ROOT, 'test/fixtures/agents/input.json')

const spawned = new Set<ChildProcess>()

/**
 * The environment children see: no SPECMESH_HOME leaking in from the
 * developer's shell, and mDNS off (SPECMESH_MDNS=false) unless a test turns it
 * on: a test daemon must not multicast beyond this machine's loopback, nor
 * join another test's mesh through the LAN.
 */
function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SPECMESH_MDNS: 'false', ...extra }
  if (extra.SPECMESH_HOME == null) delete env.SPECMESH_HOME
  return env
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions { env?: Record<string, string>, timeoutMs?: number, cwd?: string }

/** Run one specmesh command to completion (bounded by timeoutMs; the process is killed past it). */
export async function runCli (args: string[], options: RunOptions = {}): Promise<CliResult> {
  return await runNode([BIN, ...args], `specmesh ${args.join(' ')}`, options)
}

/** Run the pinned Node 24 on `args` (a script and its arguments) to completion, bounded like runCli. */
export async function runNode (args: string[], what: string, options: RunOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const child = spawn(NODE, args, { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] })
  spawned.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  return await new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', err => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      spawned.delete(child)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Run a command that must succeed with --json, and parse its single JSON document. */
export async function runJson<T = any> (args: string[], options: { env?: Record<string, string>, timeoutMs?: number } = {}): Promise<T> {
  const result = await runCli([...args, '--json'], options)
  if (result.code !== 0) throw new Error(`specmesh ${args.join(' ')} --json exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
  return JSON.parse(result.stdout) as T
}

export interface ApiJson {
  url: string
  pid: number
  peerId: string
}

export interface DaemonProcess {
  home: string
  child: ChildProcess
  pid: number
  api: ApiJson
  stdout: () => string
  stderr: () => string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Send a signal and wait (bounded) for the exit. */
  stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export async function readApiJson (home: string): Promise<ApiJson | null> {
  try {
    return JSON.parse(await readFile(join(home, 'api.json'), 'utf8')) as ApiJson
  } catch {
    return null
  }
}

/** Spawn `specmesh daemon` without waiting for it (for tests that expect it to fail). */
export function spawnDaemon (home: string, args: string[] = [], env: Record<string, string> = {}): SpawnedNode {
  return spawnNode('daemon', home, args, env)
}

export interface SpawnedNode {
  child: ChildProcess
  output: () => { stdout: string, stderr: string }
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Spawn `specmesh agent` on 127.0.0.1 without waiting for it (for tests that expect it to fail). */
export function spawnAgent (home: string, args: string[]): SpawnedNode {
  return spawnNode('agent', home, ['--listen', '/ip4/127.0.0.1/tcp/0', ...args])
}

/** Spawn a long-running `specmesh daemon|agent`; killSpawned() ends it after the test. */
function spawnNode (command: 'daemon' | 'agent', home: string, args: string[], env: Record<string, string> = {}): SpawnedNode {
  const child = spawn(NODE, [BIN, command, '--home', home, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  spawned.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => {
      spawned.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, output: () => ({ stdout, stderr }), exited }
}

/**
 * Start `specmesh daemon` on a home and resolve once it has written api.json
 * naming its own pid and printed its banner. Listens on 127.0.0.1 with an OS-chosen port unless args say otherwise.
 */
export async function startDaemon (home: string, args: string[] = [], timeoutMs = 20_000): Promise<DaemonProcess> {
  const listen = args.includes('--listen') ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0']
  return await startDaemonExactly(home, [...listen, ...args], timeoutMs)
}

/**
 * Start `specmesh daemon` with exactly these arguments: no --listen added, so
 * it listens where the home's config.json says (tests write a 127.0.0.1 one).
 */
export async function startDaemonExactly (home: string, args: string[] = [], timeoutMs = 20_000, env: Record<string, string> = {}): Promise<DaemonProcess> {
  const { child, output, exited } = spawnDaemon(home, args, env)
  let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  void exited.then(e => { exit = e })
  type Ready = { dead: { code: number | null, signal: NodeJS.Signals | null } } | { info: ApiJson }
  const ready = await waitFor(async (): Promise<Ready | null> => {
    if (exit != null) return { dead: exit }
    const info = await readApiJson(home)
    // Ready means api.json names this process and the banner (which carries the API URL) has arrived.
    return info != null && info.pid === child.pid && output().stdout.includes(info.url) ? { info } : null
  }, { timeoutMs, what: `daemon on ${home} to write api.json` }).catch(err => {
    child.kill('SIGKILL')
    throw new Error(`${(err as Error).message}\nstdout: ${output().stdout}\nstderr: ${output().stderr}`)
  })
  if ('dead' in ready) {
    throw new Error(`daemon exited (${ready.dead.code ?? ready.dead.signal}) before it was ready\nstdout: ${output().stdout}\nstderr: ${output().stderr}`)
  }
  const api = ready.info
  return {
    home,
    child,
    pid: child.pid!,
    api,
    stdout: () => output().stdout,
    stderr: () => output().stderr,
    exited,
    stop: async (signal = 'SIGTERM', stopTimeoutMs = 20_000) => {
      if (exit != null) return exit
      child.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`daemon ${child.pid} did not exit within ${stopTimeoutMs} ms of ${signal}\nstderr: ${output().stderr}`)), stopTimeoutMs)
      })
      try {
        return await Promise.race([exited, timeout])
      } finally {
        clearTimeout(timer)
      }
    }
  }
}

export interface AgentProcess {
  child: ChildProcess
  peerId: string
  home: string
  serving: Array<{ specId: string, priceUsd: number, source: string }>
  stdout: () => string
  stderr: () => string
  exited: () => boolean
  /** The exit code once it has exited, else null. */
  exitCode: () => number | null
}

/**
 * Start `specmesh agent --json` on 127.0.0.1 and resolve once it prints what it
 * serves; fails with its output if it exits first.
 */
export async function startAgent (args: string[], home?: string): Promise<AgentProcess> {
  home ??= await tempHome()
  const { child, output, exited } = spawnAgent(home, [...args, '--json'])
  let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  void exited.then(e => { exit = e })
  const doc = await waitFor(() => {
    if (exit != null) throw new Error(`agent exited (${exit.code ?? exit.signal}) before serving`)
    try {
      return JSON.parse(output().stdout) as { peerId: string, serving: AgentProcess['serving'] }
    } catch {
      return null
    }
  }, { timeoutMs: 30_000, what: `agent ${args.join(' ')} to serve` }).catch(err => {
    throw new Error(`${(err as Error).message}\nstdout: ${output().stdout}\nstderr: ${output().stderr}`)
  })
  return { child, peerId: doc.peerId, home, serving: doc.serving, stdout: () => output().stdout, stderr: () => output().stderr, exited: () => exit != null, exitCode: () => exit?.code ?? null }
}

/** Wait until the daemon on `home` lists every one of `peerIds` in `specmesh peers`. */
export async function waitForPeers (home: string, peerIds: string[], what = 'the daemon to connect to its peers'): Promise<void> {
  await waitFor(async () => {
    const peers = (await runJson(['peers', '--home', home]) as Array<{ peerId: string }>).map(p => p.peerId)
    return peerIds.every(id => peers.includes(id))
  }, { timeoutMs: 15_000, what })
}

/** Kill (SIGKILL) every process this helper started that is still running. */
export async function killSpawned (): Promise<void> {
  const waits: Array<Promise<unknown>> = []
  for (const child of spawned) {
    if (child.exitCode == null && child.signalCode == null) {
      waits.push(new Promise(resolve => child.once('exit', resolve)))
      child.kill('SIGKILL')
    }
  }
  spawned.clear()
  await Promise.race([Promise.all(waits), new Promise(resolve => setTimeout(resolve, 5_000))])
}

const homes: string[] = []

export async function tempHome (): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'specmesh-e2e-'))
  homes.push(home)
  return home
}

export async function removeTempHomes (): Promise<void> {
  await Promise.all(homes.splice(0).map(async h => await rm(h, { recursive: true, force: true })))
}
