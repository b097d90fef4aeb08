import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { verifyReceipt } from '../../src/market/receipt-verify.ts'
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

/** A coordinator and `agents` agent nodes holding one spec, with a short retry base. */
async function market (agents: number, specOverrides: Record<string, unknown> = {}, retryBaseMs = 50) {
  nodes = await startMesh(1 + agents, TOPICS.specs, { retryBaseMs, advertIntervalMs: 500 })
  const [coordinator, ...rest] = nodes as [TestNode, ...TestNode[]]
  const { id: specId } = await coordinator.publishSpec(sampleSpec('leased', specOverrides))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
  await waitForSpecMesh(nodes, specId)
  const spec = (await coordinator.getSpec(specId))!.spec
  return { coordinator, agents: rest, specId, spec }
}

describe('leases: steady work without an auction per job, on real nodes', () => {
  it('a lease\'s jobs skip the auction, each with a receipt that receipt verify accepts and a ledger like an auctioned job\'s', async () => {
    const { coordinator, agents, specId, spec } = await market(2)
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await agents[1]!.serve(specId, async () => goodOutput, { priceUsd: 0.08, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)

    const auctioned = await coordinator.submitJob(specId, { text: 'auctioned' })
    expect(auctioned.status).toBe('succeeded')
    expect(auctioned.attempts[0]!.leaseId).toBeUndefined()

    const leases = await coordinator.requestLease(specId, { slots: 3, durationMs: 20_000 })
    expect(leases.length).toBeGreaterThan(0)
    expect(leases.reduce((n, l) => n + l.slots, 0)).toBeLessThanOrEqual(3)
    const jobsSeen = agents.map(a => observeJobs(a))

    const inputs = Array.from({ length: 8 }, (_, i) => ({ text: `leased ${i}` }))
    const results = await Promise.all(inputs.map(async input => await coordinator.submitJob(specId, input)))
    expect(results.map(r => r.status)).toEqual(inputs.map(() => 'succeeded'))
    const leaseIds = new Set(leases.map(l => l.leaseId))
    for (const result of results) {
      expect(result.attempts).toHaveLength(1)
      expect(leaseIds.has(result.attempts[0]!.leaseId!)).toBe(true)
    }
    // No job call went out for them: nobody bid, nobody was asked to.
    expect(jobsSeen.flat().map(j => j.id).filter(id => results.some(r => r.jobId === id))).toEqual([])

    // Every receipt stands on its own, as the CLI's `receipt verify` judges it.
    for (const [i, result] of results.entries()) {
      const verdict = verifyReceipt(result.receipt, { spec, input: inputs[i], output: result.output })
      expect(verdict.checks.filter(c => !c.ok)).toEqual([])
      expect(verdict.ok).toBe(true)
      expect(result.receipt!.body.awardId).toBe(result.attempts[0]!.awardId)
      expect(result.receipt!.body.claim?.body.awardId).toBe(result.attempts[0]!.awardId)
    }

    // The ledger: one reserve and one settle per job, naming its award and receipt, as for the auctioned job.
    const { jobs } = await coordinator.ledger(specId)
    const shape = (jobId: string) => {
      const ledger = jobs.find(j => j.jobId === jobId)!
      return { kinds: ledger.entries.map(e => e.kind), reservedUsd: ledger.reservedUsd, budgetUsd: ledger.budgetUsd }
    }
    for (const result of [auctioned, ...results]) {
      const ledger = jobs.find(j => j.jobId === result.jobId)!
      expect(shape(result.jobId)).toEqual(shape(auctioned.jobId))
      expect(ledger.entries[0]!.awardId).toBe(result.receipt!.body.awardId)
      expect(ledger.entries[1]!.receiptId).toBe(result.receipt!.id)
      expect(ledger.spentUsd).toBe(result.receipt!.body.costUsd)
      expect(result.costUsd).toBe(result.receipt!.body.costUsd)
    }
    // Receipts travel as for any job: the agents store them from gossip.
    await waitFor(async () => (await Promise.all(results.map(async r => await agents[0]!.getReceipt(r.receipt!.id)))).every(Boolean), { what: 'the leased jobs\' receipts at an agent' })
  })

  it('a failing leased agent loses the lease at its first failure; the remaining jobs go back to the auction and complete on another agent', async () => {
    const { coordinator, agents, specId } = await market(2, { capacity: { maxConcurrentRequests: 3, maxRetries: 2, backoffMultiplier: 2 } })
    const [bad, good] = agents as [TestNode, TestNode]
    await bad.serve(specId, async () => { throw new Error('broken') }, { priceUsd: 0.05, estimatedMs: 50 })
    await good.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    const leases = await coordinator.requestLease(specId, { slots: 2, award: { preferredAgents: [bad.peerId] } })
    expect(leases.map(l => l.agent)).toEqual([bad.peerId])

    const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => await coordinator.submitJob(specId, { text: `job ${i}` })))
    expect(results.map(r => r.status)).toEqual(results.map(() => 'succeeded'))
    for (const result of results) expect(result.receipt!.body.agent).toBe(good.peerId)
    const leased = results.filter(r => r.attempts[0]!.leaseId != null)
    // Only the jobs in the lease's slots when it failed ran under it; the rest were auctioned.
    expect(leased.length).toBeGreaterThan(0)
    expect(leased.length).toBeLessThanOrEqual(2)
    for (const result of leased) expect(result.attempts[0]).toMatchObject({ agent: bad.peerId, outcome: 'error' })
    expect(results.filter(r => r.attempts[0]!.leaseId == null).length).toBeGreaterThanOrEqual(4)
    const ended = coordinator.leases(specId).find(l => l.leaseId === leases[0]!.leaseId)!
    expect(ended.ended).toMatch(/a job failed under it: attempt 1 by .*: error/)
    expect(coordinator.leases(specId).filter(l => l.ended == null)).toEqual([])
  })

  it('a lease that was used is auctioned again at its expiry, and the next jobs run under the new one', async () => {
    const { coordinator, agents, specId } = await market(2)
    for (const [i, agent] of agents.entries()) await agent.serve(specId, async () => goodOutput, { priceUsd: 0.05 + 0.01 * i, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    const first = await coordinator.requestLease(specId, { slots: 2, durationMs: 1_500 })
    expect(first.length).toBeGreaterThan(0)
    const before = await coordinator.submitJob(specId, { text: 'before' })
    expect(first.map(l => l.leaseId)).toContain(before.attempts[0]!.leaseId)
    // At its expiry the used lease ends and a new call goes out by itself.
    await waitFor(() => coordinator.leases(specId).some(l => l.ended == null && !first.some(f => f.leaseId === l.leaseId)), { timeoutMs: 10_000, what: 'a new lease after the first one expired' })
    expect(coordinator.leases(specId).filter(l => first.some(f => f.leaseId === l.leaseId)).map(l => l.ended)).toEqual(first.map(() => 'expired'))
    const after = await coordinator.submitJob(specId, { text: 'after' })
    expect(after.attempts[0]!.leaseId).toBeDefined()
    expect(first.map(l => l.leaseId)).not.toContain(after.attempts[0]!.leaseId)
  })

  it('with leaseThreshold set, a coordinator calls for a lease by itself once that many jobs of the spec are in progress', async () => {
    nodes = await startMesh(2, TOPICS.specs, { retryBaseMs: 50, advertIntervalMs: 500, leaseThreshold: 3 })
    const [coordinator, agent] = nodes as [TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('auto-leased'))
    await waitFor(async () => (await agent.getSpec(specId)) != null, { what: 'spec at the agent' })
    await waitForSpecMesh(nodes, specId)
    await agent.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const early = await coordinator.submitJob(specId, { text: 'alone' })
    expect(early.attempts[0]!.leaseId).toBeUndefined()
    expect(coordinator.leases(specId)).toEqual([])
    await Promise.all(Array.from({ length: 3 }, async (_, i) => await coordinator.submitJob(specId, { text: `burst ${i}` })))
    await waitFor(() => coordinator.leases(specId).length > 0, { what: 'the lease the burst called for' })
    const later = await coordinator.submitJob(specId, { text: 'later' })
    expect(later.attempts[0]!.leaseId).toBe(coordinator.leases(specId)[0]!.leaseId)
  })

  it('an agent that stops ends its lease, and the coordinator sends the work elsewhere', async () => {
    const { coordinator, agents, specId } = await market(2)
    const [leaving, staying] = agents as [TestNode, TestNode]
    await leaving.serve(specId, async () => goodOutput, { priceUsd: 0.05, estimatedMs: 50 })
    await staying.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    const [lease] = await coordinator.requestLease(specId, { slots: 2, award: { preferredAgents: [leaving.peerId] } })
    expect(lease?.agent).toBe(leaving.peerId)
    await leaving.drain(5_000)
    await waitFor(() => coordinator.leases(specId).find(l => l.leaseId === lease!.leaseId)?.ended != null, { what: 'the lease ended by the agent' })
    expect(coordinator.leases(specId)[0]!.ended).toMatch(/ended by the agent: stopping/)
    const result = await coordinator.submitJob(specId, { text: 'after' })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => a.leaseId)).toEqual([undefined])
    expect(result.receipt!.body.agent).toBe(staying.peerId)
  })
})

describe('self-regulation under a lease', () => {
  it('capacity.maxConcurrentRequests: a lease of 3 slots never has a 4th execution in flight; later jobs wait for a slot, unsent', async () => {
    const { coordinator, agents, specId } = await market(1, { capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    const gated = gatedHandler()
    await agents[0]!.serve(specId, gated.handler, { priceUsd: 0.1, estimatedMs: 50, queue: 0 })
    await waitForAdverts(coordinator, specId, 1)
    const [lease] = await coordinator.requestLease(specId, { slots: 5 })
    // The call asks for no more than the spec allows.
    expect(lease?.slots).toBe(3)
    const jobsSeen = observeJobs(agents[0]!)
    const results = Promise.all(Array.from({ length: 5 }, async (_, i) => await coordinator.submitJob(specId, { text: `x${i}` })))
    results.catch(() => {})
    try {
      await waitFor(() => gated.state.running === 3, { what: 'three executions running' })
      // The lease's slots count as the agent's load in its adverts.
      await waitFor(() => coordinator.capacityOf(specId)[0]?.inFlight === 3, { what: 'the advert to show the agent full' })
      expect(gated.state.started).toBe(3)
      expect(jobsSeen).toEqual([])
    } finally {
      gated.release()
    }
    const settled = await results
    expect(settled.map(r => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'])
    expect(gated.state.peak).toBe(3)
    expect(settled.flatMap(r => r.attempts).filter(a => a.outcome === 'refused')).toEqual([])
    expect(settled.every(r => r.attempts[0]!.leaseId === lease!.leaseId)).toBe(true)
  })

  it('an idle lease\'s slots count in the agent\'s adverts and bids, so it promises them to no one else', async () => {
    const { coordinator, agents, specId } = await market(1, { capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    await agents[0]!.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50, queue: 0 })
    await waitForAdverts(coordinator, specId, 1)
    await coordinator.requestLease(specId, { slots: 2 })
    await waitFor(() => coordinator.capacityOf(specId)[0]?.inFlight === 2, { what: 'the advert to count the two leased slots' })
  })

  it('budget.maxUsd: after a leased attempt that was charged, a retry that would cross the budget is not made', async () => {
    const { coordinator, agents, specId } = await market(2, { budget: { maxUsd: 0.3, overageBehavior: 'fail' }, costUsd: 0.2, capacity: { maxConcurrentRequests: 3, maxRetries: 3 } })
    const [weak, good] = agents as [TestNode, TestNode]
    await weak.serve(specId, async () => weakOutput, { priceUsd: 0.2, estimatedMs: 50 })
    await good.serve(specId, async () => goodOutput, { priceUsd: 0.25, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    const [lease] = await coordinator.requestLease(specId, { slots: 1, award: { preferredAgents: [weak.peerId] } })
    expect(lease?.agent).toBe(weak.peerId)
    const result = await coordinator.submitJob(specId, { text: 'x' })
    expect(result.status).toBe('failed')
    expect(result.attempts.map(a => [a.outcome, a.leaseId])).toEqual([['criteria-failed', lease!.leaseId]])
    expect(result.reason).toMatch(/would take the job's spend to 0\.45 USD, above budget\.maxUsd 0\.3: not made/)
    expect(result.costUsd).toBe(0.2)
    const ledger = (await coordinator.ledger(specId)).jobs.find(j => j.jobId === result.jobId)!
    expect(ledger).toMatchObject({ budgetUsd: 0.3, spentUsd: 0.2, reservedUsd: 0 })
    expect(ledger.entries.map(e => e.kind)).toEqual(['reserve', 'settle'])
  })

  it('deadline: a leased execution is aborted at it and recorded as a timeout; its reservation is released and the lease ends', async () => {
    const { coordinator, agents, specId } = await market(1, { deadline: 1, executionWindow: 1, capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    await agents[0]!.serve(specId, async (_input, { signal }) => await new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => { reject(signal.reason) })
    }), { priceUsd: 0.1, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const [lease] = await coordinator.requestLease(specId, { slots: 1 })
    const result = await coordinator.submitJob(specId, { text: 'x' })
    expect(result.status).toBe('failed')
    expect(result.attempts[0]!.leaseId).toBe(lease!.leaseId)
    expect(result.receipt?.body.outcome).toBe('timeout')
    expect(result.receipt!.body.endedAt).toBeLessThanOrEqual(result.receipt!.body.deadline + 200)
    const ledger = (await coordinator.ledger(specId)).jobs[0]!
    expect(ledger.entries.map(e => e.kind)).toEqual(['reserve', 'release'])
    expect(ledger).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
    expect(coordinator.leases(specId)[0]!.ended).toMatch(/timeout/)
  })

  it('softDeadline: a job past it is not sent under the lease either', async () => {
    const { coordinator, agents, specId } = await market(1, { softDeadline: 1, deadline: 5, executionWindow: 4, capacity: { maxConcurrentRequests: 1, maxRetries: 0 } })
    const gated = gatedHandler()
    await agents[0]!.serve(specId, gated.handler, { priceUsd: 0.1, estimatedMs: 50, queue: 0 })
    await waitForAdverts(coordinator, specId, 1)
    await coordinator.requestLease(specId, { slots: 1 })
    const first = coordinator.submitJob(specId, { text: 'first' })
    await waitFor(() => gated.state.running === 1, { what: 'the first job running in the lease\'s one slot' })
    // The second waits for the slot, which is still taken at its soft deadline: it fails unsent.
    const late = await coordinator.submitJob(specId, { text: 'second' })
    gated.release()
    expect((await first).status).toBe('succeeded')
    expect(late.status).toBe('failed')
    expect(late.attempts).toEqual([])
    expect(late.reason).toMatch(/soft deadline/)
    expect(gated.state.started).toBe(1)
  })
})
