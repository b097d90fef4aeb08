import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { rm } from 'node:fs/promises'
import type { Stream } from '@libp2p/interface'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { encodeEnvelope } from '../../src/wire/envelope.ts'
import { FramedStream } from '../../src/net/frames.ts'
import { envelopeOfStoredSpec } from '../../src/net/spec-topic.ts'
import { startNode, stopAll, tempHome, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'
import { signedReceipts, startHolding, testKey } from '../helpers/receipts.ts'
import { waitFor } from '../helpers/wait.ts'
import { runCli } from '../helpers/cli.ts'
import { startApiServer } from '../../src/api/server.ts'
import type { StoredReceipt } from '../../src/store/receipt-store.ts'
import type { StoredSpec } from '../../src/node-types.ts'

/**
 * Issue 9, sync by query, on real nodes: a peer answers a request for the
 * receipts of one agent, of some specs or by id with those alone; a node that
 * never followed them fetches them on demand, and a forged receipt in an
 * answer is refused and stored nowhere; a malformed or oversized request is
 * refused unanswered, and the refusal names the field.
 */
interface LogLine { event: string, fields: Record<string, unknown> }
type Answer = { records: Array<{ type: string, id: string, body: { agent: string, specId: string } }>, end: unknown } | { refused: string }

let nodes: TestNode[] = []
const homes: string[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
  await Promise.all(homes.splice(0).map(async home => { await rm(home, { recursive: true, force: true }) }))
})

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** One sync exchange written by hand, as another implementation would: every frame of the answer, or how it was refused. */
async function rawSync (from: TestNode, to: TestNode, request: string | Uint8Array, protocol: string = PROTOCOLS.sync): Promise<Answer> {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(to.peerId), protocol)
  const lp = new FramedStream(stream, { maxFrameBytes: 131_072, frameTimeoutMs: 5_000 })
  const records: Array<{ type: string, id: string, body: { agent: string, specId: string } }> = []
  try {
    await lp.write(typeof request === 'string' ? encoder.encode(request) : request)
    for (;;) {
      const parsed = JSON.parse(decoder.decode(await lp.read({ signal: AbortSignal.timeout(10_000) }))) as { end?: boolean }
      if (parsed.end === true) return { records, end: parsed }
      records.push(parsed as typeof records[number])
    }
  } catch (err) {
    return { refused: (err as Error).message }
  }
}

/** A node holding `perAgent` receipts of each of two agents, one per spec; its log lines kept. */
async function holder (): Promise<{ node: TestNode, logs: LogLine[], specIds: [string, string], agents: [string, string], ids: string[] }> {
  const home = await tempHome()
  homes.push(home)
  const coordinator = await testKey(51)
  const agentA = await testKey(52)
  const agentB = await testKey(53)
  const logs: LogLine[] = []
  const { node, specIds, receipts } = await startHolding(home, ['query-a', 'query-b'], ([specA, specB]) => [
    ...signedReceipts(5, { specId: specA!, coordinator, agent: agentA, tag: 'qa' }),
    ...signedReceipts(5, { specId: specB!, coordinator, agent: agentB, tag: 'qb' })
  ], (event, fields = {}) => { logs.push({ event, fields }) })
  nodes.push(node)
  return { node, logs, specIds: [specIds[0]!, specIds[1]!], agents: [agentA.peerId, agentB.peerId], ids: receipts.map(r => r.id) }
}

/**
 * Replace a real node's sync handler by one that sends `spec` to every request
 * naming specs, and to a query by agent or by ids the matching receipts of
 * `records` (plus `extra` frames): a peer holding what the asker never
 * followed, as under per-spec topics, where a newcomer is sent no receipts on connect.
 */
async function answerQueriesOnly (node: TestNode, spec: StoredSpec, records: StoredReceipt[], extra: Uint8Array[] = []): Promise<void> {
  await node.libp2p.unhandle(PROTOCOLS.sync)
  await node.libp2p.handle(PROTOCOLS.sync, (stream: Stream) => {
    const lp = new FramedStream(stream, { maxFrameBytes: 131_072, frameTimeoutMs: 5_000 })
    void (async () => {
      const request = JSON.parse(decoder.decode(await lp.read())) as { kinds: string[], agent?: string, ids?: string[] }
      if (request.kinds.includes('spec')) await lp.write(encodeEnvelope(envelopeOfStoredSpec(spec)))
      if (request.agent != null || request.ids != null) {
        for (const r of records) {
          if (request.agent === r.envelope.body.agent || request.ids?.includes(r.id) === true) await lp.write(encodeEnvelope(r.envelope))
        }
        for (const frame of extra) await lp.write(frame)
      }
      await lp.write(encoder.encode('{"end":true,"cursor":0}'))
      await stream.close()
    })().catch(err => { stream.abort(err as Error) })
  })
}

describe('sync by query (real nodes, real LevelDB)', () => {
  it('answers a query by agent, by spec and by id with those receipts alone', async () => {
    const h = await holder()
    const asker = await startNode()
    nodes.push(asker)
    await asker.libp2p.dial(multiaddr(h.node.multiaddrs()[0]!))

    const byAgent = await rawSync(asker, h.node, JSON.stringify({ kinds: ['receipt'], agent: h.agents[0] }))
    if ('refused' in byAgent) throw new Error(byAgent.refused)
    expect(byAgent.records.length).toBe(5)
    expect(byAgent.records.every(r => r.body.agent === h.agents[0])).toBe(true)
    expect(byAgent.end).toEqual({ end: true, cursor: expect.any(Number) })

    const bySpec = await rawSync(asker, h.node, JSON.stringify({ kinds: ['receipt'], specs: [h.specIds[1]] }))
    if ('refused' in bySpec) throw new Error(bySpec.refused)
    expect(bySpec.records.length).toBe(5)
    expect(bySpec.records.every(r => r.body.specId === h.specIds[1])).toBe(true)

    const byId = await rawSync(asker, h.node, JSON.stringify({ kinds: ['receipt'], ids: [h.ids[7], 'bagaaieranosuchreceipt'] }))
    if ('refused' in byId) throw new Error(byId.refused)
    expect(byId.records.map(r => r.id)).toEqual([h.ids[7]])

    // Filters combine: agent A's receipts of spec B are none.
    const both = await rawSync(asker, h.node, JSON.stringify({ kinds: ['receipt'], agent: h.agents[0], specs: [h.specIds[1]] }))
    if ('refused' in both) throw new Error(both.refused)
    expect(both.records).toEqual([])
  }, 60_000)

  it('a newcomer fetches an agent\'s receipts on demand, and a forged receipt in the answer is refused and stored nowhere', async () => {
    const coordinator = await testKey(61)
    const agent = await testKey(62)
    // The answering peer is a real node whose sync handler is replaced: it sends the spec on
    // connect, and to a query by agent one sound receipt and one whose body was altered after signing.
    const forger = await startNode()
    nodes.push(forger)
    const stored = await forger.publishSpec(sampleSpec('query-forged'))
    const [sound, victim] = signedReceipts(2, { specId: stored.id, coordinator, agent, tag: 'f' })
    const forged = { ...victim!.envelope, body: { ...victim!.envelope.body, reason: 'rewritten after signing' } }
    await answerQueriesOnly(forger, stored, [sound!], [encoder.encode(JSON.stringify(forged))])

    const newcomer = await startNode()
    nodes.push(newcomer)
    await newcomer.libp2p.dial(multiaddr(forger.multiaddrs()[0]!))
    await waitFor(async () => await newcomer.getSpec(stored.id), { what: 'the spec at the newcomer' })
    expect(await newcomer.listReceipts({ agent: agent.peerId })).toEqual([])

    const fetched = await newcomer.fetchReceipts!({ agent: agent.peerId })
    expect(fetched).toEqual({ asked: 1, answered: 1, fetched: 1, from: 1, rejected: 1 })
    expect((await newcomer.listReceipts({ agent: agent.peerId })).map(r => r.id)).toEqual([sound!.id])
    expect(await newcomer.getReceipt(victim!.id)).toBeNull()
    // Taken into reputation before fetchReceipts resolved.
    expect(newcomer.reputation.report().agents.find(a => a.agent === agent.peerId)?.receipts).toBe(1)
  }, 60_000)

  it('refuses a malformed or oversized request unanswered and says which field', async () => {
    const h = await holder()
    const asker = await startNode()
    nodes.push(asker)
    await asker.libp2p.dial(multiaddr(h.node.multiaddrs()[0]!))
    const refusals = (): string[] => h.logs.filter(l => l.event === 'sync.refused').map(l => String(l.fields.reason))

    const cases: Array<{ request: string | Uint8Array, field: string, protocol?: string }> = [
      { request: JSON.stringify({ kinds: ['receipt'], agent: 'not-a-peer-id' }), field: 'agent' },
      { request: JSON.stringify({ kinds: ['receipt'], ids: Array.from({ length: 501 }, (_, i) => `bagaaiera${i}`) }), field: 'ids' },
      { request: JSON.stringify({ kinds: ['receipt'], since: 5, ids: [h.ids[0]] }), field: 'since' },
      { request: JSON.stringify({ kinds: ['receipt'], since: -1 }), field: 'since' },
      { request: JSON.stringify({ kinds: ['receipt'], everything: true }), field: 'request' },
      { request: 'not json', field: 'not JSON' },
      // 1.0.0 is answered as before: kinds alone.
      { request: JSON.stringify({ kinds: ['receipt'], since: 5 }), field: 'request', protocol: PROTOCOLS.syncV1 }
    ]
    for (const [i, c] of cases.entries()) {
      const answer = await rawSync(asker, h.node, c.request, c.protocol)
      expect(answer, `case ${i} is refused, not answered`).toHaveProperty('refused')
      const reason = await waitFor(() => refusals()[i], { what: `the refusal of case ${i} in the log` })
      expect(reason).toContain(c.field)
    }
    // A frame over the 131,072-byte limit is refused before it is read.
    const huge = await rawSync(asker, h.node, encoder.encode(JSON.stringify({ kinds: ['receipt'], pad: 'x'.repeat(140_000) })))
    expect(huge).toHaveProperty('refused')
    // And 1.0.0 still answers a plain request with everything, ending in the 12-byte end frame.
    const v1 = await rawSync(asker, h.node, JSON.stringify({ kinds: ['receipt'] }), PROTOCOLS.syncV1)
    if ('refused' in v1) throw new Error(v1.refused)
    expect(v1.records.length).toBe(10)
    expect(v1.end).toEqual({ end: true })
  }, 60_000)

  it('a newcomer\'s `specmesh reputation AGENT` and `receipt verify ID` fetch from peers on demand, say so, and name the fix when no peer has them', async () => {
    const coordinator = await testKey(71)
    const agent = await testKey(72)
    const peer = await startNode()
    nodes.push(peer)
    const stored = await peer.publishSpec(sampleSpec('query-cli'))
    const records = signedReceipts(3, { specId: stored.id, coordinator, agent, tag: 'cli' })
    await answerQueriesOnly(peer, stored, records)

    const newcomer = await startNode()
    nodes.push(newcomer)
    const api = await startApiServer({ node: newcomer })
    try {
      await newcomer.libp2p.dial(multiaddr(peer.multiaddrs()[0]!))
      await waitFor(async () => await newcomer.getSpec(stored.id), { what: 'the spec at the newcomer' })
      expect(await newcomer.listReceipts()).toEqual([])

      const reputation = await runCli(['reputation', agent.peerId, '--home', newcomer.home])
      expect(reputation.stderr).toBe('')
      expect(reputation.stdout).toContain('this node held no receipt naming')
      expect(reputation.stdout).toContain('fetched 3 from 1 of 1 connected peer')
      expect(reputation.stdout).toContain('query-cli')

      // A receipt of another agent, which the newcomer lacks: verify fetches it by id.
      const [extra] = signedReceipts(1, { specId: stored.id, coordinator, agent: await testKey(73), tag: 'cli-id' })
      await answerQueriesOnly(peer, stored, [...records, extra!])
      const verify = await runCli(['receipt', 'verify', extra!.id, '--home', newcomer.home])
      expect(verify.stdout).toContain('this node held no receipt with this id: fetched 1 from 1 of 1 connected peer')
      expect(verify.stdout).toContain(`receipt ${extra!.id}`)
      expect(await newcomer.getReceipt(extra!.id)).not.toBeNull()

      const stranger = (await testKey(74)).peerId
      const missing = await runCli(['reputation', stranger, '--home', newcomer.home])
      expect(missing.code).not.toBe(0)
      expect(missing.stderr).toContain('connected peer')
      expect(missing.stderr).toContain('--bootstrap')
    } finally {
      await api.close()
    }
  }, 90_000)
})
