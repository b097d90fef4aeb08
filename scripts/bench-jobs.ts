/**
 * npm run bench:jobs — jobs completed per second through one coordinator with
 * four agents and a trivial handler, the per-job overhead beyond the bid
 * window, and, in the same run, the round trip of a raw libp2p request and
 * response between two of the same nodes (a fresh stream on the open
 * connection, as the execution stream uses). Prints a table; the last line is
 * one JSON object.
 *
 * Overhead is a job's latency less the time it spent collecting bids (its
 * biddingMs): the window, or less when every agent advertising room bid sooner
 * and the coordinator closed it early.
 *
 * The same run measures the operating surfaces' cost: a second mesh whose
 * nodes collect Prometheus metrics (theirs and libp2p's) and write the
 * daemon's JSON log lines to a file, against the first with neither. The two
 * take turns (off, on, on, off; a fresh mesh each turn, one at a time) so that
 * drift on a shared machine falls on both;
 * `operateThroughputRatio` is on/off (1 = no cost). BENCH_OPERATE=0 skips it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createWriteStream, type WriteStream } from 'node:fs'
import { jsonLineLogger } from '../src/daemon.ts'
import { createNode, type Node } from '../src/node.ts'
import { TOPICS } from '../src/wire/constants.ts'
import { SPEC_TOPIC_KINDS } from '../src/market/topics.ts'
import { sampleSpec } from '../test/helpers/specs.ts'
import { summarize, table, saveResult, round } from './lib/bench.ts'

const AGENTS = 4
const JOBS = Number(process.env.BENCH_JOBS ?? 600)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 20)
const BID_WINDOW_MS = Number(process.env.BENCH_BID_WINDOW_MS ?? 50)
const SEQUENTIAL_JOBS = Number(process.env.BENCH_SEQUENTIAL_JOBS ?? 100)
const OPERATE = process.env.BENCH_OPERATE !== '0'
const RTT_SAMPLES = 1000
const ECHO_PROTOCOL = '/specmesh-bench/echo/1.0.0'

async function waitUntil (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

interface Mesh {
  coordinator: Node
  agents: Node[]
  specId: string
  stop: () => Promise<void>
}

/** One coordinator and four agents on 127.0.0.1, fully meshed, serving one spec; `operate` turns metrics and logging on. */
async function startMesh (operate: boolean): Promise<Mesh> {
  const homes: string[] = []
  const nodes: Node[] = []
  const logs: WriteStream[] = []
  for (let i = 0; i <= AGENTS; i++) {
    const home = await mkdtemp(join(tmpdir(), 'specmesh-bench-jobs-'))
    homes.push(home)
    const log = operate ? createWriteStream(join(home, 'daemon.log')) : null
    if (log != null) logs.push(log)
    nodes.push(await createNode({
      home,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      ...(log != null ? { metrics: true, log: jsonLineLogger(text => { log.write(text) }) } : {})
    }))
  }
  const [coordinator, ...agents] = nodes as [Node, ...Node[]]
  // Full mesh: every agent is one hop from the coordinator and from each other.
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.libp2p.dial(multiaddr(nodes[j]!.multiaddrs()[0]!))
  }
  await waitUntil(() => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= AGENTS), `subscribers on ${TOPICS.specs}`)
  const { id: specId } = await coordinator.publishSpec(sampleSpec(`bench-jobs-${operate ? 'operate' : 'plain'}`, {
    successCriteria: ['size(output.entities) >= 1'],
    capacity: { maxConcurrentRequests: 64, maxRetries: 1 },
    budget: { maxUsd: 1 }
  }))
  await waitUntil(async () => (await Promise.all(agents.map(a => a.getSpec(specId)))).every(Boolean), 'spec on every agent')
  const output = { entities: [{ name: 'bench', confidence: 99 }] }
  for (const [i, agent] of agents.entries()) {
    await agent.serve(specId, async () => output, { priceUsd: 0.01 * (i + 1), estimatedMs: 1 })
  }
  // The coordinator joins the spec's topics (as its first job would); then every node sees the others on them.
  coordinator.subscriptions.join(specId, 'coordinating')
  for (const kind of SPEC_TOPIC_KINDS) {
    await waitUntil(() => nodes.every(n => n.subscriptions.topicPeers(specId, kind).length >= AGENTS), `subscribers on the ${kind} topic of the spec`)
  }
  await waitUntil(() => coordinator.capacityOf(specId).length === AGENTS, 'every agent\'s capacity advert at the coordinator')
  return {
    coordinator,
    agents,
    specId,
    stop: async () => {
      await Promise.all(nodes.map(async n => await n.stop()))
      await Promise.all(logs.map(async l => await new Promise(resolve => l.end(resolve))))
      await Promise.all(homes.map(async h => await rm(h, { recursive: true, force: true })))
    }
  }
}

/** Raw request/response: one length-prefixed frame each way on a fresh stream. */
async function rawRtt ({ coordinator, agents }: Mesh): Promise<number[]> {
  const [client, server] = [coordinator, agents[0]!]
  await server.libp2p.handle(ECHO_PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    await lp.write((await lp.read()).subarray())
    await stream.close()
  })
  const peer = peerIdFromString(server.peerId)
  const payload = new Uint8Array(200).fill(7)
  const samples: number[] = []
  for (let i = 0; i < RTT_SAMPLES + 50; i++) {
    const started = performance.now()
    const stream = await client.libp2p.dialProtocol(peer, ECHO_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(payload)
    await lp.read()
    await stream.close()
    if (i >= 50) samples.push(performance.now() - started)
  }
  return samples
}

interface Run { elapsedMs: number, latencies: number[], overheads: number[], bidding: number[], failed: number, jobs: number }

async function runJobs ({ coordinator, specId }: Mesh, count: number, inFlight: number): Promise<Run> {
  const latencies: number[] = []
  const overheads: number[] = []
  const bidding: number[] = []
  let failed = 0
  let next = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++
      const t0 = performance.now()
      const result = await coordinator.submitJob(specId, { text: `job ${n}` }, { bidWindowMs: BID_WINDOW_MS })
      if (result.status !== 'succeeded') {
        failed++
        if (failed <= 3) process.stderr.write(`job failed: ${result.reason}\n`)
      } else {
        const latency = performance.now() - t0
        latencies.push(latency)
        bidding.push(result.biddingMs ?? BID_WINDOW_MS)
        overheads.push(latency - (result.biddingMs ?? BID_WINDOW_MS))
      }
      if (n % 100 === 0) process.stderr.write(`jobs: ${n}/${count}\n`)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return { elapsedMs: performance.now() - started, latencies, overheads, bidding, failed, jobs: count }
}

/** Several runs of one mode as one: their jobs and times added up. */
function combine (runs: Run[]): Run {
  return {
    elapsedMs: runs.reduce((s, r) => s + r.elapsedMs, 0),
    latencies: runs.flatMap(r => r.latencies),
    overheads: runs.flatMap(r => r.overheads),
    bidding: runs.flatMap(r => r.bidding),
    failed: runs.reduce((s, r) => s + r.failed, 0),
    jobs: runs.reduce((s, r) => s + r.jobs, 0)
  }
}

/** One turn of one mode: a fresh mesh, warmed up, then the one-at-a-time and the concurrent jobs. */
async function turn (operate: boolean, jobs: number, sequentialJobs: number): Promise<{ sequential: Run, concurrent: Run, rtt?: number[] }> {
  const mesh = await startMesh(operate)
  try {
    const rtt = operate ? undefined : await rawRtt(mesh)
    await runJobs(mesh, 20, 4) // warm-up
    const sequential = await runJobs(mesh, sequentialJobs, 1)
    const concurrent = await runJobs(mesh, jobs, IN_FLIGHT)
    return { sequential, concurrent, ...(rtt != null ? { rtt } : {}) }
  } finally {
    await mesh.stop()
  }
}

{
  // Off, on, on, off, half the jobs in each turn; only one mesh runs at a time, as without the comparison.
  const modes = OPERATE ? [false, true, true, false] : [false]
  const share = (n: number): number => OPERATE ? Math.ceil(n / 2) : n
  const turns: Array<{ operate: boolean, sequential: Run, concurrent: Run, rtt?: number[] }> = []
  for (const operate of modes) turns.push({ operate, ...await turn(operate, share(JOBS), share(SEQUENTIAL_JOBS)) })
  const of = (operate: boolean): typeof turns => turns.filter(t => t.operate === operate)
  const rtt = of(false).find(t => t.rtt != null)!.rtt!
  const sequential = combine(of(false).map(t => t.sequential))
  const concurrent = combine(of(false).map(t => t.concurrent))
  const perSec = (r: Run): number => round((r.jobs - r.failed) / (r.elapsedMs / 1000), 1)
  const jobsPerSec = perSec(concurrent)
  const overheadMs = summarize(sequential.overheads)
  const loadedOverheadMs = summarize(concurrent.overheads)
  const biddingMs = summarize(sequential.bidding)
  const latencyMs = summarize(sequential.latencies)
  const rawRttMs = summarize(rtt)
  const rows = [
    { measure: `throughput, ${IN_FLIGHT} jobs in flight (${concurrent.jobs} jobs)`, value: `${jobsPerSec} jobs/s`, note: `${concurrent.failed} failed` },
    { measure: 'job latency, one at a time (p50/p99)', value: `${latencyMs.p50} / ${latencyMs.p99} ms`, note: `${sequential.jobs} jobs` },
    { measure: 'of which collecting bids (p50/p99)', value: `${biddingMs.p50} / ${biddingMs.p99} ms`, note: `window ${BID_WINDOW_MS} ms, closed early once all 4 advertised agents bid` },
    { measure: 'latency beyond the configured window, one at a time (p50/p99)', value: `${round(latencyMs.p50 - BID_WINDOW_MS)} / ${round(latencyMs.p99 - BID_WINDOW_MS)} ms`, note: 'negative: the window closed early' },
    { measure: 'overhead beyond bidding, one at a time (p50/p99)', value: `${overheadMs.p50} / ${overheadMs.p99} ms`, note: 'award → receipt stored, and job setup' },
    { measure: `overhead beyond bidding, ${IN_FLIGHT} in flight (p50/p99)`, value: `${loadedOverheadMs.p50} / ${loadedOverheadMs.p99} ms`, note: 'includes queueing' },
    { measure: 'raw libp2p request/response, fresh stream (p50/p99)', value: `${rawRttMs.p50} / ${rawRttMs.p99} ms`, note: `${RTT_SAMPLES} samples` }
  ]
  let operateResult: Record<string, unknown> = {}
  if (OPERATE) {
    const opSequential = combine(of(true).map(t => t.sequential))
    const opConcurrent = combine(of(true).map(t => t.concurrent))
    const jobsPerSecOperate = perSec(opConcurrent)
    const overheadMsOperate = summarize(opSequential.overheads)
    const operateThroughputRatio = round(jobsPerSecOperate / jobsPerSec, 3)
    // Each on turn against the off turn beside it (off on | on off): how far the ratio moves within the run.
    const pairRatios = [[0, 1], [3, 2]].map(([off, on]) => round(perSec(turns[on]!.concurrent) / perSec(turns[off]!.concurrent), 3))
    const operateTargetMet = operateThroughputRatio >= 0.95
    rows.push(
      { measure: 'with metrics and logging on: throughput', value: `${jobsPerSecOperate} jobs/s`, note: `${operateThroughputRatio >= 1 ? '+' : ''}${round((operateThroughputRatio - 1) * 100, 1)}% against off (target: no worse than -5%: ${operateTargetMet ? 'met' : 'NOT met'}; pairs ${pairRatios.join(', ')}); turns ${turns.map(t => `${t.operate ? 'on' : 'off'} ${perSec(t.concurrent)}`).join(', ')}` },
      { measure: 'with metrics and logging on: overhead beyond bidding (p50/p99)', value: `${overheadMsOperate.p50} / ${overheadMsOperate.p99} ms`, note: `off: ${overheadMs.p50} / ${overheadMs.p99} ms` }
    )
    operateResult = { jobsPerSecOperate, overheadMsOperate, operateThroughputRatio, operateTargetMet, operatePairRatios: pairRatios, turns: turns.map(t => ({ operate: t.operate, jobsPerSec: perSec(t.concurrent), failed: t.concurrent.failed })) }
  }
  console.log(`specmesh bench:jobs — 1 coordinator, ${AGENTS} agents, trivial handler, bid window ${BID_WINDOW_MS} ms\n`)
  console.log(table(rows))
  const result = { jobsPerSec, overheadMs, rawRttMs, loadedOverheadMs, latencyMs, biddingMs, failed: concurrent.failed, bidWindowMs: BID_WINDOW_MS, inFlight: IN_FLIGHT, jobs: concurrent.jobs, ...operateResult }
  const file = await saveResult('bench-jobs', result)
  console.log(`\nsaved ${file}`)
  console.log(JSON.stringify({ jobsPerSec, overheadMs, rawRttMs, ...operateResult }))
}
process.exit(0)
