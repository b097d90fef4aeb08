import { afterEach, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { seal, encodeEnvelope, type Envelope } from '../../src/wire/envelope.ts'
import { canonicalBytes } from '../../src/wire/canonical.ts'
import { MAX_INPUT_BYTES, PROTOCOLS } from '../../src/wire/constants.ts'
import { execStream } from '../../src/market/exec-protocol.ts'
import { openClaim } from '../../src/market/validators.ts'
import { verifyReceipt } from '../../src/market/receipt-verify.ts'
import type { AwardBody, BidBody } from '../../src/market/messages.ts'
import { startMesh, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { specTopic } from '../../src/market/topics.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { observeJobs } from '../helpers/observe.ts'
import { waitFor } from '../helpers/wait.ts'

let nodes: TestNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }
const weakOutput = { entities: [{ name: 'Ada', confidence: 10 }] }

/**
 * One coordinator and three agents, every node holding the spec and on its
 * topics (an agent that does not serve it in a test is there as a follower of
 * the spec: it sees and can forge or replay its traffic).
 */
async function market (specOverrides: Record<string, unknown> = {}) {
  nodes = await startMesh(4)
  const [coordinator, ...agents] = nodes as [TestNode, TestNode, TestNode, TestNode]
  const { id: specId } = await coordinator.publishSpec(sampleSpec('extract', specOverrides))
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
  await waitForSpecMesh(nodes, specId)
  return { coordinator, agents, specId }
}

async function receiptEverywhere (id: string): Promise<void> {
  await waitFor(async () => (await Promise.all(nodes.map(n => n.getReceipt(id)))).every(Boolean), { what: `receipt ${id} on every node` })
}

describe('the market on real nodes', () => {
  it('awards the documented winner and stores its success receipt on every node', async () => {
    const { coordinator, agents, specId } = await market()
    const served: string[] = []
    const prices = [0.3, 0.1, 0.2]
    for (const [i, agent] of agents.entries()) {
      await agent.serve(specId, async () => { served.push(agent.peerId); return goodOutput }, { priceUsd: prices[i], estimatedMs: 50 })
    }
    await waitForAdverts(coordinator, specId, 3)
    // Explore off: bids rank by posterior mean, no draw.
    // The ranking is the point: a window that every bid falls into even on a loaded machine (it closes
    // early once each advertised agent has bid, and with all but one in waits at least 500 ms, a tenth of it, for
    // the last), since a late cheapest bid would lose to a dearer one.
    const result = await coordinator.submitJob(specId, { text: 'Ada Lovelace wrote the first program' }, { bidWindowMs: 5000, award: { explore: false } })
    expect(result.status).toBe('succeeded')
    expect(result.output).toEqual(goodOutput)
    // Every agent is unknown (the same prior), so the cheapest bid scores highest.
    expect(result.receipt?.body.agent).toBe(agents[1].peerId)
    expect(served).toEqual([agents[1].peerId])
    expect(result.costUsd).toBe(0.1)
    expect(result.receipt?.body.outcome).toBe('success')
    await receiptEverywhere(result.receipt!.id)
    const job = await coordinator.getJob(result.jobId)
    expect(job?.status).toBe('succeeded')
    expect(job?.output).toEqual(goodOutput)
  })

  it('gives a criteria-failed receipt to an agent whose output breaks a criterion and moves to the next bid', async () => {
    const { coordinator, agents, specId } = await market()
    await agents[0].serve(specId, async () => weakOutput, { priceUsd: 0.05, estimatedMs: 50 })
    await agents[1].serve(specId, async () => goodOutput, { priceUsd: 0.2, estimatedMs: 50 })
    await waitForAdverts(coordinator, specId, 2)
    // Explore off: both unknown, the cheaper is tried first.
    // Long enough for both bids under load (it closes early once both have bid): the order of attempts is the point.
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 5000, award: { explore: false } })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => [a.agent, a.outcome])).toEqual([[agents[0].peerId, 'criteria-failed'], [agents[1].peerId, 'success']])
    expect(result.attempts[0]!.reason).toMatch(/confidence >= 75/)
    const failedReceiptId = result.attempts[0]!.receiptId!
    await receiptEverywhere(failedReceiptId)
    const stored = await agents[2].getReceipt(failedReceiptId)
    expect(stored?.envelope.body.outcome).toBe('criteria-failed')
    // Both attempts delivered work, so both are charged.
    expect(result.costUsd).toBeCloseTo(0.25)
  })

  it('aborts an agent that hangs at the deadline and records a timeout receipt', async () => {
    const { coordinator, agents, specId } = await market({ capacity: { maxConcurrentRequests: 3, maxRetries: 0 } })
    let abortedBy: unknown
    await agents[0].serve(specId, async (_input, { signal }) => await new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => { abortedBy = signal.reason; reject(signal.reason) })
    }), { priceUsd: 0.1, estimatedMs: 50 })
    const started = Date.now()
    const deadline = started + 1500
    const result = await coordinator.submitJob(specId, { text: 'x' }, { deadline, bidWindowMs: 200 })
    expect(result.status).toBe('failed')
    expect(result.receipt?.body.outcome).toBe('timeout')
    expect(Date.now()).toBeGreaterThanOrEqual(deadline)
    expect(Date.now() - deadline).toBeLessThan(1000)
    await waitFor(() => abortedBy != null, { what: 'the handler to be aborted' })
    expect((abortedBy as Error).name).toBe('DeadlineExceededError')
    expect(result.reason).toMatch(/timeout/)
    await receiptEverywhere(result.receipt!.id)
  })

  it('refuses a forged bid, a replayed award and an award for another agent', async () => {
    const { coordinator, agents, specId } = await market()
    await agents[0].serve(specId, async () => goodOutput, { priceUsd: 0.2, estimatedMs: 50 })

    // A bystander (agent 2) records every award that crosses gossip, to replay later.
    const seenAwards: Envelope<AwardBody>[] = []
    agents[2].libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic === specTopic(specId, 'awards')) seenAwards.push(JSON.parse(new TextDecoder().decode(event.detail.data)))
    })
    // Agent 1 forges a bid in agent 2's name, cheaper than any honest bid, on every job it sees.
    agents[1].libp2p.services.pubsub.addEventListener('message', event => {
      if (event.detail.topic !== specTopic(specId, 'jobs')) return
      const job = JSON.parse(new TextDecoder().decode(event.detail.data)) as Envelope
      const bid: BidBody = { jobId: job.id, specId, priceUsd: 0.01, estimatedMs: 1, load: { inFlight: 0, limit: 3 }, createdAt: Date.now(), expiresAt: Date.now() + 60_000 }
      const forged = { ...seal('bid', bid, agents[1].signer), signer: agents[2].peerId }
      agents[1].libp2p.services.pubsub.publish(specTopic(specId, 'bids'), encodeEnvelope(forged)).catch(() => {})
    })
    const result = await coordinator.submitJob(specId, { text: 'x' }, { bidWindowMs: 400 })
    expect(result.status).toBe('succeeded')
    expect(result.attempts.map(a => a.agent)).toEqual([agents[0].peerId])
    expect(coordinator.verdicts.some(v => v.topic === specTopic(specId, 'bids') && v.verdict === 'reject' && v.reason?.startsWith('bad-signature'))).toBe(true)

    // Replay: the award captured from gossip, already executed, is handed to its agent again.
    const award = await waitFor(() => seenAwards.find(a => a.body.jobId === result.jobId), { what: 'the award on gossip' })
    const replay = await sendAward(coordinator, agents[0].peerId, award, { text: 'x' })
    expect(replay.outcome).toBe('refused')
    expect(replay.reason).toMatch(/replay/)

    // The award names agent 0; delivered to agent 1 it is refused.
    const misdirected = await sendAward(coordinator, agents[1].peerId, award, { text: 'x' })
    expect(misdirected.outcome).toBe('refused')
    expect(misdirected.reason).toMatch(/another agent/)
  })

  it('a receipt altered after signing fails verification', async () => {
    const { coordinator, agents, specId } = await market()
    await agents[0].serve(specId, async () => goodOutput, { priceUsd: 0.1, estimatedMs: 50 })
    const input = { text: 'x' }
    const result = await coordinator.submitJob(specId, input, { bidWindowMs: 200 })
    const spec = (await coordinator.getSpec(specId))!.spec
    const honest = verifyReceipt(result.receipt, { spec, input, output: result.output })
    expect(honest.checks.filter(c => !c.ok)).toEqual([])
    expect(honest.ok).toBe(true)

    const altered = structuredClone(result.receipt!) as Envelope<Record<string, unknown>>
    altered.body.costUsd = 0.01
    const verdict = verifyReceipt(altered, { spec, input, output: result.output })
    expect(verdict.ok).toBe(false)
    expect(verdict.checks[0]).toMatchObject({ check: 'coordinator-signature', ok: false })

    // A re-signed receipt claiming success for an output that fails the criteria is caught too.
    const lie = verifyReceipt(result.receipt, { spec, input, output: weakOutput })
    expect(lie.ok).toBe(false)
    expect(lie.checks.find(c => c.check === 'output-hash')?.ok).toBe(false)
  })
})

/** Open an execution stream from `from` to `agent` and hand it an award and input, as a coordinator would. */
async function sendAward (from: TestNode, agent: string, award: Envelope<AwardBody>, input: unknown) {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(agent), PROTOCOLS.execute)
  const lp = execStream(stream)
  await lp.write(encodeEnvelope(award))
  await lp.write(canonicalBytes(input))
  const claim = openClaim((await lp.read()).subarray())
  await stream.close().catch(() => {})
  return claim.body
}

describe('the input size limit', () => {
  it('refuses an input over 1 MiB before anything is published, and takes one just under it', async () => {
    nodes = await startMesh(2)
    const [coordinator, bystander] = nodes as [TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('big-input'))
    await waitFor(() => bystander.getSpec(specId), { what: 'spec at the bystander' })
    // The observer follows the spec, so it sees every job call of it.
    bystander.subscriptions.join(specId, 'following')
    await waitForSpecMesh(nodes, specId, ['jobs'])
    const seen = observeJobs(bystander)
    const over = await coordinator.submitJob(specId, { text: 'x'.repeat(MAX_INPUT_BYTES) }).then(() => null, (err: Error) => err)
    expect(over?.name).toBe('InvalidJobError')
    expect(over?.message).toMatch(/^input: is larger than 1048576 bytes of JSON; send plain JSON within the limits$/)
    const under = await coordinator.submitJob(specId, { text: 'x'.repeat(MAX_INPUT_BYTES - 1000) }, { bidWindowMs: 20 })
    expect(under.reason).toMatch(/no agent bid/) // it went out; nobody serves the spec
    await waitFor(() => seen.length === 1, { what: 'the one job under the limit on gossip' })
    expect(seen.map(j => j.id)).toEqual([under.jobId])
  })
})

describe('a job every agent declines', () => {
  it('says the agents serving it within the ceiling and with room declined, and names the deadline (noBid.cause declined)', async () => {
    nodes = await startMesh(2)
    const [coordinator, agent] = nodes as [TestNode, TestNode]
    const { id: specId } = await coordinator.publishSpec(sampleSpec('declined'))
    await waitFor(() => agent.getSpec(specId), { what: 'spec at the agent' })
    let ran = false
    // Its estimate is longer than the job has: it serves the spec, is cheap enough and free, and bids nothing.
    await agent.serve(specId, async () => { ran = true; return goodOutput }, { priceUsd: 0.1, estimatedMs: 30_000 })
    await waitForSpecMesh(nodes, specId)
    await waitForAdverts(coordinator, specId, 1)
    const result = await coordinator.submitJob(specId, { text: 'x' }, { deadline: Date.now() + 3_000, bidWindowMs: 100 })
    expect(result.status).toBe('failed')
    expect(result.attempts).toEqual([])
    expect(result.reason).toMatch(/^no agent bid within the 100 ms bid window \(nor in 4 windows more\): 1 agent connected to this node serves this spec within the ceiling and has room, but sent no bid although connected, so it most likely declined: the deadline may be too close for its estimate \(--deadline\)/)
    expect(result.noBid).toMatchObject({ cause: 'declined', peers: 1, agents: [{ agent: agent.peerId, priceUsd: 0.1, room: expect.any(Number), connected: true }] })
    expect(result.noBid!.agents[0]!.room).toBeGreaterThan(0)
    expect((await coordinator.getJob(result.jobId))?.noBid?.cause).toBe('declined')
    expect(ran).toBe(false)
  })
})

describe('a job\'s input is what was submitted', () => {
  it('judges the output against the input as submitted, even when the caller changes its object while the job runs', async () => {
    nodes = await startMesh(2, undefined, { advertIntervalMs: 500 })
    const [coordinator, agent] = nodes as [TestNode, TestNode]
    // The criterion reads the input: the output must name the text it was given.
    const { id: specId } = await coordinator.publishSpec(sampleSpec('echo-input', { successCriteria: ['output.entities.all(e, e.name == input.text)'] }))
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on both nodes' })
    await waitForSpecMesh(nodes, specId)
    const callers: Array<{ text: string }> = []
    await agent.serve(specId, async (input) => {
      const text = (input as { text: string }).text
      // The caller rewrites its object after submitting, before the output is judged.
      for (const caller of callers) caller.text = 'rewritten by the caller'
      return { entities: [{ name: text, confidence: 90 }] }
    }, { priceUsd: 0.1, estimatedMs: 10 })
    await waitForAdverts(coordinator, specId, 1)

    const input = { text: 'as submitted' }
    callers.push(input)
    const result = await coordinator.submitJob(specId, input)
    expect(input.text).toBe('rewritten by the caller')
    expect(result.reason).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(result.output).toEqual({ entities: [{ name: 'as submitted', confidence: 90 }] })
  })
})
