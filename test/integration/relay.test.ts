import { afterEach, describe, expect, it } from 'vitest'
import { rm } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { createNode } from '../../src/node.ts'
import type { RelayServerLimits } from '../../src/net/reachability.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { tempHome, waitForAdverts, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The relay path on 127.0.0.1: the agent has no listen address of its own, so
 * the only way to reach it is the /p2p-circuit address of its reservation on
 * the relay. The coordinator's execution stream and sync must both run over
 * that relayed (limited) connection.
 */
let nodes: TestNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.map(async n => { await n.stop(); await rm(n.home, { recursive: true, force: true }) }))
  nodes = []
})

interface LogLine { event: string, fields: Record<string, unknown> }

async function start (init: Parameters<typeof createNode>[0], logs?: LogLine[]): Promise<TestNode> {
  const node = await createNode({ home: await tempHome(), log: (event, fields = {}) => logs?.push({ event, fields }), ...init })
  nodes.push(node)
  return node
}

async function relayedMesh (limits: boolean | RelayServerLimits = true) {
  // The relay is the only path between the two, so it carries their spec's
  // market topics: it follows every spec. (In the wild the coordinator finds
  // the agent through the DHT and dials its /p2p-circuit address; here the DHT
  // is off so that the agent cannot learn the coordinator's direct address.)
  const relay = await start({ listen: ['/ip4/127.0.0.1/tcp/0'], relayServer: limits, follow: 'all' })
  const relayAddr = relay.multiaddrs()[0]!
  const agentLogs: LogLine[] = []
  // No listen address: reachable only through a relay reservation. On loopback
  // the agent could still dial the coordinator itself, which the coordinator's
  // NAT would stop in the wild; without the DHT it learns no address to dial.
  const agent = await start({ listen: [], bootstrap: [relayAddr], dht: false }, agentLogs)
  await waitFor(() => agent.reachability().status === 'relayed', { timeoutMs: 15_000, what: 'the agent to hold a relay reservation' })
  const coordinatorLogs: LogLine[] = []
  const coordinator = await start({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [relayAddr], relayClient: false, dht: false }, coordinatorLogs)
  const all = [relay, agent, coordinator]
  await waitForTopicPeers(all, TOPICS.specs)
  return { relay, agent, coordinator, agentLogs, coordinatorLogs }
}

/** The coordinator's open connections to the agent. */
function connectionsTo (from: TestNode, to: TestNode) {
  return from.libp2p.getConnections(peerIdFromString(to.peerId)).filter(c => c.status === 'open')
}

const big = (bytes: number): string => 'x'.repeat(bytes)

describe('jobs and sync over a circuit relay (127.0.0.1)', () => {
  it('the agent announces only a /p2p-circuit address; a job of nearly 1 MiB each way and a sync run over the relayed connection', async () => {
    const { agent, coordinator, coordinatorLogs, agentLogs } = await relayedMesh()
    expect(agent.multiaddrs().length).toBeGreaterThan(0)
    expect(agent.multiaddrs().every(a => a.includes('/p2p-circuit/'))).toBe(true)
    expect(agentLogs.some(l => l.event === 'reachability' && l.fields.status === 'relayed')).toBe(true)

    // The spec reaches the agent by gossip through the relay.
    const { id: specId } = await coordinator.publishSpec(sampleSpec('relayed-extract'))
    await waitFor(async () => await agent.getSpec(specId), { timeoutMs: 20_000, what: 'the spec on the agent' })
    const outputName = big(900 * 1024)
    await agent.serve(specId, async (input: any) => ({ entities: [{ name: outputName, confidence: 90 + (input.text.length % 2) }] }), { estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)

    const result = await coordinator.submitJob(specId, { text: big(900 * 1024) }, { bidWindowMs: 300 })
    expect(result.reason).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(result.attempts).toHaveLength(1)
    expect((result.output as any).entities[0].name).toHaveLength(900 * 1024)

    // The job went over a relayed connection: the only one between the two, limited by the relay.
    const connections = connectionsTo(coordinator, agent)
    expect(connections.length).toBeGreaterThan(0)
    for (const c of connections) {
      expect(c.remoteAddr.toString()).toContain('/p2p-circuit')
      expect(c.limits).toBeDefined()
    }
    // And sync ran over it too: the coordinator pulled from the agent when they identified.
    await waitFor(() => coordinatorLogs.some(l => l.event === 'sync.done' && l.fields.peer === agent.peerId), { what: 'a sync from the agent over the relayed connection' })
    expect(coordinatorLogs.filter(l => l.event === 'sync.failed' && l.fields.peer === agent.peerId)).toEqual([])
  })

  it('opens a fresh relayed connection before a job would pass the relay\'s data limit, so no attempt is cut short', async () => {
    // Room for one of these jobs per relayed connection, not two.
    const { agent, coordinator } = await relayedMesh({ dataLimitBytes: 3 * 1024 * 1024 })
    const { id: specId } = await coordinator.publishSpec(sampleSpec('relayed-limit'))
    await waitFor(async () => await agent.getSpec(specId), { timeoutMs: 20_000, what: 'the spec on the agent' })
    await agent.serve(specId, async () => ({ entities: [{ name: big(700 * 1024), confidence: 90 }] }), { estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 1)
    const seen = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const result = await coordinator.submitJob(specId, { text: big(700 * 1024) }, { bidWindowMs: 200 })
      expect(result.status).toBe('succeeded')
      expect(result.attempts).toHaveLength(1)
      for (const c of connectionsTo(coordinator, agent)) seen.add(c.id)
    }
    expect(seen.size).toBeGreaterThanOrEqual(2)
  })
})
