import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { observeJobs } from '../helpers/observe.ts'
import { startMesh, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { goodOutput } from '../helpers/gated.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const WINDOW_MS = 300

describe('the auction gate on real nodes: a coordinator runs at most its limit of auctions of a spec at once', () => {
  it('with a limit of 2, six jobs submitted at once go out two by two, each pair once the last pair\'s bidding is over, and all succeed', async () => {
    nodes = await startMesh(3, TOPICS.specs, { advertIntervalMs: 500, auctionGate: { initial: 2, min: 2, max: 2 } })
    const [coordinator, bidder, silent] = nodes as [TestNode, TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('gated-auctions', { capacity: { maxConcurrentRequests: 16, maxRetries: 0 }, deadline: 30 }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
    await waitForSpecMesh(nodes, specId)
    await bidder.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 10 })
    // Advertised but never bidding (its estimate overruns every deadline): every window stays open its full length.
    await silent.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 60_000 })
    await waitForAdverts(coordinator, specId, 2)
    const calls = observeJobs(bidder)

    const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => await coordinator.submitJob(specId, { text: `job ${i}` }, { bidWindowMs: WINDOW_MS })))
    expect(results.map(r => r.status)).toEqual(Array(6).fill('succeeded'))
    await waitFor(() => calls.length === 6, { what: 'all six job calls at the agent' })
    // Call k+2 went out only when one of the two before it had closed its window.
    const at = calls.map(c => c.at)
    for (let k = 2; k < 6; k++) expect(at[k]! - at[k - 2]!).toBeGreaterThanOrEqual(WINDOW_MS - 50)
    // Nothing was held back for want of room at the agents, only by the gate.
    expect(results.every(r => (r.biddingMs ?? 0) >= WINDOW_MS - 10)).toBe(true)
  })
})
