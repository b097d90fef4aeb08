/**
 * Specs that improve from execution data, on real nodes: run a spec's jobs
 * with handlers of varying duration, read its statistics through the local
 * API, fork it into an SLA variant that reaches every node, and apply the
 * suggested deadline and budget as a fork. Every wait polls with a deadline.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ApiClient, ApiRequestError } from '../../src/api/client.ts'
import type { LedgerView } from '../../src/api/routes/ledger.ts'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import type { StoredSpec } from '../../src/node-types.ts'
import type { Lineage, SpecChange } from '../../src/spec/fork.ts'
import { percentile, specStats, type SpecStats } from '../../src/spec/stats.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { startMesh, stopAll, waitForAdverts, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
let api: ApiServer | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
  await stopAll(nodes)
  nodes = []
})

const JOBS = 25
const IN_FLIGHT = 5
/** Simulated work per job: 25 different durations from 20 to 260 ms, shuffled. */
const DELAYS = Array.from({ length: JOBS }, (_, i) => 20 + ((i * 7) % JOBS) * 10)
const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }

describe('specs that improve, on real nodes', () => {
  it('stats from 25 receipts, a suggested deadline ≥ p95, and forks seen on every node with parent = the old id', async () => {
    nodes = await startMesh(3)
    const [coordinator, ...agents] = nodes as [TestNode, TestNode, TestNode]
    // Relative deadline 30 s; executionWindow 30 s; costUsd 0.1; budget 0.5.
    const published = await coordinator.publishSpec(sampleSpec('improve', { deadline: 30 }))
    const specId = published.id
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })

    let next = 0
    for (const agent of agents) {
      await agent.serve(specId, async () => {
        const ms = DELAYS[next++ % JOBS]!
        await new Promise(resolve => setTimeout(resolve, ms)) // the simulated work itself
        return goodOutput
      }, { priceUsd: 0.1, estimatedMs: 300 })
    }
    await waitForAdverts(coordinator, specId, agents.length)

    let submitted = 0
    const results: Array<Awaited<ReturnType<TestNode['submitJob']>>> = []
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (submitted < JOBS) {
        submitted++
        results.push(await coordinator.submitJob(specId, { text: `job ${submitted}` }, { bidWindowMs: 200 }))
      }
    }))
    expect(results.map(r => r.status)).toEqual(Array(JOBS).fill('succeeded'))

    api = await startApiServer({ node: coordinator })
    const client = new ApiClient({ home: coordinator.home })

    // Statistics through the API, from the receipts the coordinator holds.
    const stats = await client.request('GET', `/v1/specs/${specId}/stats`) as SpecStats
    const receipts = await coordinator.listReceipts({ specId })
    expect(stats.executions).toBe(receipts.length)
    expect(stats.executions).toBe(JOBS)
    expect(stats.jobs).toBe(JOBS)
    expect(stats.outcomes.success).toBe(JOBS)
    expect(stats.successRate).toBe(1)
    expect(stats.deadline).toEqual({ kind: 'relative', seconds: 30 })
    // Each attempt lasts at least its handler's delay, so each percentile is at least the delays' own
    // (less 1 ms: a timer may fire up to a millisecond early on Date.now()'s clock).
    const sortedDelays = [...DELAYS].sort((a, b) => a - b)
    expect(stats.durationMs!.p50).toBeGreaterThanOrEqual(percentile(sortedDelays, 50) - 1)
    expect(stats.durationMs!.p95).toBeGreaterThanOrEqual(percentile(sortedDelays, 95) - 1)
    expect(stats.durationMs!.p95).toBeGreaterThanOrEqual(stats.durationMs!.p50)
    expect(stats.durationMs!.p95).toBeLessThan(Math.max(...DELAYS) + 5_000)
    expect(stats.cost.perAttempt).toMatchObject({ mean: 0.1, p95: 0.1 })
    expect(stats.cost.perJob).toMatchObject({ n: JOBS, p95: 0.1 })
    expect(stats.suggestion!.confident).toBe(true)
    expect(stats.suggestion!.deadlineSeconds * 1000).toBeGreaterThanOrEqual(stats.durationMs!.p95)
    expect(stats.suggestion!.budgetMaxUsd).toBe(0.1)

    // The ledger traces every dollar spent to a success receipt.
    const ledger = await client.request('GET', `/v1/ledger?spec=${specId}`) as LedgerView
    expect(ledger.specs).toEqual([expect.objectContaining({ specId, name: 'improve', jobs: JOBS, reservedUsd: 0, spentUsd: 2.5 })])
    for (const job of ledger.jobs) {
      const settles = job.entries.filter(e => e.kind === 'settle')
      expect(settles).toHaveLength(1)
      const receipt = receipts.find(r => r.id === settles[0]!.receiptId)
      expect(receipt?.envelope.body).toMatchObject({ jobId: job.jobId, costUsd: job.spentUsd, outcome: 'success' })
    }

    // Each agent holds the receipts of its own work (over its execution stream), and only those: together
    // they are every receipt, so statistics from them agree with the coordinator's.
    const heldByAgents = async (): Promise<Array<Awaited<ReturnType<TestNode['listReceipts']>>>> => await Promise.all(agents.map(async a => await a.listReceipts({ specId })))
    await waitFor(async () => (await heldByAgents()).reduce((n, held) => n + held.length, 0) === JOBS, { timeoutMs: 15_000, what: 'every receipt at the agent that did the work' })
    const held = await heldByAgents()
    for (const [i, agent] of agents.entries()) expect(held[i]!.every(r => r.envelope.body.agent === agent.peerId)).toBe(true)
    const onAgents = specStats(specId, published.spec, held.flat().map(r => r.envelope.body))
    expect(onAgents.executions).toBe(JOBS)
    expect(onAgents.durationMs).toEqual(stats.durationMs)

    // A fork that would break the spec is refused, naming the field.
    const refused = await client.request('POST', `/v1/specs/${specId}/fork`, { set: { variant: 'fast', deadline: '10s' } }).catch(err => err as ApiRequestError)
    expect(refused).toBeInstanceOf(ApiRequestError)
    expect((refused as ApiRequestError).status).toBe(400)
    expect((refused as ApiRequestError).problems?.map(p => p.path)).toEqual(['executionWindow'])

    // The SLA variant: tighter deadline, higher price.
    const fast = await client.request('POST', `/v1/specs/${specId}/fork`, {
      set: { variant: 'fast', deadline: '10s', executionWindow: '10s', costUsd: 0.3, 'budget.max_usd': 0.6 }
    }) as StoredSpec & { changes: SpecChange[] }
    expect(fast.spec).toMatchObject({ parent: specId, variant: 'fast', deadline: 10, executionWindow: 10, costUsd: 0.3, budget: { maxUsd: 0.6 } })
    expect(fast.changes.map(c => c.path).sort()).toEqual(['budget.maxUsd', 'costUsd', 'deadline', 'executionWindow', 'variant'])
    for (const node of agents) {
      const seen = await waitFor(async () => await node.getSpec(fast.id), { what: `the fork on ${node.peerId}` })
      expect(seen.spec.parent).toBe(specId)
      expect(seen.spec.variant).toBe('fast')
    }

    // Applying the suggestion is a fork too.
    const improved = await client.request('POST', `/v1/specs/${specId}/fork`, { set: stats.suggestion!.set }) as StoredSpec & { changes: SpecChange[] }
    expect(improved.spec.parent).toBe(specId)
    expect(improved.spec.deadline).toBe(stats.suggestion!.deadlineSeconds)
    expect(improved.spec.budget?.maxUsd).toBe(0.1)

    const lineage = await client.request('GET', `/v1/specs/${specId}/lineage`) as Lineage
    expect(lineage.ancestors).toEqual([])
    expect(lineage.descendants.map(d => d.id).sort()).toEqual([fast.id, improved.id].sort())
    const fastLineage = await client.request('GET', `/v1/specs/${fast.id}/lineage`) as Lineage
    expect(fastLineage.ancestors).toEqual([{ id: specId, held: true, name: 'improve', version: '1.0.0' }])
  })
})
