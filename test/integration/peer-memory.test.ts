/**
 * The peer store lives in the node's LevelDB: a node restarted on the same
 * data folder, with no bootstrap peer at all, redials the peers it knew.
 */
import { rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode } from '../../src/node.ts'
import { startNode, tempHome, type TestNode } from '../helpers/mesh.ts'
import { waitFor } from '../helpers/wait.ts'

const nodes: TestNode[] = []
const homes: string[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map(async n => await n.stop()))
  await Promise.all(homes.splice(0).map(async h => await rm(h, { recursive: true, force: true })))
})

describe('memory of peers', () => {
  it('a restarted node redials the peers it knew, with no bootstrap list', async () => {
    const a = await startNode()
    nodes.push(a)
    const home = await tempHome()
    homes.push(home, a.home)
    const first = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [a.multiaddrs()[0]!] })
    await waitFor(() => first.peers().some(p => p.peerId === a.peerId), { what: 'the first run to connect to A' })
    // Remembered once identify has told us A is a specmesh node.
    await waitFor(async () => (await first.libp2p.peerStore.get(a.libp2p.peerId)).metadata.has('specmesh/last-seen'), { what: 'A to be remembered' })
    await first.stop()
    await waitFor(() => !a.peers().some(p => p.peerId === first.peerId), { what: 'A to see the first run go' })

    const second = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(second)
    expect(second.peerId).toBe(first.peerId)
    expect(second.settings().values.bootstrap).toEqual([])
    // It retries after 1, 2, 4, 8 s… (src/net/reconnect.ts): 30 s is five rounds.
    await waitFor(() => second.peers().some(p => p.peerId === a.peerId), { timeoutMs: 30_000, what: 'the restarted node to redial A' })
  })

  // The lost-record bug this test once hit about 1 run in 6: libp2p's peer store takes a read
  // that fails for "no record yet", so an update whose signal aborted during the read (a DHT
  // routing-table change while the node stops) wrote the record afresh with only the update in
  // it, addresses and last-seen mark gone (src/store/peer-datastore.ts). The abort is tried at
  // every step of the update in turn, so one of them falls inside the read.
  it('an update of a peer record whose signal aborts part-way keeps the peer\'s addresses and last-seen mark', async () => {
    const a = await startNode()
    const b = await startNode({ bootstrap: [a.multiaddrs()[0]!] })
    nodes.push(a, b)
    homes.push(a.home, b.home)
    await waitFor(async () => (await b.libp2p.peerStore.get(a.libp2p.peerId)).metadata.has('specmesh/last-seen'), { what: 'B to remember A' })
    const before = await b.libp2p.peerStore.get(a.libp2p.peerId)
    expect(before.addresses.length).toBeGreaterThan(0)
    const outcomes = new Set<string>()
    for (let steps = 0; steps < 12; steps++) {
      const controller = new AbortController()
      const update = b.libp2p.peerStore.merge(a.libp2p.peerId, { tags: { [`probe-${steps}`]: { value: 1 } } }, { signal: controller.signal })
      for (let i = 0; i < steps; i++) await Promise.resolve()
      controller.abort()
      outcomes.add(await update.then(() => 'applied', () => 'aborted'))
      const after = await b.libp2p.peerStore.get(a.libp2p.peerId)
      expect(after.addresses.map(x => x.multiaddr.toString()), `abort after ${steps} steps`).toEqual(before.addresses.map(x => x.multiaddr.toString()))
      expect(after.metadata.has('specmesh/last-seen'), `abort after ${steps} steps`).toBe(true)
    }
    // Both kinds of step were reached: an abort before the read (the update refused) and one after it (applied).
    expect([...outcomes].sort()).toEqual(['aborted', 'applied'])
  })
})
