/**
 * A coordinator's first job for a spec, submitted the moment it meets the
 * spec's agents: it joins the spec's topics, the agents there answer with their
 * adverts, and the job waits until it has heard each of them. Its bid window
 * closes once every agent it knows of has bid, so one heard too late would
 * miss the job, however cheap. Real nodes on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { startMesh, stopAll, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

/** Hold back what `node` publishes on `topic` by `ms`: a process too busy to answer at once. */
function delayPublishes (node: TestNode, topic: string, ms: number): void {
  const pubsub = node.libp2p.services.pubsub
  const publish = pubsub.publish.bind(pubsub)
  pubsub.publish = (async (to: string, data: Uint8Array) => {
    if (to === topic) await new Promise(resolve => setTimeout(resolve, ms))
    return await publish(to, data)
  }) as typeof pubsub.publish
}

describe('a coordinator\'s first job for a spec', () => {
  it('waits until every agent already serving the spec has answered its arrival, the one whose advert comes 300 ms later too, and the cheaper of them wins', async () => {
    // No periodic advert within the test: the coordinator hears each agent only by its answer.
    nodes = await startMesh(3, TOPICS.specs, { advertIntervalMs: 60_000 })
    const [coordinator, prompt, slow] = nodes as [TestNode, TestNode, TestNode]
    const { id: specId } = await prompt.publishSpec(sampleSpec('first-job', { capacity: { maxConcurrentRequests: 2, maxRetries: 0 } }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node', timeoutMs: 20_000 })
    const good = async (): Promise<unknown> => ({ entities: [{ name: 'x', confidence: 95 }] })
    await prompt.serve(specId, good, { priceUsd: 0.2, estimatedMs: 20 })
    await slow.serve(specId, good, { priceUsd: 0.05, estimatedMs: 20 })
    await waitFor(() => coordinator.subscriptions.topicPeers(specId, 'capacity').length === 2, { what: 'both agents on the spec\'s capacity topic, as the coordinator knows' })
    expect(coordinator.subscriptions.joined(specId)).toBe(false)
    expect(coordinator.capacityOf(specId)).toEqual([])
    delayPublishes(slow, slow.subscriptions.topicOf(specId, 'capacity'), 300)

    const heardAtSubmit: string[][] = []
    coordinator.events.on('job-event', event => {
      if (event.type === 'submitted') heardAtSubmit.push(coordinator.capacityOf(specId).map(c => c.agent).sort())
    })
    // Explore off: both unknown, so the cheaper bid wins when it is in the window. The window
    // closes early once each agent heard has bid.
    const result = await coordinator.submitJob(specId, { text: 'first' }, { bidWindowMs: 5000, award: { explore: false } })
    expect(heardAtSubmit).toEqual([[prompt.peerId, slow.peerId].sort()])
    expect(result.status).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(slow.peerId)
  })
})
