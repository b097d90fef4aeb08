import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadReputationConfig, ReputationConfigError } from '../../../src/reputation/config.ts'

const PEER_A = '12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV'
const PEER_B = '12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91'

let home = ''
afterEach(async () => { if (home !== '') await rm(home, { recursive: true, force: true }) })
async function withConfig (config: unknown): Promise<string> {
  home = await mkdtemp(join(tmpdir(), 'specmesh-rep-config-'))
  if (config !== undefined) await writeFile(join(home, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config))
  return home
}

describe('reputation config (<home>/config.json)', () => {
  it('trusts nobody but the node itself without a config file', async () => {
    expect(await loadReputationConfig(await withConfig(undefined))).toEqual({ trustedPeers: [] })
  })

  it('reads trustedPeers and the optional reputation settings beside the network keys', async () => {
    const config = await loadReputationConfig(await withConfig({ trustedPeers: [PEER_A, PEER_B, PEER_A], reputation: { halfLifeHours: 24, teleport: 0.3 }, mdns: false }))
    expect(config).toEqual({ trustedPeers: [PEER_A, PEER_B], halfLifeMs: 86_400_000, teleport: 0.3 })
  })

  it('names the offending entry when a trusted peer is not a peer id', async () => {
    await expect(loadReputationConfig(await withConfig({ trustedPeers: [PEER_A, 'not-a-peer'] }))).rejects.toThrow(/trustedPeers\[1\] is not a peer id/)
  })

  it('rejects malformed JSON and bad settings with a ReputationConfigError', async () => {
    await expect(loadReputationConfig(await withConfig('{"trustedPeers": ['))).rejects.toBeInstanceOf(ReputationConfigError)
    await rm(home, { recursive: true, force: true })
    await expect(loadReputationConfig(await withConfig({ trustedPeers: PEER_A }))).rejects.toThrow(/must be an array/)
    await rm(home, { recursive: true, force: true })
    await expect(loadReputationConfig(await withConfig({ reputation: { teleport: 2 } }))).rejects.toThrow(/teleport/)
  })
})
