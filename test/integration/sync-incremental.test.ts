import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { rm } from 'node:fs/promises'
import type { Stream } from '@libp2p/interface'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { FramedStream } from '../../src/net/frames.ts'
import { startNode, stopAll, tempHome, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { signedReceipts, startHolding, storeReceipts, testKey } from '../helpers/receipts.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Issue 9, incremental sync, on real nodes and real LevelDB: a reconnect
 * exchanges only what the peer stored since the cursor it gave last time, the
 * cursor survives a restart, and a cursor is per peer, so a peer lying about
 * it can starve us only of its own records. Receipts are signed here and
 * written into the server's store while it is stopped (what it would hold
 * after that many jobs), rather than by running 1,000 jobs.
 */
interface LogLine { event: string, fields: Record<string, unknown> }
interface SyncDone { peer: string, accepted: number, ignored: number, rejected: number, cursor?: number }

let nodes: TestNode[] = []
const homes: string[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
  await Promise.all(homes.splice(0).map(async home => { await rm(home, { recursive: true, force: true }) }))
})

/** A node whose log lines are kept, on a home that outlives it (stopAll removes the home). */
async function startLogged (home: string): Promise<{ node: TestNode, logs: LogLine[] }> {
  const logs: LogLine[] = []
  // --follow all: a node that keeps up with every receipt (an auditor); a bystander would sync none.
  const node = await startNode({ home, follow: 'all', log: (event, fields = {}) => { logs.push({ event, fields }) } })
  return { node, logs }
}

async function stop (node: TestNode): Promise<void> {
  await node.stop()
  nodes = nodes.filter(n => n !== node)
}

/** The n-th complete pull (1-based) this node made from `peer`. */
async function nthPull (logs: LogLine[], peer: string, n: number): Promise<SyncDone> {
  return await waitFor(() => logs.filter(l => l.event === 'sync.done' && l.fields.peer === peer && l.fields.cursor != null)[n - 1]?.fields as unknown as SyncDone | undefined, { timeoutMs: 30_000, what: `pull ${n} from ${peer}` })
}

const transferred = (r: SyncDone): number => r.accepted + r.ignored + r.rejected

describe('incremental sync (real nodes, real LevelDB)', () => {
  it('a reconnect after 1,000 receipts transfers only the new ones, and so does a restart of the client', async () => {
    const serverHome = await tempHome()
    const clientHome = await tempHome()
    homes.push(serverHome, clientHome)
    const coordinator = await testKey(31)
    const agent = await testKey(32)

    let server = (await startLogged(serverHome)).node
    nodes.push(server)
    const { id: specId } = await server.publishSpec(sampleSpec('sync-incremental'))
    await stop(server)
    await storeReceipts(serverHome, signedReceipts(1000, { specId, coordinator, agent, tag: 'a' }))

    const restartServer = async (): Promise<{ node: TestNode, logs: LogLine[] }> => {
      const started = await startLogged(serverHome)
      nodes.push(started.node)
      return started
    }
    let serverRun = await restartServer()
    server = serverRun.node
    let client = await startLogged(clientHome)
    nodes.push(client.node)
    await client.node.libp2p.dial(multiaddr(server.multiaddrs()[0]!))
    const first = await nthPull(client.logs, server.peerId, 1)
    expect(first.accepted).toBe(1001) // the spec and 1,000 receipts
    expect((await client.node.listReceipts()).length).toBe(1000)

    // 50 more arrive at the server while the client is away; the client reconnects.
    await stop(server)
    await storeReceipts(serverHome, signedReceipts(50, { specId, coordinator, agent, tag: 'b' }))
    serverRun = await restartServer()
    server = serverRun.node
    await client.node.libp2p.dial(multiaddr(server.multiaddrs()[0]!))
    const second = await nthPull(client.logs, server.peerId, 2)
    expect(second.accepted).toBe(50)
    expect(transferred(second), 'records sent on the reconnect: only the 50 new ones, not 1,050').toBeLessThanOrEqual(55)
    const served = await waitFor(() => serverRun.logs.find(l => l.event === 'sync.served' && l.fields.peer === client.node.peerId)?.fields, { what: 'the server to log what it served' })
    expect(served.records).toBe(transferred(second))
    expect((await client.node.listReceipts()).length).toBe(1050)

    // The client restarts (its cursors are on disk) while 50 more arrive.
    await stop(client.node)
    await stop(server)
    await storeReceipts(serverHome, signedReceipts(50, { specId, coordinator, agent, tag: 'c' }))
    serverRun = await restartServer()
    server = serverRun.node
    client = await startLogged(clientHome)
    nodes.push(client.node)
    await client.node.libp2p.dial(multiaddr(server.multiaddrs()[0]!))
    const third = await nthPull(client.logs, server.peerId, 1)
    expect(third.accepted).toBe(50)
    expect(transferred(third), 'records sent after the client restarted: only the 50 new ones').toBeLessThanOrEqual(55)
    expect((await client.node.listReceipts()).length).toBe(1100)
  }, 120_000)

  it('a cursor is per peer: a peer lying about it cannot make us skip the records we lack from another', async () => {
    const coordinator = await testKey(41)
    const agent = await testKey(42)
    const honestHome = await tempHome()
    homes.push(honestHome)
    const { node: honest } = await startHolding(honestHome, ['sync-liar'], ([specId]) => signedReceipts(20, { specId: specId!, coordinator, agent, tag: 'h' }))
    nodes.push(honest)

    // The liar answers every request with no record and a cursor far in the future.
    const liar = await startNode()
    nodes.push(liar)
    await liar.libp2p.unhandle(PROTOCOLS.sync)
    await liar.libp2p.handle(PROTOCOLS.sync, (stream: Stream) => {
      const lp = new FramedStream(stream, { maxFrameBytes: 131_072, frameTimeoutMs: 5_000 })
      void (async () => {
        await lp.read()
        await lp.write(new TextEncoder().encode(`{"end":true,"cursor":${Number.MAX_SAFE_INTEGER}}`))
        await stream.close()
      })().catch(err => { stream.abort(err as Error) })
    })

    const client = await startLogged(await tempHome())
    nodes.push(client.node)
    await client.node.libp2p.dial(multiaddr(liar.multiaddrs()[0]!))
    const lie = await nthPull(client.logs, liar.peerId, 1)
    expect(lie.cursor).toBe(Number.MAX_SAFE_INTEGER)
    await client.node.libp2p.dial(multiaddr(honest.multiaddrs()[0]!))
    const fromHonest = await nthPull(client.logs, honest.peerId, 1)
    expect(fromHonest.accepted).toBe(21)
    expect((await client.node.listReceipts()).length).toBe(20)
  }, 60_000)
})
