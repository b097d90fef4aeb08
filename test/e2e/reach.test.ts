/**
 * Stable addresses and memory of peers, through the real command line: a
 * daemon listens where its config.json says, comes back there after kill -9,
 * and the agent that was connected to it reconnects by itself. Bad settings
 * fail with one line naming the flag or key to change. Every address is on
 * 127.0.0.1; mDNS is off in these children (test/helpers/cli.ts).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { killSpawned, removeTempHomes, ROOT, runCli, runJson, spawnDaemon, startAgent, startDaemon, startDaemonExactly, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')

const servers: Server[] = []
afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
  await Promise.all(servers.splice(0).map(async s => await new Promise(resolve => s.close(resolve))))
})

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
async function freePort (): Promise<number> {
  const server = createServer()
  const port = await new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
  await new Promise(resolve => server.close(resolve))
  return port
}

async function occupiedPort (): Promise<number> {
  const server = createServer()
  servers.push(server)
  return await new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
}

async function homeWithConfig (config: unknown): Promise<string> {
  const home = await tempHome()
  await writeFile(join(home, 'config.json'), JSON.stringify(config))
  return home
}

async function peersOf (home: string): Promise<string[]> {
  return (await runJson(['peers', '--home', home]) as Array<{ peerId: string }>).map(p => p.peerId)
}

async function submit (home: string, specId: string): Promise<{ status: string, reason?: string }> {
  const run = await runCli(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '1000', '--home', home, '--json'], { timeoutMs: 30_000 })
  return JSON.parse(run.stdout)
}

describe('a daemon that keeps its address', () => {
  it('after kill -9 it is back on the same address with no flags, the agent reconnects by itself, and jobs succeed again', async () => {
    const port = await freePort()
    const home = await homeWithConfig({ listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const first = await startDaemonExactly(home)
    const before = await runJson(['id', '--home', home])
    expect(before.multiaddrs).toEqual([`/ip4/127.0.0.1/tcp/${port}/p2p/${before.peerId}`])
    const { id: specId } = await runJson(['spec', 'publish', SPEC, '--home', home])
    const agent = await startAgent(['--spec', specId, '--exec', EXTRACT, '--bootstrap', before.multiaddrs[0]])
    await waitFor(async () => (await peersOf(home)).includes(agent.peerId), { timeoutMs: 15_000, what: 'the daemon to see the agent' })

    first.child.kill('SIGKILL')
    await first.exited
    const killedAt = Date.now()
    await startDaemonExactly(home)
    const after = await runJson(['id', '--home', home])
    expect(after.multiaddrs).toEqual(before.multiaddrs)
    await waitFor(async () => (await peersOf(home)).includes(agent.peerId), { timeoutMs: 30_000, intervalMs: 250, what: 'the agent to reconnect to the restarted daemon' })
    expect(Date.now() - killedAt).toBeLessThan(30_000)

    await waitFor(async () => (await submit(home, specId)).status === 'succeeded', { timeoutMs: 30_000, intervalMs: 500, what: 'a job to succeed after the restart' })
    // The agent logged the outage once, not once per retry.
    const unreachable = agent.stderr().split('\n').filter(l => l.includes('"event":"bootstrap.unreachable"'))
    expect(unreachable.length).toBeLessThanOrEqual(1)
    expect(agent.exited()).toBe(false)
  })

  it('a taken listen port is one line naming --listen and config.json "listen", not a stack trace', async () => {
    const port = await occupiedPort()
    for (const [home, args] of [
      [await tempHome(), ['--listen', `/ip4/127.0.0.1/tcp/${port}`]],
      [await homeWithConfig({ listen: [`/ip4/127.0.0.1/tcp/${port}`] }), []]
    ] as Array<[string, string[]]>) {
      const daemon = spawnDaemon(home, args)
      const exit = await daemon.exited
      expect(exit.code).toBe(1)
      const errors = daemon.output().stderr.split('\n').filter(l => l !== '' && !l.startsWith('{'))
      expect(errors).toEqual([
        `error: /ip4/127.0.0.1/tcp/${port} is already in use (another specmesh daemon, or another program, listens there); ` +
        `choose another with --listen, e.g. --listen /ip4/127.0.0.1/tcp/${port + 1}, or change "listen" in ${home}/config.json`
      ])
      expect(daemon.output().stderr).not.toMatch(/transportManager|faultTolerance|\n\s+at /)
    }
  })

  it('an unknown config.json key stops the daemon before it starts, naming the key', async () => {
    const home = await homeWithConfig({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstarp: [] })
    const daemon = spawnDaemon(home, [])
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.output().stderr.trim()).toBe(`error: ${home}/config.json: unknown key "bootstarp" (did you mean "bootstrap"?); remove it or use one of: listen, announce, bootstrap, apiPort, mdns, dht, relayServer, trustedPeers, reputation, awardPolicies, connections, follow`)
    // Nothing was left behind: the file is as the user wrote it, and no daemon holds the folder.
    expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8'))).toEqual({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstarp: [] })
    const shown = await runCli(['config', 'show', '--home', home, '--json'])
    expect(shown.code).toBe(1)
    expect(JSON.parse(shown.stdout).error).toMatchObject({ code: 'bad_config' })
  })
})

describe('finding an agent through the DHT', () => {
  it('agent and coordinator each know only a third daemon: `spec providers` lists the agent and a job succeeds', async () => {
    const hub = await startDaemon(await tempHome())
    const hubAddr = (await runJson(['id', '--home', hub.home])).multiaddrs[0]
    const agent = await startAgent(['--spec', SPEC, '--exec', EXTRACT, '--bootstrap', hubAddr])
    const specId = agent.serving[0]!.specId
    const coordinator = await startDaemon(await tempHome(), ['--bootstrap', hubAddr])
    const providers = await waitFor(async () => {
      const found = await runJson(['spec', 'providers', specId, '--home', coordinator.home]) as Array<{ peerId: string, addrs: string[] }>
      return found.some(p => p.peerId === agent.peerId) ? found : null
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'the DHT to list the agent' })
    expect(providers.find(p => p.peerId === agent.peerId)!.addrs.length).toBeGreaterThan(0)
    const human = await runCli(['spec', 'providers', specId, '--home', coordinator.home])
    expect(human.stdout).toMatch(new RegExp(`${agent.peerId}\\s+/ip4/127\\.0\\.0\\.1/tcp/\\d+`))
    const result = await submit(coordinator.home, specId)
    expect(result.status, result.reason).toBe('succeeded')
  })
})

describe('specmesh config show', () => {
  it('prints every effective value with its source', async () => {
    const home = await homeWithConfig({ listen: ['/ip4/127.0.0.1/tcp/4900'], apiPort: 7070 })
    const shown = await runJson(['config', 'show', '--home', home], { env: { SPECMESH_MDNS: 'false', SPECMESH_DHT: 'off', SPECMESH_CONNECTIONS: '24:16' } })
    expect(shown.settings).toMatchObject({
      listen: { value: ['/ip4/127.0.0.1/tcp/4900'], source: 'file' },
      apiPort: { value: 7070, source: 'file' },
      mdns: { value: false, source: 'env', env: 'SPECMESH_MDNS' },
      dht: { value: false, source: 'env', env: 'SPECMESH_DHT' },
      connections: { value: { high: 24, low: 16 }, source: 'env', env: 'SPECMESH_CONNECTIONS' },
      relayServer: { value: false, source: 'default' },
      bootstrap: { value: [], source: 'default' },
      trustedPeers: { value: [], source: 'default' }
    })
    const human = await runCli(['config', 'show', '--home', home], { env: { SPECMESH_MDNS: 'true' } })
    expect(human.stdout).toMatch(/listen\s+\/ip4\/127\.0\.0\.1\/tcp\/4900\s+config\.json/)
    expect(human.stdout).toMatch(/mdns\s+true\s+env SPECMESH_MDNS/)
    expect(human.stdout).toMatch(/relayServer\s+false\s+default/)
  })
})
