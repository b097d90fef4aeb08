/**
 * A job across two NATs, with real `specmesh` processes in Linux network
 * namespaces:
 *
 *          pub (10.77.0.1, the relay: specmesh daemon --relay-server)
 *        /  bridge  \
 *   r1 (10.77.0.2)    r2 (10.77.0.3)       home routers: MASQUERADE out, only replies in
 *      |                 |
 *   a1 (192.168.1.2)  c2 (192.168.2.2)     the agent and the coordinator, each behind its NAT
 *
 * Neither private side can be dialled from outside, so the coordinator's job
 * can reach the agent only through the agent's /p2p-circuit address on the
 * relay. The test then reports whether DCUtR made the connection direct.
 * Every address is inside namespaces this test makes; all are deleted after.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.ts'
import { labSkipReason, NetnsLab, type LabProcess } from '../helpers/netns.ts'
import { waitFor } from '../helpers/wait.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')
const RELAY_PORT = 4011

/** What DCUtR may leave the coordinator with after the job. */
const KNOWN_OUTCOMES = ['direct', 'relayed'] as const

const skipReason = await labSkipReason()
if (skipReason != null) console.log(`NAT test skipped: ${skipReason}`)

const lab = new NetnsLab()
const homes: string[] = []
afterAll(async () => {
  await lab.destroy()
  await Promise.all(homes.map(async h => { await rm(h, { recursive: true, force: true }) }))
})

async function home (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'specmesh-nat-'))
  homes.push(dir)
  return dir
}

/** The one JSON document a node prints on stdout once ready (daemon --json and agent --json). */
async function firstJson (proc: LabProcess, what: string, timeoutMs = 20_000): Promise<any> {
  let exit: unknown
  void proc.exited.then(e => { exit = e })
  return await waitFor(() => {
    if (exit != null) throw new Error(`${what} exited (${JSON.stringify(exit)})`)
    try {
      return JSON.parse(proc.stdout())
    } catch {
      return null // not all of it yet
    }
  }, { timeoutMs, what }).catch(err => {
    throw new Error(`${(err as Error).message}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`)
  })
}

function logEvents (proc: LabProcess): Array<Record<string, any>> {
  return proc.stderr().split('\n').filter(l => l.startsWith('{')).map(l => { try { return JSON.parse(l) } catch { return {} } })
}

async function buildNetwork (): Promise<void> {
  for (const name of ['pub', 'r1', 'a1', 'r2', 'c2']) await lab.add(name)
  // The "internet": a bridge in pub with the relay on it and each router's wan port.
  await lab.exec('pub', ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
  await lab.exec('pub', ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'br0'])
  await lab.exec('pub', ['ip', 'link', 'set', 'br0', 'up'])
  for (const [router, wanAddr, host, lanNet] of [['r1', '10.77.0.2/24', 'a1', '192.168.1'], ['r2', '10.77.0.3/24', 'c2', '192.168.2']] as const) {
    await lab.link('pub', `p-${router}`, '', router, 'wan', wanAddr)
    await lab.exec('pub', ['ip', 'link', 'set', `p-${router}`, 'master', 'br0'])
    await lab.link(router, 'lan', `${lanNet}.1/24`, host, 'eth0', `${lanNet}.2/24`)
    await lab.exec(host, ['ip', 'route', 'add', 'default', 'via', `${lanNet}.1`])
    await lab.natRouter(router, 'lan', 'wan')
  }
}

describe.skipIf(skipReason != null)('a job across two NATs through a circuit relay (network namespaces)', () => {
  it('the coordinator behind one NAT reaches the agent behind another through the relay, and reports what DCUtR did', async () => {
    await buildNetwork()
    // The NATs are real: the relay cannot open a connection into either private network.
    await expect(lab.exec('pub', ['ping', '-c', '1', '-W', '1', '192.168.1.2'])).rejects.toThrow()

    const relay = lab.specmesh('pub', ['daemon', '--home', await home(), '--listen', `/ip4/10.77.0.1/tcp/${RELAY_PORT}`, '--relay-server', '--follow', 'all', '--json'])
    const relayInfo = await firstJson(relay, 'the relay daemon')
    const relayAddr = `/ip4/10.77.0.1/tcp/${RELAY_PORT}/p2p/${relayInfo.peerId as string}`

    const coordinatorHome = await home()
    const coordinator = lab.specmesh('c2', ['daemon', '--home', coordinatorHome, '--listen', '/ip4/0.0.0.0/tcp/4013', '--bootstrap', relayAddr, '--json'])
    await firstJson(coordinator, 'the coordinator daemon')
    // The requester publishes the spec it will submit a job for; the agent serves the same file.
    const published = await lab.specmeshRun('c2', ['spec', 'publish', SPEC, '--home', coordinatorHome, '--json'])
    expect(published.code, published.stderr).toBe(0)

    const agent = lab.specmesh('a1', ['agent', '--home', await home(), '--spec', SPEC, '--exec', EXTRACT, '--listen', '/ip4/0.0.0.0/tcp/4012', '--bootstrap', relayAddr, '--json'])
    const agentInfo = await firstJson(agent, 'the agent', 30_000)
    const specId = agentInfo.serving[0].specId as string
    // The agent learns it must be reached through the relay, and says so.
    const reservation = await waitFor(() => logEvents(agent).find(e => e.event === 'reachability' && e.status === 'relayed'), { timeoutMs: 15_000, what: 'the agent to reserve a slot on the relay' })
    expect(reservation.relayed[0]).toContain(`/p2p/${relayInfo.peerId as string}/p2p-circuit/p2p/${agentInfo.peerId as string}`)

    expect(specId).toBe(JSON.parse(published.stdout).id)

    // A job nobody bid on is not submitted again: a job call that goes out while the relay's mesh
    // to the agent is still forming reaches the agent once it is grafted (src/net/mesh-catch-up.ts).
    // A job that failed after an award is, at most three times in all, the count printed: on a
    // loaded machine a relayed connection has been seen to drop mid-job ("Unexpected EOF" on the
    // execution stream), a cause not found yet.
    let result: any
    let tries = 0
    while (tries++ < 3) {
      const submitted = await lab.specmeshRun('c2', ['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '1500', '--home', coordinatorHome, '--json'], 25_000)
      result = JSON.parse(submitted.stdout)
      if (result.status === 'succeeded' || /no agent bid/.test(String(result.reason))) break
    }
    expect(result.status, `${JSON.stringify(result)}\ncoordinator: ${coordinator.stderr()}\nagent: ${agent.stderr()}`).toBe('succeeded')
    expect(result.receipt.body.agent).toBe(agentInfo.peerId)
    expect(result.output.entities.map((e: { name: string }) => e.name)).toEqual(['Ada', 'Lovelace', 'Charles', 'Babbage', 'London'])

    // How the coordinator is connected to the agent now: through the relay, or directly if DCUtR upgraded it.
    const peers = await lab.specmeshRun('c2', ['peers', '--home', coordinatorHome, '--json'])
    const toAgent = (JSON.parse(peers.stdout) as Array<{ peerId: string, addrs: string[] }>).find(p => p.peerId === agentInfo.peerId)
    const outcome = toAgent == null
      ? 'relayed' // the job's relayed connection already closed: it never became direct
      : toAgent.addrs.some(a => !a.includes('/p2p-circuit')) ? 'direct' : 'relayed'
    console.log(`NAT test: the job crossed both NATs through the relay (submitted ${tries} time${tries === 1 ? '' : 's'}); DCUtR outcome: ${outcome}` +
      (outcome === 'relayed' ? ' (DCUtR tries only public addresses, and every address here is private)' : '') +
      `; coordinator's connections to the agent: ${JSON.stringify(toAgent?.addrs ?? [])}`)
    expect(KNOWN_OUTCOMES).toContain(outcome)
  }, 60_000)
})
