import { readFile } from 'node:fs/promises'
import { ApiClient, ApiRequestError } from '../../api/client.ts'
import type { JobRecord, JobResult } from '../../node-types.ts'
import type { CliIO, Command } from '../command.ts'
import { CliError, UsageError } from '../errors.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'

/** Deadline assumed when neither the requester nor the spec sets one (the coordinator's default). */
const DEFAULT_JOB_DEADLINE_MS = 60_000
/** Extra time the client waits beyond the job's deadline: retries, verdict, receipt, the answer itself. */
const RESPONSE_MARGIN_MS = 30_000
/** Node's timers hold at most 2^31 − 1 ms; a spec deadline years away must not overflow them. */
const MAX_CLIENT_TIMEOUT_MS = 24 * 60 * 60 * 1000

type Attempt = JobRecord['attempts'][number]

/** `-` is stdin; anything else a file. Bad JSON names its source. */
async function readInput (source: string): Promise<unknown> {
  let text: string
  const name = source === '-' ? 'stdin' : source
  if (source === '-') {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
    text = Buffer.concat(chunks).toString('utf8')
  } else {
    try {
      text = await readFile(source, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new CliError(`cannot read input file ${source}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'bad_input_file')
    }
  }
  if (text.trim() === '') throw new CliError(`input ${name} is empty; it must hold the job's input as JSON`, 'invalid_input')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`input ${name} is not valid JSON: ${(err as Error).message}`, 'invalid_input')
  }
}

function parseDeadline (value: string, path: string[]): number {
  const ms = new Date(value).getTime()
  if (value.trim() === '' || !Number.isFinite(ms)) throw new UsageError(`--deadline ${value} is not a date; use an ISO 8601 time such as 2026-03-01T18:00:00Z`, path)
  return ms
}

/**
 * The daemon answers POST /v1/jobs when the job ends, at the latest at its
 * deadline: the client waits that long plus a margin. Without --deadline the
 * deadline is the spec's (asked of the daemon), else the coordinator's default.
 */
async function responseTimeout (client: ApiClient, specId: string, deadline: number | undefined): Promise<number> {
  let until = deadline
  if (until == null) {
    try {
      const stored = await client.getSpec(specId)
      const { jobDeadlines } = await import('../../spec/index.ts')
      until = jobDeadlines(stored.spec, Date.now()).deadline
    } catch (err) {
      // An unknown spec is reported by the submission itself, with the node's own words.
      if (!(err instanceof ApiRequestError)) throw err
    }
  }
  const wait = (until ?? Date.now() + DEFAULT_JOB_DEADLINE_MS) - Date.now()
  return Math.min(MAX_CLIENT_TIMEOUT_MS, Math.max(0, wait) + RESPONSE_MARGIN_MS)
}

function usd (n: number): string {
  return `${Number(n.toFixed(6))} USD`
}

function duration (a: Attempt): string {
  return a.startedAt != null && a.endedAt != null ? `${a.endedAt - a.startedAt} ms` : '-'
}

/** The attempts as a small table under a label of `width` characters. */
function attemptLines (attempts: Attempt[], width: number): string[] {
  const label = `  ${'attempts'.padEnd(width)}`
  if (attempts.length === 0) return [`${label}none`]
  const rows = attempts.map(a => [String(a.attempt), shortPeerId(a.agent), a.outcome ?? 'running', usd(a.priceUsd), duration(a), oneLine(a.reason ?? '')])
  return formatTable(['#', 'AGENT', 'OUTCOME', 'PRICE', 'TOOK', 'REASON'], rows).map((line, i) => `${i === 0 ? label : ' '.repeat(label.length)}${line}`)
}

function outputLines (output: unknown): string[] {
  return ['output', ...JSON.stringify(output, null, 2).split('\n').map(l => `  ${l}`)]
}

/** The document `job submit --json` prints: always the same keys, null where there is nothing. */
function resultDocument (result: JobResult): Record<string, unknown> {
  return {
    jobId: result.jobId,
    status: result.status,
    output: result.output === undefined ? null : result.output,
    receipt: result.receipt ?? null,
    costUsd: result.costUsd,
    reason: result.reason ?? null,
    attempts: result.attempts
  }
}

function printResult (io: CliIO, specId: string, result: JobResult): void {
  const winner = result.status === 'succeeded' ? result.attempts.at(-1) : undefined
  const n = result.attempts.length
  printLines(io, [
    `job ${result.jobId} ${result.status}${n > 0 ? ` after ${n} attempt${n === 1 ? '' : 's'}` : ''}`,
    `  spec      ${specId}`,
    ...(winner != null ? [`  agent     ${winner.agent}`] : []),
    `  cost      ${usd(result.costUsd)}`,
    ...(result.receipt != null ? [`  receipt   ${result.receipt.id}`] : []),
    ...(result.reason != null ? [`  reason    ${result.reason}`] : []),
    ...attemptLines(result.attempts, 10),
    ...(result.status === 'succeeded' ? outputLines(result.output) : [])
  ])
}

const submitCommand: Command = {
  name: 'submit',
  summary: 'submit a job to the mesh and wait for its result',
  description: [
    'Submit a job for a spec this node holds: the daemon checks the input against the spec\'s',
    'input schema, calls for bids, awards the best (by reputation and price), sends the input',
    'to the winner, checks the output against the spec and signs the receipt. A failed attempt',
    'goes to the next bid while the spec\'s retries, the deadline and the budget allow.',
    'The command waits for the end (at the latest the job\'s deadline) and prints the result:',
    'with --json {"jobId", "status", "output", "receipt", "costUsd", "reason", "attempts"}.',
    'Exit code 0 when the job succeeded, 1 when it failed (the reason is printed).'
  ].join('\n'),
  args: [{ name: 'SPEC_ID', description: 'id of the spec to execute (see: specmesh spec list)' }],
  options: {
    input: { type: 'string', value: 'FILE|-', description: 'the job\'s input as JSON: a file, or - for stdin' },
    'max-usd': { type: 'string', value: 'N', description: 'price ceiling per attempt, never above the spec\'s budget.maxUsd (default: that budget, else the spec\'s costUsd)' },
    deadline: { type: 'string', value: 'ISO', description: 'when the job must be done, ISO 8601; only tightens the spec\'s deadline' },
    'bid-window-ms': { type: 'string', value: 'N', description: 'how long bids are collected before the award (default: 100)' }
  },
  examples: [
    'specmesh job submit bagaaiera… --input text.json',
    'echo \'{"text":"Ada Lovelace met Charles Babbage in London"}\' | specmesh job submit bagaaiera… --input - --json',
    'specmesh job submit bagaaiera… --input text.json --max-usd 0.05 --deadline 2026-03-01T18:00:00Z'
  ],
  run: async ({ args, home, json, options, io, path }) => {
    const specId = args[0]!
    const source = options.input
    if (typeof source !== 'string') throw new UsageError('missing --input FILE|-: the job\'s input as JSON (- reads stdin)', path)
    const body: Record<string, unknown> = { specId }
    let deadline: number | undefined
    if (typeof options['max-usd'] === 'string') {
      const n = Number(options['max-usd'])
      if (options['max-usd'].trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--max-usd ${options['max-usd']} is not an amount in USD; use a number ≥ 0 such as 0.05`, path)
      body.maxUsd = n
    }
    if (typeof options.deadline === 'string') {
      deadline = parseDeadline(options.deadline, path)
      body.deadline = new Date(deadline).toISOString()
    }
    if (typeof options['bid-window-ms'] === 'string') {
      const value = options['bid-window-ms']
      if (!/^\d+$/.test(value) || Number(value) > 60_000) throw new UsageError(`--bid-window-ms ${value} is not a whole number of milliseconds from 0 to 60000`, path)
      body.bidWindowMs = Number(value)
    }
    body.input = await readInput(source)

    const probe = new ApiClient({ home })
    const timeoutMs = await responseTimeout(probe, specId, deadline)
    const result = await new ApiClient({ home, timeoutMs }).request('POST', '/v1/jobs', body) as JobResult
    if (json) printJson(io, resultDocument(result))
    else printResult(io, specId, result)
    return result.status === 'succeeded' ? 0 : 1
  }
}

const statusCommand: Command = {
  name: 'status',
  summary: 'show what this node knows of a job it submitted',
  description: 'Show a job this node submitted: its status, cost, every attempt, and the output once it succeeded.\nExit code 0 whenever the job is known, whatever its status.',
  args: [{ name: 'JOB_ID', description: 'job id, as printed by job submit or job list' }],
  examples: ['specmesh job status bagaaiera…', 'specmesh job status bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    let job: JobRecord & { output?: unknown }
    try {
      job = await new ApiClient({ home }).request('GET', `/v1/jobs/${encodeURIComponent(args[0]!)}`) as JobRecord & { output?: unknown }
    } catch (err) {
      if (err instanceof ApiRequestError && err.status === 404) {
        throw new ApiRequestError(404, 'not_found', `this node has no record of job ${args[0]}; \`specmesh job list\` shows the jobs it submitted`)
      }
      throw err
    }
    if (json) {
      printJson(io, job)
      return
    }
    printLines(io, [
      `job ${job.jobId}`,
      `  status     ${job.status}`,
      `  spec       ${job.specName} (${job.specId})`,
      `  submitted  ${new Date(job.submittedAt).toISOString()}`,
      ...(job.finishedAt != null ? [`  finished   ${new Date(job.finishedAt).toISOString()}`] : []),
      `  deadline   ${new Date(job.deadline).toISOString()}`,
      `  ceiling    ${usd(job.maxUsd)} per attempt`,
      `  cost       ${usd(job.costUsd)}`,
      ...(job.receiptId != null ? [`  receipt    ${job.receiptId}`] : []),
      ...(job.reason != null ? [`  reason     ${job.reason}`] : []),
      ...attemptLines(job.attempts, 11),
      ...('output' in job ? outputLines(job.output) : [])
    ])
  }
}

const listCommand: Command = {
  name: 'list',
  summary: 'list the jobs this node submitted',
  description: 'List the jobs this node submitted (as coordinator), with status, cost, attempts and, for failures, the reason.',
  examples: ['specmesh job list', 'specmesh job list --json'],
  run: async ({ home, json, io }) => {
    const jobs = await new ApiClient({ home }).request('GET', '/v1/jobs') as JobRecord[]
    if (json) {
      printJson(io, jobs)
      return
    }
    if (jobs.length === 0) {
      printLines(io, ['no jobs yet; submit one with: specmesh job submit SPEC_ID --input FILE'])
      return
    }
    const rows = [...jobs]
      .sort((a, b) => a.submittedAt - b.submittedAt)
      .map(j => [j.jobId, j.specName, j.status, usd(j.costUsd), String(j.attempts.length), oneLine(j.reason ?? '')])
    printLines(io, formatTable(['JOB', 'SPEC', 'STATUS', 'COST', 'ATTEMPTS', 'REASON'], rows))
  }
}

/** Reasons can be long and multi-line; a table row gets the first 100 characters of one line. */
function oneLine (text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat
}

export const jobCommand: Command = {
  name: 'job',
  summary: 'submit jobs and follow them',
  description: [
    'A job is one request to execute a spec on one input. The node that submits it coordinates',
    'it: it runs the auction, sends the input to the awarded agent, checks the output against',
    'the spec, and signs the receipt. These commands talk to the running daemon.'
  ].join('\n'),
  subcommands: [submitCommand, statusCommand, listCommand],
  examples: [
    'specmesh job submit <spec id> --input text.json --json',
    'specmesh job list',
    'specmesh job status <job id>'
  ]
}
