/**
 * Whatever a node would Reject it never sends (issue 10, item 3): a bid window
 * of 0 used to pass the SDK, the API and the CLI, go out on gossip, be Rejected
 * by every peer, and after three such jobs get the honest node graylisted. Now
 * each door refuses it with the wire's limit, and a job at the limit is Accepted.
 * Real nodes on 127.0.0.1, the real CLI as a child process, the real API server.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import { MAX_BID_WINDOW_MS, MIN_BID_WINDOW_MS } from '../../src/wire/constants.ts'
import { killSpawned, removeTempHomes, runCli, tempHome as cliHome } from '../helpers/cli.ts'
import { startMesh, stopAll, waitForAdverts, type TestNode } from '../helpers/mesh.ts'
import { observeJobs } from '../helpers/observe.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
let api: ApiServer | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
  await stopAll(nodes)
  nodes = []
  await killSpawned()
  await removeTempHomes()
})

describe('a node never sends what its peers would Reject: the bid window', () => {
  it('refuses bidWindowMs 0 in the SDK and the API without publishing, and runs a job at the limit', async () => {
    nodes = await startMesh(2)
    const [coordinator, agent] = nodes as [TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('limits'))
    await waitFor(async () => (await agent.getSpec(specId)) != null, { what: 'the spec on the agent' })
    await agent.serve(specId, async () => ({ entities: [{ name: 'Ada', confidence: 90 }] }), { priceUsd: 0.1, estimatedMs: 10 })
    await waitForAdverts(coordinator, specId, 1)
    const accepted = observeJobs(agent)

    for (let i = 0; i < 4; i++) {
      await expect(coordinator.submitJob(specId, { text: 'Ada' }, { bidWindowMs: 0 })).rejects.toMatchObject({
        name: 'InvalidJobError',
        problems: [{ path: 'bidWindowMs', message: expect.stringContaining(`at least ${MIN_BID_WINDOW_MS} ms`) }]
      })
    }
    await expect(coordinator.submitJob(specId, { text: 'Ada' }, { bidWindowMs: MAX_BID_WINDOW_MS + 1 })).rejects.toMatchObject({ name: 'InvalidJobError' })

    api = await startApiServer({ node: coordinator, writeInfo: false })
    const res = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ specId, input: { text: 'Ada' }, bidWindowMs: 0 })
    })
    expect(res.status).toBe(400)
    const body = await res.json() as { error: { problems: Array<{ path: string, message: string }> } }
    expect(body.error.problems).toEqual([{ path: 'bidWindowMs', message: expect.stringContaining(`at least ${MIN_BID_WINDOW_MS} ms`) }])

    // None of it reached the agent, so nothing was Rejected and the coordinator is in good standing.
    expect(agent.verdicts.filter(v => v.verdict === 'reject')).toEqual([])
    expect(accepted).toEqual([])
    // A job at the limit goes out and is Accepted (a 1 ms window is too short for any bid to count: that is its sender's choice).
    const atLimit = await coordinator.submitJob(specId, { text: 'Ada' }, { bidWindowMs: MIN_BID_WINDOW_MS })
    if (atLimit.status === 'failed') expect(atLimit.reason).toMatch(/no agent bid|bid/)
    await waitFor(() => accepted.some(j => j.id === atLimit.jobId), { what: 'the agent to accept the job at the limit' })
    const normal = await coordinator.submitJob(specId, { text: 'Ada' }, { bidWindowMs: 300 })
    expect(normal.status).toBe('succeeded')
    expect(agent.verdicts.filter(v => v.verdict === 'reject')).toEqual([])
    expect((agent.libp2p.services.pubsub as unknown as { getScore: (peer: string) => number }).getScore(coordinator.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('refuses --bid-window-ms 0 in the CLI with an error naming the limit, before contacting any daemon', async () => {
    const home = await cliHome()
    for (const [value, limit] of [['0', `at least ${MIN_BID_WINDOW_MS} ms`], [String(MAX_BID_WINDOW_MS + 1), `at most ${MAX_BID_WINDOW_MS} ms`], ['1.5', 'whole number']] as const) {
      const run = await runCli(['job', 'submit', 'bagaaieraexample', '--input', '-', '--bid-window-ms', value, '--home', home])
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`--bid-window-ms ${value} is not allowed`)
      expect(run.stderr).toContain(limit)
    }
  })
})
