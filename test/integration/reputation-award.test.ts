import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { startMesh, stopAll, waitForAdverts, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

describe('awards follow reputation', () => {
  it('a cheap agent whose outputs fail loses the next award to a fairly priced reliable one', async () => {
    nodes = await startMesh(3, TOPICS.specs, { retryBaseMs: 50 })
    for (const topic of Object.values(TOPICS)) await waitForTopicPeers(nodes, topic)
    const [coordinator, cheap, reliable] = nodes as [TestNode, TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('rated', { capacity: { maxConcurrentRequests: 3, maxRetries: 2 } }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec everywhere' })
    await cheap.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 5 }] }), { priceUsd: 0.05, estimatedMs: 20 })
    await reliable.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 95 }] }), { priceUsd: 0.2, estimatedMs: 20 })
    await waitForAdverts(coordinator, specId, 2)

    // Both unknown (neutral 0.5): price decides, and the cheap agent is tried first.
    const first = await coordinator.submitJob(specId, { text: 'a' }, { bidWindowMs: 200 })
    expect(first.attempts.map(a => [a.agent, a.outcome])).toEqual([[cheap.peerId, 'criteria-failed'], [reliable.peerId, 'success']])
    expect(coordinator.reputation.forAward(cheap.peerId, 'rated')).toBeLessThan(0.5)
    expect(coordinator.reputation.forAward(reliable.peerId, 'rated')).toBeGreaterThan(0.5)

    // One failed receipt against it, one success for the other: the work moves.
    const second = await coordinator.submitJob(specId, { text: 'b' }, { bidWindowMs: 200 })
    expect(second.attempts.map(a => [a.agent, a.outcome])).toEqual([[reliable.peerId, 'success']])
  })
})
