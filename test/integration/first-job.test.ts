/**
 * A coordinator's first job for a spec, submitted the moment it meets the
 * spec's agents: it joins the spec's topics, the agents there answer with their
 * adverts, and the job waits until it has heard each of them. Its bid window
 * closes once every agent it knows of has bid, so one heard too late would
 * miss the job, however cheap. Real nodes on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { startMesh, startNode, stopAll, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import type { JobResult } from '../../src/market/coordinator.ts'

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

/**
 * Submit the coordinator's first job of the spec, noting whose adverts it held when the job
 * went out. Explore off: both agents are unknown, so the cheaper bid wins when it is in the
 * window, which closes early once each agent heard has bid.
 */
async function submitFirstJob (coordinator: TestNode, specId: string): Promise<{ heardAtSubmit: string[][], result: JobResult }> {
  const heardAtSubmit: string[][] = []
  coordinator.events.on('job-event', event => {
    if (event.type === 'submitted') heardAtSubmit.push(coordinator.capacityOf(specId).map(c => c.agent).sort())
  })
  const result = await coordinator.submitJob(specId, { text: 'first' }, { bidWindowMs: 5000, award: { explore: false } })
  return { heardAtSubmit, result }
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

    const { heardAtSubmit, result } = await submitFirstJob(coordinator, specId)
    expect(heardAtSubmit).toEqual([[prompt.peerId, slow.peerId].sort()])
    expect(result.status).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(slow.peerId)
  })
})

/**
 * Hold back `node`'s first subscription list to each peer it meets from now on by `ms`:
 * gossipsub sends it on the stream it opens after connecting, and on a loaded machine it may
 * arrive well after the connection shows in `peers`. Until it does, that peer cannot tell
 * that `node` serves anything.
 */
function delayFirstSubscriptions (node: TestNode, ms: number): void {
  const pubsub = node.libp2p.services.pubsub as unknown as { sendSubscriptions: (to: string, topics: string[], subscribe: boolean) => void }
  const send = pubsub.sendSubscriptions.bind(pubsub)
  const met = new Set(node.peers().map(p => p.peerId))
  pubsub.sendSubscriptions = (to, topics, subscribe) => {
    if (met.has(to)) { send(to, topics, subscribe); return }
    met.add(to)
    setTimeout(() => { send(to, topics, subscribe) }, ms)
  }
}

describe('a coordinator\'s first job, submitted the moment it is connected to the spec\'s agents', () => {
  it('waits for an agent whose subscriptions have not reached it yet, and the cheaper agent (that one) wins', async () => {
    nodes = await startMesh(2, TOPICS.specs, { advertIntervalMs: 60_000 })
    const [prompt, slow] = nodes as [TestNode, TestNode]
    const { id: specId } = await prompt.publishSpec(sampleSpec('first-job-subscriptions', { capacity: { maxConcurrentRequests: 2, maxRetries: 0 } }))
    await waitFor(async () => (await slow.getSpec(specId)) != null, { what: 'the spec at the slow agent' })
    const good = async (): Promise<unknown> => ({ entities: [{ name: 'x', confidence: 95 }] })
    await prompt.serve(specId, good, { priceUsd: 0.2, estimatedMs: 20 })
    await slow.serve(specId, good, { priceUsd: 0.05, estimatedMs: 20 })
    delayFirstSubscriptions(slow, 800)

    // The coordinator meets the prompt agent first (and gets the spec from it), then the slow one,
    // whose subscriptions reach it 800 ms after the connection.
    const coordinator = await startNode({ bootstrap: [prompt.multiaddrs()[0]!] })
    nodes.push(coordinator)
    await waitFor(async () => (await coordinator.getSpec(specId)) != null && coordinator.subscriptions.topicPeers(specId, 'capacity').includes(prompt.peerId), { what: 'the coordinator to hold the spec and see the prompt agent on its topics' })
    await coordinator.libp2p.dial(slow.libp2p.getMultiaddrs()[0]!)
    expect(coordinator.peers().map(p => p.peerId)).toContain(slow.peerId)
    expect(coordinator.subscriptions.topicPeers(specId, 'capacity')).not.toContain(slow.peerId)

    const { heardAtSubmit, result } = await submitFirstJob(coordinator, specId)
    expect(heardAtSubmit).toEqual([[prompt.peerId, slow.peerId].sort()])
    expect(result.status).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(slow.peerId)
  })
})

/** Make `node` never send its subscription list to any peer: a broken or hostile peer that connects and stays silent. */
function muteSubscriptions (node: TestNode): void {
  const pubsub = node.libp2p.services.pubsub as unknown as { sendSubscriptions: (to: string, topics: string[], subscribe: boolean) => void }
  pubsub.sendSubscriptions = () => {}
}

describe('a connected peer that never tells its subscriptions', () => {
  it('is pending only until its list is overdue: then spec agents reads ready, and a new spec\'s first job is not held for it', async () => {
    const agent = await startNode({ market: { advertIntervalMs: 60_000 } })
    nodes.push(agent)
    const { id: specId } = await agent.publishSpec(sampleSpec('first-job-mute-peer', { capacity: { maxConcurrentRequests: 2, maxRetries: 0 } }))
    await agent.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 95 }] }), { priceUsd: 0.1, estimatedMs: 20 })
    const logged: string[] = []
    const coordinator = await startNode({ bootstrap: [agent.multiaddrs()[0]!], log: event => { logged.push(event) } })
    nodes.push(coordinator)
    const mute = await startNode()
    nodes.push(mute)
    muteSubscriptions(mute)
    await waitFor(async () => (await coordinator.getSpec(specId)) != null && coordinator.subscriptions.topicPeers(specId, 'capacity').includes(agent.peerId), { what: 'the coordinator to hold the spec and see the agent on its topics' })

    await coordinator.libp2p.dial(mute.libp2p.getMultiaddrs()[0]!)
    expect(coordinator.specAgents!(specId)).toMatchObject({ pendingPeers: [mute.peerId], ready: false })
    // SUBSCRIPTIONS_DUE_MS (5 s) after the connection opened, the silent peer is no longer waited for.
    await waitFor(() => coordinator.specAgents!(specId).ready, { what: 'spec agents to read ready with the silent peer still connected', timeoutMs: 15_000 })
    expect(coordinator.specAgents!(specId).pendingPeers).toEqual([])
    expect(coordinator.peers().map(p => p.peerId)).toContain(mute.peerId)

    const result = await coordinator.submitJob(specId, { text: 'first' }, { bidWindowMs: 5000 })
    expect(result.status).toBe('succeeded')
    expect(logged).not.toContain('job.agents-unheard')
  })
})
