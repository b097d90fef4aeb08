/**
 * One node of bench:mesh's one-process-per-node run, driven by its parent over
 * IPC. `specmesh` starts a real node (createNode: validation, LevelDB) and
 * reports each spec when stored; `bare` starts libp2p with gossipsub only and
 * reports each message when delivered. Times are epoch milliseconds with
 * sub-millisecond precision (performance.timeOrigin + performance.now()), the
 * same clock in every process of the machine.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type Node } from '../../src/node.ts'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { signerFromPrivateKey } from '../../src/crypto/signatures.ts'
import { seal, encodeEnvelope } from '../../src/wire/envelope.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { sampleSpec, normalizedSample } from '../../test/helpers/specs.ts'

export const BARE_TOPIC = '/bench/bare/1'

export type ToNode =
  | { cmd: 'dial', addrs: string[] }
  | { cmd: 'subscribers' }
  | { cmd: 'publish', name: string }
  | { cmd: 'stop' }

export type FromNode =
  | { event: 'ready', addr: string }
  | { event: 'dialed' }
  | { event: 'subscribers', count: number }
  | { event: 'published', id: string, at: number, bytes: number }
  | { event: 'arrived', id: string, at: number }
  | { event: 'stopped' }

const clock = (): number => performance.timeOrigin + performance.now()
const send = (message: FromNode): void => { process.send!(message) }

const mode = process.argv[2] as 'specmesh' | 'bare'
const home = await mkdtemp(join(tmpdir(), 'specmesh-bench-proc-'))
let node: Node | undefined
let libp2p: SpecmeshLibp2p
const decoder = new TextDecoder()

if (mode === 'specmesh') {
  node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
  libp2p = node.libp2p
  node.events.on('spec', record => { send({ event: 'arrived', id: record.id, at: clock() }) })
} else {
  libp2p = await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  libp2p.services.pubsub.subscribe(BARE_TOPIC)
  libp2p.services.pubsub.addEventListener('message', event => {
    if (event.detail.topic === BARE_TOPIC) send({ event: 'arrived', id: (JSON.parse(decoder.decode(event.detail.data)) as { id: string }).id, at: clock() })
  })
}
const key = await generateKeyPair('Ed25519')
const benchSigner = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())

process.on('message', (message: ToNode) => {
  void (async () => {
    switch (message.cmd) {
      case 'dial':
        for (const addr of message.addrs) await libp2p.dial(multiaddr(addr))
        send({ event: 'dialed' })
        break
      case 'subscribers':
        send({ event: 'subscribers', count: libp2p.services.pubsub.getSubscribers(mode === 'specmesh' ? TOPICS.specs : BARE_TOPIC).length })
        break
      case 'publish': {
        const at = clock()
        if (node != null) {
          const record = await node.publishSpec(sampleSpec(message.name))
          send({ event: 'published', id: record.id, at, bytes: encodeEnvelope({ type: 'spec', v: 1, id: record.id, body: record.spec, signer: record.signer, sig: record.sig }).byteLength })
        } else {
          // Same size and the same signing work as a spec message, none of the validation or storage.
          const envelope = seal('spec', normalizedSample(message.name), benchSigner)
          const bytes = encodeEnvelope(envelope)
          await libp2p.services.pubsub.publish(BARE_TOPIC, bytes)
          send({ event: 'published', id: envelope.id, at, bytes: bytes.byteLength })
        }
        break
      }
      case 'stop':
        if (node != null) await node.stop()
        else await libp2p.stop()
        await rm(home, { recursive: true, force: true })
        send({ event: 'stopped' })
        process.exit(0)
    }
  })()
})

send({ event: 'ready', addr: libp2p.getMultiaddrs()[0]!.toString() })
