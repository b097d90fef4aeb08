import { afterEach, describe, expect, it } from 'vitest'
import { TOPICS } from '../../src/wire/constants.ts'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startMesh, startNode, stopAll, tempHome, waitForAdverts, waitForTopicPeers, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import type { JobResult, SubmitOptions } from '../../src/node-types.ts'

let nodes: TestNode[] = []
/**
 * The bid window of every job here, where which agent wins is the point: one that
 * every bid falls into on a loaded machine (a late bid would lose its award to the
 * other agent). It closes early once each advertised agent has bid (waitForAdverts
 * first), so a job takes as long as its bids do.
 */
const RANKING_WINDOW_MS = 5000
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

describe('awards follow reputation', () => {
  it('a cheap agent whose outputs fail loses the next award to a fairly priced reliable one', async () => {
    nodes = await startMesh(3, TOPICS.specs, { retryBaseMs: 50 })
    await waitForTopicPeers(nodes, TOPICS.specs)
    const [coordinator, cheap, reliable] = nodes as [TestNode, TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('rated', { capacity: { maxConcurrentRequests: 3, maxRetries: 2 } }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec everywhere', timeoutMs: 20_000 })
    await cheap.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 5 }] }), { priceUsd: 0.05, estimatedMs: 20 })
    await reliable.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 95 }] }), { priceUsd: 0.2, estimatedMs: 20 })
    await waitForAdverts(coordinator, specId, 2)

    // Both unknown, ranked by their posterior means (explore off: no draw), so
    // price decides and the cheap agent is tried first. The order is the point: a window
    // every bid falls into on a loaded machine, which closes once both advertised agents bid.
    const first = await coordinator.submitJob(specId, { text: 'a' }, { bidWindowMs: RANKING_WINDOW_MS, award: { explore: false } })
    expect(first.attempts.map(a => [a.agent, a.outcome])).toEqual([[cheap.peerId, 'criteria-failed'], [reliable.peerId, 'success']])
    expect(coordinator.reputation.forAward(cheap.peerId, 'rated')).toBeLessThan(0.5)
    expect(coordinator.reputation.forAward(reliable.peerId, 'rated')).toBeGreaterThan(0.5)

    // One failed receipt against it, one success for the other: the work moves.
    const second = await coordinator.submitJob(specId, { text: 'b' }, { bidWindowMs: RANKING_WINDOW_MS, award: { explore: false } })
    expect(second.attempts.map(a => [a.agent, a.outcome])).toEqual([[reliable.peerId, 'success']])
  })
})

/**
 * The market on real nodes: an incumbent at 0.04 with five successes on
 * record, and a new agent at 0.03 with an equally good handler, ceiling 0.10.
 */
async function incumbentAndNewcomer (name: string): Promise<{ coordinator: TestNode, incumbent: TestNode, newcomer: TestNode, submit: (text: string, award?: SubmitOptions['award']) => Promise<JobResult> }> {
  nodes = await startMesh(3, TOPICS.specs, { retryBaseMs: 50 })
  await waitForTopicPeers(nodes, TOPICS.specs)
  const [coordinator, incumbent, newcomer] = nodes as [TestNode, TestNode, TestNode]
  const { id: specId } = await coordinator.publishSpec(sampleSpec(name, { capacity: { maxConcurrentRequests: 3, maxRetries: 1 } }))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec everywhere', timeoutMs: 20_000 })
  const good = async (): Promise<unknown> => ({ entities: [{ name: 'x', confidence: 95 }] })
  await incumbent.serve(specId, good, { priceUsd: 0.04, estimatedMs: 20 })
  await waitForAdverts(coordinator, specId, 1)
  const submit = async (text: string, award?: SubmitOptions['award']): Promise<JobResult> => await coordinator.submitJob(specId, { text }, { bidWindowMs: RANKING_WINDOW_MS, maxUsd: 0.1, award })
  for (let i = 0; i < 5; i++) expect((await submit(`record ${i}`)).receipt?.body.agent).toBe(incumbent.peerId)
  await waitFor(() => (coordinator.reputation.score(incumbent.peerId, name)?.evidence.outcomes.success ?? 0) >= 5, { what: 'the incumbent\'s record' })
  await newcomer.serve(specId, good, { priceUsd: 0.03, estimatedMs: 20 })
  await waitForAdverts(coordinator, specId, 2)
  // Idle and serving: a live advert, nothing in flight.
  expect(coordinator.capacityOf(specId).find(c => c.agent === incumbent.peerId)).toMatchObject({ inFlight: 0 })
  return { coordinator, incumbent, newcomer, submit }
}

describe('exploration and the requester\'s award policy', () => {
  it('a new, cheaper agent with a good handler gets jobs within a bounded number of submissions while the incumbent is idle and serving', async () => {
    const { incumbent, newcomer, submit } = await incumbentAndNewcomer('explored')
    // Today's rule (0.7 × mean + 0.3 × price term, newcomer at 0.5) never awards it:
    // 0.7 × 0.857 + 0.3 × 0.6 = 0.78 against 0.35 + 0.3 × 0.7 = 0.56. Thompson sampling
    // gives it about one job in four at first (P of its draw beating the incumbent's),
    // so 25 submissions miss it with probability below 0.1%.
    const MAX_SUBMISSIONS = 25
    const winners: string[] = []
    while (winners.length < MAX_SUBMISSIONS && !winners.includes(newcomer.peerId)) {
      const result = await submit(`job ${winners.length}`)
      expect(result.status).toBe('succeeded')
      winners.push(result.receipt!.body.agent)
    }
    expect(winners, `the newcomer got no job in ${MAX_SUBMISSIONS} submissions`).toContain(newcomer.peerId)
    // Every job before it went to the incumbent: it was serving and had room throughout.
    expect(winners.slice(0, -1).every(w => w === incumbent.peerId)).toBe(true)
  })

  it('explore off, a minimum reputation and preferred agents decide the award as the requester says', async () => {
    const { coordinator, incumbent, newcomer, submit } = await incumbentAndNewcomer('steered')
    // Explore off: by posterior mean and price, no draw; the newcomer, known only by its
    // prior (0.68), never gets a critical job from the incumbent (0.91).
    for (let i = 0; i < 5; i++) expect((await submit(`critical ${i}`, { explore: 'off' })).receipt?.body.agent).toBe(incumbent.peerId)
    // Preferred: the newcomer first, whatever the draw.
    for (let i = 0; i < 3; i++) expect((await submit(`preferred ${i}`, { preferredAgents: [newcomer.peerId] })).receipt?.body.agent).toBe(newcomer.peerId)
    // Nobody is that good yet: the job fails before any attempt, saying why.
    const strict = await submit('strict', { minReputation: 0.99 })
    expect(strict.status).toBe('failed')
    expect(strict.attempts).toEqual([])
    expect(strict.reason).toMatch(/^no bid met the award policy: .*posterior mean 0\.\d{3} is below minReputation 0\.99/)
    // A bad policy is refused before anything is published, naming the field.
    await expect(submit('bad', { minReputation: 2 } as never)).rejects.toThrow(/award\.minReputation: 2 is not a success rate/)
    expect((await coordinator.listJobs()).some(j => j.status === 'bidding')).toBe(false)
  })

  it('a spec\'s award policy in config.json applies to every job for it; a job\'s own field wins', async () => {
    const home = await tempHome()
    await writeFile(join(home, 'config.json'), JSON.stringify({ awardPolicies: { 'by-config': { minReputation: 0.99 } } }))
    const coordinator = await startNode({ home, market: { retryBaseMs: 50 } })
    nodes = [coordinator]
    nodes.push(await startNode({ bootstrap: [coordinator.multiaddrs()[0]!] }))
    const agent = nodes[1]!
    await waitForTopicPeers(nodes, TOPICS.specs)
    const { id: specId } = await coordinator.publishSpec(sampleSpec('by-config'))
    await waitFor(async () => (await agent.getSpec(specId)) != null, { what: 'spec at the agent', timeoutMs: 20_000 })
    await agent.serve(specId, async () => ({ entities: [{ name: 'x', confidence: 95 }] }), { priceUsd: 0.04, estimatedMs: 20 })
    await waitForAdverts(coordinator, specId, 1)
    const refused = await coordinator.submitJob(specId, { text: 'a' }, { bidWindowMs: 300 })
    expect(refused.status).toBe('failed')
    expect(refused.reason).toMatch(/^no bid met the award policy: .*below minReputation 0\.99/)
    const allowed = await coordinator.submitJob(specId, { text: 'b' }, { bidWindowMs: 300, award: { minReputation: 0 } })
    expect(allowed.status).toBe('succeeded')
    expect(allowed.receipt?.body.agent).toBe(agent.peerId)
  })
})
