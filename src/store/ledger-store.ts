import { sublevel, values, type BatchOperation, type Db, type Sublevel } from './db.ts'

export type LedgerEntryKind = 'reserve' | 'settle' | 'release'

/**
 * One movement of money for one attempt. A settle or release names the receipt
 * that justifies it; a release made at start for an attempt interrupted by a
 * node stop (no receipt was ever signed for it) names that interruption instead.
 */
export interface LedgerEntry {
  at: number
  kind: LedgerEntryKind
  attempt: number
  awardId: string
  agent: string
  /** The agent's price for the attempt. */
  priceUsd: number
  /** Fees counted against the budget for the attempt (only when the spec's budget includesFees). */
  feeUsd: number
  receiptId?: string
  /** For a release with no receipt: what justifies it ("interrupted: …"). */
  justification?: string
}

/**
 * What one job may spend and has spent. The ledger reserves an attempt's price
 * (plus fees) on award, settles it on a receipt that charges, and releases it on
 * one that does not; so `spentUsd` is always the sum of the charging receipts.
 */
export interface JobLedger {
  jobId: string
  specId: string
  /** The spec's budget.maxUsd for the job (every attempt counts against it), or null when the spec sets none. */
  budgetUsd: number | null
  reservedUsd: number
  spentUsd: number
  entries: LedgerEntry[]
}

export interface SpecLedger {
  specId: string
  jobs: number
  reservedUsd: number
  spentUsd: number
  /** Σ over jobs of what each may still spend, when the spec has a budget. */
  remainingUsd: number | null
}

/** Money sums are rounded to a micro-dollar so that 0.1 + 0.2 reads as 0.3. */
export const roundUsd = (n: number): number => Math.round(n * 1e6) / 1e6 + 0 // + 0 turns -0 into 0

export function remainingOf (ledger: JobLedger): number | null {
  return ledger.budgetUsd == null ? null : roundUsd(ledger.budgetUsd - ledger.spentUsd - ledger.reservedUsd)
}

export function newJobLedger (jobId: string, specId: string, budgetUsd: number | null): JobLedger {
  return { jobId, specId, budgetUsd, reservedUsd: 0, spentUsd: 0, entries: [] }
}

/**
 * Apply one entry to a job's ledger (pure: returns the new ledger). A settle or
 * release gives back exactly what its attempt's reserve entry (same awardId)
 * reserved, and a settle spends its own amount, which may be less than the
 * reservation (an agent that charged less than it bid). So replaying the
 * entries always reproduces the totals.
 */
export function applyEntry (ledger: JobLedger, entry: LedgerEntry): JobLedger {
  const amount = entry.priceUsd + entry.feeUsd
  const next = { ...ledger, entries: [...ledger.entries, entry] }
  if (entry.kind === 'reserve') {
    next.reservedUsd = roundUsd(ledger.reservedUsd + amount)
    return next
  }
  const reserve = ledger.entries.find(e => e.kind === 'reserve' && e.awardId === entry.awardId)
  next.reservedUsd = roundUsd(ledger.reservedUsd - (reserve != null ? reserve.priceUsd + reserve.feeUsd : amount))
  if (entry.kind === 'settle') next.spentUsd = roundUsd(ledger.spentUsd + amount)
  return next
}

export class LedgerStore {
  private readonly level: Sublevel

  constructor (db: Db) {
    this.level = sublevel(db, 'ledger')
  }

  operation (ledger: JobLedger): BatchOperation {
    return { type: 'put', sublevel: this.level, key: ledger.jobId, value: ledger }
  }

  async get (jobId: string): Promise<JobLedger | null> {
    return (await this.level.get(jobId) as JobLedger | undefined) ?? null
  }

  async list (specId?: string): Promise<JobLedger[]> {
    const all = await values<JobLedger>(this.level)
    return specId == null ? all : all.filter(l => l.specId === specId)
  }

  /** Totals per spec over its jobs' ledgers. */
  static bySpec (ledgers: JobLedger[]): SpecLedger[] {
    const totals = new Map<string, SpecLedger>()
    for (const ledger of ledgers) {
      const total = totals.get(ledger.specId) ?? { specId: ledger.specId, jobs: 0, reservedUsd: 0, spentUsd: 0, remainingUsd: ledger.budgetUsd == null ? null : 0 }
      total.jobs++
      total.reservedUsd = roundUsd(total.reservedUsd + ledger.reservedUsd)
      total.spentUsd = roundUsd(total.spentUsd + ledger.spentUsd)
      const remaining = remainingOf(ledger)
      total.remainingUsd = total.remainingUsd == null || remaining == null ? null : roundUsd(total.remainingUsd + remaining)
      totals.set(ledger.specId, total)
    }
    return [...totals.values()]
  }
}
