/**
 * npm run bench:reputation — how fast signed receipts are verified, stored in
 * LevelDB and taken into reputation; plain LevelDB batched writes of records of
 * the same size in the same run (the floor); how long a reputation query takes
 * with 100,000 receipts stored; and how long a rebuild from the store takes
 * (and that it equals the incremental state).
 * Prints a table; the last line is one JSON object.
 *
 * BENCH_RECEIPTS (default 100000), BENCH_BATCH (1000), BENCH_THREADS (verify
 * threads, default os.availableParallelism()).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../src/crypto/signatures.ts'
import { seal, encodeEnvelope, type Envelope } from '../src/wire/envelope.ts'
import { openDb } from '../src/store/db.ts'
import { ReceiptStore, type StoredReceipt } from '../src/store/receipt-store.ts'
import { validateReceipt } from '../src/market/validators.ts'
import { RecentJobs } from '../src/market/recent-jobs.ts'
import type { ClaimBody, Outcome, ReceiptBody } from '../src/market/messages.ts'
import { specId as idOfSpec, type Spec } from '../src/spec/index.ts'
import { Reputation, type ReputationSnapshot } from '../src/reputation/reputation.ts'
import { ReceiptVerifierPool } from '../src/reputation/verify-pool.ts'
import { normalizedSample } from '../test/helpers/specs.ts'
import { summarize, table, saveResult, round } from './lib/bench.ts'

const RECEIPTS = Number(process.env.BENCH_RECEIPTS ?? 100_000)
const BATCH = Number(process.env.BENCH_BATCH ?? 1000)
const THREADS = process.env.BENCH_THREADS != null ? Number(process.env.BENCH_THREADS) : undefined
const PEERS = 100
const COORDINATORS = 20
const TRUSTED = 4
const SPEC_NAMES = 10
const SINGLE_THREAD_SAMPLE = Math.min(RECEIPTS, 5000)
const QUERY_SAMPLES = 2000
/** Receipts ingested one at a time after the bulk, each followed by a query: the live phase. */
const LIVE = 2000
const DAY_MS = 24 * 60 * 60 * 1000

// Deterministic pseudo-random numbers, so two runs bench the same stream.
let seed = 0x5eed
const random = (): number => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
const hex = (text: string): string => createHash('sha256').update(text).digest('hex')

// ---- population: 100 keys; the first 20 also coordinate; key 0 is this node, keys 1–4 its trusted peers.
const signers: Signer[] = []
for (let i = 0; i < PEERS; i++) {
  const key = await generateKeyPair('Ed25519')
  signers.push(signerFromPrivateKey(key, peerIdFromPrivateKey(key).toString()))
}
const self = signers[0]!
const trustedPeers = signers.slice(1, 1 + TRUSTED).map(s => s.peerId)
const quality = signers.map(() => 0.5 + random() * 0.48)
const specs: Spec[] = Array.from({ length: SPEC_NAMES }, (_, i) => normalizedSample(`bench-spec-${i}`))
const specIds = specs.map(idOfSpec)
const specById = new Map(specIds.map((id, i) => [id, specs[i]!]))
const specNameOf = new Map(specIds.map((id, i) => [id, specs[i]!.name]))

// ---- generate signed receipts, each success embedding the agent's signed claim.
function outcomeFor (agent: number): Outcome {
  const r = random()
  if (r < quality[agent]!) return 'success'
  const rest = random()
  return rest < 0.45 ? 'criteria-failed' : rest < 0.8 ? 'timeout' : rest < 0.9 ? 'refused' : 'error'
}

const now = Date.now()
const encoded: Uint8Array[] = []
const genStart = performance.now()
for (let i = 0; i < RECEIPTS + LIVE; i++) {
  const c = Math.floor(random() * COORDINATORS)
  let a = Math.floor(random() * PEERS)
  if (a === c) a = (a + 1) % PEERS
  const coordinator = signers[c]!
  const agent = signers[a]!
  const spec = pick(specIds)
  const outcome = outcomeFor(a)
  const endedAt = now - Math.floor(random() * 30 * DAY_MS)
  const startedAt = endedAt - 100 - Math.floor(random() * 5000)
  const jobId = `bench-job-${i}`
  const awardId = `bench-award-${i}`
  const delivered = outcome === 'success' || outcome === 'criteria-failed'
  const outputHash = delivered ? hex(`out-${i}`) : undefined
  const price = round(0.01 + random() * 0.4, 4)
  let claim: Envelope<ClaimBody> | null = null
  if (outcome !== 'timeout') {
    const claimBody: ClaimBody = {
      jobId,
      awardId,
      outcome: delivered ? 'success' : outcome as ClaimBody['outcome'],
      ...(delivered ? { outputHash, outputSize: 120 } : { reason: outcome === 'refused' ? 'at capacity' : 'handler exited 1' }),
      startedAt,
      endedAt,
      costUsd: delivered ? price : 0
    }
    claim = seal('claim', claimBody, agent)
  }
  const body: ReceiptBody = {
    specId: spec,
    jobId,
    awardId,
    agent: agent.peerId,
    attempt: 1,
    inputHash: hex(`in-${i}`),
    ...(outputHash != null ? { outputHash } : {}),
    startedAt,
    endedAt,
    deadline: endedAt + 30_000,
    costUsd: delivered ? price : 0,
    outcome,
    ...(delivered ? {} : { reason: outcome }),
    claim: claim as ReceiptBody['claim'],
    verdictAt: endedAt + 5
  }
  encoded.push(encodeEnvelope(seal('receipt', body, coordinator)))
}
const genSec = (performance.now() - genStart) / 1000
const live = encoded.splice(RECEIPTS, LIVE)
const meanBytes = Math.round(encoded.reduce((n, b) => n + b.byteLength, 0) / encoded.length)

const decoder = new TextDecoder()
const toRecord = (bytes: Uint8Array, receivedAt: number): StoredReceipt => {
  const envelope = JSON.parse(decoder.decode(bytes)) as Envelope<ReceiptBody>
  return { id: envelope.id, envelope, receivedAt }
}
const newReputation = (): Reputation => new Reputation({ self: self.peerId, trustedPeers })

// ---- single-thread baseline: the gossip path's validator, inline.
const ctx = { now: Date.now, specOf: async (id: string) => specById.get(id) ?? null, jobs: new RecentJobs(1) }
const singleStart = performance.now()
for (let i = 0; i < SINGLE_THREAD_SAMPLE; i++) await validateReceipt(encoded[i]!, ctx)
const singleVerifyPerSec = SINGLE_THREAD_SAMPLE / ((performance.now() - singleStart) / 1000)

const dirs: string[] = []
const tempDb = async (): Promise<ReturnType<typeof openDb>> => {
  const dir = await mkdtemp(join(tmpdir(), 'specmesh-bench-rep-'))
  dirs.push(dir)
  return await openDb(join(dir, 'db'))
}

// ---- ingest: verify on the pool (validateReceipt on every thread), update reputation, putMany per batch.
const pool = new ReceiptVerifierPool({ threads: THREADS, specs: specById })
await pool.verify(encoded.slice(0, 64)) // start the workers (module load) before the clock runs
const db = await tempDb()
const store = new ReceiptStore(db)
const reputation = newReputation()
for (const [id, name] of specNameOf) reputation.learnSpec(id, name)
let rejected = 0
const ingestCpu = process.cpuUsage()
const ingestStart = performance.now()
const batches: Uint8Array[][] = []
for (let start = 0; start < encoded.length; start += BATCH) batches.push(encoded.slice(start, start + BATCH))
// Two batches are verifying while the previous one is taken into reputation and written.
const inFlight = batches.slice(0, 2).map(async batch => await pool.verify(batch))
let writing: Promise<void> = Promise.resolve()
for (let k = 0; k < batches.length; k++) {
  const results = await inFlight[k]!
  if (k + 2 < batches.length) inFlight.push(pool.verify(batches[k + 2]!))
  const batch = batches[k]!
  const receivedAt = Date.now()
  const records: StoredReceipt[] = []
  for (let i = 0; i < batch.length; i++) {
    if (results[i] != null) { rejected++; continue }
    const record = toRecord(batch[i]!, receivedAt)
    records.push(record)
    reputation.add(record, specNameOf.get(record.envelope.body.specId)!)
  }
  await writing
  writing = store.putMany(records)
}
await writing
const ingestSec = (performance.now() - ingestStart) / 1000
const receiptsPerSec = (RECEIPTS - rejected) / ingestSec
const ingestCpuUsed = process.cpuUsage(ingestCpu)
/** Cores this process kept busy while ingesting: below the thread count, the machine was shared. */
const ingestCores = (ingestCpuUsed.user + ingestCpuUsed.system) / 1e6 / ingestSec
/** CPU time this process spent per receipt ingested, on all its threads: independent of other load on the machine. */
const cpuUsPerReceipt = (ingestCpuUsed.user + ingestCpuUsed.system) / (RECEIPTS - rejected)
await pool.close()
if (rejected > 0) throw new Error(`${rejected} generated receipts were rejected; the generator is wrong`)

// ---- the floor: plain batched LevelDB puts of the same records, one put each.
const rawDb = await tempDb()
let sameSize = encoded.map(b => toRecord(b, Date.now()))
const rawStart = performance.now()
for (let start = 0; start < sameSize.length; start += BATCH) {
  await rawDb.batch(sameSize.slice(start, start + BATCH).map(r => ({ type: 'put' as const, key: r.id, value: r })))
}
const rawPutsPerSec = sameSize.length / ((performance.now() - rawStart) / 1000)
await rawDb.close()
sameSize = []
encoded.length = 0

// ---- queries with every receipt stored. Warm: nothing changed since the last query.
const names = specs.map(s => s.name)
const agentsOf = signers.map(s => s.peerId)
for (const name of names) reputation.report({ spec: name })
const warmMs: number[] = []
for (let i = 0; i < QUERY_SAMPLES; i++) {
  const spec = pick(names)
  const t = performance.now()
  const report = reputation.report({ spec })
  warmMs.push(performance.now() - t)
  if (report.agents.length === 0) throw new Error(`no agents for ${spec}`)
}
// Live: each query follows a new receipt (verified, stored, ingested) for the spec queried.
const liveMs: number[] = []
for (const bytes of live) {
  const { envelope } = await validateReceipt(bytes, ctx)
  const record: StoredReceipt = { id: envelope.id, envelope, receivedAt: Date.now() }
  await store.put(record)
  const name = specNameOf.get(envelope.body.specId)!
  reputation.add(record, name)
  const t = performance.now()
  reputation.report({ spec: name })
  liveMs.push(performance.now() - t)
}
const awardUs: number[] = []
for (let i = 0; i < QUERY_SAMPLES * 10; i++) {
  const agent = pick(agentsOf)
  const spec = pick(names)
  const t = performance.now()
  reputation.forAward(agent, spec)
  awardUs.push((performance.now() - t) * 1000)
}
const agentsPerSpec = reputation.report({ spec: names[0]! }).agents.length

// ---- rebuild from the store, as a node does at start, and compare with the incremental state.
const rebuilt = newReputation()
const rebuildStart = performance.now()
await rebuilt.rebuildFromStore(store, { list: async () => specs.map((spec, i) => ({ id: specIds[i]!, spec })) })
const rebuildMs = performance.now() - rebuildStart
// Cold: the first report per spec after a rebuild describes every agent from scratch.
const coldMs: number[] = []
for (const name of names) {
  const t = performance.now()
  rebuilt.report({ spec: name })
  coldMs.push(performance.now() - t)
}
const at = Date.now()
const maxDiff = maxDifference(reputation.snapshot(at), rebuilt.snapshot(at))
if (!(maxDiff < 1e-9)) throw new Error(`rebuild differs from the incremental state by ${maxDiff}`)
const stats = reputation.stats()

await db.close()
await Promise.all(dirs.map(async dir => await rm(dir, { recursive: true, force: true })))

const query = summarize(liveMs)
const warm = summarize(warmMs)
const cold = summarize(coldMs)
const award = summarize(awardUs)
const stored = RECEIPTS + LIVE
console.log(table([
  { what: 'receipts generated and signed', value: `${stored} in ${round(genSec, 1)} s`, note: `${meanBytes} B each; ${COORDINATORS} coordinators, ${PEERS} agents, ${SPEC_NAMES} spec names` },
  { what: 'verify, 1 thread (validateReceipt, the gossip path)', value: `${Math.round(singleVerifyPerSec)} /s`, note: `${SINGLE_THREAD_SAMPLE} receipts, verification only` },
  { what: 'verify + reputation + ReceiptStore.putMany', value: `${Math.round(receiptsPerSec)} /s`, note: `validateReceipt on ${pool.threads} worker threads, batches of ${BATCH}; ${round(ingestCores, 1)} of ${availableParallelism()} cores busy` },
  { what: 'CPU per receipt ingested (all threads)', value: `${Math.round(cpuUsPerReceipt)} µs`, note: `→ ${Math.round(availableParallelism() * 1e6 / cpuUsPerReceipt)} /s if ${availableParallelism()} cores were all this process's` },
  { what: 'plain LevelDB batched puts, same records (floor)', value: `${Math.round(rawPutsPerSec)} /s`, note: 'one put per record, no index entries' },
  { what: `report for one spec, live (${agentsPerSpec} agents)`, value: `p50 ${query.p50} ms, p99 ${query.p99} ms`, note: `after each of ${LIVE} new receipts, ${RECEIPTS}+ stored` },
  { what: 'report for one spec, warm', value: `p50 ${warm.p50} ms, p99 ${warm.p99} ms`, note: `${QUERY_SAMPLES} queries, no receipt in between` },
  { what: 'report for one spec, cold', value: `p50 ${cold.p50} ms, max ${round(Math.max(...coldMs))} ms`, note: 'first query per spec after a rebuild' },
  { what: 'forAward (one agent, one spec)', value: `p50 ${award.p50} µs, p99 ${award.p99} µs`, note: `${QUERY_SAMPLES * 10} lookups: the award path` },
  { what: 'rebuild from the store (node start)', value: `${Math.round(rebuildMs)} ms`, note: `${stored} receipts; equals incremental state, max |Δ| ${maxDiff.toExponential(1)}` },
  { what: 'trust graph', value: `${stats.peers} peers`, note: `EigenTrust converged in ${stats.trustIterations} iterations` }
]))

const result = {
  receipts: RECEIPTS,
  receiptsPerSec: Math.round(receiptsPerSec),
  rawPutsPerSec: Math.round(rawPutsPerSec),
  queryMs: { p50: query.p50, p99: query.p99 }
}
await saveResult('bench-reputation', {
  ...result,
  verifyThreads: pool.threads,
  ingestCores: round(ingestCores),
  cpuUsPerReceipt: Math.round(cpuUsPerReceipt),
  singleThreadVerifyPerSec: Math.round(singleVerifyPerSec),
  warmQueryMs: warm,
  coldQueryMs: { p50: cold.p50, max: round(Math.max(...coldMs)) },
  forAwardUs: award,
  rebuildMs: Math.round(rebuildMs),
  agentsPerSpec,
  receiptBytes: meanBytes
})
console.log(JSON.stringify(result))

function maxDifference (x: ReputationSnapshot, y: ReputationSnapshot): number {
  let max = 0
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (typeof a === 'number' && typeof b === 'number') {
      max = Math.max(max, Math.abs(a - b))
      return
    }
    if (a != null && b != null && typeof a === 'object' && typeof b === 'object') {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)])
      for (const key of keys) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`)
      return
    }
    if (a !== b) throw new Error(`rebuild differs from the incremental state at ${path}: ${String(a)} vs ${String(b)}`)
  }
  walk(x, y, '$')
  return max
}
