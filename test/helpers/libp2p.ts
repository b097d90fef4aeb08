import { generateKeyPair } from '@libp2p/crypto/keys'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'

/**
 * Bare libp2p nodes (specmesh's transports and gossipsub, no market, DHT off)
 * on 127.0.0.1, for tests of one network piece; each is remembered so that
 * stopBareNodes() in an afterEach stops every one a test started.
 */
const started: SpecmeshLibp2p[] = []

export async function bareNode (services: Record<string, (components: any) => unknown> = {}): Promise<SpecmeshLibp2p> {
  const node = await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false, services })
  started.push(node)
  return node
}

export async function stopBareNodes (): Promise<void> {
  await Promise.allSettled(started.splice(0).map(async n => { await n.stop() }))
}
