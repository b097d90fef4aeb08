/**
 * The node's job API on real nodes: startJob returns at once, jobEvents and
 * the node's 'job-event' report every step in order, waitJob gives the
 * outcome, cancelJob ends a job wherever it is.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { GroupCommit } from '../../src/store/group-commit.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import type { JobEvent } from '../../src/index.ts'
import { startMesh, stopAll, waitForAdverts, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }
const input = { text: 'Ada Lovelace' }

async function market (count: number, market: { retryBaseMs?: number } = {}) {
  nodes = await startMesh(count, TOPICS.specs, market)
  const [coordinator, ...agents] = nodes as [TestNode, ...TestNode[]]
  const { id: specId } = await coordinator.publishSpec(sampleSpec('job-api'))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
  return { coordinator, agents, specId }
}

async function collect (events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = []
  for await (const event of events) out.push(event)
  return out
}

describe('the job API', () => {
  it('startJob returns the id before any bid; jobEvents and job-event report each step; waitJob the outcome', async () => {
    const { coordinator, agents, specId } = await market(2)
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const seen: JobEvent[] = []
    coordinator.events.on('job-event', event => { seen.push(event) })

    const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 300 })
    expect((await coordinator.getJob(jobId))?.status).toBe('bidding')
    const live = await collect(coordinator.jobEvents(jobId))
    expect(live.map(e => e.type)).toEqual(['submitted', 'bid', 'award', 'attempt-started', 'attempt-ended', 'receipt', 'done'])
    expect(live.map(e => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(seen).toEqual(live)

    const result = await coordinator.waitJob(jobId)
    expect(result).toMatchObject({ jobId, status: 'succeeded', output: goodOutput, costUsd: 0.1 })
    expect(result.receipt?.id).toBe(live[5]!.data.receiptId)
    // After the end: replayed from the store, from any point.
    expect((await collect(coordinator.jobEvents(jobId, { afterSeq: 5 }))).map(e => e.seq)).toEqual([6, 7])
    await expect(coordinator.waitJob('bagaaieraunknown')).rejects.toThrow(/no record of job/)
    await expect(collect(coordinator.jobEvents('bagaaieraunknown'))).rejects.toThrow(/no record of job/)
    await expect(coordinator.cancelJob('bagaaieraunknown')).rejects.toThrow(/no record of job/)
    // Bad input is refused before anything is recorded, as submitJob refuses it.
    await expect(coordinator.startJob(specId, { text: 7 })).rejects.toThrow(/text/)
  })

  it('sends the job call while its record is being written, and startJob resolves once the record is on disk', async () => {
    const { coordinator, agents, specId } = await market(2)
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const bids: JobEvent[] = []
    coordinator.events.on('job-event', event => { if (event.type === 'bid') bids.push(event) })
    // Every LevelDB batch in this process takes 2 s more from now on: the job record's write among them.
    const write = GroupCommit.prototype.write
    const spy = vi.spyOn(GroupCommit.prototype, 'write').mockImplementation(async function (this: GroupCommit, operations) {
      await new Promise(resolve => setTimeout(resolve, 2_000))
      await write.call(this, operations)
    })
    try {
      const started = Date.now()
      const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 5_000 })
      // The bid came back while the record was still being written: the job call had not waited for it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000)
      expect(bids.map(b => b.jobId)).toContain(jobId)
      spy.mockRestore()
      // What startJob answered is on disk.
      expect((await coordinator.getJob(jobId))?.jobId).toBe(jobId)
      expect(await coordinator.waitJob(jobId)).toMatchObject({ jobId, status: 'succeeded', output: goodOutput })
    } finally {
      spy.mockRestore()
    }
  })

  it('cancelJob during the bid window ends the job at once, cancelled, with its done event', async () => {
    const { coordinator, specId } = await market(2)
    const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 10_000 })
    const started = Date.now()
    const record = await coordinator.cancelJob(jobId)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(record).toMatchObject({ jobId, status: 'cancelled', reason: 'cancelled by the requester', costUsd: 0, attempts: [] })
    const events = await collect(coordinator.jobEvents(jobId))
    expect(events.map(e => e.type)).toEqual(['submitted', 'done'])
    expect(events[1]!.data).toMatchObject({ status: 'cancelled' })
    expect((await coordinator.waitJob(jobId)).status).toBe('cancelled')
    // Cancelling an ended job leaves it as it was.
    expect(await coordinator.cancelJob(jobId)).toEqual(record)
  })

  it('cancelJob during a backoff makes no further attempt', async () => {
    const { coordinator, agents, specId } = await market(2, { retryBaseMs: 10_000 })
    let calls = 0
    await agents[0]!.serve(specId, async () => { calls++; throw new Error('flaky') }, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 300 })
    await waitFor(async () => (await collect(coordinator.jobEvents(jobId, {
      signal: AbortSignal.timeout(200)
    }))).some(e => e.type === 'backoff'), { what: 'the backoff before retry 1', timeoutMs: 10_000 })
    const record = await coordinator.cancelJob(jobId)
    expect(record.status).toBe('cancelled')
    expect(record.attempts).toHaveLength(1)
    expect(calls).toBe(1)
    const types = (await collect(coordinator.jobEvents(jobId))).map(e => e.type)
    expect(types.slice(-2)).toEqual(['backoff', 'done'])
  })
})

describe('cancel and graceful stop on the execution stream', () => {
  it('cancelJob during a running attempt aborts the handler; the receipt says cancelled and charges nothing', async () => {
    const { coordinator, agents, specId } = await market(2)
    let aborted: unknown
    let started = false
    await agents[0]!.serve(specId, async (_input, { signal }) => {
      started = true
      await new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => { aborted = signal.reason; reject(signal.reason) }, { once: true })
      })
    }, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 300 })
    await waitFor(() => started, { what: 'the handler to start' })
    const record = await coordinator.cancelJob(jobId)
    expect(record).toMatchObject({ status: 'cancelled', costUsd: 0 })
    expect((aborted as Error).name).toBe('ExecutionCancelledError')
    expect(record.attempts).toHaveLength(1)
    expect(record.attempts[0]).toMatchObject({ outcome: 'cancelled' })
    const receipt = await coordinator.getReceipt(record.attempts[0]!.receiptId!)
    expect(receipt?.envelope.body).toMatchObject({ outcome: 'cancelled', costUsd: 0 })
    expect(receipt?.envelope.body.claim?.body).toMatchObject({ outcome: 'cancelled', costUsd: 0, reason: 'cancelled by the coordinator' })
    const ledger = await coordinator.ledger(specId)
    expect(ledger.jobs.find(j => j.jobId === jobId)).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
    // The agent holds the receipt too and does not count it against itself.
    await waitFor(async () => await agents[0]!.getReceipt(receipt!.id), { what: 'the receipt at the agent' })
    const types = (await collect(coordinator.jobEvents(jobId))).map(e => e.type)
    expect(types).toEqual(['submitted', 'bid', 'award', 'attempt-started', 'attempt-ended', 'receipt', 'done'])
  })

  /**
   * Three agents: the cheap one bids and then stops; a third advertises room
   * but never bids (its estimate cannot meet the deadline), which keeps the
   * bid window open its whole length, so the stop lands between bid and award.
   */
  async function bidThenStop (stopping: (agent: TestNode) => Promise<void>) {
    const { coordinator, agents, specId } = await market(4)
    const [cheap, dear, silent] = agents as [TestNode, TestNode, TestNode]
    let cheapCalls = 0
    await cheap.serve(specId, async () => { cheapCalls++; return goodOutput }, { priceUsd: 0.1, estimatedMs: 50 })
    await dear.serve(specId, async () => goodOutput, { priceUsd: 0.3, estimatedMs: 50 })
    await silent.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 10 * 60_000 })
    await waitForAdverts(coordinator, specId, 3)
    // Explore off: by reputation mean and price, so the cheap agent is tried first.
    const { jobId } = await coordinator.startJob(specId, input, { bidWindowMs: 1500, deadline: Date.now() + 30_000, award: { explore: false } })
    const bids = async (): Promise<string[]> => (await collect(coordinator.jobEvents(jobId, { signal: AbortSignal.timeout(100) }))).filter(e => e.type === 'bid').map(e => e.data.agent as string)
    await waitFor(async () => (await bids()).length >= 2, { what: 'both bids', timeoutMs: 10_000 })
    await stopping(cheap)
    const result = await coordinator.waitJob(jobId)
    return { coordinator, cheap, dear, result, cheapCalls: () => cheapCalls }
  }

  it('an agent that drains refuses its award as stopping; the coordinator goes to the next bid and never back; no reputation lost', async () => {
    let drained: Promise<number> | undefined
    const { coordinator, cheap, dear, result, cheapCalls } = await bidThenStop(async agent => { drained = agent.drain(5_000) })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => [a.agent, a.outcome])).toEqual([[cheap.peerId, 'refused'], [dear.peerId, 'success']])
    expect(result.attempts[0]!.reason).toMatch(/^stopping/)
    expect(cheapCalls()).toBe(0)
    const refusal = await coordinator.getReceipt(result.attempts[0]!.receiptId!)
    expect(refusal?.envelope.body.claim?.body).toMatchObject({ outcome: 'refused', stopping: true, costUsd: 0 })
    expect(await drained).toBe(0)
    expect(coordinator.reputation.forAward(cheap.peerId, 'job-api')).toBe(0.5)
  })

  it('an agent that cannot be reached is recorded unreachable, not retried, and loses no reputation', async () => {
    const { coordinator, cheap, dear, result } = await bidThenStop(async agent => { await agent.stop() })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => [a.agent, a.outcome])).toEqual([[cheap.peerId, 'unreachable'], [dear.peerId, 'success']])
    const receipt = await coordinator.getReceipt(result.attempts[0]!.receiptId!)
    expect(receipt?.envelope.body).toMatchObject({ outcome: 'unreachable', costUsd: 0, claim: null })
    expect(coordinator.reputation.forAward(cheap.peerId, 'job-api')).toBe(0.5)
  })
})
