import { ApiClient } from '../../api/client.ts'
import type { JobLedgerView, LedgerView } from '../../api/routes/ledger.ts'
import type { Command } from '../command.ts'
import { PAGE_OPTIONS, pageParams, printNextPage, withQuery } from '../paging.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'

function usd (n: number | null): string {
  return n == null ? 'no budget' : `${Number(n.toFixed(6))} USD`
}

/** One job: its totals on one line, then every entry with the receipt that justifies it. */
function jobLines (job: JobLedgerView, specName: string | null): string[] {
  const header = [
    `job ${job.jobId}`,
    `  spec       ${specName ?? '?'} (${job.specId})`,
    `  budget     ${usd(job.budgetUsd)}   reserved ${usd(job.reservedUsd)}   spent ${usd(job.spentUsd)}   remaining ${usd(job.remainingUsd)}`
  ]
  if (job.entries.length === 0) return [...header, '  entries    none']
  // A reservation is justified by its award; it is closed by the settle or release that names a receipt.
  const closed = new Set(job.entries.filter(e => e.kind !== 'reserve').map(e => e.awardId))
  const rows = job.entries.map(e => [
    String(e.attempt),
    e.kind,
    shortPeerId(e.agent),
    usd(e.priceUsd),
    e.feeUsd > 0 ? usd(e.feeUsd) : '-',
    e.receiptId ?? e.justification ?? (e.kind === 'reserve' && !closed.has(e.awardId) ? '(open: awaiting the receipt)' : '-')
  ])
  return [...header, ...formatTable(['#', 'KIND', 'AGENT', 'PRICE', 'FEE', 'RECEIPT'], rows).map(l => `  ${l}`)]
}

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: 'show what this node reserved, spent and may still spend, per spec and per job',
  description: [
    'The budget ledger of the running daemon as coordinator: it reserves an attempt\'s price',
    '(plus fees when the spec\'s budget includes them) on award, settles it on a receipt that',
    'charges, and releases it on one that does not. Per spec: jobs, reserved, spent and',
    'remaining (the sum over its jobs of budget.maxUsd − spent − reserved). Per job: budget,',
    'reserved, spent, remaining, and every entry with the id of its receipt, so each figure',
    'traces to a signed receipt (see: specmesh receipt show ID).',
    'With --json: {"specs": [{specId, name, jobs, reservedUsd, spentUsd, remainingUsd}],',
    '"jobs": [{jobId, specId, budgetUsd, reservedUsd, spentUsd, remainingUsd, entries}]}.'
  ].join('\n'),
  options: {
    spec: { type: 'string', value: 'SPEC', description: 'only this spec and its jobs (id, id prefix, name or name@version)' },
    ...PAGE_OPTIONS
  },
  examples: [
    'specmesh ledger',
    'specmesh ledger --spec bagaaiera… --json'
  ],
  run: async (ctx) => {
    const { home, json, options, io } = ctx
    const spec = typeof options.spec === 'string' ? options.spec : undefined
    // Spec totals cover every job; the jobs come 100 at a time (--limit), newest first.
    const { body: view, next } = await new ApiClient({ home }).page<LedgerView>(withQuery('/v1/ledger', pageParams(ctx, new URLSearchParams(spec != null ? { spec } : {}))))
    printNextPage(io, ctx, next)
    if (json) {
      printJson(io, view)
      return
    }
    if (view.specs.length === 0 && view.jobs.length === 0) {
      printLines(io, ['nothing in the ledger yet; it fills as this node submits jobs (specmesh job submit)'])
      return
    }
    const names = new Map(view.specs.map(s => [s.specId, s.name]))
    const specRows = view.specs.map(s => [s.specId, s.name ?? '?', String(s.jobs), usd(s.reservedUsd), usd(s.spentUsd), usd(s.remainingUsd)])
    const lines = formatTable(['SPEC', 'NAME', 'JOBS', 'RESERVED', 'SPENT', 'REMAINING'], specRows)
    for (const job of view.jobs) lines.push('', ...jobLines(job, names.get(job.specId) ?? null))
    printLines(io, lines)
  }
}
