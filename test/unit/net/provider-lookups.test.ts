/**
 * How often SpecDiscovery.connectToProviders asks the DHT, with a content
 * routing whose answer the test releases and a connection manager that records
 * dials (real lookups on real nodes are in test/integration/discovery.test.ts;
 * here the point is how many lookups callers cause, which a real DHT answers
 * too fast on 127.0.0.1 to show).
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import { SpecDiscovery, type SpecDiscoveryComponents } from '../../../src/net/spec-discovery.ts'
import { specId } from '../../../src/spec/index.ts'
import { normalizedSample } from '../../helpers/specs.ts'

async function somePeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** Discovery over a DHT that names `provider` once the test calls answer(); every lookup and dial is counted. */
async function discoveryWithSlowDht (provider: PeerId): Promise<{ discovery: SpecDiscovery, lookups: () => number, dials: () => number, answer: () => void }> {
  let lookups = 0
  let dials = 0
  const connected = new Set<string>()
  let release: () => void = () => {}
  let answered = new Promise<void>(resolve => { release = resolve })
  const components = {
    peerId: await somePeer(),
    contentRouting: {
      async * findProviders (): AsyncGenerator<PeerInfo> {
        lookups++
        await answered
        yield { id: provider, multiaddrs: [] }
      }
    },
    connectionManager: {
      getConnections: (peer?: PeerId) => connected.has(peer?.toString() ?? '') ? [{}] : [],
      openConnection: async (peer: PeerId) => { dials++; connected.add(peer.toString()); return {} }
    },
    dht: {}
  } as unknown as SpecDiscoveryComponents
  return {
    discovery: new SpecDiscovery(components, { localSpec: async () => null, ingest: async () => {} }),
    lookups: () => lookups,
    dials: () => dials,
    answer: () => {
      release()
      answered = Promise.resolve()
    }
  }
}

describe('provider lookups of one spec', () => {
  const spec = specId(normalizedSample('lookups'))

  it('callers that come while a lookup is under way share it and its dials, and each is told whom it reached', async () => {
    const provider = await somePeer()
    const { discovery, lookups, dials, answer } = await discoveryWithSlowDht(provider)
    const jobs = [discovery.connectToProviders(spec), discovery.connectToProviders(spec), discovery.connectToProviders(spec)]
    // The seeker's own lookup, which ignores the interval, joins it too rather than asking again.
    const seeker = discovery.connectToProviders(spec, { ignoreInterval: true })
    answer()
    expect(await Promise.all([...jobs, seeker])).toEqual([0, 1, 2, 3].map(() => [provider.toString()]))
    expect(lookups()).toBe(1)
    expect(dials()).toBe(1)
  })

  it('once it ended, a job within PROVIDER_LOOKUP_INTERVAL_MS asks the DHT again only for the seeker', async () => {
    const { discovery, lookups, answer } = await discoveryWithSlowDht(await somePeer())
    answer()
    await discovery.connectToProviders(spec)
    // A stream of jobs while every agent is busy: no lookup per job.
    for (let i = 0; i < 5; i++) expect(await discovery.connectToProviders(spec)).toEqual([])
    expect(lookups()).toBe(1)
    await discovery.connectToProviders(spec, { ignoreInterval: true })
    expect(lookups()).toBe(2)
  })
})
