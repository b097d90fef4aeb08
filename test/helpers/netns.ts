/**
 * Linux network namespaces for tests that need real NAT: each lab makes its
 * own namespaces (names unique per run), links them only to each other with
 * veth pairs made inside them, and deletes them all in destroy(), so no packet
 * of a test can reach an interface outside the lab. Needs root, `ip` and
 * `iptables`; labSkipReason() says why a lab cannot be made here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { NODE, BIN, ROOT } from './cli.ts'

const run = promisify(execFile)

/** Why namespaces (with NAT tables, unless `nat` is false) cannot be made on this machine, or null when they can. */
export async function labSkipReason ({ nat = true }: { nat?: boolean } = {}): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (CI runs as root)'
  const tools = nat ? [['ip', '-V'], ['iptables', '--version']] as const : [['ip', '-V']] as const
  for (const [tool, flag] of tools) {
    try {
      await run(tool, [flag])
    } catch {
      return `\`${tool}\` is not installed (.ci/run installs iproute2 and iptables from Debian's packages)`
    }
  }
  const probe = `smprobe-${randomBytes(3).toString('hex')}`
  try {
    await run('ip', ['netns', 'add', probe])
    if (nat) await run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-L', '-n'])
  } catch (err) {
    return `this kernel or sandbox refuses network namespaces or NAT tables (${(err as Error).message.split('\n')[0]})`
  } finally {
    await run('ip', ['netns', 'del', probe]).catch(() => {})
  }
  return null
}

export interface LabProcess {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export class NetnsLab {
  /** Unique per run, so two runs (or a run after a crash) never share a namespace. */
  readonly id = `sm${randomBytes(3).toString('hex')}`
  private readonly namespaces: string[] = []
  private readonly processes = new Set<ChildProcess>()

  /** The real name of a namespace of this lab. */
  ns (name: string): string {
    return `${this.id}-${name}`
  }

  async add (name: string): Promise<void> {
    await run('ip', ['netns', 'add', this.ns(name)])
    this.namespaces.push(this.ns(name))
    await this.exec(name, ['ip', 'link', 'set', 'lo', 'up'])
  }

  /** Run a command inside a namespace of this lab and return its stdout. */
  async exec (name: string, command: string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', this.ns(name), ...command])
    return stdout
  }

  /**
   * A veth pair from namespace a (interface aIf, address aAddr) to namespace b,
   * made inside a so no interface ever appears outside the lab. An address of
   * '' leaves that end unaddressed (for a bridge port).
   */
  async link (a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string): Promise<void> {
    await run('ip', ['-n', this.ns(a), 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', this.ns(b)])
    for (const [ns, dev, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      if (addr !== '') await run('ip', ['-n', this.ns(ns), 'addr', 'add', addr, 'dev', dev])
      await run('ip', ['-n', this.ns(ns), 'link', 'set', dev, 'up'])
    }
  }

  /**
   * Make `router` a home router: forward between lan and wan, rewrite what
   * leaves on wan to its own address (MASQUERADE), and let in from wan only
   * replies to connections made from inside.
   */
  async natRouter (router: string, lan: string, wan: string): Promise<void> {
    await this.exec(router, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    await this.exec(router, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', 'MASQUERADE'])
    await this.exec(router, ['iptables', '-A', 'FORWARD', '-i', wan, '-o', lan, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
    await this.exec(router, ['iptables', '-A', 'FORWARD', '-i', wan, '-o', lan, '-j', 'DROP'])
  }

  /** Start `specmesh ARGS` inside a namespace; destroy() kills it. */
  specmesh (name: string, args: string[]): LabProcess {
    const env: NodeJS.ProcessEnv = { ...process.env }
    delete env.SPECMESH_HOME
    const child = spawn('ip', ['netns', 'exec', this.ns(name), NODE, BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.processes.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
      child.on('exit', (code, signal) => {
        this.processes.delete(child)
        resolve({ code, signal })
      })
    })
    return { child, stdout: () => stdout, stderr: () => stderr, exited }
  }

  /** Run `specmesh ARGS` inside a namespace to completion (bounded). */
  async specmeshRun (name: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const proc = this.specmesh(name, args)
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs)
    try {
      const { code } = await proc.exited
      return { code, stdout: proc.stdout(), stderr: proc.stderr() }
    } finally {
      clearTimeout(timer)
    }
  }

  /** Kill every process this lab started, then delete every namespace it made, whatever failed before. */
  async destroy (): Promise<void> {
    await Promise.all([...this.processes].map(async child => {
      const gone = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await Promise.race([gone, new Promise(resolve => setTimeout(resolve, 5_000))])
    }))
    for (const ns of this.namespaces.splice(0)) {
      await run('ip', ['netns', 'del', ns]).catch(() => {})
    }
  }
}
