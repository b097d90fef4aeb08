/**
 * Two daemons with no --bootstrap find each other by mDNS.
 *
 * Not on this host's loopback: `lo` carries no MULTICAST flag here (nor on most
 * Linux hosts), so multicast DNS cannot run over 127.0.0.1, and on the host's
 * real interfaces it would multicast to the LAN, which tests must never do.
 * So the test builds its own network: two network namespaces joined by a veth
 * pair with addresses that exist only inside them, runs one real
 * `specmesh daemon` in each (no flags but --home: mDNS on, port 4747 in each
 * namespace), and tears everything down after. It needs root (CI runs as
 * root) and skips with the reason where it cannot create namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, NODE, ROOT, tempHome, removeTempHomes, readApiJson } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const tag = `${process.pid % 100000}`
const NS = [`smdns-a-${tag}`, `smdns-b-${tag}`] as const
const VETH = [`smva${tag}`, `smvb${tag}`] as const
const ADDR = ['10.231.7.1', '10.231.7.2'] as const

function ip (...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' })
}

function setUpNetwork (): string | null {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)'
  try {
    for (const ns of NS) ip('netns', 'add', ns)
    ip('link', 'add', VETH[0], 'type', 'veth', 'peer', 'name', VETH[1])
    for (const i of [0, 1] as const) {
      ip('link', 'set', VETH[i], 'netns', NS[i])
      ip('-n', NS[i], 'addr', 'add', `${ADDR[i]}/24`, 'dev', VETH[i])
      ip('-n', NS[i], 'link', 'set', 'lo', 'up')
      ip('-n', NS[i], 'link', 'set', VETH[i], 'up')
      // Multicast (224.0.0.251, mDNS) leaves by the veth: the namespace has no other route.
      ip('-n', NS[i], 'route', 'add', '224.0.0.0/4', 'dev', VETH[i])
    }
    return null
  } catch (err) {
    tearDownNetwork()
    return `cannot create network namespaces here: ${(err as Error).message.split('\n')[0]}`
  }
}

function tearDownNetwork (): void {
  for (const ns of NS) {
    try { ip('netns', 'del', ns) } catch {}
  }
}

const skipReason = setUpNetwork()
if (skipReason != null) console.warn(`mDNS test skipped: ${skipReason}`)

const children: ChildProcess[] = []

/** Run the specmesh CLI inside a namespace (its local API is on that namespace's 127.0.0.1). */
async function nsRun (ns: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, NODE, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
    child.on('close', code => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`specmesh ${args.join(' ')} in ${ns} exited ${code}: ${err}`))
    })
  })
}

interface NsDaemon { home: string, ns: string, child: ChildProcess, stderr: () => string }

async function startNsDaemon (ns: string): Promise<NsDaemon> {
  const home = await tempHome()
  const env: NodeJS.ProcessEnv = { ...process.env, SPECMESH_MDNS: 'true' }
  delete env.SPECMESH_HOME
  const child = spawn('ip', ['netns', 'exec', ns, NODE, BIN, 'daemon', '--home', home], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  child.stdout!.resume()
  await waitFor(async () => {
    if (child.exitCode != null) throw new Error(`daemon in ${ns} exited: ${stderr}`)
    return (await readApiJson(home)) != null
  }, { timeoutMs: 20_000, what: `the daemon in ${ns} to start` })
  return { home, ns, child, stderr: () => stderr }
}

describe.skipIf(skipReason != null)('mDNS on a LAN of two network namespaces', () => {
  afterAll(async () => {
    await Promise.all(children.map(async child => {
      if (child.exitCode != null || child.signalCode != null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }))
    tearDownNetwork()
    await removeTempHomes()
  })

  it('two daemons started with no --bootstrap (and no --listen) find each other', async () => {
    const [a, b] = await Promise.all([startNsDaemon(NS[0]), startNsDaemon(NS[1])])
    const idA = JSON.parse(await nsRun(a.ns, ['id', '--home', a.home, '--json'])) as { peerId: string, multiaddrs: string[] }
    const idB = JSON.parse(await nsRun(b.ns, ['id', '--home', b.home, '--json'])) as { peerId: string }
    // Each namespace is its own host: both took specmesh's default port.
    expect(idA.multiaddrs.some(m => m.startsWith(`/ip4/${ADDR[0]}/tcp/4747/`))).toBe(true)
    const peers = await waitFor(async () => {
      const list = JSON.parse(await nsRun(b.ns, ['peers', '--home', b.home, '--json'])) as Array<{ peerId: string, addrs: string[] }>
      return list.some(p => p.peerId === idA.peerId) ? list : null
    }, { timeoutMs: 40_000, intervalMs: 500, what: 'daemon B to find daemon A by mDNS' })
    expect(peers.find(p => p.peerId === idA.peerId)!.addrs.some(addr => addr.includes(ADDR[0]))).toBe(true)
    const peersOfA = JSON.parse(await nsRun(a.ns, ['peers', '--home', a.home, '--json'])) as Array<{ peerId: string }>
    expect(peersOfA.map(p => p.peerId)).toContain(idB.peerId)
  })
})
