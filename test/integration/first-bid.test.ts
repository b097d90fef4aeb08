import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { specTopic } from '../../src/market/topics.ts'
import { startNode, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { goodOutput } from '../helpers/gated.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The first job of a fresh node, bids by stream (issue 13): libp2p records a
 * new stream's protocol in the peer store on both sides before the stream is
 * used, and on a node that has just met its peers that write queues behind
 * the start-up's own (gossipsub's tag per topic, identify, the DHT):
 * bench:cascade saw the first bid on each new stream answered ~350 ms after it
 * was sent, after the coordinator had given up waiting for one. Here that write
 * is held back on one side, as the start-up's writes did, with a CPU hog
 * beside the test process.
 */
let nodes: TestNode[] = []
let hog: ChildProcess | undefined
beforeEach(() => {
  hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })
})
afterEach(async () => {
  hog?.kill('SIGKILL')
  hog = undefined
  await stopAll(nodes)
  nodes = []
})

/** A 20 ms window: the coordinator waits 100 ms in all for a first bid. */
const WINDOW_MS = 20
/** How long the first write of the bid protocol waits: well past the window and its grace. */
const STREAM_WRITE_DELAY_MS = 400

/** Hold back `node`'s peer-store write that records the bid protocol for a peer (the first bid stream with that peer). */
function slowFirstBidStream (node: TestNode): void {
  const peerStore = node.libp2p.peerStore
  const merge = peerStore.merge.bind(peerStore)
  peerStore.merge = (async (...args: Parameters<typeof merge>) => {
    if (args[1].protocols?.includes(PROTOCOLS.bid) === true) await new Promise(resolve => setTimeout(resolve, STREAM_WRITE_DELAY_MS))
    return await merge(...args)
  }) as typeof peerStore.merge
}

async function freshPair (slow: 'coordinator' | 'agent') {
  const coordinator = await startNode({ market: { bids: 'stream' } })
  nodes.push(coordinator)
  const agent = await startNode({ bootstrap: [coordinator.multiaddrs()[0]!], market: { bids: 'stream' } })
  nodes.push(agent)
  slowFirstBidStream(slow === 'coordinator' ? coordinator : agent)
  const { id: specId } = await coordinator.publishSpec(sampleSpec('first-bid'))
  await waitFor(() => agent.getSpec(specId), { what: 'the spec at the agent' })
  await agent.serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 20 })
  await waitForSpecMesh(nodes, specId)
  await waitForAdverts(coordinator, specId, 1)
  /** The bids that reached the coordinator by gossip, by job. */
  const gossiped: string[] = []
  coordinator.libp2p.services.pubsub.addEventListener('message', event => {
    if (event.detail.topic === specTopic(specId, 'bids')) gossiped.push((JSON.parse(new TextDecoder().decode(event.detail.data)) as { body: { jobId: string } }).body.jobId)
  })
  return { coordinator, agent, specId, gossiped }
}

describe('the first job of a fresh node while its first bid stream is slow to be taken up (a CPU hog beside)', () => {
  for (const slow of ['coordinator', 'agent'] as const) {
    it(`succeeds with a ${WINDOW_MS} ms bid window when the ${slow}'s side of the new stream waits ${STREAM_WRITE_DELAY_MS} ms: the bid goes by gossip; once the stream has answered, the next bid goes by stream`, async () => {
      const { coordinator, specId, gossiped } = await freshPair(slow)
      const first = await coordinator.submitJob(specId, { text: 'first' }, { bidWindowMs: WINDOW_MS })
      expect(first.reason).toBeUndefined()
      expect(first.status).toBe('succeeded')
      expect(gossiped).toEqual([first.jobId])
      // The stream the first bid opened answers once it is taken up (the bid's copy: taken, or its job already over).
      await waitFor(() => coordinator.verdicts.some(v => v.topic === PROTOCOLS.bid), { what: 'the first answer on the new bid stream' })
      const second = await coordinator.submitJob(specId, { text: 'second' }, { bidWindowMs: WINDOW_MS })
      expect(second.reason).toBeUndefined()
      expect(second.status).toBe('succeeded')
      expect(gossiped).toEqual([first.jobId])
    })
  }
})
