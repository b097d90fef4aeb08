/**
 * npm run bench:mesh — how fast a spec reaches every node of a 10-node mesh,
 * against bare gossipsub carrying signed messages of the same size on the same
 * topology in the same run (the floor that validation and storage add to), and
 * Ed25519 verifications per second by each backend (libsodium, node:crypto) and by tweetnacl.
 *
 * Both are measured twice: with one process per node (each node validates on
 * its own, as on separate machines; the JSON's propagationMs and bareGossipMs),
 * and with every node in this one process (one thread does all ten nodes' work
 * in turn; reported as inProcess).
 * Prints a table; the last line is one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type Node } from '../src/node.ts'
import { buildLibp2p, type SpecmeshLibp2p } from '../src/net/libp2p.ts'
import { seal, encodeEnvelope, signingPayloadOf } from '../src/wire/envelope.ts'
import { signerFromPrivateKey, rawPublicKeyOf } from '../src/crypto/signatures.ts'
import { chooseBackend } from '../src/crypto/ed25519.ts'

import { sampleSpec, normalizedSample } from '../test/helpers/specs.ts'
import { summarize, table, saveResult, round } from './lib/bench.ts'
import type { FromNode, ToNode } from './lib/mesh-node.ts'

const NODES = Number(process.env.BENCH_NODES ?? 10)
const SPECS = Number(process.env.BENCH_SPECS ?? 200)
const WARMUP = 20
const TIMEOUT_MS = 10_000

/** Each node dials its next and its third-next neighbour: a connected graph of degree ~4, not a star. */
async function connect (nodes: SpecmeshLibp2p[]): Promise<void> {
  for (let i = 0; i < nodes.length; i++) {
    for (const step of [1, 3]) {
      const peer = nodes[(i + step) % nodes.length]!
      if (peer === nodes[i]) continue
      await nodes[i]!.dial(multiaddr(peer.getMultiaddrs()[0]!.toString()))
    }
  }
}

async function waitUntil (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function waitForMesh (nodes: SpecmeshLibp2p[], topic: string): Promise<void> {
  await waitUntil(() => nodes.every(n => n.services.pubsub.getSubscribers(topic).length >= 2), `subscribers on ${topic}`)
}

/** Resolve when `count` deliveries of `key` have been seen. */
class Arrivals {
  private readonly counts = new Map<string, number>()
  private readonly waiters = new Map<string, { need: number, resolve: () => void }>()
  seen (key: string): void {
    const n = (this.counts.get(key) ?? 0) + 1
    this.counts.set(key, n)
    const waiter = this.waiters.get(key)
    if (waiter != null && n >= waiter.need) { this.waiters.delete(key); waiter.resolve() }
  }
  async until (key: string, need: number): Promise<void> {
    if ((this.counts.get(key) ?? 0) >= need) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${key} reached ${this.counts.get(key) ?? 0}/${need} nodes`)), TIMEOUT_MS)
      this.waiters.set(key, { need, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }
}

async function benchSpecmesh (): Promise<{ samples: number[], bytes: number }> {
  const homes: string[] = []
  const nodes: Node[] = []
  for (let i = 0; i < NODES; i++) {
    const home = await mkdtemp(join(tmpdir(), 'specmesh-bench-'))
    homes.push(home)
    nodes.push(await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] }))
  }
  const arrivals = new Arrivals()
  for (const node of nodes) node.events.on('spec', record => { arrivals.seen(record.id) })
  await connect(nodes.map(n => n.libp2p))
  await waitForMesh(nodes.map(n => n.libp2p), '/specmesh/specs/1')
  const samples: number[] = []
  let bytes = 0
  try {
    for (let i = 0; i < WARMUP + SPECS; i++) {
      const started = performance.now()
      const record = await nodes[i % NODES]!.publishSpec(sampleSpec(`bench-spec-${i}`))
      await arrivals.until(record.id, NODES)
      if (i >= WARMUP) samples.push(performance.now() - started)
      bytes = encodeEnvelope({ type: 'spec', v: 1, id: record.id, body: record.spec, signer: record.signer, sig: record.sig }).byteLength
      if (i % 50 === 0) process.stderr.write(`specmesh: ${i}/${WARMUP + SPECS}\n`)
    }
  } finally {
    await Promise.all(nodes.map(async n => await n.stop()))
    await Promise.all(homes.map(async h => await rm(h, { recursive: true, force: true })))
  }
  return { samples, bytes }
}

async function benchBareGossip (): Promise<number[]> {
  const topic = '/bench/bare/1'
  const nodes: SpecmeshLibp2p[] = []
  for (let i = 0; i < NODES; i++) nodes.push(await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] }))
  const arrivals = new Arrivals()
  const decoder = new TextDecoder()
  for (const node of nodes) {
    node.services.pubsub.subscribe(topic)
    node.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic === topic) arrivals.seen((JSON.parse(decoder.decode(event.detail.data)) as { id: string }).id)
    })
  }
  await connect(nodes)
  await waitForMesh(nodes, topic)
  const key = await generateKeyPair('Ed25519')
  const signer = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
  const samples: number[] = []
  try {
    for (let i = 0; i < WARMUP + SPECS; i++) {
      const started = performance.now()
      // Same size and same signing work as a spec message, none of the validation or storage.
      const envelope = seal('spec', normalizedSample(`bench-spec-${i}`), signer)
      await nodes[i % NODES]!.services.pubsub.publish(topic, encodeEnvelope(envelope))
      await arrivals.until(envelope.id, NODES - 1)
      if (i >= WARMUP) samples.push(performance.now() - started)
    }
  } finally {
    await Promise.all(nodes.map(async n => await n.stop()))
  }
  return samples
}

async function benchVerify (): Promise<{ sodium: number, nodeCrypto: number, tweetnacl: number }> {
  const key = await generateKeyPair('Ed25519')
  const signer = signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
  const envelope = seal('spec', normalizedSample('verify'), signer)
  const payload = signingPayloadOf(envelope)
  const sig = Buffer.from(envelope.sig, 'base64url')
  const publicKey = rawPublicKeyOf(signer.peerId)!
  const rate = (verify: () => boolean, ms: number): number => {
    let n = 0
    const started = performance.now()
    while (performance.now() - started < ms) {
      if (!verify()) throw new Error('verification failed')
      n++
    }
    return n / ((performance.now() - started) / 1000)
  }
  // Both backends directly (the node runs the first that loads: src/crypto/ed25519.ts).
  const bySodium = chooseBackend({ SPECMESH_ED25519: 'sodium' }).verifierOf(publicKey)!
  const byNodeCrypto = chooseBackend({ SPECMESH_ED25519: 'node' }).verifierOf(publicKey)!
  return {
    sodium: Math.round(rate(() => bySodium(payload, sig), 1000)),
    nodeCrypto: Math.round(rate(() => byNodeCrypto(payload, sig), 1000)),
    tweetnacl: Math.round(rate(() => nacl.sign.detached.verify(payload, sig, publicKey), 1000))
  }
}

/** A node in its own process, and what it reports. */
class NodeProcess {
  readonly child: ChildProcess
  private readonly waiters: Array<{ match: (m: FromNode) => boolean, resolve: (m: FromNode) => void }> = []
  onArrival: (id: string, at: number) => void = () => {}

  constructor (mode: 'specmesh' | 'bare') {
    this.child = fork(new URL('./lib/mesh-node.ts', import.meta.url).pathname, [mode], { execPath: process.execPath, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    this.child.on('message', (message: FromNode) => {
      if (message.event === 'arrived') this.onArrival(message.id, message.at)
      const i = this.waiters.findIndex(w => w.match(message))
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message)
    })
  }

  async next<E extends FromNode['event']> (event: E, command?: ToNode): Promise<Extract<FromNode, { event: E }>> {
    const reply = new Promise<FromNode>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node process: no ${event} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
      this.waiters.push({ match: m => m.event === event, resolve: m => { clearTimeout(timer); resolve(m) } })
    })
    if (command != null) this.child.send(command)
    return await reply as Extract<FromNode, { event: E }>
  }
}

async function benchProcesses (mode: 'specmesh' | 'bare'): Promise<number[]> {
  const procs = Array.from({ length: NODES }, () => new NodeProcess(mode))
  const addrs = await Promise.all(procs.map(async p => (await p.next('ready')).addr))
  const arrivals = new Arrivals()
  const arrivedAt = new Map<string, number>()
  for (const p of procs) {
    p.onArrival = (id, at) => {
      arrivedAt.set(id, Math.max(arrivedAt.get(id) ?? 0, at))
      arrivals.seen(id)
    }
  }
  try {
    // The same graph as in-process: each node dials its next and its third-next neighbour.
    for (let i = 0; i < NODES; i++) await procs[i]!.next('dialed', { cmd: 'dial', addrs: [1, 3].map(step => addrs[(i + step) % NODES]!) })
    const deadline = Date.now() + TIMEOUT_MS
    while ((await Promise.all(procs.map(async p => (await p.next('subscribers', { cmd: 'subscribers' })).count))).some(n => n < 2)) {
      if (Date.now() > deadline) throw new Error('mesh did not form')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const samples: number[] = []
    // specmesh counts the publisher's own store; bare gossipsub does not deliver to itself.
    const needed = mode === 'specmesh' ? NODES : NODES - 1
    for (let i = 0; i < WARMUP + SPECS; i++) {
      const published = await procs[i % NODES]!.next('published', { cmd: 'publish', name: `bench-${mode}-${i}` })
      await arrivals.until(published.id, needed)
      if (i >= WARMUP) samples.push(arrivedAt.get(published.id)! - published.at)
      if (i % 50 === 0) process.stderr.write(`${mode}, one process per node: ${i}/${WARMUP + SPECS}\n`)
    }
    return samples
  } finally {
    await Promise.all(procs.map(async p => await p.next('stopped', { cmd: 'stop' }).catch(() => { p.child.kill('SIGKILL') })))
  }
}

const bareProcs = await benchProcesses('bare')
const meshProcs = await benchProcesses('specmesh')
const bare = await benchBareGossip()
const mesh = await benchSpecmesh()
const verify = await benchVerify()
const propagationMs = summarize(meshProcs)
const bareGossipMs = summarize(bareProcs)
const inProcess = { propagationMs: summarize(mesh.samples), bareGossipMs: summarize(bare) }
console.log(`specmesh bench:mesh — ${NODES} nodes, ${SPECS} specs (${mesh.bytes} B each on the wire), ${WARMUP} warm-up messages not counted\n`)
console.log(table([
  { measure: 'spec publish → stored on every node (one process per node)', p50: `${propagationMs.p50} ms`, p99: `${propagationMs.p99} ms` },
  { measure: 'bare gossipsub, same size, same graph (one process per node)', p50: `${bareGossipMs.p50} ms`, p99: `${bareGossipMs.p99} ms` },
  { measure: 'ratio specmesh / bare', p50: round(propagationMs.p50 / bareGossipMs.p50), p99: round(propagationMs.p99 / bareGossipMs.p99) },
  { measure: 'spec publish → stored on every node (all in one process)', p50: `${inProcess.propagationMs.p50} ms`, p99: `${inProcess.propagationMs.p99} ms` },
  { measure: 'bare gossipsub (all in one process)', p50: `${inProcess.bareGossipMs.p50} ms`, p99: `${inProcess.bareGossipMs.p99} ms` },
  { measure: 'ratio specmesh / bare, one process', p50: round(inProcess.propagationMs.p50 / inProcess.bareGossipMs.p50), p99: round(inProcess.propagationMs.p99 / inProcess.bareGossipMs.p99) }
]))
console.log()
console.log(table([
  { implementation: 'sodium-native (libsodium)', 'Ed25519 verify/s': verify.sodium },
  { implementation: 'node:crypto (OpenSSL)', 'Ed25519 verify/s': verify.nodeCrypto },
  { implementation: 'tweetnacl', 'Ed25519 verify/s': verify.tweetnacl }
]))
const result = { nodes: NODES, specs: SPECS, propagationMs, bareGossipMs, verifyPerSec: verify, inProcess }
const file = await saveResult('bench-mesh', result)
console.log(`\nsaved ${file}`)
console.log(JSON.stringify(result))
process.exit(0)
