/**
 * A hostile gossipsub peer, written with libp2p packages (and Node built-ins)
 * only — none of specmesh's code — so it behaves like a stranger's program.
 * Run as a child process:
 *
 *   node scripts/lib/flood-attacker.ts MODE ADDR[,ADDR…]
 *
 * MODE `garbage`: random bytes on the jobs topic (Rejected: not JSON).
 * MODE `signed-useless`: job calls in correctly signed envelopes, each one
 * distinct, for a spec nobody holds (Ignored: unknown spec).
 *
 * It publishes as fast as it can until SIGTERM, and prints one JSON line when
 * it is connected ({"event":"ready",…}) and one a second ({"event":"rate",
 * "sent":N}), the last on exit ({"event":"done",…}).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub, type Message } from '@libp2p/gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

const [mode, addrs] = process.argv.slice(2)
if ((mode !== 'garbage' && mode !== 'signed-useless') || addrs == null) {
  console.error('usage: flood-attacker.ts garbage|signed-useless ADDR[,ADDR…]')
  process.exit(2)
}
const JOBS_TOPIC = '/specmesh/jobs/1'
const sha256 = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest()
const encoder = new TextEncoder()

const privateKey = await generateKeyPair('Ed25519')
const peerId = peerIdFromPrivateKey(privateKey).toString()
const node = await createLibp2p({
  privateKey,
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({
      globalSignaturePolicy: StrictNoSign,
      msgIdFn: (msg: Message) => sha256(msg.data),
      allowPublishToZeroTopicPeers: true,
      floodPublish: true,
      emitSelf: false
    })
  }
})
const pubsub = (node.services as { pubsub: GossipSub }).pubsub
pubsub.subscribe(JOBS_TOPIC)
for (const addr of addrs.split(',')) await node.dial(multiaddr(addr)).catch(() => {})
const deadline = Date.now() + 15_000
while (pubsub.getSubscribers(JOBS_TOPIC).length < addrs.split(',').length && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
console.log(JSON.stringify({ event: 'ready', peerId, peers: pubsub.getSubscribers(JOBS_TOPIC).length }))

/** RFC 8785 for the flat bodies used here: sorted keys, JSON.stringify for strings and numbers. */
const canonical = (body: Record<string, string | number>): string =>
  `{${Object.keys(body).sort().map(k => `${JSON.stringify(k)}:${JSON.stringify(body[k])}`).join(',')}}`

const nobodysSpec = CID.createV1(0x0200, Digest.create(0x12, sha256(randomBytes(32)))).toString()

async function signedUseless (): Promise<Uint8Array> {
  const now = Date.now()
  const body = { specId: nobodysSpec, inputHash: randomBytes(32).toString('hex'), inputSize: 100, maxUsd: 0.1, deadline: now + 60_000, bidWindowMs: 100, createdAt: now, nonce: randomBytes(8).toString('hex') }
  const text = canonical(body)
  const sig = await privateKey.sign(encoder.encode(`{"body":${text},"type":"job","v":1}`))
  const id = CID.createV1(0x0200, Digest.create(0x12, sha256(encoder.encode(text)))).toString()
  return encoder.encode(JSON.stringify({ type: 'job', v: 1, id, body, signer: peerId, sig: Buffer.from(sig).toString('base64url') }))
}

const garbage = (): Uint8Array => randomBytes(200 + Math.floor(Math.random() * 200))

let sent = 0
let stopping = false
const started = Date.now()
const report = setInterval(() => { console.log(JSON.stringify({ event: 'rate', sent, connections: node.getConnections().length, atMs: Date.now() - started })) }, 1000)
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  clearInterval(report)
  console.log(JSON.stringify({ event: 'done', sent, redials, ms: Date.now() - started }))
  await Promise.resolve(node.stop()).catch(() => {})
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })

// As fast as it goes: batches of publishes, a yield between them so the sockets drain.
// Once every victim has cut it off, it keeps trying to get back in (the victims
// refuse) instead of burning a core on messages nobody receives: on a real
// network the attacker's CPU is not the victims'.
let redials = 0
while (!stopping) {
  if (node.getConnections().length === 0) {
    redials++
    for (const addr of addrs.split(',')) await node.dial(multiaddr(addr)).catch(() => {})
    if (node.getConnections().length === 0) await new Promise(resolve => setTimeout(resolve, 250))
    continue
  }
  const batch: Array<Promise<unknown>> = []
  for (let i = 0; i < 50; i++) {
    const data = mode === 'garbage' ? garbage() : await signedUseless()
    batch.push(pubsub.publish(JOBS_TOPIC, data).catch(() => {}))
    sent++
  }
  await Promise.all(batch)
  await new Promise(resolve => setImmediate(resolve))
}
