import { afterEach, describe, expect, it } from 'vitest'
// The package root's sources (test/e2e/package.test.ts imports the built, installed package by name).
import { createNode, publishSpec, serve, submitJob, verifyReceipt, type Node } from '../../src/index.ts'
import { stopAll, tempHome, waitForAdverts, waitForTopicPeers } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { TOPICS } from '../../src/wire/constants.ts'

let nodes: Node[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

describe('the SDK from the package root', () => {
  it('createNode, publishSpec, serve and submitJob run a job end to end, and its receipt verifies', async () => {
    const requester = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(requester)
    const agent = await createNode({ home: await tempHome(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [requester.multiaddrs()[0]!] })
    nodes.push(agent)
    await waitForTopicPeers(nodes, TOPICS.specs)

    const { id, spec } = await publishSpec(requester, sampleSpec('sdk'))
    await waitFor(() => agent.getSpec(id), { what: 'the spec at the agent' })
    await serve(agent, id, async (input) => ({ entities: [{ name: (input as { text: string }).text, confidence: 99 }] }), { priceUsd: 0.05 })
    await waitForAdverts(requester, id, 1)

    const result = await submitJob(requester, id, { text: 'Grace' })
    expect(result.status).toBe('succeeded')
    expect(result.output).toEqual({ entities: [{ name: 'Grace', confidence: 99 }] })
    expect(verifyReceipt(result.receipt, { spec, input: { text: 'Grace' }, output: result.output }).ok).toBe(true)
  })
})
