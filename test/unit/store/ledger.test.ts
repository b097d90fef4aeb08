import { describe, expect, it } from 'vitest'
import { applyEntry, newJobLedger, remainingOf, LedgerStore, type JobLedger, type LedgerEntry } from '../../../src/store/ledger-store.ts'

const entry = (kind: LedgerEntry['kind'], awardId: string, priceUsd: number, feeUsd = 0): LedgerEntry =>
  ({ at: 0, kind, attempt: 1, awardId, agent: 'a', priceUsd, feeUsd, ...(kind === 'reserve' ? {} : { receiptId: `r-${awardId}` }) })

/** Rebuild a ledger from nothing but its entries, as an auditor would. */
const replay = (ledger: JobLedger): JobLedger =>
  ledger.entries.reduce(applyEntry, newJobLedger(ledger.jobId, ledger.specId, ledger.budgetUsd))

describe('the job ledger', () => {
  it('reserves on award, settles what was charged (even below the bid) and releases the rest; replaying the entries gives the same totals', () => {
    let ledger = newJobLedger('job', 'spec', 0.5)
    ledger = applyEntry(ledger, entry('reserve', 'a1', 0.2, 0.01))
    expect(ledger).toMatchObject({ reservedUsd: 0.21, spentUsd: 0 })
    ledger = applyEntry(ledger, entry('release', 'a1', 0.2, 0.01)) // a timeout: nothing delivered
    ledger = applyEntry(ledger, entry('reserve', 'a2', 0.2, 0.01))
    ledger = applyEntry(ledger, entry('settle', 'a2', 0.15, 0.01)) // delivered, charged 0.15 of a 0.2 bid
    expect(ledger).toMatchObject({ reservedUsd: 0, spentUsd: 0.16 })
    expect(remainingOf(ledger)).toBe(0.34)
    expect(replay(ledger)).toEqual(ledger)
  })

  it('sums per spec, with remaining only when the spec has a budget', () => {
    const withBudget = applyEntry(applyEntry(newJobLedger('j1', 's', 1), entry('reserve', 'x', 0.3)), entry('settle', 'x', 0.3))
    const open = applyEntry(newJobLedger('j2', 's', 1), entry('reserve', 'y', 0.2))
    const noBudget = newJobLedger('j3', 't', null)
    expect(LedgerStore.bySpec([withBudget, open, noBudget])).toEqual([
      { specId: 's', jobs: 2, reservedUsd: 0.2, spentUsd: 0.3, remainingUsd: 1.5 },
      { specId: 't', jobs: 1, reservedUsd: 0, spentUsd: 0, remainingUsd: null }
    ])
  })
})
