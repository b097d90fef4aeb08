/**
 * npm run bench:cascade — the article's cascading-retry scenario on real nodes,
 * both modes in the same run. Five requesters offer about twice what one agent
 * can do (its spec allows 3 concurrent requests) for a fixed time.
 *
 *   naive: requesters ignore the spec as common client code does (a fixed 1 s
 *          timeout, immediate retries up to 5, no cap), and the agent is a plain
 *          server that takes everything it is given.
 *   spec:  everything specmesh does: capacity adverts, waiting at saturation,
 *          backoff with jitter, a retry budget, deadlines, the budget ledger.
 *
 * The agent's work is a processor-sharing model of a machine with 3 cores: each
 * job needs SERVICE_MS of work, and n jobs at once each progress at min(1, 3/n),
 * on the wall clock. Prints a table, then where the time of every slot freed
 * while work waited went (scripts/lib/slot-timeline.ts); the last line is one
 * JSON object {"naive": {...}, "spec": {...}}.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type Node } from '../src/node.ts'
import { naivePolicy } from '../src/market/policy.ts'
import type { MarketOptions } from '../src/market/market.ts'
import type { JobResult } from '../src/market/coordinator.ts'
import { TOPICS } from '../src/wire/constants.ts'
import { sampleSpec } from '../test/helpers/specs.ts'
import { summarize, table, saveResult, round } from './lib/bench.ts'
import { parseEnvelopeJson } from '../src/wire/envelope.ts'
import { SlotTimeline, GAP_PARTS } from './lib/slot-timeline.ts'

const REQUESTERS = 5
const CORES = 3
const SERVICE_MS = Number(process.env.BENCH_SERVICE_MS ?? 200)
const CAPACITY_PER_SEC = CORES * 1000 / SERVICE_MS
const OFFERED_FACTOR = 2
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 6000)
const PRICE = 0.1

const spec = sampleSpec('cascade', {
  successCriteria: [],
  costUsd: PRICE,
  deadline: 4,
  softDeadline: 3,
  executionWindow: 2,
  budget: { maxUsd: 0.3, overageBehavior: 'fail' },
  capacity: { maxConcurrentRequests: CORES, maxConcurrentRetries: 2, maxRetries: 3, backoffMultiplier: 2, timeoutSeconds: 2 }
})

/**
 * The agent's machine: CORES cores shared by whatever runs (processor sharing),
 * on the wall clock. Work is advanced by the time that really passed since the
 * last change, and a timer is set for the next completion, so a busy event loop
 * (six nodes share this process) delays when a finish is noticed, never how
 * fast the cores work. (An earlier model advanced a fixed 10 ms per interval
 * tick; under load the ticks stretched, so the simulated cores slowed down with
 * the process and the agent looked idle while it was full.)
 */
class SharedMachine {
  private readonly jobs = new Set<{ left: number, done: () => void }>()
  private timer: NodeJS.Timeout | undefined
  private lastAdvanceAt = 0
  running = 0
  peak = 0
  startedAfterSoftDeadline = 0
  executions = 0
  readonly timeline: SlotTimeline

  constructor (timeline: SlotTimeline) {
    this.timeline = timeline
  }

  async work (jobId: string, signal: AbortSignal, softDeadline: number | undefined): Promise<void> {
    this.executions++
    this.timeline.started(jobId)
    if (softDeadline != null && Date.now() > softDeadline) this.startedAfterSoftDeadline++
    this.running++
    this.peak = Math.max(this.peak, this.running)
    try {
      await new Promise<void>((resolve, reject) => {
        this.advance()
        const job = { left: SERVICE_MS, done: resolve }
        this.jobs.add(job)
        signal.addEventListener('abort', () => { this.advance(); this.jobs.delete(job); this.schedule(); reject(signal.reason) }, { once: true })
        this.schedule()
      })
    } finally {
      this.running--
      this.timeline.ended(jobId)
    }
  }

  /** Core-milliseconds of work done, for the agent's utilisation. */
  busyCoreMs = 0
  firstStart = 0
  lastEnd = 0
  /** How late completions were noticed (timer lateness: the event loop's lag). */
  lateMs = 0
  completions = 0

  private rate (): number {
    return Math.min(1, CORES / Math.max(1, this.jobs.size))
  }

  /** Do the work of the time passed since the last change; finish what is done. */
  private advance (): void {
    const now = Date.now()
    this.firstStart ||= now
    if (this.jobs.size > 0) {
      const rate = this.rate()
      const share = (now - this.lastAdvanceAt) * rate
      this.busyCoreMs += share * this.jobs.size
      this.lastEnd = now
      for (const job of [...this.jobs]) {
        job.left -= share
        if (job.left <= 0) {
          this.lateMs += -job.left / rate
          this.completions++
          this.jobs.delete(job)
          job.done()
        }
      }
    }
    this.lastAdvanceAt = now
  }

  /** A timer for the next completion at the current share. */
  private schedule (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.jobs.size === 0) return
    let least = Infinity
    for (const job of this.jobs) least = Math.min(least, job.left)
    this.timer = setTimeout(() => { this.advance(); this.schedule() }, Math.max(0, Math.ceil(least / this.rate())))
  }
}

async function runMode (mode: 'naive' | 'spec') {
  const homes: string[] = []
  const timeline = new SlotTimeline(CORES)
  const start = async (market: MarketOptions, log: (event: string, fields?: Record<string, unknown>) => void): Promise<Node> => {
    const home = await mkdtemp(join(tmpdir(), `specmesh-cascade-${mode}-`))
    homes.push(home)
    return await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'], market, log })
  }
  const agent = await start({ advertIntervalMs: 500 }, (event, fields) => {
    const jobId = fields?.jobId as string
    if (event === 'agent.bid') timeline.agentStep(jobId, 'bid')
    else if (event === 'agent.awarded') timeline.agentStep(jobId, 'awardArrived')
  })
  const requesters: Node[] = []
  for (let i = 0; i < REQUESTERS; i++) {
    requesters.push(await start(mode === 'naive' ? { policy: naivePolicy({ timeoutMs: 1000, retries: 5 }) } : { retryBaseMs: 1000 }, (event, fields) => {
      const jobId = fields?.jobId as string
      if (event === 'job.waiting-for-capacity') timeline.coordinatorStep(i, jobId, 'waiting')
      else if (event === 'job.submitted') timeline.coordinatorStep(i, jobId, 'published')
      else if (event === 'job.awarded') timeline.coordinatorStep(i, jobId, 'awarded')
    }))
    requesters[i]!.events.on('job-event', event => { if (event.type === 'bid') timeline.coordinatorStep(i, event.jobId, 'firstBid', event.at) })
  }
  const nodes = [agent, ...requesters]
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.libp2p.dial(multiaddr(nodes[j]!.multiaddrs()[0]!))
  }
  const deadline = Date.now() + 15_000
  const ready = (): boolean => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= 1)
  while (!ready()) {
    if (Date.now() > deadline) throw new Error('mesh did not form')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  const { id: specId } = await agent.publishSpec(spec)
  while (!(await Promise.all(requesters.map(r => r.getSpec(specId)))).every(Boolean)) await new Promise(resolve => setTimeout(resolve, 20))

  const machine = new SharedMachine(timeline)
  await agent.serve(specId, async (_input, { signal, softDeadline, jobId }) => {
    await machine.work(jobId, signal, softDeadline)
    return { entities: [{ name: 'done', confidence: 99 }] }
  }, { priceUsd: PRICE, estimatedMs: SERVICE_MS, admission: mode === 'naive' ? 'none' : 'spec' })
  // Requesters join the spec's topics as their first job would, so the first jobs find the agent.
  for (const requester of requesters) requester.subscriptions.join(specId, 'coordinating')
  // When each advert reaches each requester (after validation, so in its capacity table).
  const advertsSeen = new Set<number>()
  requesters.forEach((requester, i) => {
    const topic = requester.subscriptions.topicOf(specId, 'capacity')
    requester.libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic !== topic) return
      const issuedAt = (parseEnvelopeJson(event.detail.data) as { body: { issuedAt: number } }).body.issuedAt
      if (!advertsSeen.has(issuedAt)) { advertsSeen.add(issuedAt); timeline.advertIssued(issuedAt) }
      timeline.advertArrived(i, issuedAt)
    })
  })
  while (requesters.some(r => r.subscriptions.topicPeers(specId, 'bids').length === 0)) await new Promise(resolve => setTimeout(resolve, 20))
  if (mode === 'spec') {
    while (requesters.some(r => r.capacityOf(specId).length === 0)) await new Promise(resolve => setTimeout(resolve, 20))
  }

  // Open loop: each requester submits on a fixed schedule, whatever happened to earlier jobs.
  const perRequesterIntervalMs = 1000 / (CAPACITY_PER_SEC * OFFERED_FACTOR / REQUESTERS)
  const outcomes: Array<{ result?: JobResult, error?: string, submittedAt: number, finishedAt: number }> = []
  const pending: Array<Promise<void>> = []
  const startedAt = Date.now()
  const cpuBefore = process.cpuUsage()
  process.stderr.write(`${mode}: offering ${CAPACITY_PER_SEC * OFFERED_FACTOR} jobs/s for ${DURATION_MS} ms to an agent that does ${CAPACITY_PER_SEC}/s\n`)
  await Promise.all(requesters.map(async (requester, r) => {
    await new Promise(resolve => setTimeout(resolve, (perRequesterIntervalMs / REQUESTERS) * r))
    for (let n = 0; Date.now() - startedAt < DURATION_MS; n++) {
      const submittedAt = Date.now()
      pending.push(requester.submitJob(specId, { text: `r${r}-${n}` }, { bidWindowMs: 50 }).then(
        result => { outcomes.push({ result, submittedAt, finishedAt: Date.now() }) },
        (err: Error) => { outcomes.push({ error: err.message, submittedAt, finishedAt: Date.now() }) }
      ))
      const next = startedAt + (n + 1) * perRequesterIntervalMs + (perRequesterIntervalMs / REQUESTERS) * r
      await new Promise(resolve => setTimeout(resolve, Math.max(0, next - Date.now())))
    }
  }))
  await Promise.all(pending)
  const endedAt = Date.now()
  const cpu = process.cpuUsage(cpuBefore)

  for (const o of outcomes) timeline.lifetime(o.submittedAt, o.finishedAt)
  const slots = timeline.report()
  if (process.env.BENCH_DEBUG === '1') process.stderr.write(`${mode} first starts: ${JSON.stringify(timeline.firstStarts(4, startedAt))}\n`)
  const budget = 0.3
  const succeeded = outcomes.filter(o => o.result?.status === 'succeeded')
  const attempts = outcomes.reduce((n, o) => n + (o.result?.attempts.length ?? 0), 0)
  const lastSuccess = Math.max(startedAt + 1, ...succeeded.map(o => o.finishedAt))
  const result = {
    jobs: outcomes.length,
    succeeded: succeeded.length,
    attempts,
    // Retry amplification: attempts per job that was attempted at all (a job held back
    // at its requester until it failed cleanly made no attempt and costs the agent nothing).
    amplification: round(attempts / Math.max(1, outcomes.filter(o => (o.result?.attempts.length ?? 0) > 0).length), 3),
    attemptsPerSubmittedJob: round(attempts / Math.max(1, outcomes.length), 3),
    executionsAtAgent: machine.executions,
    peakInFlight: machine.peak,
    goodputRatio: round(succeeded.length / (CAPACITY_PER_SEC * (lastSuccess - startedAt) / 1000), 3),
    latencyMs: summarize(succeeded.map(o => o.finishedAt - o.submittedAt)),
    cleanFailures: outcomes.filter(o => o.result?.status === 'failed' && (o.result.reason ?? '') !== '' && o.result.costUsd <= budget + 1e-9).length,
    startedAfterSoftDeadline: machine.startedAfterSoftDeadline,
    budgetOverruns: outcomes.filter(o => (o.result?.costUsd ?? 0) > budget + 1e-9).length,
    elapsedMs: endedAt - startedAt,
    slots,
    completionLateMs: round(machine.lateMs / Math.max(1, machine.completions)),
    // When the agent's first execution started and its last ended, and when the last success reached its requester (ms after the offer began).
    agentSpanMs: { firstStart: machine.firstStart - startedAt, lastEnd: machine.lastEnd - startedAt, lastSuccess: lastSuccess - startedAt },
    agentUtilisation: round(machine.busyCoreMs / (CORES * Math.max(1, machine.lastEnd - machine.firstStart)), 3),
    processCpuShare: round((cpu.user + cpu.system) / 1000 / (endedAt - startedAt), 3),
    attemptOutcomes: outcomes.flatMap(o => o.result?.attempts ?? []).reduce<Record<string, number>>((counts, a) => {
      const key = `${a.outcome ?? 'none'}${a.outcome === 'refused' || a.outcome === 'error' ? `: ${(a.reason ?? '').replace(/[0-9]+/g, 'N').slice(0, 60)}` : ''}`
      counts[key] = (counts[key] ?? 0) + 1
      return counts
    }, {}),
    failureReasons: outcomes.filter(o => o.result?.status === 'failed').reduce<Record<string, number>>((counts, o) => {
      const key = (o.result?.reason ?? '').replace(/12D3\w+/g, 'AGENT').replace(/[0-9.]+/g, 'N').slice(0, 90)
      counts[key] = (counts[key] ?? 0) + 1
      return counts
    }, {})
  }
  await Promise.all(nodes.map(async n => await n.stop()))
  await Promise.all(homes.map(async h => await rm(h, { recursive: true, force: true })))
  return result
}

const naive = await runMode('naive')
const specMode = await runMode('spec')
console.log(`specmesh bench:cascade — ${REQUESTERS} requesters offer ${OFFERED_FACTOR}× the capacity of one agent (${CORES} concurrent, ${SERVICE_MS} ms a job = ${CAPACITY_PER_SEC} jobs/s) for ${DURATION_MS} ms\n`)
const row = (measure: string, pick: (r: typeof naive) => string | number) => ({ measure, naive: pick(naive), spec: pick(specMode) })
console.log(table([
  row('logical jobs', r => r.jobs),
  row('attempts per attempted job (amplification)', r => r.amplification),
  row('attempts per submitted job', r => r.attemptsPerSubmittedJob),
  row('executions started at the agent', r => r.executionsAtAgent),
  row('peak in flight at the agent', r => r.peakInFlight),
  row('goodput / agent capacity', r => r.goodputRatio),
  row('agent utilisation (cores busy)', r => r.agentUtilisation),
  row('agent busy on the wall clock (slots)', r => r.slots.busyFraction),
  row('completions noticed late by (ms, mean)', r => r.completionLateMs),
  row('agent first start / last end / last success (ms)', r => `${r.agentSpanMs.firstStart} / ${r.agentSpanMs.lastEnd} / ${r.agentSpanMs.lastSuccess}`),
  row('CPU of this one process (cores)', r => r.processCpuShare),
  row('succeeded', r => r.succeeded),
  row('latency of successes p50 / p99 (ms)', r => `${r.latencyMs.p50} / ${r.latencyMs.p99}`),
  row('failed cleanly, with a reason', r => r.cleanFailures),
  row('work started after the soft deadline', r => r.startedAfterSoftDeadline),
  row('budget overruns', r => r.budgetOverruns)
]))
const pick = ({ amplification, peakInFlight, goodputRatio, latencyMs, cleanFailures, startedAfterSoftDeadline, budgetOverruns }: typeof naive) =>
  ({ amplification, peakInFlight, goodputRatio, latencyMs, cleanFailures, startedAfterSoftDeadline, budgetOverruns })
const summary = { naive: pick(naive), spec: pick(specMode) }
const file = await saveResult('bench-cascade', { naive, spec: specMode, scenario: { requesters: REQUESTERS, cores: CORES, serviceMs: SERVICE_MS, offeredFactor: OFFERED_FACTOR, durationMs: DURATION_MS } })
console.log('\nwhere the freed slots\' time went (spec): ' + JSON.stringify({ busyFraction: specMode.slots.busyFraction, freedWhileWaiting: specMode.slots.freedWhileWaiting, refilledFromQueue: specMode.slots.refilledFromQueue, gapMs: specMode.slots.gapMs, idleSlotMs: specMode.slots.idleSlotMs, unfilled: specMode.slots.unfilled, adverts: specMode.slots.adverts, advertLatencyMs: specMode.slots.advertLatencyMs }))
console.log(table(GAP_PARTS.map(part => ({ 'idle slot-ms by step': part, naive: naive.slots.breakdownMs[part], spec: specMode.slots.breakdownMs[part] }))))
console.log('\nattempt outcomes:', JSON.stringify({ naive: naive.attemptOutcomes, spec: specMode.attemptOutcomes }))
console.log('failure reasons (spec):', JSON.stringify(specMode.failureReasons, null, 1))
console.log(`\nsaved ${file}`)
console.log(JSON.stringify(summary))
process.exit(0)
