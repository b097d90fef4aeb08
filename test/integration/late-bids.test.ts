import { afterEach, describe, expect, it } from 'vitest'
import { startNode, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { specTopic } from '../../src/market/topics.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { goodOutput } from '../helpers/gated.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

/** How long the agent's bids are held back: well past a 20 ms window and its 4 windows of grace. */
const BID_DELAY_MS = 400

describe('a job whose bids come back late', () => {
  it('says the bids are late, not that the agents declined, once a bid came after its auction closed (noBid.cause late)', async () => {
    const logged: Array<{ event: string, fields?: Record<string, unknown> }> = []
    const coordinator = await startNode({ log: (event, fields) => { logged.push({ event, fields }) } })
    nodes.push(coordinator)
    const agent = await startNode({ bootstrap: [coordinator.multiaddrs()[0]!], market: { bids: 'gossip' } })
    nodes.push(agent)
    const { id: specId } = await coordinator.publishSpec(sampleSpec('late-bids'))
    await waitFor(() => agent.getSpec(specId), { what: 'spec at the agent' })
    await agent.serve(specId, async () => goodOutput, { priceUsd: 0.1 })
    await waitForSpecMesh(nodes, specId)
    await waitForAdverts(coordinator, specId, 1)
    // The agent bids on every job at once, but its bids reach the mesh only after the auction gave up:
    // a saturated agent or mesh, as bench:jobs at 64 in flight saw.
    const pubsub = agent.libp2p.services.pubsub
    const publish = pubsub.publish.bind(pubsub)
    let bidsSent = 0
    pubsub.publish = (async (topic: string, data: Uint8Array, opts?: unknown) => {
      if (topic === specTopic(specId, 'bids')) {
        await new Promise(resolve => setTimeout(resolve, BID_DELAY_MS))
        bidsSent++
      }
      return await (publish as (t: string, d: Uint8Array, o?: unknown) => Promise<unknown>)(topic, data, opts)
    }) as typeof pubsub.publish

    // Nothing says yet that bids are late: the first failure can only guess.
    const first = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 20 })
    expect(first.status).toBe('failed')
    expect(first.noBid?.cause).toBe('declined')
    await waitFor(() => logged.some(l => l.event === 'job.late-bid' && l.fields?.jobId === first.jobId), { what: 'the first job\'s bid, late, at the coordinator' })
    expect(bidsSent).toBe(1)

    const second = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 20 })
    expect(second.status).toBe('failed')
    expect(second.attempts).toEqual([])
    expect(second.noBid).toMatchObject({ cause: 'late', peers: 1, agents: [{ agent: agent.peerId, priceUsd: 0.1 }] })
    expect(second.reason).toMatch(/^no agent bid within the 20 ms bid window \(nor in 4 windows more\): 1 agent serves this spec within the ceiling and has room, but bids are coming back late \(1 bid on this node's jobs of the spec came after their window in the last 30 s\): this node or the mesh is too busy for the window; submit fewer jobs at once, or give a longer --bid-window-ms$/)
    expect((await coordinator.getJob(second.jobId))?.noBid?.cause).toBe('late')
  })
})
