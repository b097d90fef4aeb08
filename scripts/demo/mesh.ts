/**
 * A small local mesh for the demo: real nodes in this process, on 127.0.0.1, each with
 * its own temporary data folder. The first node is everyone's bootstrap peer.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type Node } from '../../src/node.ts'
import { TOPICS } from '../../src/wire/constants.ts'

export interface DemoMesh {
  nodes: Node[]
  stop: () => Promise<void>
}

/** Polls until `condition` holds; throws naming `what` after `timeoutMs`. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export async function startDemoMesh (count: number): Promise<DemoMesh> {
  const nodes: Node[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async n => {
      await n.stop()
      await rm(n.home, { recursive: true, force: true })
    }))
  }
  try {
    for (let i = 0; i < count; i++) {
      const home = await mkdtemp(join(tmpdir(), 'specmesh-demo-'))
      nodes.push(await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: i === 0 ? [] : [nodes[0]!.multiaddrs()[0]!] }))
    }
    // Specs need a mesh before the first is published; a spec's own market
    // topics are joined as agents serve it and a coordinator submits to it.
    await until(() => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(TOPICS.specs).length > 0), `every node to see a peer on ${TOPICS.specs}`)
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, stop }
}
