import { OUTCOMES, type Outcome } from '../market/messages.ts'
import { NEUTRAL_REPUTATION } from '../market/scoring.ts'
import type { StoredReceipt } from '../store/receipt-store.ts'
import { eigenTrust, weightOf } from './trust.ts'
import { newcomerPrior, type NewcomerPrior } from './newcomer-prior.ts'
import { betaInterval } from '../util/beta.ts'
import { canonicalPeerIdOf } from '../crypto/signatures.ts'

/**
 * Local, subjective reputation from receipts (protocols/reputation.md).
 *
 * Per (agent, spec name), a Beta posterior over "the next attempt succeeds":
 *
 *   α = 1 + Σ_r w(c_r) · s_r · 2^(−(now − t_r)/H)
 *   β = 1 + Σ_r w(c_r) · (1 − s_r) · 2^(−(now − t_r)/H)
 *   score = α / (α + β)
 *
 * s_r is 1 for success, 0 for criteria-failed, timeout and error; a refusal is
 * counted but not scored. t_r = min(verdictAt, receivedAt). w(c) is this
 * node's trust in the coordinator c that signed the verdict (trust.ts): 1 for
 * pre-trusted peers (this node and the operator's trusted peers), EigenTrust
 * for everyone else. A receipt whose coordinator is its own agent is ignored.
 *
 * Incremental and cheap: every decayed sum is kept in one global time frame
 * (values are Σ 2^((t_r − T0)/H), read × 2^(−(now − T0)/H)), so adding a
 * receipt is O(1) and no stored sum is ever rescaled on read. Evidence is kept
 * per coordinator, so a change of trust re-weights an agent without re-reading
 * a receipt, and the trust vector is recomputed lazily, at most every
 * `trustRefreshMs` or `trustRefreshReceipts` scored receipts, over the small
 * graph of peers. `rebuild` from the stored receipts gives the same state.
 */

const DAY_MS = 24 * 60 * 60 * 1000

/** Evidence loses half its weight every 7 days. */
export const DEFAULT_HALF_LIFE_MS = 7 * DAY_MS
/** EigenTrust teleport weight a: the share of trust always returned to the pre-trusted peers. */
export const DEFAULT_TELEPORT = 0.2
/** A read recomputes a stale trust vector when it is this old… */
export const DEFAULT_TRUST_REFRESH_MS = 1000
/** …or when this many scored receipts arrived since. */
export const DEFAULT_TRUST_REFRESH_RECEIPTS = 1000
/** Beta(1, 1): what an agent with no (trusted) record scores; the award rule's stranger (scoring.ts). */
export const NEUTRAL_SCORE = NEUTRAL_REPUTATION

/**
 * s per outcome: 1 success, 0 failure, null counted but not scored: a busy (or
 * stopping) refusal, a job its requester cancelled and an agent that could not be
 * reached (it stopped) say nothing of the quality of its work.
 */
export const OUTCOME_SCORE: Readonly<Record<Outcome, number | null>> = {
  success: 1,
  'criteria-failed': 0,
  timeout: 0,
  refused: null,
  error: 0,
  cancelled: null,
  unreachable: null
}

/** Frame exponents above this (2^256) rebase every stored sum onto a later T0. */
const REBASE_ABOVE = 256

const OUTCOME_INDEX = new Map<string, number>(OUTCOMES.map((o, i) => [o, i]))
const SCORE_BY_INDEX = OUTCOMES.map(o => OUTCOME_SCORE[o])
const SUCCESS = OUTCOMES.indexOf('success')
/** Positions of the outcomes that count as failures (score 0). */
const FAILURES = OUTCOMES.flatMap((o, i) => OUTCOME_SCORE[o] === 0 ? [i] : [])

export type OutcomeCounts = Record<Outcome, number>

export interface ReputationOptions {
  /** This node's peer id: always pre-trusted. */
  self: string
  /** Peers the operator trusts (config.json `trustedPeers`). */
  trustedPeers?: Iterable<string>
  /** @default DEFAULT_HALF_LIFE_MS */
  halfLifeMs?: number
  /** @default DEFAULT_TELEPORT */
  teleport?: number
  /** @default DEFAULT_TRUST_REFRESH_MS */
  trustRefreshMs?: number
  /** @default DEFAULT_TRUST_REFRESH_RECEIPTS */
  trustRefreshReceipts?: number
  /** The name of a spec id, for `ingest`; null when unknown. */
  specName?: (specId: string) => string | null | undefined | Promise<string | null | undefined>
  /** @default Date.now */
  now?: () => number
}

export interface CoordinatorEvidence {
  coordinator: string
  /** How far this node trusts the coordinator's verdicts, in [0, 1]. */
  weight: number
  preTrusted: boolean
  /** Receipts this coordinator signed for the agent on this spec name: all, successes, failures (refusals are the rest). */
  receipts: number
  success: number
  failure: number
  /**
   * This coordinator's part of the agent's trust-weighted, decayed evidence
   * (α + β − 2), in [0, 1]. Decay scales every part alike, so shares do not
   * change with time, only with new receipts or new trust.
   */
  share: number
}

export interface AgentReputation {
  agent: string
  spec: string
  /** Posterior mean α / (α + β). */
  score: number
  alpha: number
  beta: number
  /** Receipts held for this agent and spec name, from any coordinator. */
  receipts: number
  /** Latest receipt time (min of verdictAt and receivedAt), epoch ms. */
  lastReceiptAt: number
  evidence: {
    /** Raw counts by outcome, whoever signed them. */
    outcomes: OutcomeCounts
    /** α − 1 and β − 1: decayed evidence weighted by coordinator trust. */
    weightedSuccess: number
    weightedFailure: number
    /** Coordinators whose verdicts count (weight > 0), in the order this node first heard from them. Shared: do not mutate. */
    coordinators: readonly CoordinatorEvidence[]
    /** Verdicts from coordinators this node does not trust at all: held, weighed 0. */
    untrusted: { coordinators: number, receipts: number }
  }
}

/** Mass of the credible interval the report gives with each score. */
export const CREDIBLE_MASS = 0.95

export interface ReportedAgent extends AgentReputation {
  /** The equal-tailed 95% credible interval of Beta(α, β): where the success rate lies, given the evidence. */
  interval: [number, number]
}

export interface ReputationReport {
  at: number
  spec: string | null
  halfLifeMs: number
  agents: ReportedAgent[]
  /** Per spec name in `agents`: the prior a new key starts from in awards (newcomer-prior.ts). */
  newcomerPriors: Record<string, NewcomerPrior>
}

/**
 * What the award rule reads for an agent on a spec (protocols/market.md, "Award
 * rule"): the newcomer prior of the spec's population updated with the agent's
 * own trust-weighted, decayed evidence.
 */
export interface AwardPosterior {
  alpha: number
  beta: number
}

export interface TrustEntry {
  peer: string
  /** Global EigenTrust value; sums to 1 over all peers. */
  trust: number
  /** Weight of this peer's verdicts, in [0, 1]. */
  weight: number
  preTrusted: boolean
  /** Receipts held that this peer signed as coordinator, and that name it as agent. */
  asCoordinator: number
  asAgent: number
}

export interface ReputationStats {
  /** Receipts taken into account (self-receipts and duplicates excluded). */
  receipts: number
  /** Of those, receipts that move α or β (not refusals). */
  scored: number
  selfReceipts: number
  duplicates: number
  unknownSpec: number
  peers: number
  trustVersion: number
  /** How many times the trust vector was computed, and the power iterations of the last one. */
  trustComputations: number
  trustIterations: number
}

export interface ReputationSnapshot {
  trust: TrustEntry[]
  agents: AgentReputation[]
}

interface Evidence {
  receipts: number
  outcomes: number[]
  /** Decayed successes and failures in the global frame. */
  s: number
  f: number
}

interface Entry {
  agent: string
  spec: string
  receipts: number
  outcomes: number[]
  lastAt: number
  byCoordinator: Map<number, Evidence>
  /** Σ w·s and Σ w·f in the global frame, valid for trust version `version`. */
  a: number
  b: number
  version: number
  /** Bumped by every receipt: keys `described`. */
  changes: number
  /** The time-independent part of the entry's description, for (changes, trust version). */
  described: Described | null
}

interface Described {
  changes: number
  trustVersion: number
  outcomes: OutcomeCounts
  coordinators: readonly CoordinatorEvidence[]
  untrusted: { coordinators: number, receipts: number }
}

interface Edge {
  s: number
  f: number
}

/** What the API and CLI need from a reputation source. */
export interface ReputationView {
  report (query?: { spec?: string }): ReputationReport
  trustReport (): TrustEntry[]
  forAward (agent: string, specName: string): number
  awardPosterior (agent: string, specName: string): AwardPosterior
}

export class Reputation implements ReputationView {
  readonly self: string
  readonly halfLifeMs: number
  readonly teleport: number
  private readonly now: () => number
  private readonly trustRefreshMs: number
  private readonly trustRefreshReceipts: number
  private readonly resolveSpecName?: ReputationOptions['specName']
  private readonly specNames = new Map<string, string>()
  private preTrusted: Set<string>

  private peerIndex = new Map<string, number>()
  private peerIds: string[] = []
  private asCoordinator: number[] = []
  private asAgent: number[] = []
  private entries = new Map<string, Map<string, Entry>>()
  private rows = new Map<number, Map<number, Edge>>()
  private seen = new Set<string>()
  /** Per spec name: scored receipts taken in, keys the newcomer prior cache. */
  private specChanges = new Map<string, number>()
  private priors = new Map<string, { key: string, at: number, prior: NewcomerPrior }>()
  /** T0 of the global decay frame; null until the first scored receipt. */
  private frameAt: number | null = null

  private trust: Float64Array = new Float64Array(0)
  private weights: Float64Array = new Float64Array(0)
  private trustVersion = 0
  private trustDirty = true
  private pendingScored = 0
  private trustComputedAt = -Infinity
  private trustIterations = 0
  private trustComputations = 0
  private counters = { receipts: 0, scored: 0, selfReceipts: 0, duplicates: 0, unknownSpec: 0 }

  constructor (options: ReputationOptions) {
    this.self = options.self
    this.halfLifeMs = options.halfLifeMs ?? DEFAULT_HALF_LIFE_MS
    this.teleport = options.teleport ?? DEFAULT_TELEPORT
    if (!(this.halfLifeMs > 0)) throw new RangeError('halfLifeMs must be positive')
    if (!(this.teleport > 0 && this.teleport <= 1)) throw new RangeError('teleport must be in (0, 1]')
    this.trustRefreshMs = options.trustRefreshMs ?? DEFAULT_TRUST_REFRESH_MS
    this.trustRefreshReceipts = options.trustRefreshReceipts ?? DEFAULT_TRUST_REFRESH_RECEIPTS
    this.resolveSpecName = options.specName
    this.now = options.now ?? Date.now
    this.preTrusted = new Set([this.self, ...(options.trustedPeers ?? [])])
  }

  /** Replace the operator's trusted peers (this node stays pre-trusted); trust is recomputed on the next read. */
  setTrustedPeers (peers: Iterable<string>): void {
    this.preTrusted = new Set([this.self, ...peers])
    this.markTrustStale(true)
  }

  trustedPeers (): string[] {
    return [...this.preTrusted]
  }

  /** Tell the spec name of a spec id (saves a lookup in `ingest`). */
  learnSpec (specId: string, name: string): void {
    this.specNames.set(specId, name)
  }

  /**
   * Take one stored receipt into account; resolves false when it changed
   * nothing (already seen, self-receipt, or its spec is unknown). Idempotent.
   */
  async ingest (record: StoredReceipt): Promise<boolean> {
    const specId = record.envelope.body.specId
    let name = this.specNames.get(specId)
    if (name === undefined) {
      const resolved = this.resolveSpecName == null ? null : await this.resolveSpecName(specId)
      if (resolved == null) {
        if (!this.seen.has(record.id)) this.counters.unknownSpec++
        return false
      }
      name = resolved
      this.specNames.set(specId, name)
    }
    return this.add(record, name)
  }

  /** `ingest` with the spec name already known: synchronous. */
  add (record: StoredReceipt, specName: string): boolean {
    if (this.seen.has(record.id)) {
      this.counters.duplicates++
      return false
    }
    this.seen.add(record.id)
    const body = record.envelope.body
    // Parties are keys: a record spelling one key two ways (stored by an older
    // node) is still that one key, and a key is never its own counterparty
    // (gossip rejects these too).
    const coordinator = canonicalPeerIdOf(record.envelope.signer) ?? record.envelope.signer
    const agent = canonicalPeerIdOf(body.agent) ?? body.agent
    if (coordinator === agent) {
      this.counters.selfReceipts++
      return false
    }
    const oi = OUTCOME_INDEX.get(body.outcome)
    if (oi === undefined) return false
    const ci = this.indexOf(coordinator)
    const ai = this.indexOf(agent)
    this.asCoordinator[ci]!++
    this.asAgent[ai]!++
    this.counters.receipts++

    const entry = this.entry(specName, agent)
    let evidence = entry.byCoordinator.get(ci)
    if (evidence == null) {
      evidence = { receipts: 0, outcomes: OUTCOMES.map(() => 0), s: 0, f: 0 }
      entry.byCoordinator.set(ci, evidence)
    }
    evidence.receipts++
    evidence.outcomes[oi]!++
    entry.changes++
    entry.receipts++
    entry.outcomes[oi]!++
    const at = Math.min(body.verdictAt, record.receivedAt)
    if (at > entry.lastAt) entry.lastAt = at

    const s = SCORE_BY_INDEX[oi]
    if (s == null) return true
    this.counters.scored++
    this.specChanges.set(specName, (this.specChanges.get(specName) ?? 0) + 1)
    const unit = this.unitAt(at)
    const ds = s * unit
    const df = (1 - s) * unit
    evidence.s += ds
    evidence.f += df
    let row = this.rows.get(ci)
    if (row == null) {
      row = new Map()
      this.rows.set(ci, row)
    }
    const edge = row.get(ai)
    if (edge == null) row.set(ai, { s: ds, f: df })
    else { edge.s += ds; edge.f += df }
    if (entry.version === this.trustVersion) {
      const w = this.weightAt(ci)
      entry.a += w * ds
      entry.b += w * df
    }
    this.markTrustStale(false)
    return true
  }

  /**
   * Forget everything and take `records` into account from scratch; then
   * recompute trust. Receipts ingested concurrently are kept (ingest is
   * idempotent), so subscribing to new receipts before rebuilding loses none.
   */
  async rebuild (records: AsyncIterable<StoredReceipt> | Iterable<StoredReceipt>): Promise<void> {
    this.reset()
    for await (const record of records) {
      const name = this.specNames.get(record.envelope.body.specId)
      if (name !== undefined) this.add(record, name)
      else await this.ingest(record)
    }
    this.refreshTrust()
  }

  /** Rebuild from a node's stores: spec names from the spec store, then every stored receipt. */
  async rebuildFromStore (
    receipts: { all: () => AsyncIterable<StoredReceipt> },
    specs: { list: () => Promise<Array<{ id: string, spec: { name: string } }>> }
  ): Promise<void> {
    for (const record of await specs.list()) this.learnSpec(record.id, record.spec.name)
    await this.rebuild(receipts.all())
  }

  /** The agent's score for an award on a spec: posterior mean, NEUTRAL_SCORE when nothing trusted is known. */
  forAward (agent: string, specName: string): number {
    const entry = this.entries.get(specName)?.get(agent)
    if (entry == null) return NEUTRAL_SCORE
    const now = this.now()
    this.ensureTrust(now)
    this.refreshEntry(entry)
    const decay = this.decayAt(now)
    const alpha = 1 + entry.a * decay
    const beta = 1 + entry.b * decay
    return alpha / (alpha + beta)
  }

  /**
   * The posterior the award rule draws from: Beta(α0 + Σ w·s·d, β0 + Σ w·(1 − s)·d)
   * with (α0, β0) the spec's newcomer prior. A key with no trusted record gets the prior itself.
   */
  awardPosterior (agent: string, specName: string): AwardPosterior {
    const prior = this.newcomerPrior(specName)
    const entry = this.entries.get(specName)?.get(agent)
    if (entry == null) return { alpha: prior.alpha, beta: prior.beta }
    this.refreshEntry(entry)
    const decay = this.decayAt(this.now())
    return { alpha: prior.alpha + entry.a * decay, beta: prior.beta + entry.b * decay }
  }

  /**
   * The prior of a new key on a spec name, from the agents rated there. Cached
   * until a receipt for the spec arrives, trust changes, or trustRefreshMs passes
   * (decay alone moves it slowly).
   */
  newcomerPrior (specName: string): NewcomerPrior {
    const now = this.now()
    this.ensureTrust(now)
    const key = `${this.specChanges.get(specName) ?? 0} ${this.trustVersion}`
    const cached = this.priors.get(specName)
    if (cached != null && cached.key === key && now - cached.at < this.trustRefreshMs) return cached.prior
    const decay = this.decayAt(now)
    const group = this.entries.get(specName)
    const population: Array<{ alpha: number, beta: number }> = []
    for (const entry of group?.values() ?? []) {
      this.refreshEntry(entry)
      population.push({ alpha: 1 + entry.a * decay, beta: 1 + entry.b * decay })
    }
    const prior = newcomerPrior(population)
    this.priors.set(specName, { key, at: now, prior })
    return prior
  }

  /** The full record of one agent on one spec name, or null when no receipt names it. */
  score (agent: string, specName: string): AgentReputation | null {
    const entry = this.entries.get(specName)?.get(agent)
    if (entry == null) return null
    const now = this.now()
    this.ensureTrust(now)
    return this.describe(entry, this.decayAt(now))
  }

  /** Every agent with receipts for `spec` (or for any spec), best score first. */
  list (query: { spec?: string } = {}): AgentReputation[] {
    const now = this.now()
    this.ensureTrust(now)
    const decay = this.decayAt(now)
    const out: AgentReputation[] = []
    const groups = query.spec != null ? [this.entries.get(query.spec)] : [...this.entries.values()]
    for (const group of groups) {
      if (group == null) continue
      for (const entry of group.values()) out.push(this.describe(entry, decay))
    }
    return out.sort(byScore)
  }

  report (query: { spec?: string } = {}): ReputationReport {
    const agents = this.list(query).map(a => ({ ...a, interval: betaInterval(a.alpha, a.beta, CREDIBLE_MASS) }))
    const newcomerPriors: Record<string, NewcomerPrior> = {}
    for (const name of new Set([...(query.spec != null ? [query.spec] : []), ...agents.map(a => a.spec)])) newcomerPriors[name] = this.newcomerPrior(name)
    return { at: this.now(), spec: query.spec ?? null, halfLifeMs: this.halfLifeMs, agents, newcomerPriors }
  }

  /** Every peer the receipts name, with its trust and weight, most trusted first. */
  trustReport (): TrustEntry[] {
    this.ensureTrust(this.now())
    return this.peerIds.map((peer, i) => this.trustEntry(peer, i)).sort((x, y) => y.trust - x.trust || cmp(x.peer, y.peer))
  }

  /** The weight this node gives verdicts signed by `peer`, in [0, 1]. */
  weightOf (peer: string): number {
    this.ensureTrust(this.now())
    const i = this.peerIndex.get(peer)
    if (i == null) return this.preTrusted.has(peer) ? 1 : 0
    return this.weightAt(i)
  }

  /** Recompute the trust vector now (reads do this lazily). */
  refreshTrust (): void {
    for (const peer of this.preTrusted) this.indexOf(peer)
    const pre: number[] = []
    for (const peer of this.preTrusted) pre.push(this.peerIndex.get(peer)!)
    const { trust, iterations } = eigenTrust({ size: this.peerIds.length, preTrusted: pre, rows: this.rows }, { teleport: this.teleport })
    const preSet = new Set(pre)
    // Verdict volumes (decayed, same frame for all, so their ratios do not depend on time).
    const volume = new Float64Array(trust.length)
    for (const [ci, row] of this.rows) {
      let v = 0
      for (const e of row.values()) v += e.s + e.f
      volume[ci] = v
    }
    let referenceSum = 0
    let referenceCount = 0
    for (const i of pre) {
      if (volume[i]! > 0) { referenceSum += volume[i]!; referenceCount++ }
    }
    const referenceVolume = referenceCount > 0 ? referenceSum / referenceCount : 0
    const weights = new Float64Array(trust.length)
    let changed = false
    for (let i = 0; i < trust.length; i++) {
      weights[i] = weightOf({ trust: trust[i]!, preTrusted: preSet.has(i), teleport: this.teleport, preTrustedCount: pre.length, volume: volume[i]!, referenceVolume })
      if (weights[i] !== this.weightAt(i)) changed = true
    }
    this.trust = trust
    this.weights = weights
    if (changed) this.trustVersion++
    this.trustIterations = iterations
    this.trustComputations++
    this.trustDirty = false
    this.pendingScored = 0
    this.trustComputedAt = this.now()
  }

  /** The whole state as plain data at time `at`, trust freshly computed: for comparing two instances. */
  snapshot (at: number = this.now()): ReputationSnapshot {
    if (this.trustDirty) this.refreshTrust()
    const decay = this.decayAt(at)
    const agents: AgentReputation[] = []
    for (const group of this.entries.values()) {
      for (const entry of group.values()) {
        const described = this.describe(entry, decay)
        described.evidence.coordinators = [...described.evidence.coordinators].sort((x, y) => cmp(x.coordinator, y.coordinator))
        agents.push(described)
      }
    }
    agents.sort((x, y) => cmp(x.spec, y.spec) || cmp(x.agent, y.agent))
    const trust = this.peerIds.map((peer, i) => this.trustEntry(peer, i)).sort((x, y) => cmp(x.peer, y.peer))
    return { trust, agents }
  }

  stats (): ReputationStats {
    return { ...this.counters, peers: this.peerIds.length, trustVersion: this.trustVersion, trustComputations: this.trustComputations, trustIterations: this.trustIterations }
  }

  private reset (): void {
    this.peerIndex = new Map()
    this.peerIds = []
    this.asCoordinator = []
    this.asAgent = []
    this.entries = new Map()
    this.rows = new Map()
    this.seen = new Set()
    this.specChanges = new Map()
    this.priors = new Map()
    this.frameAt = null
    this.trust = new Float64Array(0)
    this.weights = new Float64Array(0)
    this.trustVersion++
    this.counters = { receipts: 0, scored: 0, selfReceipts: 0, duplicates: 0, unknownSpec: 0 }
    this.markTrustStale(true)
  }

  private markTrustStale (now: boolean): void {
    this.trustDirty = true
    this.pendingScored++
    if (now) this.trustComputedAt = -Infinity
  }

  private ensureTrust (now: number): void {
    if (!this.trustDirty) return
    if (this.pendingScored < this.trustRefreshReceipts && now - this.trustComputedAt < this.trustRefreshMs) return
    this.refreshTrust()
  }

  private indexOf (peer: string): number {
    let i = this.peerIndex.get(peer)
    if (i == null) {
      i = this.peerIds.length
      this.peerIndex.set(peer, i)
      this.peerIds.push(peer)
      this.asCoordinator.push(0)
      this.asAgent.push(0)
    }
    return i
  }

  /** Peers met since the last trust computation have no trust yet, unless pre-trusted. */
  private weightAt (i: number): number {
    if (i < this.weights.length) return this.weights[i]!
    return this.preTrusted.has(this.peerIds[i]!) ? 1 : 0
  }

  private entry (spec: string, agent: string): Entry {
    let group = this.entries.get(spec)
    if (group == null) {
      group = new Map()
      this.entries.set(spec, group)
    }
    let entry = group.get(agent)
    if (entry == null) {
      entry = { agent, spec, receipts: 0, outcomes: OUTCOMES.map(() => 0), lastAt: 0, byCoordinator: new Map(), a: 0, b: 0, version: this.trustVersion, changes: 0, described: null }
      group.set(agent, entry)
    }
    return entry
  }

  /** 2^((t − T0)/H): one unit of evidence at time t in the global frame. */
  private unitAt (t: number): number {
    if (this.frameAt == null) this.frameAt = t
    const x = (t - this.frameAt) / this.halfLifeMs
    if (x <= REBASE_ABOVE) return 2 ** x
    this.rebase(t)
    return 1
  }

  /** Move T0 to `t`, scaling every stored sum; keeps frame values finite over any span of time. */
  private rebase (t: number): void {
    const k = 2 ** (-(t - this.frameAt!) / this.halfLifeMs)
    for (const group of this.entries.values()) {
      for (const entry of group.values()) {
        entry.a *= k
        entry.b *= k
        for (const e of entry.byCoordinator.values()) { e.s *= k; e.f *= k }
      }
    }
    for (const row of this.rows.values()) for (const e of row.values()) { e.s *= k; e.f *= k }
    this.frameAt = t
  }

  /** Multiplier from frame values to evidence as of `now`. */
  private decayAt (now: number): number {
    return this.frameAt == null ? 0 : 2 ** (-(now - this.frameAt) / this.halfLifeMs)
  }

  private refreshEntry (entry: Entry): void {
    if (entry.version === this.trustVersion) return
    let a = 0
    let b = 0
    for (const [ci, e] of entry.byCoordinator) {
      const w = this.weightAt(ci)
      if (w === 0) continue
      a += w * e.s
      b += w * e.f
    }
    entry.a = a
    entry.b = b
    entry.version = this.trustVersion
  }

  private describe (entry: Entry, decay: number): AgentReputation {
    const described = this.describedOf(entry)
    const weightedSuccess = entry.a * decay
    const weightedFailure = entry.b * decay
    const alpha = 1 + weightedSuccess
    const beta = 1 + weightedFailure
    return {
      agent: entry.agent,
      spec: entry.spec,
      score: alpha / (alpha + beta),
      alpha,
      beta,
      receipts: entry.receipts,
      lastReceiptAt: entry.lastAt,
      evidence: {
        outcomes: described.outcomes,
        weightedSuccess,
        weightedFailure,
        coordinators: described.coordinators,
        untrusted: described.untrusted
      }
    }
  }

  /** What does not depend on the time of reading, built once per change of the entry or of trust. */
  private describedOf (entry: Entry): Described {
    this.refreshEntry(entry)
    const cached = entry.described
    if (cached != null && cached.changes === entry.changes && cached.trustVersion === this.trustVersion) return cached
    const total = entry.a + entry.b
    const coordinators: CoordinatorEvidence[] = []
    let untrustedCoordinators = 0
    let untrustedReceipts = 0
    for (const [ci, e] of entry.byCoordinator) {
      const weight = this.weightAt(ci)
      if (weight === 0) {
        untrustedCoordinators++
        untrustedReceipts += e.receipts
        continue
      }
      const peer = this.peerIds[ci]!
      const o = e.outcomes
      coordinators.push(Object.freeze({
        coordinator: peer,
        weight,
        preTrusted: this.preTrusted.has(peer),
        receipts: e.receipts,
        success: o[SUCCESS]!,
        failure: FAILURES.reduce((n, i) => n + o[i]!, 0),
        share: total > 0 ? weight * (e.s + e.f) / total : 0
      }))
    }
    const described: Described = {
      changes: entry.changes,
      trustVersion: this.trustVersion,
      outcomes: Object.freeze(countsOf(entry.outcomes)),
      coordinators: Object.freeze(coordinators),
      untrusted: Object.freeze({ coordinators: untrustedCoordinators, receipts: untrustedReceipts })
    }
    entry.described = described
    return described
  }

  private trustEntry (peer: string, i: number): TrustEntry {
    return {
      peer,
      trust: i < this.trust.length ? this.trust[i]! : 0,
      weight: this.weightAt(i),
      preTrusted: this.preTrusted.has(peer),
      asCoordinator: this.asCoordinator[i]!,
      asAgent: this.asAgent[i]!
    }
  }
}

function countsOf (counts: number[]): OutcomeCounts {
  const out = {} as OutcomeCounts
  for (let i = 0; i < OUTCOMES.length; i++) out[OUTCOMES[i]!] = counts[i]!
  return out
}

function cmp (x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0
}

function byScore (x: AgentReputation, y: AgentReputation): number {
  return y.score - x.score || y.receipts - x.receipts || cmp(x.spec, y.spec) || cmp(x.agent, y.agent)
}
