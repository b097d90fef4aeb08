/**
 * The README's examples run as written. Every code block the README marks
 * with an HTML comment right before its fence is checked here:
 *
 *   <!-- readme-test: run -->         a ```sh block: each command runs, in order, in a
 *                                     checkout (this one) against a local daemon this test
 *                                     starts (SPECMESH_HOME points at it), and must exit 0;
 *                                     a command ending in `&` keeps running in the background
 *                                     until the end (an agent), and the next command waits
 *                                     until it has printed that it is ready
 *   <!-- readme-test: file PATH -->   the block is the file PATH of the repository, to the byte
 *
 * So the front door cannot drift from the code: a renamed flag, a changed
 * output or a spec that exists nowhere fails here.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killSpawned, removeTempHomes, ROOT, startDaemon, tempHome, type DaemonProcess } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

interface MarkedBlock {
  kind: 'run' | 'file'
  arg: string
  lang: string
  body: string
  /** 1-based line of the fence in README.md. */
  line: number
}

/** Every marked block: the marker, then (blank lines allowed) a fenced block. */
export function markedBlocks (readme: string): MarkedBlock[] {
  const lines = readme.split('\n')
  const blocks: MarkedBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!-- readme-test: (run|file)\s*(.*?)\s*-->$/.exec(lines[i]!)
    if (marker == null) continue
    let j = i + 1
    while (j < lines.length && lines[j]!.trim() === '') j++
    const fence = /^```(\w*)$/.exec(lines[j] ?? '')
    if (fence == null) throw new Error(`README.md:${i + 1}: a readme-test marker must come right before a fenced code block`)
    const end = lines.findIndex((l, k) => k > j && l === '```')
    if (end < 0) throw new Error(`README.md:${j + 1}: the fenced block never closes`)
    blocks.push({ kind: marker[1] as 'run' | 'file', arg: marker[2]!, lang: fence[1]!, body: lines.slice(j + 1, end).join('\n'), line: j + 1 })
    i = end
  }
  return blocks
}

/** Commands of a sh block: continuation lines joined, comments and blank lines dropped. */
function commands (body: string): string[] {
  return body.replace(/\\\n\s*/g, ' ').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
}

const README = join(ROOT, 'README.md')
let daemon: DaemonProcess
let env: NodeJS.ProcessEnv
const background: ChildProcess[] = []
/** Folders the README's commands create in the checkout (`--home ./agent-a`), removed afterwards. */
const created: string[] = []

beforeAll(async () => {
  daemon = await startDaemon(await tempHome(), ['--no-mdns'])
  env = {
    ...process.env,
    SPECMESH_HOME: daemon.home,
    // Nodes the commands start find this daemon by --bootstrap, never others on the LAN.
    SPECMESH_MDNS: 'false',
    PATH: [join(ROOT, 'node_modules/.bin'), process.env.PATH ?? ''].join(delimiter),
    npm_config_update_notifier: 'false'
  }
}, 60_000)

/**
 * Stop a README command and everything it started. `npx specmesh agent` runs
 * the agent under `sh -c` under npx, so killing the child alone left the agent
 * running (and connected to the next run's daemons): each command gets its own
 * process group, and the whole group is stopped, gracefully first.
 */
async function stopGroup (child: ChildProcess): Promise<void> {
  if (child.pid == null) return
  const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
    try {
      process.kill(-child.pid!, signal)
      return true
    } catch {
      return false // the group is gone already
    }
  }
  if (!signalGroup('SIGTERM')) return
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline && signalGroup(0)) await new Promise(resolve => setTimeout(resolve, 100))
  signalGroup('SIGKILL')
}

afterAll(async () => {
  await Promise.all(background.map(stopGroup))
  await killSpawned()
  await removeTempHomes()
  await Promise.all(created.map(async dir => await rm(dir, { recursive: true, force: true })))
})

async function sh (command: string, timeoutMs = 90_000): Promise<{ code: number | null, out: string, stdout: string }> {
  const child = spawn('bash', ['-o', 'pipefail', '-c', command], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const timer = setTimeout(() => { void stopGroup(child) }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  clearTimeout(timer)
  return { code, out, stdout }
}

async function status (): Promise<{ peers: { count: number }, specs: { held: number } }> {
  const token = (await readFile(join(daemon.home, 'api-token'), 'utf8')).trim()
  return await (await fetch(`${daemon.api.url}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()
}

/**
 * Start a long-running command (an agent); resolve once it has printed on
 * stdout (an agent prints what it serves once it serves) and the daemon is
 * connected to one more peer and holds a spec, as a person would wait to see.
 */
async function startInBackground (command: string): Promise<void> {
  const before = (await status()).peers.count
  const child = spawn('bash', ['-c', `exec ${command}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  background.push(child)
  let stdout = ''
  let stderr = ''
  let exited = false
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  child.on('exit', () => { exited = true })
  await waitFor(() => {
    if (exited) throw new Error(`\`${command}\` exited before it was ready:\n${stdout}${stderr}`)
    return stdout.trim() !== ''
  }, { timeoutMs: 60_000, what: `\`${command}\` to be ready` })
  await waitFor(async () => {
    const now = await status()
    return now.peers.count > before && now.specs.held > 0
  }, { timeoutMs: 30_000, what: `the daemon to connect to \`${command}\` and hold its spec` })
}

const blocks = markedBlocks(await readFile(README, 'utf8'))

describe('the README\'s examples', () => {
  it('marks its runnable examples', () => {
    expect(blocks.filter(b => b.kind === 'run').length).toBeGreaterThanOrEqual(3)
    expect(blocks.filter(b => b.kind === 'file').length).toBeGreaterThanOrEqual(2)
  })

  for (const block of blocks.filter(b => b.kind === 'file')) {
    it(`README.md:${block.line} is ${block.arg}`, async () => {
      const file = join(ROOT, block.arg)
      expect(existsSync(file), `${block.arg} does not exist`).toBe(true)
      expect(block.body).toBe((await readFile(file, 'utf8')).replace(/\n$/, ''))
    })
  }

  // In order: later blocks use what earlier ones published and started.
  it('every command of the runnable blocks succeeds on a local mesh', async () => {
    for (const block of blocks.filter(b => b.kind === 'run')) {
      expect(block.lang, `README.md:${block.line}`).toBe('sh')
      for (const command of commands(block.body)) {
        for (const home of command.matchAll(/--home \.\/([\w.-]+)/g)) {
          const dir = join(ROOT, home[1]!)
          if (!existsSync(dir) && !created.includes(dir)) created.push(dir)
        }
        if (command.endsWith('&')) {
          await startInBackground(command.slice(0, -1).trim())
          continue
        }
        const { code, out } = await sh(command)
        expect(code, `README.md:${block.line}: \`${command}\` exited ${code}:\n${out}`).toBe(0)
      }
    }
  }, 300_000)

  it('the `apply` line `spec stats` prints is a command that runs', async () => {
    const list = JSON.parse((await sh('npx specmesh spec list --json')).stdout) as Array<{ id: string, spec: { name: string, variant?: string } }>
    const original = list.find(s => s.spec.name === 'extract-entities-from-text' && s.spec.variant == null)
    expect(original, 'the runnable blocks published extract-entities-from-text').toBeDefined()
    const stats = await sh(`npx specmesh spec stats ${original!.id}`)
    expect(stats.code, stats.out).toBe(0)
    const apply = /^ {2}apply {8}(specmesh spec fork .*)$/m.exec(stats.out)
    expect(apply, stats.out).not.toBeNull()
    const forked = await sh(`npx ${apply![1]}`)
    expect(forked.code, `\`${apply![1]}\`:\n${forked.out}`).toBe(0)
    expect(forked.out).toMatch(/^forked b[a-z2-7]+$/m)
  }, 60_000)
})
