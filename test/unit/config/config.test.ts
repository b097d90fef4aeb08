import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveSettings, settingsFromEnv } from '../../../src/config/settings.ts'
import { readConfigFile, updateConfigFile } from '../../../src/config/file.ts'
import { chooseListenPort, defaultListen, ensureListen } from '../../../src/config/listen.ts'
import { ConfigError } from '../../../src/config/errors.ts'
import { networkFlags } from '../../../src/cli/network-flags.ts'
import { connectionBudgetSettings } from '../../../src/net/connection-budget.ts'

const PEER = '12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV'
let home = ''
const servers: Server[] = []
afterEach(async () => {
  if (home !== '') await rm(home, { recursive: true, force: true })
  home = ''
  await Promise.all(servers.splice(0).map(async s => await new Promise(resolve => s.close(resolve))))
})

async function withConfig (config: unknown): Promise<string> {
  home = await mkdtemp(join(tmpdir(), 'specmesh-config-'))
  if (config !== undefined) await writeFile(join(home, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config))
  return home
}

describe('config.json', () => {
  it('rejects an unknown key, naming it and the key it resembles', async () => {
    const err = await readConfigFile(await withConfig({ lisen: ['/ip4/0.0.0.0/tcp/4747'] })).catch(e => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.key).toBe('lisen')
    expect(err.message).toMatch(/unknown key "lisen" \(did you mean "listen"\?\)/)
    expect(err.message).toContain('remove it or use one of: listen, announce, bootstrap')
  })

  it('rejects an unknown key inside reputation, and a value of the wrong kind, naming the key', async () => {
    await expect(readConfigFile(await withConfig({ reputation: { teleprot: 0.2 } }))).rejects.toThrow(/unknown key "reputation.teleprot" \(did you mean "reputation.teleport"\?\)/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ mdns: 'yes' }))).rejects.toThrow(/config.json: mdns must be true or false \(got "yes"\)/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ listen: ['tcp 4747'] }))).rejects.toThrow(/listen\[0\] is not a multiaddr/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ bootstrap: ['/ip4/127.0.0.1/tcp/4747'] }))).rejects.toThrow(/bootstrap\[0\] has no \/p2p\/<peer id>/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ apiPort: 70000 }))).rejects.toThrow(/apiPort must be at most 65535/)
  })

  it('checks awardPolicies per spec name with the market\'s own checks, naming the key', async () => {
    const file = await readConfigFile(await withConfig({ awardPolicies: { 'extract-entities': { explore: 'off', minReputation: 0.8, preferredAgents: [PEER] } } }))
    expect(file.awardPolicies).toEqual({ 'extract-entities': { explore: 'off', minReputation: 0.8, preferredAgents: [PEER] } })
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ awardPolicies: { 'extract-entities': { minReputation: 1.5 } } })))
      .rejects.toThrow(/config.json: awardPolicies.extract-entities.minReputation is wrong: 1.5 is not a success rate; write a number from 0 to 1 such as 0.8/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ awardPolicies: { x: { explor: false } } }))).rejects.toThrow(/awardPolicies.x.explor is wrong: unknown field; the award policy takes explore, minReputation and preferredAgents/)
  })

  it('takes the connection budget\'s water marks, and refuses a low above the high naming the key and a fix', async () => {
    const file = await readConfigFile(await withConfig({ connections: { high: 20, low: 12 } }))
    expect(file.connections).toEqual({ high: 20, low: 12 })
    expect((await resolveSettings({ home, env: {} })).values.connections).toEqual({ high: 20, low: 12 })
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ connections: { high: 20, low: 30 } }))).rejects.toThrow(/config.json: connections.low is above connections.high \(20\); make it at most that, e.g. 13/)
    await rm(home, { recursive: true })
    await expect(readConfigFile(await withConfig({ connections: { hihg: 20 } }))).rejects.toThrow(/unknown key "connections.hihg" \(did you mean "connections.high"\?\)/)
    await rm(home, { recursive: true })
    expect((await resolveSettings({ home: await withConfig(undefined), env: {} })).values.connections).toEqual({})
  })

  it('takes the connection budget from SPECMESH_CONNECTIONS and --connections as HIGH or HIGH:LOW, naming the problem otherwise', async () => {
    expect(settingsFromEnv({ SPECMESH_CONNECTIONS: '20:12' }).connections).toEqual({ high: 20, low: 12 })
    expect(settingsFromEnv({ SPECMESH_CONNECTIONS: '20' }).connections).toEqual({ high: 20 })
    expect(() => settingsFromEnv({ SPECMESH_CONNECTIONS: '20:30' })).toThrow(/SPECMESH_CONNECTIONS=20:30 has a low above its high; make it at most 20, for example 20:13/)
    expect(() => settingsFromEnv({ SPECMESH_CONNECTIONS: 'lots' })).toThrow(/SPECMESH_CONNECTIONS=lots is not HIGH or HIGH:LOW in whole numbers; for example 48:32/)
    expect(() => settingsFromEnv({ SPECMESH_CONNECTIONS: '0' })).toThrow(/has a high below 1/)
    expect(networkFlags({ connections: '100:60' }, ['daemon']).connections).toEqual({ high: 100, low: 60 })
    expect(() => networkFlags({ connections: '10:-1' }, ['daemon'])).toThrow(/--connections 10:-1 is not HIGH or HIGH:LOW/)
    // The flag wins over the variable, which wins over config.json.
    const settings = await resolveSettings({ home: await withConfig({ connections: { high: 30 } }), env: { SPECMESH_CONNECTIONS: '40' }, flags: { connections: { high: 50 } } })
    expect(settings.values.connections).toEqual({ high: 50 })
    expect(settings.sources.connections).toBe('flag')
  })

  it('a high given alone brings the default low down to two thirds of it, rather than refusing the default low', () => {
    expect(connectionBudgetSettings({ high: 20 })).toMatchObject({ high: 20, low: 13 })
    expect(connectionBudgetSettings({ high: 100 })).toMatchObject({ high: 100, low: 32 })
    expect(connectionBudgetSettings({ high: 1 })).toMatchObject({ high: 1, low: 0 })
  })

  it('keeps every other key when one is updated', async () => {
    await withConfig({ trustedPeers: [PEER], mdns: false })
    await updateConfigFile(home, { listen: ['/ip4/0.0.0.0/tcp/4800'] })
    expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8'))).toEqual({ trustedPeers: [PEER], mdns: false, listen: ['/ip4/0.0.0.0/tcp/4800'] })
  })
})

describe('settings: flags > environment > config.json > defaults', () => {
  it('takes each value from the first layer that has it, and says which', async () => {
    await withConfig({ listen: ['/ip4/127.0.0.1/tcp/4900'], mdns: false, dht: false, apiPort: 7070 })
    const { values, sources } = await resolveSettings({
      home,
      flags: { listen: ['/ip4/127.0.0.1/tcp/4901'] },
      env: { SPECMESH_MDNS: 'true', SPECMESH_BOOTSTRAP: `/ip4/127.0.0.1/tcp/1/p2p/${PEER}` },
      defaults: { mdns: false }
    })
    expect(values.listen).toEqual(['/ip4/127.0.0.1/tcp/4901'])
    expect(sources.listen).toBe('flag')
    expect([values.mdns, sources.mdns]).toEqual([true, 'env'])
    expect([values.bootstrap, sources.bootstrap]).toEqual([[`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`], 'env'])
    expect([values.dht, sources.dht]).toEqual([false, 'file'])
    expect([values.apiPort, sources.apiPort]).toEqual([7070, 'file'])
    expect([values.relayServer, sources.relayServer]).toEqual([false, 'default'])
  })

  it('checks environment values as strictly as the file, naming the variable', () => {
    expect(() => settingsFromEnv({ SPECMESH_MDNS: 'maybe' })).toThrow(/SPECMESH_MDNS=maybe is not a switch; use true or false/)
    expect(() => settingsFromEnv({ SPECMESH_API_PORT: 'seven' })).toThrow(/SPECMESH_API_PORT=seven is not a whole number/)
    expect(() => settingsFromEnv({ SPECMESH_LISTEN: '/ip4/0.0.0.0/tcp/1,nonsense' })).toThrow(/SPECMESH_LISTEN=.*entry 1 is not a multiaddr/)
    expect(settingsFromEnv({ SPECMESH_LISTEN: '/ip4/0.0.0.0/tcp/1, /ip6/::/tcp/1' })).toEqual({ listen: ['/ip4/0.0.0.0/tcp/1', '/ip6/::/tcp/1'] })
  })
})

describe('the default listen address', () => {
  async function occupy (port: number): Promise<void> {
    const server = createServer()
    servers.push(server)
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
  }
  /** A base port with the next few free, found by asking the OS for one. */
  async function freeBase (): Promise<number> {
    for (;;) {
      const probe = createServer()
      const port = await new Promise<number>(resolve => probe.listen(0, '0.0.0.0', () => resolve((probe.address() as { port: number }).port)))
      await new Promise(resolve => probe.close(resolve))
      if (port < 60000 && await chooseListenPort(port) === port && await chooseListenPort(port + 1) === port + 1) return port
    }
  }

  it('is the base port on every interface when it is free, the next free one when it is taken', async () => {
    const base = await freeBase()
    expect(await chooseListenPort(base)).toBe(base)
    // Another process listening on the port, even on loopback only, takes it for all interfaces.
    await occupy(base)
    expect(await chooseListenPort(base)).toBe(base + 1)
  })

  it('is written to config.json once, so every later start listens at the same address', async () => {
    const base = await freeBase()
    await withConfig({ mdns: false })
    await occupy(base)
    const settings = await resolveSettings({ home, env: {} })
    expect(settings.sources.listen).toBe('default')
    const chosen = await ensureListen(settings, base)
    expect(chosen).toMatchObject({ port: base + 1, moved: true })
    expect(settings.values.listen).toEqual(defaultListen(base + 1))
    expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8'))).toEqual({ mdns: false, listen: defaultListen(base + 1) })
    // Read back: the file now says where to listen, and nothing is chosen again.
    const again = await resolveSettings({ home, env: {} })
    expect([again.values.listen, again.sources.listen]).toEqual([defaultListen(base + 1), 'file'])
    expect(await ensureListen(again, base)).toBeNull()
  })
})
