import type { JobReport, WorkflowReport } from './runner.ts'

/**
 * A workflow report as a person reads it: a one-line headline, a table with one row per
 * job (status, agent, time against deadline, cost against budget, why), and a verdict
 * paragraph. The CLI and the demo share it; the demo shows time in article minutes.
 */
export interface FormatOptions {
  /** Show durations in this unit instead of ms/s, e.g. `{ ms: 200, name: 'min' }` for a scaled demo. */
  timeUnit?: { ms: number, name: string }
  /** A readable name for an agent's peer id. @default the last 8 characters */
  agentName?: (peerId: string) => string
  /** Cut the NOTE column to this many characters. @default 100 */
  noteWidth?: number
}

export function formatReport (report: WorkflowReport, options: FormatOptions = {}): string[] {
  const rows = report.jobs.map(job => [
    job.id,
    job.spec.name,
    job.status,
    job.agent != null ? agentName(job.agent, options) : '-',
    `${job.durationMs != null ? duration(job.durationMs, options, false) : '-'} / ${job.deadlineMs != null ? duration(job.deadlineMs, options) : 'none'}`,
    `${money(job.costUsd)} / ${job.budgetUsd != null ? money(job.budgetUsd) : 'none'}`,
    cut(note(job), options.noteWidth ?? 100)
  ])
  const t = report.totals
  rows.push([
    'total', '', `${t.succeeded}/${t.jobs} ok`, '',
    `${duration(report.durationMs, options, false)}`,
    `${money(t.costUsd)} / ${money(t.budgetUsd)}`,
    t.maxUsd != null ? `workflow ceiling ${money(t.maxUsd)}` : ''
  ])
  return [
    headline(report, options),
    '',
    ...table(['JOB', 'SPEC', 'STATUS', 'AGENT', 'TIME / DEADLINE', 'COST / BUDGET', 'NOTE'], rows)
  ]
}

export function headline (report: WorkflowReport, options: FormatOptions = {}): string {
  const t = report.totals
  const parts = [`${t.succeeded} succeeded`]
  if (t.failed > 0) parts.push(`${t.failed} failed`)
  if (t.cancelled > 0) parts.push(`${t.cancelled} cancelled`)
  return `workflow ${report.name}: ${report.status === 'succeeded' ? 'SUCCEEDED' : 'FAILED'} (${parts.join(', ')}) in ${duration(report.durationMs, options, false)}, spent ${money(t.costUsd)} of ${money(t.budgetUsd)} budgeted`
}

/** One paragraph saying what happened and whether every job kept to its spec. */
export function verdict (report: WorkflowReport, options: FormatOptions = {}): string {
  const t = report.totals
  const jobs = report.jobs
  const sentences: string[] = []
  const list = (items: JobReport[]): string => items.map(j => j.id).join(', ')
  if (report.status === 'succeeded') {
    const inTime = jobs.every(j => j.durationMs != null && (j.deadlineMs == null || j.durationMs <= j.deadlineMs))
    sentences.push(`All ${t.jobs} job${t.jobs === 1 ? '' : 's'} succeeded${inTime ? ', each within its deadline' : ''}, in ${duration(report.durationMs, options, false)} end to end.`)
  } else {
    for (const failed of jobs.filter(j => j.status === 'failed')) {
      const downstream = jobs.filter(j => j.cause?.job === failed.id)
      let s = `${failed.id} failed (${failed.outcome}${failed.outcome === 'timeout' && failed.durationMs != null && failed.deadlineMs != null ? `: aborted at ${duration(failed.durationMs, options, false)} of its ${duration(failed.deadlineMs, options)} deadline` : ''})`
      if (failed.jobId == null) s += ' before anything was submitted'
      s += downstream.length > 0
        ? `; ${downstream.length === 1 ? 'the job' : `the ${downstream.length} jobs`} downstream of it (${list(downstream)}) ${downstream.length === 1 ? 'was' : 'were'} cancelled and never submitted, so nothing was spent on ${downstream.length === 1 ? 'it' : 'them'}.`
        : '.'
      sentences.push(s)
    }
    const ok = jobs.filter(j => j.status === 'succeeded')
    if (ok.length > 0) sentences.push(`${list(ok)} ${ok.length === 1 ? 'was' : 'were'} not affected and succeeded.`)
    const aborted = jobs.filter(j => j.outcome === 'aborted')
    if (aborted.length > 0) sentences.push(`${list(aborted)} ${aborted.length === 1 ? 'was' : 'were'} cancelled because the run was stopped.`)
  }
  sentences.push(t.overBudget.length === 0
    ? `Spent ${money(t.costUsd)} of the ${money(t.budgetUsd)} budgeted; no job cost more than its spec's budget.`
    : `Spent ${money(t.costUsd)} of the ${money(t.budgetUsd)} budgeted; over budget: ${t.overBudget.join(', ')}.`)
  return sentences.join(' ')
}

function note (job: JobReport): string {
  if (job.status === 'succeeded') return job.attempts.length > 1 ? `after ${job.attempts.length} attempts` : ''
  if (job.status === 'cancelled') return job.reason ?? 'cancelled'
  const last = job.attempts.at(-1)
  if (last != null && last.outcome === job.outcome) return `${job.outcome}: ${last.reason ?? job.outcome}`
  return `${job.outcome}: ${(job.reason ?? '').replace(/^not (started|submitted): /, '')}`
}

function agentName (peerId: string, options: FormatOptions): string {
  return options.agentName?.(peerId) ?? (peerId.length <= 14 ? peerId : `…${peerId.slice(-8)}`)
}

/** `0.10` → `$0.10`; sub-cent amounts keep their digits. */
export function money (usd: number): string {
  const cents = Math.round(usd * 100) / 100
  return Math.abs(usd - cents) < 1e-9 ? `$${cents.toFixed(2)}` : `$${usd.toFixed(4).replace(/0+$/, '')}`
}

/**
 * Milliseconds in the chosen unit (`5.0 min`), or as ms/s/min when none is chosen. A
 * limit (`whole` true) that is a whole number of units prints without decimals: `5 min`.
 */
export function duration (ms: number, options: FormatOptions = {}, whole = true): string {
  const u = options.timeUnit
  if (u != null) {
    const value = ms / u.ms
    const text = Number.isInteger(value) && whole ? String(value) : value.toFixed(1)
    return `${text} ${u.name}`
  }
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 120_000) return whole && ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(2)} s`
  return whole && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${(ms / 60_000).toFixed(1)} min`
}

function cut (text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

function table (header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  const rule = widths.map(w => '-'.repeat(w)).join('  ')
  return [line(header), rule, ...rows.slice(0, -1).map(line), rule, line(rows.at(-1)!)]
}
