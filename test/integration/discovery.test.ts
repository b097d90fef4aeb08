/**
 * Discovery through specmesh's DHT on real nodes (127.0.0.1): agents provide
 * the specs they serve, a coordinator that knows no agent with room looks the
 * providers up and dials them, and a spec is fetched by id from a provider
 * and checked exactly as the spec gossip topic checks it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'
import { specDiscovery, type SpecDiscovery } from '../../src/net/spec-discovery.ts'
import { specTopicValidator } from '../../src/net/spec-topic.ts'
import { openDb, type Db } from '../../src/store/db.ts'
import { SpecStore } from '../../src/store/spec-store.ts'
import { testKey } from '../helpers/receipts.ts'
import { encodeEnvelope, seal } from '../../src/wire/envelope.ts'
import { specId } from '../../src/spec/index.ts'
import { startNode, stopAll, tempHome, type TestNode } from '../helpers/mesh.ts'
import { createNode } from '../../src/node.ts'
import { MEET_AGENT_WAIT_MS } from '../../src/market/meet-agent.ts'
import { normalizedSample, sampleSpec } from '../helpers/specs.ts'
import { waitFor } from '../helpers/wait.ts'
import { PROTOCOLS } from '../../src/wire/constants.ts'
import { encodeVarint } from '../../src/net/frames.ts'

let nodes: TestNode[] = []
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }

/** A hub, and a node bootstrapped to it that has published a new spec (and serves nothing yet). */
async function hubAndSpecHolder (name: string): Promise<{ hub: TestNode, hubAddr: string, agent: TestNode, id: string }> {
  const hub = await startNode()
  nodes.push(hub)
  const hubAddr = hub.multiaddrs()[0]!
  const agent = await startNode({ bootstrap: [hubAddr] })
  nodes.push(agent)
  const { id } = await agent.publishSpec(sampleSpec(name))
  return { hub, hubAddr, agent, id }
}

/** A hub, and an agent bootstrapped to it that serves a new spec and has placed its provider record. */
async function agentProvidingThroughHub (name: string): Promise<{ hub: TestNode, hubAddr: string, agent: TestNode, id: string }> {
  const { hub, hubAddr, agent, id } = await hubAndSpecHolder(name)
  await agent.serve(id, async () => goodOutput, { priceUsd: 0.05 })
  await waitFor(() => agent.discovery.provided().some(p => p.specId === id && p.announced), { timeoutMs: 15_000, what: `${name}: the agent to place its provider record` })
  return { hub, hubAddr, agent, id }
}

describe('finding agents through the DHT', () => {
  it('agent and coordinator each know only a third node: the coordinator finds the agent as a provider, dials it, and the job succeeds', async () => {
    const { hub, hubAddr, agent, id } = await agentProvidingThroughHub('dht-extract')

    const coordinator = await startNode({ bootstrap: [hubAddr] })
    nodes.push(coordinator)
    expect(coordinator.peers().some(p => p.peerId === agent.peerId)).toBe(false)
    // What a coordinator that knows no agent with room does before calling for bids.
    await waitFor(async () => {
      await coordinator.discovery.connectToProviders(id).catch(() => [])
      return coordinator.peers().some(p => p.peerId === agent.peerId)
    }, { timeoutMs: 15_000, intervalMs: 200, what: 'the coordinator to look the agent up and dial it' })
    const providers = await coordinator.findSpecProviders(id)
    expect(providers.map(p => p.peerId)).toContain(agent.peerId)
    expect(providers.find(p => p.peerId === agent.peerId)!.addrs).toEqual(agent.multiaddrs().map(a => a.replace(`/p2p/${agent.peerId}`, '')))
    expect(providers.map(p => p.peerId)).not.toContain(hub.peerId)

    const result = await coordinator.submitJob(id, { text: 'Ada Lovelace' }, { bidWindowMs: 1000 })
    expect(result.status, result.reason).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(agent.peerId)
  })

  it('a coordinator that already has an agent with room keeps looking the spec up: it meets an agent that started serving after its first job, with no job asking it to', async () => {
    const { hubAddr, agent: first, id } = await agentProvidingThroughHub('dht-seek')
    const coordinator = await startNode({ bootstrap: [hubAddr] })
    nodes.push(coordinator)
    await waitFor(async () => await coordinator.getSpec(id), { timeoutMs: 15_000, what: 'the coordinator to hold the spec' })
    const result = await coordinator.submitJob(id, { text: 'Ada Lovelace' }, { bidWindowMs: 500 })
    expect(result.status, result.reason).toBe('succeeded')

    // A second agent arrives later; cut it off from the spec's parties (the hub, a bystander, relays none
    // of the spec's traffic). In a mesh this small the late agent's own DHT queries may dial the
    // coordinator again; in a large one only the coordinator's lookups of the spec bring them together.
    const late = await startNode({ bootstrap: [hubAddr] })
    nodes.push(late)
    await waitFor(async () => await late.getSpec(id), { timeoutMs: 15_000, what: 'the late agent to hold the spec' })
    await late.serve(id, async () => goodOutput, { priceUsd: 0.01 })
    await waitFor(() => late.discovery.provided().some(p => p.specId === id && p.announced), { timeoutMs: 15_000, what: 'the late agent to place its provider record' })
    for (const party of [coordinator, first]) {
      await late.libp2p.hangUp(peerIdFromString(party.peerId))
      await party.libp2p.hangUp(peerIdFromString(late.peerId))
    }
    expect(coordinator.peers().map(p => p.peerId)).not.toContain(late.peerId)
    // No job is submitted: the coordinator's background lookups find the late agent's record and dial it.
    await waitFor(() => coordinator.peers().some(p => p.peerId === late.peerId), { timeoutMs: 30_000, intervalMs: 100, what: 'the coordinator to dial the late agent' })
    await waitFor(() => coordinator.capacityOf(id).some(a => a.agent === late.peerId), { timeoutMs: 10_000, what: 'the coordinator to hold the late agent\'s capacity advert' })
    // The coordinator keeps looking the spec up, on its own schedule, after its only job (in a mesh
    // this small the late agent's DHT queries may have dialled it before its first background lookup).
    await waitFor(() => (coordinator.discovery.seeking().find(s => s.specId === id)?.lookups ?? 0) >= 1, { timeoutMs: 10_000, what: 'a background lookup of the spec by the coordinator' })
  })

  it('a lookup for a spec nobody provides finds nothing, and connects to nobody', async () => {
    const hub = await startNode()
    nodes.push(hub)
    const lonely = await startNode({ bootstrap: [hub.multiaddrs()[0]!] })
    nodes.push(lonely)
    await waitFor(() => lonely.peers().length > 0, { what: 'the node to join the hub' })
    const nobody = specId(normalizedSample('dht-nobody'))
    expect(await lonely.findSpecProviders(nobody)).toEqual([])
    expect(await lonely.discovery.connectToProviders(nobody)).toEqual([])
    expect(lonely.peers().map(p => p.peerId)).toEqual([hub.peerId])
  })
})

interface Lookup { began: number, ended?: number }

/**
 * Keep `coordinator` and `agent` apart until the coordinator's `lookupsBefore + 1`th provider lookup
 * asks the DHT, and delay every answer of its real DHT by `delayMs`; returns the lookups, when each
 * began and ended. On a mesh of hundreds of nodes a coordinator meets a spec's agents only through its
 * provider lookups, and a lookup takes seconds. Neither fits a unit-time test: among three nodes on
 * 127.0.0.1 the DHT's own upkeep (routing-table pings, its closest peers kept alive) connects every
 * node to every other within a second, and a lookup answers before a second job is even submitted,
 * which hides the race a large mesh shows. So the connection gater of each side refuses the other (as
 * it refuses a graylisted peer) until then, and the delay stands for the large DHT's slowness.
 */
async function meetOnlyThroughLookups (coordinator: TestNode, agent: TestNode, options: { delayMs: number, lookupsBefore?: number }): Promise<Lookup[]> {
  const lookups: Lookup[] = []
  const apart = (): boolean => lookups.length <= (options.lookupsBefore ?? 0)
  for (const [node, other] of [[coordinator, agent], [agent, coordinator]] as const) {
    const isGraylisted = node.guard.isGraylisted.bind(node.guard)
    node.guard.isGraylisted = peer => (peer === other.peerId && apart()) || isGraylisted(peer)
    await node.libp2p.hangUp(peerIdFromString(other.peerId))
  }
  expect(coordinator.peers().map(p => p.peerId)).not.toContain(agent.peerId)
  const routing = coordinator.libp2p.contentRouting
  const findProviders = routing.findProviders.bind(routing)
  routing.findProviders = async function * (cid, abort) {
    const lookup: Lookup = { began: Date.now() }
    try {
      await new Promise(resolve => setTimeout(resolve, options.delayMs))
      lookups.push(lookup)
      yield * findProviders(cid, abort)
    } finally {
      lookup.ended = Date.now()
    }
  }
  return lookups
}

/** A hub; an agent that holds a new spec but does not serve it yet; a coordinator that holds it and meets the agent only through its lookups after the first. */
async function agentToStartAfterFirstLookup (name: string): Promise<{ agent: TestNode, coordinator: TestNode, id: string, lookups: Lookup[] }> {
  const { hubAddr, agent, id } = await hubAndSpecHolder(name)
  const coordinator = await startNode({ bootstrap: [hubAddr] })
  nodes.push(coordinator)
  await waitFor(async () => await coordinator.getSpec(id), { timeoutMs: 15_000, what: 'the coordinator to hold the spec' })
  const lookups = await meetOnlyThroughLookups(coordinator, agent, { delayMs: 0, lookupsBefore: 1 })
  return { agent, coordinator, id, lookups }
}

/** Submit a job; once its own lookup has found nobody (nobody serves the spec yet), the agent starts serving. */
async function submitThenServe ({ agent, coordinator, id, lookups }: { agent: TestNode, coordinator: TestNode, id: string, lookups: Lookup[] }, options: { bidWindowMs?: number }): Promise<Awaited<ReturnType<TestNode['submitJob']>>> {
  const job = coordinator.submitJob(id, { text: 'Ada Lovelace' }, options)
  await waitFor(() => lookups[0]?.ended, { timeoutMs: 15_000, what: "the job's first provider lookup to end" })
  await agent.serve(id, async () => goodOutput, { priceUsd: 0.05 })
  return await job
}

describe('jobs that know no agent of the spec yet', () => {
  it('several jobs submitted together while the first provider lookup is still running share it, and all succeed', async () => {
    const { hubAddr, agent, id } = await agentProvidingThroughHub('dht-together')
    const coordinator = await startNode({ bootstrap: [hubAddr] })
    nodes.push(coordinator)
    await waitFor(async () => await coordinator.getSpec(id), { timeoutMs: 15_000, what: 'the coordinator to hold the spec' })
    expect(coordinator.capacityOf(id)).toEqual([])
    const lookups = await meetOnlyThroughLookups(coordinator, agent, { delayMs: 1500 })

    // Four jobs at once, each with a first-bid wait (5 windows) shorter than the lookup.
    const results = await Promise.all(Array.from({ length: 4 }, async (_, i) => await coordinator.submitJob(id, { text: `Ada ${i}` }, { bidWindowMs: 250 })))
    expect(results.map(r => r.reason ?? r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded'])
    expect(results.map(r => r.receipt?.body.agent)).toEqual(results.map(() => agent.peerId))
    // One lookup served them all: none began while the first was under way.
    const first = lookups[0]!
    expect(lookups.filter(l => l !== first && l.began < (first.ended ?? Infinity))).toEqual([])
  })

  it('a job submitted before any agent serves the spec waits for the next lookup, meets the agent that started meanwhile, and succeeds', async () => {
    const mesh = await agentToStartAfterFirstLookup('dht-later')
    const result = await submitThenServe(mesh, { bidWindowMs: 400 })
    expect(result.status, result.reason).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(mesh.agent.peerId)
    // It was published once the agent had advertised to it, so the auction closed when that agent bid,
    // not after its window (a job published before, and picked up late by gossip, waits its window out).
    expect(result.biddingMs).toBeLessThan(400)
  })

  it('a job with the default 100 ms window, submitted as the agent starts serving, waits for the lookup after its first and succeeds', async () => {
    const mesh = await agentToStartAfterFirstLookup('dht-default-window')
    // Its first-bid wait is 5 x 100 ms: shorter than the seeker's next lookup, 1 s after the first.
    const result = await submitThenServe(mesh, {})
    expect(result.status, result.reason).toBe('succeeded')
    expect(result.receipt?.body.agent).toBe(mesh.agent.peerId)
    expect(mesh.lookups.length).toBeGreaterThan(1)
  })

  it('a job to a spec nobody serves still fails, after the first seconds of the node seeking its agents and its first-bid wait, saying no agent serving it is connected', async () => {
    const hub = await startNode()
    nodes.push(hub)
    const lonely = await startNode({ bootstrap: [hub.multiaddrs()[0]!] })
    nodes.push(lonely)
    await waitFor(() => lonely.peers().length > 0, { what: 'the node to join the hub' })
    const { id } = await lonely.publishSpec(sampleSpec('dht-unserved'))
    const started = Date.now()
    const result = await lonely.submitJob(id, { text: 'Ada Lovelace' }, { bidWindowMs: 200 })
    expect(result.status).toBe('failed')
    expect(result.noBid?.cause).toBe('no-agent-serving')
    expect(result.reason).toContain('no agent serving this spec is connected (1 peer, none advertising it)')
    // The reason says the DHT was asked and listed nobody, so the user knows no agent was merely unreachable.
    expect(result.reason).toMatch(/this node's lookup of the spec's providers in the DHT \([\d.]+ s ago\) found none/)
    // The node had just begun seeking the spec's agents: the job waited MEET_AGENT_WAIT_MS to meet one
    // (its deadline leaves room), then 5 windows for a bid.
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(MEET_AGENT_WAIT_MS)
    expect(elapsed).toBeLessThan(MEET_AGENT_WAIT_MS + 5 * 200 + 3000)
    // Having sought that long, it fails the next job to the spec within its first-bid wait, as a node without the DHT would.
    const againAt = Date.now()
    const again = await lonely.submitJob(id, { text: 'Ada Lovelace' }, { bidWindowMs: 200 })
    expect(again.noBid?.cause).toBe('no-agent-serving')
    expect(Date.now() - againAt).toBeLessThan(MEET_AGENT_WAIT_MS)
  })

  it('a job whose only provider in the DHT has gone fails saying the DHT lists it but it never advertised', async () => {
    const { hubAddr, agent, id } = await agentProvidingThroughHub('dht-gone')
    // The agent dies without a word: its provider record stays at the hub until it expires.
    await agent.stop()
    nodes = nodes.filter(n => n !== agent)
    const coordinator = await startNode({ bootstrap: [hubAddr] })
    nodes.push(coordinator)
    await waitFor(() => coordinator.peers().length > 0, { what: 'the coordinator to join the hub' })
    const result = await coordinator.submitJob(id, { text: 'Ada Lovelace' }, { bidWindowMs: 200 })
    expect(result.status).toBe('failed')
    expect(result.noBid?.cause).toBe('no-agent-serving')
    expect(result.reason).toMatch(/the DHT lists 1 provider of it \(this node's lookup [\d.]+ s ago, 0 newly dialled\), but none sent this node a capacity advert: check that it is still serving and reachable/)
  })
})

describe('a node without the DHT', () => {
  it('runs the market as before, and says so when asked for providers', async () => {
    const home = await tempHome()
    const node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'], dht: false })
    nodes.push(node)
    expect(node.settings().values.dht).toBe(false)
    expect(node.libp2p.services.dht).toBeUndefined()
    const { id } = await node.publishSpec(sampleSpec('no-dht'))
    await node.serve(id, async () => goodOutput)
    await expect(node.findSpecProviders(id)).rejects.toThrow(/runs without the DHT/)
  })
})

describe('fetching a spec by id from a provider', () => {
  interface Peer { libp2p: SpecmeshLibp2p, discovery: SpecDiscovery, store: SpecStore, db: Db }
  /** A bare libp2p node with the DHT and spec discovery; `answers` is what it serves over spec-fetch. */
  async function peer (answers: Map<string, Uint8Array>): Promise<Peer> {
    const dir = await mkdtemp(join(tmpdir(), 'specmesh-fetch-'))
    const db = await openDb(join(dir, 'db'))
    const store = new SpecStore(db)
    const validate = specTopicValidator({ specs: store })
    const libp2p = await buildLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      services: {
        specDiscovery: specDiscovery({
          localSpec: async id => answers.get(id) ?? null,
          ingest: async data => {
            await validate(data)
            await waitFor(() => store.has(JSON.parse(new TextDecoder().decode(data)).id), { what: 'the fetched spec to be stored' })
          }
        })
      }
    })
    cleanups.push(async () => { await libp2p.stop(); await db.close(); await rm(dir, { recursive: true, force: true }) })
    return { libp2p, discovery: libp2p.services.specDiscovery as SpecDiscovery, store, db }
  }

  it('stores a spec fetched by id, and refuses one that is forged or is not the spec asked for', async () => {
    const signer = await testKey(41)
    const good = seal('spec', normalizedSample('fetch-good'), signer)
    const forgedSpec = normalizedSample('fetch-forged')
    const forged = { ...seal('spec', forgedSpec, signer), body: { ...forgedSpec, costUsd: 0 } }
    const forgedId = forged.id
    const asked = specId(normalizedSample('fetch-asked'))
    const answers = new Map<string, Uint8Array>([
      [good.id, encodeEnvelope(good)],
      [forgedId, new TextEncoder().encode(JSON.stringify(forged))],
      [asked, encodeEnvelope(good)]
    ])
    const provider = await peer(answers)
    const fetcher = await peer(new Map())
    await fetcher.libp2p.dial(provider.libp2p.getMultiaddrs()[0]!)
    for (const id of [good.id, forgedId, asked]) {
      await waitFor(async () => { await provider.discovery.provideSpec(id); return provider.discovery.provided().find(p => p.specId === id)?.announced }, { timeoutMs: 15_000, what: `the provider record for ${id}` })
    }

    await fetcher.discovery.fetchSpec(good.id)
    expect((await fetcher.store.get(good.id))?.signer).toBe(signer.peerId)

    const forgery = await fetcher.discovery.fetchSpec(forgedId).catch(e => e)
    expect(forgery.name).toBe('SpecFetchError')
    expect(forgery.message).toMatch(/envelope id is not the content id of its body/)
    expect(fetcher.store.has(forgedId)).toBe(false)

    const other = await fetcher.discovery.fetchSpec(asked).catch(e => e)
    expect(other.message).toContain(`instead of the spec asked for`)
    expect(fetcher.store.has(asked)).toBe(false)
    expect(fetcher.store.has(good.id)).toBe(true)

    const unknown = specId(normalizedSample('fetch-nobody'))
    await expect(fetcher.discovery.fetchSpec(unknown)).rejects.toThrow(/no provider of it is known to the DHT; 1 connected peer asked \(.*does not hold it\)/)
  })

  it('fetches a spec from a connected peer whose provider record has not reached the DHT yet', async () => {
    const signer = await testKey(42)
    const spec = seal('spec', normalizedSample('fetch-unprovided'), signer)
    // The peer holds the spec but never provides it: only asking connected peers can find it.
    const holder = await peer(new Map([[spec.id, encodeEnvelope(spec)]]))
    const fetcher = await peer(new Map())
    await fetcher.libp2p.dial(holder.libp2p.getMultiaddrs()[0]!)
    await fetcher.discovery.fetchSpec(spec.id)
    expect((await fetcher.store.get(spec.id))?.signer).toBe(signer.peerId)
  })

  it('frames the stream as sync and execution do: a request behind a padded length prefix, or announced past 1,024 bytes, is reset unanswered', async () => {
    const signer = await testKey(43)
    const spec = seal('spec', normalizedSample('fetch-framing'), signer)
    const provider = await peer(new Map([[spec.id, encodeEnvelope(spec)]]))
    const client = await peer(new Map())
    await client.libp2p.dial(provider.libp2p.getMultiaddrs()[0]!)
    const request = new TextEncoder().encode(JSON.stringify({ id: spec.id }))
    const ask = async (prefix: Uint8Array, body: Uint8Array): Promise<number> => {
      const stream = await client.libp2p.dialProtocol(provider.libp2p.peerId, PROTOCOLS.specFetch)
      let received = 0
      stream.addEventListener('message', event => { received += event.data.byteLength })
      stream.send(Uint8Array.from([...prefix, ...body]))
      await waitFor(() => stream.status !== 'open', { timeoutMs: 3000, what: 'the provider to reset the stream' })
      return received
    }
    // The same request in a minimal prefix is answered with the spec: only the framing differs.
    const answered = await client.libp2p.dialProtocol(provider.libp2p.peerId, PROTOCOLS.specFetch)
    let answer = 0
    answered.addEventListener('message', event => { answer += event.data.byteLength })
    answered.send(Uint8Array.from([...encodeVarint(request.byteLength), ...request]))
    await waitFor(() => answer > encodeEnvelope(spec).byteLength, { what: 'the spec in answer to a well-framed request' })
    await answered.close()

    const padded = Uint8Array.from([0x80 | request.byteLength, 0x00])
    expect(await ask(padded, request)).toBe(0)
    expect(await ask(encodeVarint(1025), new Uint8Array(1025))).toBe(0)
  })
})
