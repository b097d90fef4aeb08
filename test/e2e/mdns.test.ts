/**
 * Two daemons with no --bootstrap find each other by mDNS.
 *
 * Not on this host's loopback: `lo` carries no MULTICAST flag here (nor on most
 * Linux hosts), so multicast DNS cannot run over 127.0.0.1, and on the host's
 * real interfaces it would multicast to the LAN, which tests must never do.
 * So the test builds its own network (test/helpers/netns.ts): two network
 * namespaces joined by a veth pair with addresses that exist only inside them,
 * runs one real `specmesh daemon` in each (no flags but --home: mDNS on, port
 * 4747 in each namespace), and tears everything down after. It needs root (CI
 * runs as root) and skips with the reason where it cannot create namespaces.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { tempHome, removeTempHomes, readApiJson } from '../helpers/cli.ts'
import { labSkipReason, NetnsLab, type LabProcess } from '../helpers/netns.ts'
import { waitFor } from '../helpers/wait.ts'

const ADDR = { a: '10.231.7.1', b: '10.231.7.2' } as const
type Host = keyof typeof ADDR

const skipReason = await labSkipReason({ nat: false })
if (skipReason != null) console.warn(`mDNS test skipped: ${skipReason}`)

const lab = new NetnsLab()

async function buildNetwork (): Promise<void> {
  for (const host of ['a', 'b'] as const) await lab.add(host)
  await lab.link('a', 'eth0', `${ADDR.a}/24`, 'b', 'eth0', `${ADDR.b}/24`)
  // Multicast (224.0.0.251, mDNS) leaves by the veth: the namespace has no other route.
  for (const host of ['a', 'b'] as const) await lab.exec(host, ['ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
}

/** Run the specmesh CLI inside a namespace (its local API is on that namespace's 127.0.0.1). */
async function nsRun (host: Host, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await lab.specmeshRun(host, args, 15_000)
  if (code !== 0) throw new Error(`specmesh ${args.join(' ')} in ${host} exited ${code}: ${stderr}`)
  return stdout
}

interface NsDaemon { home: string, host: Host, proc: LabProcess }

async function startNsDaemon (host: Host): Promise<NsDaemon> {
  const home = await tempHome()
  const proc = lab.specmesh(host, ['daemon', '--home', home])
  let exit: unknown
  void proc.exited.then(e => { exit = e })
  await waitFor(async () => {
    if (exit != null) throw new Error(`daemon in ${host} exited: ${proc.stderr()}`)
    return (await readApiJson(home)) != null
  }, { timeoutMs: 20_000, what: `the daemon in ${host} to start` })
  return { home, host, proc }
}

describe.skipIf(skipReason != null)('mDNS on a LAN of two network namespaces', () => {
  afterAll(async () => {
    await lab.destroy()
    await removeTempHomes()
  })

  it('two daemons started with no --bootstrap (and no --listen) find each other', async () => {
    await buildNetwork()
    const [a, b] = await Promise.all([startNsDaemon('a'), startNsDaemon('b')])
    const idA = JSON.parse(await nsRun(a.host, ['id', '--home', a.home, '--json'])) as { peerId: string, multiaddrs: string[] }
    const idB = JSON.parse(await nsRun(b.host, ['id', '--home', b.home, '--json'])) as { peerId: string }
    // Each namespace is its own host: both took specmesh's default port.
    expect(idA.multiaddrs.some(m => m.startsWith(`/ip4/${ADDR.a}/tcp/4747/`))).toBe(true)
    const peers = await waitFor(async () => {
      const list = JSON.parse(await nsRun(b.host, ['peers', '--home', b.home, '--json'])) as Array<{ peerId: string, addrs: string[] }>
      return list.some(p => p.peerId === idA.peerId) ? list : null
    }, { timeoutMs: 40_000, intervalMs: 500, what: 'daemon B to find daemon A by mDNS' })
    expect(peers.find(p => p.peerId === idA.peerId)!.addrs.some(addr => addr.includes(ADDR.a))).toBe(true)
    const peersOfA = JSON.parse(await nsRun(a.host, ['peers', '--home', a.home, '--json'])) as Array<{ peerId: string }>
    expect(peersOfA.map(p => p.peerId)).toContain(idB.peerId)
  })
})
