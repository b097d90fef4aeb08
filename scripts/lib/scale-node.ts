/**
 * One node of bench:scale, in its own process, driven by its parent over IPC
 * (scripts/bench-scale.ts; protocol in scale-protocol.ts). A real specmesh
 * node: LevelDB in a temporary home, TCP on 127.0.0.1, the DHT, no mDNS, no
 * relay; libp2p's Prometheus metrics on, for the bytes its connections
 * receive.
 *
 * What it counts, between a `mark` and a `counters`:
 * - gossip: every RPC frame the gossipsub stream decodes (its bytes, and each
 *   message in it by topic kind, duplicates included, before validation);
 * - wire: libp2p_data_transfer_bytes_total, what every connection received
 *   (noise and yamux framing included) and what each protocol's streams did;
 * - CPU (process.cpuUsage, user + system) and RSS of this process.
 *
 * The process exits when the parent goes away (IPC disconnect), so a parent
 * killed without cleanup leaves no node behind.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type Node } from '../../src/node.ts'
import type { MarketOptions } from '../../src/market/market.ts'
import { sampleSpec } from '../../test/helpers/specs.ts'
import { topicKind, type Counters, type FromScaleNode, type ToScaleNode } from './scale-protocol.ts'

const send = (message: FromScaleNode): void => { if (process.connected) process.send!(message) }

let node: Node | undefined
let home: string | undefined
let servingStops: Array<() => void> = []
let window = freshWindow()

function freshWindow (): { gossipBytes: number, rpcs: number, msgs: Record<string, number>, cpu: NodeJS.CpuUsage, wire: Record<string, number>, at: number } {
  return { gossipBytes: 0, rpcs: 0, msgs: {}, cpu: process.cpuUsage(), wire: {}, at: Date.now() }
}

/** Bytes received per libp2p protocol (and 'global': the connections themselves), from the node's metrics. */
async function wireReceived (n: Node): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const { text } = await n.metricsText!()
  for (const match of text.matchAll(/^libp2p_data_transfer_bytes_total\{protocol="(.+) received"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) {
    out[match[1]!] = Number(match[2])
  }
  return out
}

/**
 * Count what gossipsub decodes. decodeRpc is called for every frame read from a
 * peer's gossip stream, before dedup and validation, so duplicates and control
 * frames are in the count.
 */
function instrumentGossip (n: Node): void {
  const gs = n.libp2p.services.pubsub as unknown as { decodeRpc: (bytes: Uint8Array) => { messages?: Array<{ topic?: string }> } }
  const decode = gs.decodeRpc.bind(gs)
  gs.decodeRpc = (bytes) => {
    const rpc = decode(bytes)
    window.gossipBytes += bytes.byteLength
    window.rpcs++
    for (const m of rpc.messages ?? []) {
      const kind = topicKind(m.topic ?? '')
      window.msgs[kind] = (window.msgs[kind] ?? 0) + 1
    }
    return rpc
  }
}

async function counters (n: Node): Promise<Counters> {
  const cpu = process.cpuUsage(window.cpu)
  const wireNow = await wireReceived(n)
  const wire: Record<string, number> = {}
  for (const [k, v] of Object.entries(wireNow)) wire[k] = v - (window.wire[k] ?? 0)
  const memory = process.memoryUsage()
  return {
    ms: Date.now() - window.at,
    gossipBytes: window.gossipBytes,
    rpcs: window.rpcs,
    msgs: { ...window.msgs },
    wire,
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBytes: memory.rss,
    heapBytes: memory.heapUsed,
    connections: n.libp2p.getConnections().length
  }
}

/** Jobs at a fixed rate (open loop: each starts on time whatever the earlier ones do), at most `maxInFlight` at once. */
async function runJobs (n: Node, specId: string, count: number, ratePerSec: number, bidWindowMs: number, maxInFlight: number): Promise<{ latenciesMs: number[], failed: number, skipped: number, reasons: string[] }> {
  const latenciesMs: number[] = []
  const reasons: string[] = []
  let failed = 0
  let skipped = 0
  let inFlight = 0
  const running: Array<Promise<void>> = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const due = started + i * 1000 / ratePerSec
    const wait = due - performance.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    if (inFlight >= maxInFlight) { skipped++; continue }
    inFlight++
    const t0 = performance.now()
    running.push(n.submitJob(specId, { text: `scale job ${i}` }, { bidWindowMs }).then(result => {
      if (result.status === 'succeeded') latenciesMs.push(performance.now() - t0)
      else { failed++; if (reasons.length < 3) reasons.push(result.reason ?? result.status) }
    }, (err: Error) => { failed++; if (reasons.length < 3) reasons.push(err.message) }).finally(() => { inFlight-- }))
  }
  await Promise.all(running)
  return { latenciesMs, failed, skipped, reasons }
}

async function handle (message: ToScaleNode): Promise<FromScaleNode> {
  switch (message.cmd) {
    case 'start': {
      home = await mkdtemp(join(tmpdir(), 'specmesh-bench-scale-'))
      // The switch (ISSUE9-DESIGN.md): ignored by a market that has only the global topics.
      const market = { topics: message.topics } as MarketOptions
      node = await createNode({
        home,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: message.bootstrap,
        mdns: false,
        dht: true,
        relayServer: false,
        relayClient: false,
        metrics: true,
        market
      })
      instrumentGossip(node)
      return { event: 'started', id: message.id, peerId: node.peerId, addr: `${node.multiaddrs()[0]!}` }
    }
    case 'publish': {
      const record = await need().publishSpec(sampleSpec(message.name, {
        successCriteria: ['size(output.entities) >= 1'],
        capacity: { maxConcurrentRequests: 64, maxRetries: 1 },
        budget: { maxUsd: 1 }
      }))
      return { event: 'published', id: message.id, specId: record.id }
    }
    case 'serve': {
      const output = { entities: [{ name: 'scale', confidence: 99 }] }
      servingStops.push(await need().serve(message.specId, async () => output, { priceUsd: message.priceUsd, estimatedMs: 1 }))
      return { event: 'served', id: message.id }
    }
    case 'status': {
      const n = need()
      const specsHeld = await Promise.all(message.specIds.map(async s => (await n.getSpec(s)) != null))
      return {
        event: 'status',
        id: message.id,
        connections: new Set(n.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
        specsHeld: specsHeld.filter(Boolean).length,
        adverts: message.advertsOf != null ? n.capacityOf(message.advertsOf).length : 0
      }
    }
    case 'jobs': {
      const result = await runJobs(need(), message.specId, message.count, message.ratePerSec, message.bidWindowMs, message.maxInFlight)
      return { event: 'jobs', id: message.id, ...result }
    }
    case 'mark':
      window = freshWindow()
      window.wire = await wireReceived(need())
      return { event: 'marked', id: message.id }
    case 'counters':
      return { event: 'counters', id: message.id, counters: await counters(need()) }
    case 'stop':
      await shutdown()
      return { event: 'stopped', id: message.id }
  }
}

function need (): Node {
  if (node == null) throw new Error('the node is not started')
  return node
}

async function shutdown (): Promise<void> {
  for (const stop of servingStops) stop()
  servingStops = []
  const n = node
  node = undefined
  if (n != null) await n.stop().catch(() => {})
  if (home != null) await rm(home, { recursive: true, force: true }).catch(() => {})
  home = undefined
  // The process runs the next mode's node: what this one left behind should not count in that one's RSS.
  globalThis.gc?.()
}

process.on('message', (message: ToScaleNode) => {
  handle(message).then(send, (err: Error) => { send({ event: 'error', id: message.id, message: err.stack ?? err.message }) })
})
// The parent went away (killed, crashed): stop and leave nothing behind.
process.on('disconnect', () => { void shutdown().finally(() => process.exit(0)) })

send({ event: 'ready', id: 0 })
