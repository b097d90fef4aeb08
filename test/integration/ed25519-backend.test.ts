import { afterEach, describe, expect, it } from 'vitest'
import { startNode, stopAll, type TestNode } from '../helpers/mesh.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

describe('the Ed25519 backend a node runs', () => {
  it('is logged once as the node starts, so an operator sees libsodium or the fallback and why', async () => {
    const logged: Array<{ event: string, fields?: Record<string, unknown> }> = []
    nodes.push(await startNode({ log: (event, fields) => { logged.push({ event, fields }) } }))
    const lines = logged.filter(l => l.event === 'crypto.ed25519')
    expect(lines).toEqual([{ event: 'crypto.ed25519', fields: { backend: 'sodium-native', level: 'info', message: 'Ed25519 signatures by sodium-native' } }])
  })
})
