import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { observeJobs } from '../helpers/observe.ts'
import { startMesh, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { gatedHandler, goodOutput } from '../helpers/gated.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const weakOutput = { entities: [{ name: 'Ada', confidence: 10 }] }

/** A coordinator and `agents` agent nodes holding one spec, with a short retry base so backoff is observable but quick. */
async function market (agents: number, specOverrides: Record<string, unknown>, retryBaseMs = 200) {
  nodes = await startMesh(1 + agents, TOPICS.specs, { retryBaseMs, advertIntervalMs: 500 })
  const [coordinator, ...rest] = nodes as [TestNode, ...TestNode[]]
  const { id: specId } = await coordinator.publishSpec(sampleSpec('regulated', specOverrides))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
  await waitForSpecMesh(nodes, specId)
  return { coordinator, agents: rest, specId }
}

describe('self-regulation from the spec, on real nodes', () => {
  it('capacity.maxConcurrentRequests: the 4th concurrent request at a limit of 3 waits, unsent, instead of hammering the agent', async () => {
    const { coordinator, agents, specId } = await market(1, { capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    const gated = gatedHandler()
    // No admission queue: the coordinator itself must hold the 4th back.
    await agents[0]!.serve(specId, gated.handler, { priceUsd: 0.1, estimatedMs: 50, queue: 0 })
    await waitFor(() => coordinator.capacityOf(specId).length === 1, { what: 'the agent\'s capacity advert at the coordinator' })
    const jobsSeen = observeJobs(agents[0]!)

    const results = Promise.all(Array.from({ length: 4 }, async () => await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 150 })))
    results.catch(() => {}) // awaited below; this only keeps a failed assertion from also reporting it unhandled
    try {
      await waitFor(() => gated.state.running === 3, { what: 'three executions running' })
      // The fourth is held back at the coordinator: no job message for it reaches the agent.
      await waitFor(() => coordinator.capacityOf(specId)[0]?.inFlight === 3, { what: 'the advert to show the agent full' })
      expect(jobsSeen.length).toBe(3)
      expect(gated.state.started).toBe(3)
    } finally {
      gated.release()
    }
    const settled = await results
    expect(settled.map(r => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded'])
    expect(gated.state.peak).toBe(3)
    // Nobody was turned away busy: the coordinator waited instead of sending.
    expect(settled.flatMap(r => r.attempts).filter(a => a.outcome === 'refused')).toEqual([])
    expect(jobsSeen.length).toBe(4)
  })

  it('capacity.maxConcurrentRequests with an admission queue: the 4th waits queued at the agent, never running beyond 3, and nobody is refused', async () => {
    const { coordinator, agents, specId } = await market(1, { capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    const gated = gatedHandler()
    await agents[0]!.serve(specId, gated.handler, { priceUsd: 0.1, estimatedMs: 50, queue: 1 })
    await waitFor(() => coordinator.capacityOf(specId).length === 1, { what: 'the agent\'s capacity advert at the coordinator' })
    const jobsSeen = observeJobs(agents[0]!)
    const results = Promise.all(Array.from({ length: 5 }, async () => await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 150 })))
    results.catch(() => {})
    try {
      // Three run, one waits in the agent's queue, the fifth is held back unsent at the coordinator.
      await waitFor(() => gated.state.running === 3 && coordinator.capacityOf(specId)[0]?.inFlight === 4, { what: 'three running and one queued' })
      expect(jobsSeen.length).toBe(4)
      expect(gated.state.started).toBe(3)
    } finally {
      gated.release()
    }
    const settled = await results
    expect(settled.map(r => r.status)).toEqual(Array(5).fill('succeeded'))
    expect(gated.state.peak).toBe(3)
    expect(settled.flatMap(r => r.attempts).filter(a => a.outcome === 'refused')).toEqual([])
  })

  it('an agent at its limit of 1 with no queue still gets the job its own bid holds a place for', async () => {
    const { coordinator, agents, specId } = await market(2, { capacity: { maxConcurrentRequests: 1, maxRetries: 0 }, deadline: 30 })
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 10, queue: 0 })
    // A second advertised agent that never bids (its estimate overruns every deadline)
    // keeps the window open its full length, so the advert in which the first agent
    // counts its own held place reaches the coordinator before the award is decided.
    await agents[1]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 60_000 })
    await waitForAdverts(coordinator, specId, 2)
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 300 })
    expect(result.status).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(agents[0]!.peerId)
    // Awarded on its bid at the window's close, not after the bid's hold (5 windows + 250 ms) ran out.
    const job = await coordinator.getJob(result.jobId)
    expect(result.attempts[0]!.startedAt! - job!.submittedAt).toBeLessThan(1000)
  })

  it('capacity.maxRetries and backoffMultiplier: retries back off exponentially and the one after maxRetries is not made', async () => {
    const { coordinator, agents, specId } = await market(3, { capacity: { maxConcurrentRequests: 3, maxRetries: 1, backoffMultiplier: 2 } })
    for (const [i, agent] of agents.entries()) {
      await agent.serve(specId, async () => { throw new Error(`agent ${i} is broken`) }, { priceUsd: 0.1 + i * 0.01, estimatedMs: 50 })
    }
    await waitForAdverts(coordinator, specId, 3)
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 200 })
    expect(result.status).toBe('failed')
    expect(result.attempts).toHaveLength(2)
    expect(result.reason).toMatch(/no retry left: the spec allows 2 attempts/)
    // Equal jitter: the first retry waits between half and all of the 200 ms base.
    const gap = result.attempts[1]!.startedAt! - result.attempts[0]!.endedAt!
    expect(gap).toBeGreaterThanOrEqual(100)
    // Three agents bid, only two were tried: the third attempt was never made.
    const receipts = await coordinator.listReceipts({ jobId: result.jobId })
    expect(receipts).toHaveLength(2)
  })

  it('softDeadline: nothing is submitted after it, and the job says why', async () => {
    const softDeadline = new Date(Date.now() + 1500).toISOString()
    const { coordinator, agents, specId } = await market(1, { softDeadline, deadline: new Date(Date.now() + 60_000).toISOString() })
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    const jobsSeen = observeJobs(agents[0]!)
    await waitFor(() => Date.now() > Date.parse(softDeadline), { what: 'the soft deadline to pass', timeoutMs: 5000 })
    const result = await coordinator.submitJob(specId, { text: 'late' }, { bidWindowMs: 100 })
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/soft deadline has passed/)
    expect(result.attempts).toEqual([])
    expect((await coordinator.getJob(result.jobId))?.reason).toMatch(/soft deadline/)
    expect(jobsSeen).toEqual([])
  })

  it('budget.maxUsd with overageBehavior fail: an attempt that would cross the budget is not made, and the ledger proves the spend', async () => {
    const { coordinator, agents, specId } = await market(2, { budget: { maxUsd: 0.3, overageBehavior: 'fail' }, costUsd: 0.2, capacity: { maxConcurrentRequests: 3, maxRetries: 3 } })
    await agents[0]!.serve(specId, async () => weakOutput, { priceUsd: 0.2, estimatedMs: 50 })
    await agents[1]!.serve(specId, async () => goodOutput, { priceUsd: 0.25, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    // Explore off: by reputation mean and price, so the cheaper (failing) agent goes first. The order
    // is the point: a window every bid falls into under load, closed once both advertised agents bid.
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 5000, award: { explore: false } })
    expect(result.status).toBe('failed')
    expect(result.attempts.map(a => a.outcome)).toEqual(['criteria-failed'])
    expect(result.reason).toMatch(/would take the job's spend to 0\.45 USD, above budget\.maxUsd 0\.3: not made/)
    expect(result.costUsd).toBe(0.2)

    const { jobs, specs } = await coordinator.ledger(specId)
    const ledger = jobs.find(j => j.jobId === result.jobId)!
    expect(ledger).toMatchObject({ budgetUsd: 0.3, spentUsd: 0.2, reservedUsd: 0 })
    expect(ledger.entries.map(e => e.kind)).toEqual(['reserve', 'settle'])
    // Every figure traces to a receipt that charged it.
    const receipt = await coordinator.getReceipt(ledger.entries[1]!.receiptId!)
    expect(receipt?.envelope.body.costUsd).toBe(0.2)
    expect(specs[0]).toMatchObject({ specId, jobs: 1, spentUsd: 0.2, reservedUsd: 0, remainingUsd: 0.1 })
  })

  it('deadline: a running attempt is aborted at it and recorded as a timeout; money reserved for it is released', async () => {
    const { coordinator, agents, specId } = await market(1, { deadline: 1, executionWindow: 1, capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    await agents[0]!.serve(specId, async (_input, { signal }) => await new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => { reject(signal.reason) })
    }), { priceUsd: 0.1, estimatedMs: 50 })
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 100 })
    expect(result.status).toBe('failed')
    expect(result.receipt?.body.outcome).toBe('timeout')
    const ledger = (await coordinator.ledger(specId)).jobs[0]!
    expect(ledger.entries.map(e => e.kind)).toEqual(['reserve', 'release'])
    expect(ledger).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
  })
})

