/**
 * A hostile gossipsub peer, written with libp2p packages (and Node built-ins)
 * only — none of specmesh's code — so it behaves like a stranger's program.
 * Run as a child process:
 *
 *   node scripts/lib/flood-attacker.ts MODE ADDR[,ADDR…] [POOL] [SPEC_ID]
 *
 * It floods the jobs topic of SPEC_ID (`/specmesh/spec/2/<SPEC_ID>/jobs`, the
 * topic its victims are on), or without it the global `/specmesh/jobs/1`.
 * MODE `garbage`: random bytes on that topic (Rejected: not JSON).
 * MODE `signed-useless`: job calls in correctly signed envelopes, each one
 * distinct: on a spec's topic for that spec but already past their deadline
 * (Ignored: expired); on the global topic for a spec nobody holds (Ignored:
 * unknown spec).
 *
 * POOL messages (default 20,000) are made — and, for signed-useless, signed —
 * before it connects, so while it floods its rate is the transport's, not its
 * signer's (an Ed25519 signature costs it ~50–120 µs, a publish ~20 µs); past
 * the pool it signs as it goes.
 *
 * It publishes as fast as it can until SIGTERM, and prints one JSON line when
 * it is connected ({"event":"ready",…}), one every 250 ms ({"event":"rate",
 * "sent":N,"at":epoch ms,…}: the victims' process reads its send timeline from these), and the last on exit ({"event":"done",…}) with its rate while it
 * had a victim to send to: `perSecond` (sent / time connected) and
 * `peakPerSecond` (the best window of 50–250 ms of sending). Only publishes that reached at
 * least one victim count as sent.
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

const [mode, addrs, poolArg, targetSpec] = process.argv.slice(2)
const POOL = Number(poolArg ?? 20_000)
if ((mode !== 'garbage' && mode !== 'signed-useless') || addrs == null || !Number.isInteger(POOL) || POOL < 0) {
  console.error('usage: flood-attacker.ts garbage|signed-useless ADDR[,ADDR…] [POOL] [SPEC_ID]')
  process.exit(2)
}
const JOBS_TOPIC = targetSpec != null ? `/specmesh/spec/2/${targetSpec}/jobs` : '/specmesh/jobs/1'
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

/** RFC 8785 for the flat bodies used here: sorted keys, JSON.stringify for strings and numbers. */
const canonical = (body: Record<string, string | number>): string =>
  `{${Object.keys(body).sort().map(k => `${JSON.stringify(k)}:${JSON.stringify(body[k])}`).join(',')}}`

const nobodysSpec = CID.createV1(0x0200, Digest.create(0x12, sha256(randomBytes(32)))).toString()

async function signedUseless (): Promise<Uint8Array> {
  const now = Date.now()
  // Valid for a minute on the global topic (the pool is made a few seconds before it is sent);
  // on a spec's topic, for that spec but already expired.
  const body = targetSpec != null
    ? { specId: targetSpec, inputHash: randomBytes(32).toString('hex'), inputSize: 100, maxUsd: 0.1, deadline: now - 1000, bidWindowMs: 100, createdAt: now - 2000, nonce: randomBytes(8).toString('hex') }
    : { specId: nobodysSpec, inputHash: randomBytes(32).toString('hex'), inputSize: 100, maxUsd: 0.1, deadline: now + 60_000, bidWindowMs: 100, createdAt: now, nonce: randomBytes(8).toString('hex') }
  const text = canonical(body)
  const sig = await privateKey.sign(encoder.encode(`{"body":${text},"type":"job","v":1}`))
  const id = CID.createV1(0x0200, Digest.create(0x12, sha256(encoder.encode(text)))).toString()
  return encoder.encode(JSON.stringify({ type: 'job', v: 1, id, body, signer: peerId, sig: Buffer.from(sig).toString('base64url') }))
}

const garbage = (): Uint8Array => randomBytes(200 + Math.floor(Math.random() * 200))
const make = async (): Promise<Uint8Array> => mode === 'garbage' ? garbage() : await signedUseless()

const poolStarted = Date.now()
const pool: Uint8Array[] = []
for (let i = 0; i < POOL; i++) pool.push(await make())
const poolMs = Date.now() - poolStarted

pubsub.subscribe(JOBS_TOPIC)
for (const addr of addrs.split(',')) await node.dial(multiaddr(addr)).catch(() => {})
const deadline = Date.now() + 15_000
while (pubsub.getSubscribers(JOBS_TOPIC).length < addrs.split(',').length && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
console.log(JSON.stringify({ event: 'ready', peerId, peers: pubsub.getSubscribers(JOBS_TOPIC).length, pool: POOL, poolMs }))

let sent = 0
let stopping = false
let redials = 0
let fromPool = 0
/** Time spent sending while at least one victim was connected, and the best window's rate. */
let connectedMs = 0
let peakPerSecond = 0
let window = { ms: 0, sent: 0 }
const started = Date.now()
const perSecond = (): number => connectedMs > 0 ? Math.round(sent / connectedMs * 1000) : 0
const report = setInterval(() => { console.log(JSON.stringify({ event: 'rate', sent, connections: node.getConnections().length, at: Date.now(), atMs: Date.now() - started, connectedMs: Math.round(connectedMs) })) }, 250)
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  clearInterval(report)
  console.log(JSON.stringify({ event: 'done', sent, fromPool, perSecond: perSecond(), peakPerSecond: Math.round(Math.max(peakPerSecond, perSecond())), connectedMs: Math.round(connectedMs), redials, ms: Date.now() - started }))
  await Promise.resolve(node.stop()).catch(() => {})
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })

/** A window of at least 50 ms of sending counts towards the peak; a shorter one (cut off) does not. */
const closeWindow = (): void => {
  if (window.ms >= 50) peakPerSecond = Math.max(peakPerSecond, window.sent / window.ms * 1000)
  window = { ms: 0, sent: 0 }
}

// As fast as it goes: batches of publishes, a yield between them so the sockets drain.
// Once every victim has cut it off, it keeps trying to get back in (the victims
// refuse) instead of burning a core on messages nobody receives: on a real
// network the attacker's CPU is not the victims'.
while (!stopping) {
  if (node.getConnections().length === 0) {
    closeWindow()
    redials++
    for (const addr of addrs.split(',')) await node.dial(multiaddr(addr)).catch(() => {})
    if (node.getConnections().length === 0) await new Promise(resolve => setTimeout(resolve, 250))
    continue
  }
  const batchStarted = performance.now()
  const batch: Array<Promise<unknown>> = []
  let batchSent = 0
  for (let i = 0; i < 50; i++) {
    const data = fromPool < pool.length ? pool[fromPool++]! : await make()
    batch.push(pubsub.publish(JOBS_TOPIC, data).then(r => { if (r.recipients.length > 0) batchSent++ }, () => {}))
  }
  await Promise.all(batch)
  await new Promise(resolve => setImmediate(resolve))
  const ms = performance.now() - batchStarted
  // Time counts only while publishes reach a victim: not a connection being torn down or
  // refused, nor one whose subscriptions have not arrived.
  if (batchSent === 0) { closeWindow(); continue }
  sent += batchSent
  connectedMs += ms
  window.ms += ms
  window.sent += batchSent
  if (window.ms >= 250) closeWindow()
}
