import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode } from '../../src/node.ts'
import type { MarketOptions } from '../../src/market/market.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { SPEC_TOPIC_KINDS, type SpecTopicKind } from '../../src/market/topics.ts'
import { waitFor } from './wait.ts'

export type TestNode = Awaited<ReturnType<typeof createNode>>

export async function tempHome (prefix = 'specmesh-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

/**
 * How test nodes send bids unless a test says otherwise: SPECMESH_TEST_BIDS=stream
 * runs the market's tests with bids over the bid stream (market.bids).
 */
const TEST_BIDS = process.env.SPECMESH_TEST_BIDS === 'stream' ? 'stream' : undefined

export async function startNode (options: { home?: string, bootstrap?: string[], market?: MarketOptions, follow?: string[] | 'all', log?: (event: string, fields?: Record<string, unknown>) => void } = {}): Promise<TestNode> {
  return await createNode({
    home: options.home ?? await tempHome(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: options.bootstrap ?? [],
    market: TEST_BIDS != null ? { bids: TEST_BIDS, ...options.market } : options.market,
    ...(options.follow != null ? { follow: options.follow } : {}),
    log: options.log
  })
}

/**
 * Wait until every one of `parties` (a spec's agents, coordinators and
 * followers) on each of the spec's market topics sees another party there.
 * Agents join them on serve() (all but the receipts topic, which is the
 * coordinators' and followers'); a node here that is not on them yet joins as
 * a coordinator would on its first job, so a test can wait for adverts before
 * it submits. Under `market.topics: 'global'` it waits on the global topics.
 */
export async function waitForSpecMesh (parties: TestNode[], specId: string, kinds: readonly SpecTopicKind[] = SPEC_TOPIC_KINDS): Promise<void> {
  for (const node of parties) if (!node.subscriptions.joined(specId)) node.subscriptions.join(specId, 'coordinating')
  for (const kind of kinds) {
    const on = parties.filter(n => n.subscriptions.isOn(specId, kind))
    if (on.length < 2) continue
    await waitFor(() => on.every(n => {
      const others = new Set(n.subscriptions.topicPeers(specId, kind))
      return on.some(p => p !== n && others.has(p.peerId))
    }), { timeoutMs: 15_000, what: `every party on the ${kind} topic of spec ${specId} to see another there` })
  }
}

/**
 * Start `count` real nodes on 127.0.0.1: the first is the bootstrap peer of all
 * others, and each also dials its predecessor so the graph is not a bare star.
 * Resolves once every node sees at least one peer subscribed to each of
 * `topics` (the spec topic by default: a spec's market topics are joined only
 * once it is served, see waitForSpecMesh); if that never happens the nodes are
 * stopped before it throws.
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
 * A node not yet on the spec's topics joins them as a coordinator (as its first
 * job would); agents announce their capacity when it arrives.
 */
export async function waitForAdverts (node: TestNode, specId: string, count: number): Promise<void> {
  if (!node.subscriptions.joined(specId)) node.subscriptions.join(specId, 'coordinating')
  await waitFor(() => node.capacityOf(specId).length >= count, { what: `${count} capacity adverts for ${specId}` })
}
