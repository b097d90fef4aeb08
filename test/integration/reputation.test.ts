import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../src/crypto/signatures.ts'
import { encodeEnvelope, seal } from '../../src/wire/envelope.ts'
import { TOPICS } from '../../src/wire/constants.ts'
import { hashHex } from '../../src/crypto/content-id.ts'
import { canonicalBytes } from '../../src/wire/canonical.ts'
import type { ClaimBody, ReceiptBody } from '../../src/market/messages.ts'
import { rankBids } from '../../src/market/scoring.ts'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import { runCli } from '../../src/cli/main.ts'
import { attachReputation } from '../../src/reputation/attach.ts'
import { Reputation, type ReputationReport } from '../../src/reputation/reputation.ts'
import { startMesh, startNode, stopAll, waitForAdverts, waitForSpecMesh, type TestNode } from '../helpers/mesh.ts'
import { specTopic } from '../../src/market/topics.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { assertClose } from '../unit/reputation/helpers.ts'

let nodes: TestNode[] = []
let servers: ApiServer[] = []
afterEach(async () => {
  await Promise.allSettled(servers.map(async s => await s.close()))
  servers = []
  await stopAll(nodes)
  nodes = []
})

const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }
const weakOutput = { entities: [{ name: 'Ada', confidence: 10 }] }

async function newSigner (): Promise<Signer> {
  const key = await generateKeyPair('Ed25519')
  return signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString())
}

/** A valid success receipt that `coordinator` signs for `agent`, with the agent's signed claim: what a ring can mint for itself. */
function mintedReceipt (coordinator: Signer, agent: Signer, specId: string, n: number): Uint8Array {
  const now = Date.now()
  const jobId = `ring-job-${coordinator.peerId.slice(-6)}-${agent.peerId.slice(-6)}-${n}`
  const awardId = `ring-award-${n}-${jobId}`
  const outputHash = hashHex(canonicalBytes(goodOutput))
  const claim = seal('claim', { jobId, awardId, outcome: 'success', outputHash, outputSize: 40, startedAt: now - 50, endedAt: now - 10, costUsd: 0.01 } satisfies ClaimBody, agent)
  const body: ReceiptBody = {
    specId, jobId, awardId, agent: agent.peerId, attempt: 1, inputHash: hashHex(canonicalBytes({ text: jobId })), outputHash,
    startedAt: now - 50, endedAt: now - 10, deadline: now + 30_000, costUsd: 0.01, outcome: 'success', claim: claim as ReceiptBody['claim'], verdictAt: now - 5
  }
  return encodeEnvelope(seal('receipt', body, coordinator))
}

function captureIO (): { io: { stdout: (t: string) => void, stderr: (t: string) => void, env: NodeJS.ProcessEnv }, out: () => string } {
  let stdout = ''
  return { io: { stdout: t => { stdout += t }, stderr: () => {}, env: {} }, out: () => stdout }
}

describe('reputation on real nodes', () => {
  it('an honest agent with receipts from three independent trusted coordinators outranks a Sybil ring of five that award each other 50 successes; a restart rebuilds the same state', async () => {
    nodes = await startMesh(6)
    const [observer, c1, c2, c3, honest, ringHost] = nodes as [TestNode, TestNode, TestNode, TestNode, TestNode, TestNode]
    const coordinators = [c1, c2, c3]
    // "Independent": three distinct keys, each one the operator of the observing node chose to
    // trust (config.json trustedPeers), none vouched for by another. The observer itself is the
    // fourth pre-trusted peer.
    await writeFile(join(observer.home, 'config.json'), JSON.stringify({ trustedPeers: coordinators.map(c => c.peerId) }))
    // The node read config.json when it started (before the file existed here); a restart
    // would pick the new list up, and so does setting it on the running node.
    observer.reputation.setTrustedPeers([observer.peerId, ...coordinators.map(c => c.peerId)])
    const reputation = await attachReputation(observer)
    expect(reputation.trustedPeers().sort()).toEqual([observer.peerId, ...coordinators.map(c => c.peerId)].sort())

    const { id: specId, spec } = await observer.publishSpec(sampleSpec('extract-reputation'))
    const name = spec.name
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
    // The observer rates agents from the spec's receipts: it follows the spec.
    observer.subscriptions.join(specId, 'following')
    await honest.serve(specId, async () => goodOutput, { priceUsd: 0.3, estimatedMs: 20 })
    await waitForSpecMesh(nodes, specId)

    // Three jobs from each coordinator, all executed by the honest agent.
    await Promise.all(coordinators.map(async c => {
      await waitForAdverts(c, specId, 1)
      for (let i = 0; i < 3; i++) {
        const result = await c.submitJob(specId, { text: `job ${i} from ${c.peerId}` }, { bidWindowMs: 300 })
        expect(result.status).toBe('succeeded')
        expect(result.receipt?.body.agent).toBe(honest.peerId)
      }
    }))

    // The ring: five fresh keys, each awarded 50 successes by the other four, injected by gossip.
    const ring = await Promise.all(Array.from({ length: 5 }, newSigner))
    const minted: Uint8Array[] = []
    for (const [i, agent] of ring.entries()) {
      for (let n = 0; n < 50; n++) minted.push(mintedReceipt(ring[(i + 1 + (n % 4)) % 5]!, agent, specId, n))
    }
    for (const message of minted) await ringHost.libp2p.services.pubsub.publish(specTopic(specId, 'receipts'), message)

    await waitFor(() => reputation.stats().receipts >= 9 + 250, { timeoutMs: 20_000, what: `the observer to ingest every receipt (has ${reputation.stats().receipts})` })
    const report = reputation.report({ spec: name })
    expect(report.agents.length).toBe(6)
    const [best, ...rest] = report.agents
    expect(best!.agent).toBe(honest.peerId)
    expect(best!.score).toBeCloseTo(10 / 11, 4) // α = 1 + 9, β = 1, nothing decayed yet
    expect(best!.evidence.coordinators.map(c => c.coordinator).sort()).toEqual(coordinators.map(c => c.peerId).sort())
    expect(best!.evidence.coordinators.every(c => c.preTrusted && c.weight === 1 && c.success === 3)).toBe(true)
    for (const member of rest) {
      expect(ring.map(r => r.peerId)).toContain(member.agent)
      expect(member.score).toBe(0.5)
      expect(member.receipts).toBe(50)
      expect(member.evidence.outcomes.success).toBe(50)
      expect(member.evidence.untrusted).toEqual({ coordinators: 4, receipts: 50 })
    }
    for (const member of ring) expect(reputation.weightOf(member.peerId)).toBe(0)

    // Awards: the ring underbids the honest agent tenfold and still loses.
    const bid = (agent: string, priceUsd: number) => ({ bidId: `bid-${agent}`, agent, body: { jobId: 'j', specId, priceUsd, estimatedMs: 20, load: { inFlight: 0, limit: 3 }, createdAt: Date.now(), expiresAt: Date.now() + 1000 } })
    const ranked = rankBids([bid(ring[0]!.peerId, 0.03), bid(honest.peerId, 0.3)], 0.5, agent => reputation.forAward(agent, name))
    expect(ranked[0]!.agent).toBe(honest.peerId)

    // The local API and the CLI show the same ranking, with the evidence behind it.
    servers.push(await startApiServer({ node: observer }))
    const json = captureIO()
    expect(await runCli(['reputation', '--home', observer.home, '--spec', name, '--json'], json.io)).toBe(0)
    const viaCli = JSON.parse(json.out()) as ReputationReport
    expect(viaCli.agents.map(a => a.agent)).toEqual(report.agents.map(a => a.agent))
    expect(viaCli.agents[0]!.evidence.coordinators.length).toBe(3)
    const table = captureIO()
    expect(await runCli(['reputation', '--home', observer.home], table.io)).toBe(0)
    const lines = table.out().split('\n')
    expect(lines[0]).toMatch(/^AGENT\s+SPEC\s+SCORE\s+95% INTERVAL\s+ALPHA\s+BETA\s+RECEIPTS/)
    expect(lines[1]).toContain(honest.peerId.slice(-8))
    expect(lines[1]).toContain('0.909')
    const trust = captureIO()
    expect(await runCli(['reputation', '--trust', '--home', observer.home, '--json'], trust.io)).toBe(0)
    const trustReport = JSON.parse(trust.out()) as { peers: Array<{ peer: string, weight: number }> }
    expect(trustReport.peers.find(p => p.peer === ring[0]!.peerId)?.weight).toBe(0)

    // Restart the observer on the same data folder: rebuilt from the stored receipts, the state is the same.
    const at = Date.now()
    const before = reputation.snapshot(at)
    for (const server of servers) await server.close()
    servers = []
    await observer.stop()
    const restarted = await startNode({ home: observer.home })
    nodes[0] = restarted
    const rebuilt = await attachReputation(restarted)
    expect(rebuilt.stats().receipts).toBe(259)
    expect(assertClose(rebuilt.snapshot(at), before, 1e-9)).toBeLessThan(1e-9)
  })

  it('a stream of failed receipts lowers an agent\'s score until a fairly priced reliable agent outranks it; rebuild equals the incremental state', async () => {
    nodes = await startMesh(3, TOPICS.specs, { retryBaseMs: 10 })
    const [coordinator, reliable, flaky] = nodes as [TestNode, TestNode, TestNode]
    const reputation = await attachReputation(coordinator)
    const { id: specId, spec } = await coordinator.publishSpec(sampleSpec('extract-stream'))
    const name = spec.name
    await waitFor(async () => (await Promise.all(nodes.map(n => n.getSpec(specId)))).every(Boolean), { what: 'spec on every node' })
    let flakyOutput: unknown = goodOutput
    await flaky.serve(specId, async () => flakyOutput, { priceUsd: 0.1, estimatedMs: 20 })
    await reliable.serve(specId, async () => goodOutput, { priceUsd: 0.3, estimatedMs: 20 })
    await waitForAdverts(coordinator, specId, 2)
    // Explore off: awards rank by posterior mean, so they follow the record without a draw. Which agent
    // wins is the point: a window every bid falls into under load, closed once both advertised agents bid.
    const run = async (text: string) => await coordinator.submitJob(specId, { text }, { bidWindowMs: 5000, award: { explore: false } })
    const receiptsIn = async (count: number): Promise<void> => {
      await waitFor(() => reputation.stats().receipts >= count, { what: `${count} receipts ingested` })
    }

    // First the cheap agent does good work: it wins on price and earns a record.
    for (let i = 0; i < 3; i++) expect((await run(`good ${i}`)).receipt?.body.agent).toBe(flaky.peerId)
    await receiptsIn(3)
    const earned = reputation.forAward(flaky.peerId, name)
    expect(earned).toBeCloseTo(4 / 5, 4)

    // Then it fails the criteria on every job: each failure lowers its score (the job is
    // retried at the reliable agent, whose record grows), until the coordinator, whose
    // awards read this reputation, gives the next job to the reliable agent first.
    flakyOutput = weakOutput
    let last = earned
    let failures = 0
    for (let i = 0; i < 6; i++) {
      const result = await run(`bad ${i}`)
      if (result.attempts[0]!.agent === reliable.peerId) {
        expect(result.attempts.map(a => [a.agent, a.outcome])).toEqual([[reliable.peerId, 'success']])
        break
      }
      expect(result.attempts.map(a => [a.agent, a.outcome])).toEqual([[flaky.peerId, 'criteria-failed'], [reliable.peerId, 'success']])
      failures++
      await receiptsIn(3 + 2 * failures)
      const now = reputation.forAward(flaky.peerId, name)
      expect(now).toBeLessThan(last)
      last = now
    }
    // It took a few failures to overturn a good record, and then the work moved.
    expect(failures).toBeGreaterThan(0)
    expect(failures).toBeLessThan(6)
    const flakyRecord = reputation.score(flaky.peerId, name)!
    expect(flakyRecord.evidence.outcomes).toMatchObject({ success: 3, 'criteria-failed': failures })
    expect(flakyRecord.score).toBeCloseTo(4 / (5 + failures), 4)

    // The cheap agent with the poor record loses to the fairly priced reliable one, though by
    // price alone it would have won.
    const bids = [flaky, reliable].map((n, i) => ({ bidId: `bid-${i}`, agent: n.peerId, body: { jobId: 'j', specId, priceUsd: i === 0 ? 0.1 : 0.3, estimatedMs: 20, load: { inFlight: 0, limit: 3 }, createdAt: Date.now(), expiresAt: Date.now() + 1000 } }))
    const reputationOf = (agent: string, s: { name: string }): number => reputation.forAward(agent, s.name)
    expect(rankBids(bids, 0.5, agent => reputationOf(agent, spec))[0]!.agent).toBe(reliable.peerId)
    expect(rankBids(bids, 0.5)[0]!.agent).toBe(flaky.peerId)

    // Rebuilt from the stored receipts, the state is the incremental one.
    const rebuilt = new Reputation({ self: coordinator.peerId, specName: async id => (await coordinator.getSpec(id))?.spec.name ?? null })
    await rebuilt.rebuild(await coordinator.listReceipts())
    const at = Date.now()
    expect(assertClose(rebuilt.snapshot(at), reputation.snapshot(at), 1e-9)).toBeLessThan(1e-9)
  })
})
