import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode } from '../../src/node.ts'
import type { MarketOptions } from '../../src/market/market.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { waitFor } from './wait.ts'

export type TestNode = Awaited<ReturnType<typeof createNode>>

export async function tempHome (prefix = 'specmesh-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

export async function startNode (options: { home?: string, bootstrap?: string[], market?: MarketOptions, log?: (event: string, fields?: Record<string, unknown>) => void } = {}): Promise<TestNode> {
  return await createNode({
    home: options.home ?? await tempHome(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: options.bootstrap ?? [],
    market: options.market,
    log: options.log
  })
}

/** What a job needs meshed: its spec reaches the agents, then jobs, bids, awards and receipts go back and forth. */
export const MARKET_TOPICS: readonly string[] = [TOPICS.specs, TOPICS.jobs, TOPICS.bids, TOPICS.awards, TOPICS.receipts]

/**
 * Start `count` real nodes on 127.0.0.1: the first is the bootstrap peer of all
 * others, and each also dials its predecessor so the graph is not a bare star.
 * Resolves once every node sees at least one peer subscribed to each of
 * `topics`; if that never happens the nodes are stopped before it throws.
 */
export async function startMesh (count: number, topics: string | readonly string[] = TOPICS.specs, market?: MarketOptions): Promise<TestNode[]> {
  const nodes: TestNode[] = [await startNode({ market })]
  try {
    for (let i = 1; i < count; i++) {
      const bootstrap = [nodes[0]!.multiaddrs()[0]!]
      if (i > 1) bootstrap.push(nodes[i - 1]!.multiaddrs()[0]!)
      nodes.push(await startNode({ bootstrap, market }))
    }
    await waitForTopicPeers(nodes, topics)
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
  return nodes
}

export async function waitForTopicPeers (nodes: TestNode[], topics: string | readonly string[] = TOPICS.specs): Promise<void> {
  for (const topic of typeof topics === 'string' ? [topics] : topics) {
    await waitFor(() => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(topic).length > 0), { timeoutMs: 15_000, what: `every node to see a peer on ${topic}` })
  }
}

export async function stopAll (nodes: TestNode[]): Promise<void> {
  await Promise.allSettled(nodes.map(async n => {
    await n.stop()
    await rm(n.home, { recursive: true, force: true })
  }))
}

/**
 * Wait until `node` holds live capacity adverts from `count` agents for the spec.
 * A coordinator closes its bid window early once every agent it knows to have
 * room has bid, so a test that cares who wins waits for every advert first.
 */
export async function waitForAdverts (node: TestNode, specId: string, count: number): Promise<void> {
  await waitFor(() => node.capacityOf(specId).length >= count, { what: `${count} capacity adverts for ${specId}` })
}
