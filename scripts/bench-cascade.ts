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
 * The agent runs in a process of its own (scripts/lib/cascade-agent.ts), the five
 * requesters in this one. Its work is a processor-sharing model of a machine
 * with 3 cores (scripts/lib/shared-machine.ts): each job needs SERVICE_MS of
 * work, and n jobs at once each progress at min(1, 3/n), on the wall clock.
 * Before the timed offer each requester runs one job, not counted, so that the
 * streams a first job opens (bid stream, execution stream) are open, as
 * bench:jobs and bench:scale warm up too; the start-up itself is what
 * test/integration/first-bid.test.ts and first-job.test.ts hold to account. Prints a table, then where the time of every slot freed
 * while work waited went (scripts/lib/slot-timeline.ts); the last line is one
 * JSON object {"naive": {...}, "spec": {...}}.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type Node } from '../src/node.ts'
import { naivePolicy } from '../src/market/policy.ts'
import type { MarketOptions } from '../src/market/market.ts'
import type { JobResult } from '../src/market/coordinator.ts'
import { TOPICS } from '../src/wire/constants.ts'
import { summarize, table, saveResult, round } from './lib/bench.ts'
import { parseEnvelopeJson } from '../src/wire/envelope.ts'
import { SlotTimeline, GAP_PARTS } from './lib/slot-timeline.ts'
import { forkNodeProcess } from './lib/scale-pool.ts'
import { CAPACITY_PER_SEC, CORES, REQUESTERS, SERVICE_MS, type FromAgent, type Mode, type ToAgent } from './lib/cascade-scenario.ts'

const OFFERED_FACTOR = 2
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 6000)
/** BENCH_WARM_UP=0: no warm-up job, so the first measured jobs open the streams (to see what the start-up costs). */
const WARM_UP = process.env.BENCH_WARM_UP !== '0'

type Answer = Exclude<FromAgent, { event: 'step' | 'exec' | 'ready' }>

/**
 * The agent's process: one command at a time, each answered in order; its step
 * and execution events, sent as they happen, go to `onEvent`.
 */
class AgentProcess {
  private readonly child: ChildProcess
  private readonly ready: Promise<void>
  private waiter: { resolve: (a: Answer) => void, reject: (e: Error) => void } | undefined
  onEvent: (event: Extract<FromAgent, { event: 'step' | 'exec' }>) => void = () => {}

  constructor () {
    this.child = forkNodeProcess(new URL('./lib/cascade-agent.ts', import.meta.url).pathname)
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => { resolve() })
      this.child.once('exit', () => { reject(new Error('the agent process exited before it was ready')) })
    })
    this.child.on('message', (message: FromAgent) => {
      if (message.event === 'step' || message.event === 'exec') { this.onEvent(message); return }
      if (message.event === 'ready') return
      const waiter = this.waiter
      this.waiter = undefined
      if (message.event === 'error') waiter?.reject(new Error(`agent process: ${message.message}`))
      else waiter?.resolve(message)
    })
    this.child.on('exit', (code, signal) => { this.waiter?.reject(new Error(`the agent process exited (${signal ?? code})`)) })
  }

  async send<E extends Answer['event']> (command: ToAgent, expect: E, timeoutMs = 30_000): Promise<Extract<Answer, { event: E }>> {
    await this.ready
    const answer = await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`agent process: no answer to ${command.cmd} within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiter = { resolve: a => { clearTimeout(timer); resolve(a) }, reject: e => { clearTimeout(timer); reject(e) } }
      this.child.send(command)
    })
    if (answer.event !== expect) throw new Error(`agent process: answered ${answer.event} to ${command.cmd}`)
    return answer as Extract<Answer, { event: E }>
  }

  async close (): Promise<void> {
    await this.send({ cmd: 'stop' }, 'stopped', 15_000).catch(() => {})
    const gone = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    if (this.child.connected) this.child.disconnect()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await gone
    clearTimeout(timer)
  }
}

async function runMode (mode: Mode) {
  const homes: string[] = []
  // Events before the timed offer (the warm-up) are not the run's: the timeline exists only from then on.
  let timeline: SlotTimeline | undefined
  const agent = new AgentProcess()
  agent.onEvent = event => {
    if (event.event === 'step') timeline?.agentStep(event.jobId, event.step, event.at)
    else if (event.phase === 'started') timeline?.started(event.jobId, event.at)
    else timeline?.ended(event.jobId, event.at)
  }
  const { addr: agentAddr } = await agent.send({ cmd: 'start' }, 'started')
  const requesters: Node[] = []
  for (let i = 0; i < REQUESTERS; i++) {
    const home = await mkdtemp(join(tmpdir(), `specmesh-cascade-${mode}-`))
    homes.push(home)
    const market: MarketOptions = mode === 'naive' ? { policy: naivePolicy({ timeoutMs: 1000, retries: 5 }) } : { retryBaseMs: 1000 }
    requesters.push(await createNode({
      home,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      market,
      log: (event, fields) => {
        const jobId = fields?.jobId as string
        if (event === 'job.waiting-for-capacity') timeline?.coordinatorStep(i, jobId, 'waiting')
        else if (event === 'job.submitted') timeline?.coordinatorStep(i, jobId, 'published')
        else if (event === 'job.awarded') timeline?.coordinatorStep(i, jobId, 'awarded')
      }
    }))
    requesters[i]!.events.on('job-event', event => { if (event.type === 'bid') timeline?.coordinatorStep(i, event.jobId, 'firstBid', event.at) })
  }
  for (let i = 0; i < requesters.length; i++) {
    await requesters[i]!.libp2p.dial(multiaddr(agentAddr))
    for (let j = i + 1; j < requesters.length; j++) await requesters[i]!.libp2p.dial(multiaddr(requesters[j]!.multiaddrs()[0]!))
  }
  const deadline = Date.now() + 15_000
  const waitFor = async (what: string, done: () => boolean | Promise<boolean>): Promise<void> => {
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`${mode}: ${what} within 15 s of the mesh's start`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
  await waitFor('the gossip mesh did not form', () => requesters.every(n => n.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length >= REQUESTERS))
  const { specId } = await agent.send({ cmd: 'serve', mode }, 'serving')
  await waitFor('the spec did not reach every requester', async () => (await Promise.all(requesters.map(r => r.getSpec(specId)))).every(Boolean))
  // Requesters join the spec's topics as their first job would, so the first jobs find the agent.
  for (const requester of requesters) requester.subscriptions.join(specId, 'coordinating')
  await waitFor('the agent did not join the spec\'s bids topic', () => requesters.every(r => r.subscriptions.topicPeers(specId, 'bids').length > 0))
  if (mode === 'spec') await waitFor('no capacity advert reached every requester', () => requesters.every(r => r.capacityOf(specId).length > 0))

  // Warm-up, not counted: one job per requester, so that each has its bid and execution streams to the agent open.
  const warmUp = WARM_UP ? await Promise.all(requesters.map(async (r, i) => await r.submitJob(specId, { text: `warm-up ${i}` }, { bidWindowMs: 50 }))) : []
  const warmUpFailed = warmUp.filter(w => w.status !== 'succeeded').length
  await agent.send({ cmd: 'mark' }, 'marked')
  timeline = new SlotTimeline(CORES)
  const measured = timeline
  // When each advert reaches each requester (after validation, so in its capacity table).
  const advertsSeen = new Set<number>()
  requesters.forEach((requester, i) => {
    const topic = requester.subscriptions.topicOf(specId, 'capacity')
    requester.libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic !== topic) return
      const issuedAt = (parseEnvelopeJson(event.detail.data) as { body: { issuedAt: number } }).body.issuedAt
      if (!advertsSeen.has(issuedAt)) { advertsSeen.add(issuedAt); measured.advertIssued(issuedAt) }
      measured.advertArrived(i, issuedAt)
    })
  })

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

  // The agent's IPC events of the run all arrived before its answer to `figures` (one channel, in order).
  const { machine, cpuMs: agentCpuMs } = await agent.send({ cmd: 'figures' }, 'figures')
  for (const o of outcomes) measured.lifetime(o.submittedAt, o.finishedAt)
  const slots = measured.report()
  if (process.env.BENCH_DEBUG === '1') process.stderr.write(`${mode} first starts: ${JSON.stringify(measured.firstStarts(4, startedAt))}\n`)
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
    agentProcessCpuShare: round(agentCpuMs / (endedAt - startedAt), 3),
    warmUpFailed,
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
  await Promise.all([...requesters.map(async n => { await n.stop() }), agent.close()])
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
  row('CPU of the requesters\' process / the agent\'s (cores)', r => `${r.processCpuShare} / ${r.agentProcessCpuShare}`),
  row(`warm-up jobs failed (of ${WARM_UP ? REQUESTERS : 0}, not counted)`, r => r.warmUpFailed),
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
